"""Speed of :func:`taxonomy.diff.diff_trees` on two large versions, in memory (no database).

Builds a synthetic tree of 100,000 values under 8,000 / 600 / 30 / 6 nodes (levels 1..4) with 2,000 older
tombstones, copies it and applies a realistic batch of edits to the copy (renames, description changes, moves,
merges incl. chains, splits, deletions, new nodes, value reassignments, values added and removed), then times
``diff_trees(old, new)`` (min of N runs), ``to_dict()`` and ``format_diff()``, checks the diff's counts against the
edits made, and writes a Markdown report.

    .venv/bin/python benchmarks/diff_speed.py [--values 100000] [--repeats 5] [--out benchmarks/results/diff_speed.md]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from taxonomy.diff import KINDS, diff_trees, format_diff  # noqa: E402
from taxonomy.domain import Leaf, Node, Tombstone, Tree  # noqa: E402

LEVEL_SIZES = {1: 8000, 2: 600, 3: 30, 4: 6}

# The edits applied to the new version.
N_RENAME = 500
N_REDESCRIBE = 300
N_MOVE = 200
N_MERGE = 300  # of which N_MERGE_CHAIN merge a node that is itself the survivor of an earlier merge
N_MERGE_CHAIN = 30
N_SPLIT = 50  # each into 2 new nodes
N_DELETE = 20  # their values go to another node
N_NEW_NODES = 100
N_REASSIGN = 5000
N_VALUES_ADDED = 1000
N_VALUES_REMOVED = 1000
N_OLD_TOMBSTONES = 2000


def uid(level: int, i: int, tag: str = "n") -> str:
    return f"bench:l{level}:{tag}{i:06d}"


def synthetic_tree(n_values: int, rng: random.Random) -> Tree:
    nodes: dict[str, Node] = {}
    for level in sorted(LEVEL_SIZES, reverse=True):
        n_parents = LEVEL_SIZES.get(level + 1, 0)
        for i in range(LEVEL_SIZES[level]):
            parent = uid(level + 1, rng.randrange(n_parents)) if n_parents else None
            u = uid(level, i)
            nodes[u] = Node(uid=u, level=level, name=f"node {level}-{i}", description=f"description of {u}",
                            parent_uid=parent)
    n1 = LEVEL_SIZES[1]
    leaves = [Leaf(text=f"value {i:07d}", parent_uid=uid(1, i % n1 if i < n1 else rng.randrange(n1)),
                   weight=rng.random(), count=rng.randrange(1, 100)) for i in range(n_values)]
    tombstones = {}
    for i in range(N_OLD_TOMBSTONES):
        u = uid(1, i, "old")
        tombstones[u] = Tombstone(uid=u, level=1, name=f"old {i}", reason="merged",
                                  replaced_by=[uid(1, rng.randrange(n1))], version_id=1)
    return Tree(nodes=nodes, leaves=leaves, version_id=1, tombstones=tombstones)


def edit(a: Tree, rng: random.Random) -> tuple[Tree, dict[str, int]]:
    """A new version: a copy of ``a`` (no object shared) with the edits applied. Returns it and the expected
    counts of the diff."""
    nodes = {u: replace(n) for u, n in a.nodes.items()}
    tombstones = {u: replace(t, replaced_by=list(t.replaced_by)) for u, t in a.tombstones.items()}
    parents = [leaf.parent_uid for leaf in a.leaves]
    l1 = [u for u, n in a.nodes.items() if n.level == 1]
    l2 = [u for u, n in a.nodes.items() if n.level == 2]
    everything = list(a.nodes)

    # Disjoint sets of level-1 nodes for the structural edits; survivors of merges are never retired.
    pool = rng.sample(l1, N_MERGE + N_SPLIT + N_DELETE + N_MERGE + 200)
    merge_victims, pool = pool[:N_MERGE - N_MERGE_CHAIN], pool[N_MERGE - N_MERGE_CHAIN:]
    merge_survivors, pool = pool[:len(merge_victims)], pool[len(merge_victims):]
    split_nodes, pool = pool[:N_SPLIT], pool[N_SPLIT:]
    delete_nodes, pool = pool[:N_DELETE], pool[N_DELETE:]
    chain_targets = pool[:N_MERGE_CHAIN]
    retired = set(merge_victims) | set(split_nodes) | set(delete_nodes)

    redirect: dict[str, str] = {}
    for v, s in zip(merge_victims, merge_survivors):
        redirect[v] = s
        tombstones[v] = Tombstone(uid=v, level=1, name=nodes[v].name, reason="merged", replaced_by=[s],
                                  version_id=2)
    # Chains: some survivors are merged further (v -> s, then s -> t).
    chain_victims = merge_survivors[:N_MERGE_CHAIN]
    for s, t in zip(chain_victims, chain_targets):
        redirect[s] = t
        tombstones[s] = Tombstone(uid=s, level=1, name=nodes[s].name, reason="merged", replaced_by=[t],
                                  version_id=2)
    retired |= set(chain_victims)
    split_parts: dict[str, list[str]] = {}
    for i, v in enumerate(split_nodes):
        parts = [uid(1, 2 * i, "split"), uid(1, 2 * i + 1, "split")]
        split_parts[v] = parts
        for k, p in enumerate(parts):
            nodes[p] = Node(uid=p, level=1, name=f"{nodes[v].name} part {k}", description="",
                            parent_uid=nodes[v].parent_uid)
        tombstones[v] = Tombstone(uid=v, level=1, name=nodes[v].name, reason="split", replaced_by=parts, version_id=2)
    live_l1 = [u for u in l1 if u not in retired]
    for v in delete_nodes:
        redirect[v] = rng.choice(live_l1)  # as the editor does it: contents reassigned, target in the tombstone
        tombstones[v] = Tombstone(uid=v, level=1, name=nodes[v].name, reason="deleted", replaced_by=[redirect[v]],
                                  version_id=2)
    for v in retired:
        del nodes[v]

    def final(u: str, i: int) -> str:
        while u in redirect:
            u = redirect[u]
        if u in split_parts:
            u = split_parts[u][i % 2]
        return u

    parents = [final(p, i) for i, p in enumerate(parents)]

    # New nodes (level 1, under random level-2 nodes); they get some of the reassigned values.
    new_nodes = [uid(1, i, "new") for i in range(N_NEW_NODES)]
    for i, u in enumerate(new_nodes):
        nodes[u] = Node(uid=u, level=1, name=f"new node {i}", description="", parent_uid=rng.choice(l2))
    targets = live_l1 + new_nodes

    # Value reassignments (to a different level-1 node), among values not touched by the node edits.
    untouched = [i for i, p in enumerate(parents) if p == a.leaves[i].parent_uid]
    for i in rng.sample(untouched, N_REASSIGN):
        t = rng.choice(targets)
        while t == parents[i]:
            t = rng.choice(targets)
        parents[i] = t

    # Names, descriptions, parents of surviving nodes.
    survivors_all = [u for u in everything if u not in retired]
    for u in rng.sample(survivors_all, N_RENAME):
        nodes[u].name += " (renamed)"
    for u in rng.sample(survivors_all, N_REDESCRIBE):
        nodes[u].description = f"new description of {u}"
    for u in rng.sample([u for u in live_l1], N_MOVE):
        new_parent = rng.choice(l2)
        while new_parent == nodes[u].parent_uid:
            new_parent = rng.choice(l2)
        nodes[u].parent_uid = new_parent

    # Values removed and added.
    removed = set(rng.sample(range(len(a.leaves)), N_VALUES_REMOVED))
    leaves = [Leaf(text=leaf.text, parent_uid=parents[i], weight=leaf.weight, count=leaf.count)
              for i, leaf in enumerate(a.leaves) if i not in removed]
    leaves += [Leaf(text=f"added value {i:07d}", parent_uid=rng.choice(targets), weight=rng.random(), count=1)
               for i in range(N_VALUES_ADDED)]
    rng.shuffle(leaves)

    moved_values = sum(1 for i, leaf in enumerate(a.leaves) if i not in removed and parents[i] != leaf.parent_uid)
    expected = {
        "added": N_NEW_NODES,
        "removed": N_DELETE,
        "renamed": N_RENAME,
        "redescribed": N_REDESCRIBE,
        "moved": N_MOVE,
        "merged": N_MERGE,
        "split": N_SPLIT,
        "values_moved": moved_values,
        "values_added": N_VALUES_ADDED,
        "values_removed": N_VALUES_REMOVED,
    }
    return Tree(nodes=nodes, leaves=leaves, version_id=2, tombstones=tombstones), expected


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--values", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "diff_speed.md"))
    args = ap.parse_args()

    rng = random.Random(args.seed)
    t = time.perf_counter()
    a = synthetic_tree(args.values, rng)
    b, expected = edit(a, rng)
    setup_s = time.perf_counter() - t

    d = diff_trees(a, b)
    if d.counts != expected:
        raise SystemExit(f"diff counts {d.counts} differ from the edits made {expected}")
    causes: dict[str, int] = {}
    for v in d.values_moved:
        causes[v.cause] = causes.get(v.cause, 0) + 1
    chains = sum(1 for m in d.merged if m.merged_into != [m.survivor_uid])

    diff_s = best_of(lambda: diff_trees(a, b), args.repeats)
    identity_s = best_of(lambda: diff_trees(a, a), args.repeats)
    to_dict_s = best_of(lambda: json.dumps(d.to_dict()), args.repeats)
    format_s = best_of(lambda: format_diff(d), args.repeats)

    counts_rows = "\n".join(f"| {k} | {d.counts[k]:,} |" for k in KINDS)
    report = f"""# diff_trees speed

