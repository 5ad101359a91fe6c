"""Speed of `taxo review push` and `taxo review pull` at the size of the published tree, against a real Label Studio.

Writes a synthetic version (default 3,600 level-1 nodes with 2 values each, under 60 level-2 and 6 level-3 nodes)
into a fresh SQLite database, embeds its values once (as `taxo build` would have: through the embedding cache),
then times

* ``push``: one task per level-1 node (3,600 tasks with merge suggestions, move options and a prediction each);
* reviewers' annotations, created through Label Studio's API (POST per annotation, 4 in flight: the open-source
  edition has no bulk endpoint for annotations) — not part of the targets;
* ``pull``: the export of all annotations, turning them into operations, trying each one, and writing ONE new
  version (renames, merges, moves, splits and approvals);
* a second ``pull`` (nothing to apply).

Targets: push under 15 s, pull and apply under 30 s.

    .venv/bin/python benchmarks/review_speed.py [--nodes 3600] [--url URL] [--out benchmarks/results/review_speed.md]
    .venv/bin/python benchmarks/review_speed.py --plan-only [--nodes 3600 14400]

``--plan-only`` times, without Label Studio or a database, the workbench side of a pull on the same synthetic
tree: turning the decisions into operations (``operations_for``, the one pass of the usual case) and trying them
one by one (``review.pull.plan``, what a pull does when one of its annotations cannot apply: here one merge into a
node that does not exist), at each ``--nodes`` size, so that its growth with the number of decisions shows.

Without ``--url`` (or ``TAXO_LABEL_STUDIO_URL`` + ``TAXO_LABEL_STUDIO_TOKEN``) a local Label Studio is started from
``.venv-ls`` in a temporary directory (reusing the test suite's migrated template database when there is one).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from review import api as review  # noqa: E402
from review import config as C  # noqa: E402
from review.labelstudio import LabelStudioClient, RetryPolicy  # noqa: E402

ADJ = ("honest open fair kind calm brave loyal humble patient careful creative curious diligent gentle generous "
       "grateful modest polite prudent reliable respectful responsible sincere thoughtful tolerant trustworthy "
       "wise practical ethical rational efficient friendly helpful hopeful joyful just mindful neutral orderly "
       "peaceful playful protective punctual resilient resourceful selfless sensible steady supportive tactful "
       "transparent truthful warm").split()
NOUN = ("care communication cooperation courage dignity duty education effort empathy equality fairness family "
        "freedom friendship growth harmony health honesty humility independence integrity justice kindness "
        "knowledge learning loyalty patience peace privacy progress respect responsibility safety security "
        "service simplicity solidarity stability sustainability teamwork tolerance tradition trust truth unity "
        "wellbeing wisdom work balance clarity accuracy autonomy compassion").split()


class TimedClient(LabelStudioClient):
    """Adds up the time spent waiting for Label Studio (requests and transfers)."""

    waited = 0.0

    def _call(self, what, fn, *, creates=False):
        t = time.perf_counter()
        try:
            return super()._call(what, fn, creates=creates)
        finally:
            type(self).waited += time.perf_counter() - t


def synthetic_version(db: str, tmp: Path, n_nodes: int, per_node: int, rng: random.Random) -> int:
    from taxonomy.api import ingest
    from taxonomy.build import package_versions
    from taxonomy.db.engine import session_scope
    from taxonomy.domain import Leaf, Node, Tree
    from taxonomy.ingest import value_totals
    from taxonomy.store import write_version
    from taxonomy.tree import content_checksum, recompute_stats

    words = [f"{a} {n}" for a in ADJ for n in NOUN]
    rng.shuffle(words)
    n_values = n_nodes * per_node
    extra = [f"{w} {k}" for k in range(2, 10) for w in words]
    texts = (words + extra)[:n_values]
    csv = tmp / "values.csv"
    csv.write_text("value,weight\n" + "\n".join(f"{t},{rng.randint(1, 1000)}" for t in texts) + "\n")
    ingest(str(csv), db=db, weight_col="weight")
    n2, n3 = max(1, n_nodes // 60), max(1, n_nodes // 600)
    tree = Tree()
    for k in range(n3):
        u = f"values:l3:{k:08x}-0000-4000-8000-000000000003"
        tree.nodes[u] = Node(u, 3, f"Top category {k}", f"Top category {k} (description).", None)
    for k in range(n2):
        u = f"values:l2:{k:08x}-0000-4000-8000-000000000002"
        parent = f"values:l3:{k % n3:08x}-0000-4000-8000-000000000003"
        tree.nodes[u] = Node(u, 2, f"Category {k}", f"Category {k} (description).", parent)
    l1 = []
    for k in range(n_nodes):
        u = f"values:l1:{k:08x}-0000-4000-8000-000000000001"
        parent = f"values:l2:{k % n2:08x}-0000-4000-8000-000000000002"
        tree.nodes[u] = Node(u, 1, f"Cluster {k}", f"Cluster {k} (description).", parent)
        l1.append(u)
    with session_scope(db) as s:
        for i, t in enumerate(value_totals(s)):
            tree.leaves.append(Leaf(text=t.text, parent_uid=l1[i % n_nodes], weight=t.weight, count=t.count,
                                    value_id=t.id))
        tree = recompute_stats(tree)
        manifest = {"kind": "build", "model": {"name": "all-MiniLM-L6-v2"}, "summarizer": {"name": "offline"},
                    "levels": [n_nodes, n2, n3], "n_values": len(tree.leaves),
                    "total_weight": sum(lf.weight for lf in tree.leaves), "id_prefix": "values",
                    "method": {"name": "synthetic"}, "packages": package_versions()}
        return write_version(s, tree, kind="build", message="synthetic", manifest=manifest,
                             checksum=content_checksum(tree))


def synthetic_tree(n_nodes: int, per_node: int):
    """The tree of :func:`synthetic_version` in memory (no database): 3 levels, value ids made up."""
    from taxonomy.domain import Leaf, Node, Tree
    from taxonomy.tree import recompute_stats

    n2, n3 = max(1, n_nodes // 60), max(1, n_nodes // 600)
    tree = Tree(version_id=1)
    for k in range(n3):
        u = f"values:l3:{k:08x}-0000-4000-8000-000000000003"
        tree.nodes[u] = Node(u, 3, f"Top category {k}", f"Top category {k} (description).", None)
    for k in range(n2):
        u = f"values:l2:{k:08x}-0000-4000-8000-000000000002"
        tree.nodes[u] = Node(u, 2, f"Category {k}", f"Category {k} (description).",
                             f"values:l3:{k % n3:08x}-0000-4000-8000-000000000003")
    for k in range(n_nodes):
        u = f"values:l1:{k:08x}-0000-4000-8000-000000000001"
        tree.nodes[u] = Node(u, 1, f"Cluster {k}", f"Cluster {k} (description).",
                             f"values:l2:{k % n2:08x}-0000-4000-8000-000000000002")
    for i in range(n_nodes * per_node):
        tree.leaves.append(Leaf(text=f"value {i:07d}", parent_uid=f"values:l1:{i % n_nodes:08x}-0000-4000-8000-000000000001",
                                weight=1.0 + i % 7, count=1, value_id=i + 1))
    tree.leaves.sort(key=lambda lf: lf.text)
    return recompute_stats(tree)


def synthetic_decisions(tree, rng: random.Random) -> list:
    """The mix of a review (80 % renames, 4 % merges, 3 % moves, 3 % splits, the rest approvals) as decisions,
    plus one merge into a node that does not exist (so that the pull plans the changes one by one)."""
    from review.pull import Decision

    l1 = sorted(u for u, n in tree.nodes.items() if n.level == 1)
    parents = sorted({tree.nodes[u].parent_uid for u in l1})
    members: dict[str, list[str]] = {}
    for leaf in tree.leaves:
        members.setdefault(leaf.parent_uid, []).append(leaf.text)
    siblings: dict[str, list[str]] = {}
    for u in l1:
        siblings.setdefault(tree.nodes[u].parent_uid, []).append(u)
    kids = {p: len(us) for p, us in siblings.items()}
    order = l1[:]
    rng.shuffle(order)
    n = len(order)
    kinds = ["rename"] * int(n * 0.80) + ["merge"] * int(n * 0.04) + ["move"] * int(n * 0.03) + ["split"] * int(n * 0.03)
    kinds += ["approve"] * (n - len(kinds))
    out, merged_into, merged_away = [], set(), set()
    for i, (node, kind) in enumerate(zip(order, kinds, strict=True)):
        d = {"annotation_id": i + 1, "task_id": i + 1, "node": node, "annotator": "a", "annotator_id": 1,
             "updated_at": "2026-01-01", "kind": "change"}
        parent = tree.nodes[node].parent_uid
        if kind == "merge" and node not in merged_into:
            into = rng.choice(siblings[parent])
            if into != node and into not in merged_away:
                merged_into.add(into)
                merged_away.add(node)
                kids[parent] -= 1
                out.append(Decision(**d, merge_into=into))
                continue
            kind = "rename"
        if kind == "move" and kids[parent] > 1:
            to = rng.choice([p for p in parents if p != parent])
            kids[parent] -= 1
            kids[to] += 1
            out.append(Decision(**d, move_to=to))
            continue
        if kind == "split" and node not in merged_into and len(members[node]) > 1:
            out.append(Decision(**d, split=[{"name": f"{tree.nodes[node].name} A", "members": members[node][:1]}]))
            continue
        if kind == "approve":
            out.append(Decision(**{**d, "kind": "approve"}))
            continue
        out.append(Decision(**d, name=f"{tree.nodes[node].name} (reviewed)"))
    free = next(u for u in l1 if u not in merged_away and u not in merged_into)
    out.append(Decision(annotation_id=n + 1, task_id=n + 1, node=free, annotator="a", annotator_id=1,
                        updated_at="2026-01-01", kind="change", merge_into="values:l1:ffffffff-0000-4000-8000-000000000001"))
    return out


def plan_only(sizes: list[int], per_node: int, seed: int, out: str | None) -> None:
    from review.pull import Planned, members_of, operations_for, plan

    rows = []
    for n in sizes:
        tree = synthetic_tree(n, per_node)
        decisions = synthetic_decisions(tree, random.Random(seed))
        changes = sorted((d for d in decisions if d.kind == "change"),
                         key=lambda d: (3 if d.split is not None else 2 if d.merge_into else 1 if d.move_to else 0,
                                        d.task_id))
        lo, t, c = os.getloadavg()[0], time.perf_counter(), time.process_time()
        try:  # as review.api does it: the members of every node indexed once
            from taxonomy.edit_state import EditState

            members = EditState(tree).members
        except ImportError:  # the code before that index: one scan of the tree per split
            members = lambda uid: members_of(tree, uid)  # noqa: E731
        direct = [Planned(d, operations_for(d, tree, members(d.node) if d.split is not None else None))
                  for d in changes[:-1]]
        ops_wall, ops_cpu = time.perf_counter() - t, time.process_time() - c
        t, c = time.perf_counter(), time.process_time()
        result = plan(tree, changes, base_version_id=1)
        plan_wall, plan_cpu = time.perf_counter() - t, time.process_time() - c
        rows.append({"nodes": n, "decisions": len(changes), "operations_wall_s": round(ops_wall, 2),
                     "operations_cpu_s": round(ops_cpu, 2), "plan_wall_s": round(plan_wall, 2),
                     "plan_cpu_s": round(plan_cpu, 2), "applicable": len(result.applicable),
                     "refused": len(result.refused), "direct": len(direct), "load": round(lo, 2)})
        print(rows[-1], flush=True)
    lines = ["| level-1 nodes | change decisions | operations (one pass) wall / CPU s | plan (one by one) wall / CPU s |"
             " applicable | refused | load |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['nodes']:,} | {r['decisions']:,} | {r['operations_wall_s']} / {r['operations_cpu_s']} | "
              f"{r['plan_wall_s']} / {r['plan_cpu_s']} | {r['applicable']:,} | {r['refused']} | {r['load']} |" for r in rows]
    print("\n".join(lines))
    if out:
        Path(out).write_text("\n".join(lines) + "\n")


def plan_annotations(db: str, batch_id: int, rng: random.Random, mix: dict[str, int]) -> list[tuple[int, list]]:
    """(task id, result) per task: renames, approvals, merges into a suggested node, moves, splits."""
    from sqlalchemy import select

    from taxonomy.db.engine import session_scope
    from taxonomy.db.models import ReviewTask

    with session_scope(db) as s:
        rows = s.execute(select(ReviewTask.node_uid, ReviewTask.ls_task_id, ReviewTask.payload)
                         .where(ReviewTask.batch_id == batch_id)).all()
    rng.shuffle(rows)
    kids: dict[str, int] = {}
    for _, _, p in rows:
        kids[p["parent"]] = kids.get(p["parent"], 0) + 1
    kinds = [k for k, n in mix.items() for _ in range(n)]
    kinds += ["approve"] * (len(rows) - len(kinds))
    merged_into: set[str] = set()
    merged_away: set[str] = set()
    out = []
    for (node, tid, p), kind in zip(rows, kinds, strict=False):
        base = [r for r in C.prediction_result(p["name"], p["description"]) if r["from_name"] != C.DECISION]
        extra: list[dict] = []
        if kind == "merge":
            targets = [o for o in p["data"]["merge_options"]
                       if o["alias"] not in merged_away and node not in merged_into]
            if targets:
                o = targets[0]
                merged_into.add(o["alias"])
                merged_away.add(node)
                kids[p["parent"]] -= 1
                base = []
                extra = [C.choices_result(C.MERGE_INTO, "name", o["value"])]
            else:
                kind = "rename"
        if kind == "move":
            if kids[p["parent"]] > 1 and p["data"]["move_options"]:
                o = p["data"]["move_options"][0]
                kids[p["parent"]] -= 1
                kids[o["alias"]] = kids.get(o["alias"], 0) + 1
                extra = [C.choices_result(C.MOVE_TO, "name", o["alias"])]
            else:
                kind = "rename"
        if kind == "split":
            extra = [C.textarea_result(C.SPLIT, "members", f"{p['name']} A: 1")]
        if kind == "rename":
            base = [r for r in base if r["from_name"] != C.NEW_NAME]
            extra = [C.textarea_result(C.NEW_NAME, "name", f"{p['name']} (reviewed)")]
        out.append((tid, base + extra + [C.choices_result(C.DECISION, "name", C.APPROVE)]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nodes", type=int, nargs="+", default=[3600])
    ap.add_argument("--plan-only", action="store_true", help="time the pull's planning only (no Label Studio)")
    ap.add_argument("--plan-out", default=None, help="with --plan-only: write the table here")
    ap.add_argument("--values-per-node", type=int, default=2)
    ap.add_argument("--url", default=os.environ.get("TAXO_LABEL_STUDIO_URL"))
    ap.add_argument("--cache-dir", default=None, help="embedding cache [default: the user's]")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/review_speed.md"))
    args = ap.parse_args()
    if args.plan_only:
        return plan_only(args.nodes, args.values_per_node, args.seed, args.plan_out)
    args.nodes = args.nodes[0]
    rng = random.Random(args.seed)
    tmp = Path(tempfile.mkdtemp(prefix="taxo-review-bench-"))
    server = None
    try:
        if args.url:
            url, token = args.url.rstrip("/"), os.environ["TAXO_LABEL_STUDIO_TOKEN"]
        else:
            from review import server as S
            from tests.labelstudio_server import TEST_PASSWORD, TEST_TOKEN, TEST_USER, _template_dir

            data = tmp / "label-studio"
            data.mkdir()
            template = _template_dir(S.installed_version() or "unknown")
            if (template / "label_studio.sqlite3").exists():
                for f in template.iterdir():
                    shutil.copy2(f, data / f.name)
            server = S.start(data, token=TEST_TOKEN, username=TEST_USER, password=TEST_PASSWORD)
            url, token = server.url, TEST_TOKEN
            print(f"Label Studio at {url} (started in {server.startup_s:.0f}s)", flush=True)
        ls = TimedClient(url, token, retry=RetryPolicy(attempts=3, timeout=600))

        import taxonomy.api as tx
        from embeddings import Embedder
        from taxonomy.db.engine import session_scope
        from taxonomy.store import read_tree

        db = f"sqlite:///{tmp / 'bench.db'}"
        tx.init(db)
        t = time.perf_counter()
        version = synthetic_version(db, tmp, args.nodes, args.values_per_node, rng)
        t_version = time.perf_counter() - t
        with session_scope(db) as s:
            tree = read_tree(s, version)
        t = time.perf_counter()
        emb = Embedder(cache_dir=args.cache_dir)
        emb.embed([lf.text for lf in tree.leaves])
        t_embed = time.perf_counter() - t
        print(f"version {version}: {len(tree.nodes)} nodes, {len(tree.leaves)} values ({t_version:.1f}s); "
              f"embeddings {t_embed:.1f}s ({emb.stats.n_embedded} computed)", flush=True)

        TimedClient.waited = 0.0
        t = time.perf_counter()
        pushed = review.push(version, level=1, db=db, client=ls, cache_dir=args.cache_dir)
        t_push = time.perf_counter() - t
        w_push = TimedClient.waited
        print(f"push: {pushed.created} tasks in {t_push:.1f}s (waiting for Label Studio {w_push:.1f}s)", flush=True)
        t = time.perf_counter()
        again = review.push(version, level=1, db=db, client=ls, cache_dir=args.cache_dir)
        t_push2 = time.perf_counter() - t
        assert again.created == 0 and again.n_tasks == pushed.n_tasks

        mix = {"rename": int(args.nodes * 0.80), "merge": int(args.nodes * 0.04), "move": int(args.nodes * 0.03),
               "split": int(args.nodes * 0.03)}
        todo = plan_annotations(db, pushed.batch_id, rng, mix)
        t = time.perf_counter()
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda a: ls.create_annotation(a[0], a[1]), todo))
        t_annotate = time.perf_counter() - t
        print(f"annotations: {len(todo)} in {t_annotate:.1f}s", flush=True)

        TimedClient.waited = 0.0
        t = time.perf_counter()
        # the outcomes written back to each task are left out: one request per task (about 0.15-0.3 s each with
        # Label Studio on SQLite), see the README
        rep = review.pull(pushed.batch_id, message="benchmark review", db=db, client=ls, cache_dir=args.cache_dir,
                          outcomes=False)
        t_pull = time.perf_counter() - t
        w_pull = TimedClient.waited
        ops: dict[str, int] = {}
        for item in rep.applied:
            for op in item.operations:
                ops[op["op"]] = ops.get(op["op"], 0) + 1
        print(f"pull: version {rep.version_id}, {len(rep.applied)} applied, {len(rep.approved)} approved, "
              f"{len(rep.refused)} refused in {t_pull:.1f}s (waiting for Label Studio {w_pull:.1f}s)", flush=True)
        t = time.perf_counter()
        rep2 = review.pull(pushed.batch_id, db=db, client=ls, outcomes=False)
        t_pull2 = time.perf_counter() - t
        assert rep2.version_id is None and not rep2.applied
        ok = tx.check(rep.version_id, db=db).ok if rep.version_id else False

        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        verdict = lambda s, target: "met" if s < target else "**missed**"  # noqa: E731
        lines = [
            "# review push / pull speed",
            "",
            f"`benchmarks/review_speed.py` — synthetic version: {args.nodes:,} level-1 nodes "
            f"({args.values_per_node} values each, {len(tree.leaves):,} values) under "
            f"{len([n for n in tree.nodes.values() if n.level == 2])} level-2 and "
            f"{len([n for n in tree.nodes.values() if n.level == 3])} level-3 nodes; SQLite; Label Studio "
            f"{_ls_version(server)} (its own SQLite database) on the same machine.",
            "",
            "| step | seconds | of which waiting for Label Studio | target |",
            "|---|---|---|---|",
            f"| push {pushed.created:,} tasks (+ predictions) | {t_push:.1f} | {w_push:.1f} | < 15 s: "
            f"{verdict(t_push, 15)} |",
            f"| push again (idempotent: 0 created) | {t_push2:.1f} | | |",
            f"| pull and apply {len(todo):,} annotations → version {rep.version_id} | {t_pull:.1f} | {w_pull:.1f} | "
            f"< 30 s: {verdict(t_pull, 30)} |",
            f"| pull again (nothing to apply) | {t_pull2:.1f} | | |",
            f"| create {len(todo):,} annotations via the API (4 in flight; not part of the targets) | "
            f"{t_annotate:.1f} | | |",
            f"| embed the values once (cache; `taxo build` does this) | {t_embed:.1f} | | |",
            "",
            f"Pull result: {len(rep.applied):,} nodes changed ({', '.join(f'{n:,} {k}' for k, n in sorted(ops.items()))}), "
            f"{len(rep.approved):,} approved, {len(rep.refused)} refused, {len(rep.conflicts)} conflicts; "
            f"`taxo check` on the new version: {'OK' if ok else 'FAILED'}.",
            "",
            "Where the time goes. Push: Label Studio's task import (about 2 s) and prediction import (about 5 s; "
            "sent as ONE request — in chunks of 1,000 it took 14 s, as each request gets slower on a big project); "
            "the workbench side (reading the version, node centroids, faiss, payloads, database) is about 2 s. "
            "Pull: Label Studio's JSON export of the annotated tasks is most of it (10–16 s for 3,600, server-side "
            "serialization; the task-list API is slower still); the workbench side — decisions, conflicts, one "
            "change-set applied and checked, 3,600 annotation rows written — is 3–6 s. A second pull costs the "
            "export again and writes nothing. Label Studio's open-source edition has no bulk endpoint for "
            "annotations, hence the one POST per annotation above.",
            "",
            f"Python {platform.python_version()} on {platform.machine()} ({platform.platform()}), "
            f"{os.cpu_count()} CPUs, load average {load:.1f} at the end of the run (Label Studio and the workbench "
            "share the CPUs; wall times on a busy machine are inflated).",
            "",
        ]
        Path(args.out).write_text("\n".join(lines))
        print("\n".join(lines))
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def _ls_version(server) -> str:
    from review.server import installed_version

    return installed_version() or "?"


if __name__ == "__main__":
    main()