`{' '.join(['benchmarks/diff_speed.py', *sys.argv[1:]])}` — synthetic tree, {args.values:,} values under
{' / '.join(f'{LEVEL_SIZES[lv]:,}' for lv in sorted(LEVEL_SIZES))} nodes (levels 1..{max(LEVEL_SIZES)}),
{N_OLD_TOMBSTONES:,} older tombstones; the new version has {len(b.leaves):,} values, {len(b.nodes):,} nodes,
{len(b.tombstones):,} tombstones. Min of {args.repeats} runs.

| step | seconds |
|---|---|
| `diff_trees(old, new)` | {diff_s:.3f} |
| `diff_trees(old, old)` (identity) | {identity_s:.3f} |
| `json.dumps(diff.to_dict())` | {to_dict_s:.3f} |
| `format_diff(diff)` | {format_s:.4f} |
| building both trees (once, not part of the diff) | {setup_s:.2f} |

Target: diff under 5 s. Counts (all equal to the edits applied):

| kind | count |
|---|---|
{counts_rows}

Values moved by cause: {', '.join(f'{k} {v:,}' for k, v in sorted(causes.items()))}. Merges resolved through a
chain of tombstones: {chains}.

Python {platform.python_version()} on {platform.machine()} ({platform.platform()}), {os.cpu_count()} CPUs,
load average {os.getloadavg()[0]:.1f} at the end of the run (wall times: a busy machine inflates them).
"""
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report)
    print(report)


if __name__ == "__main__":
    main()
