"""Building one Label Studio task per node: what a reviewer needs to judge it, as plain text.

A task's ``data`` (see :mod:`review.config`): ``path`` (names from the top level down to the node), ``name``,
``description``, ``members`` (numbered, heaviest first, with weights and shares; "… and N more"), ``siblings``,
``size`` (the node's values and share of all occurrences, from its statistics: shown beside the description,
never taken from the description's text), ``merge_options`` (the nearest other nodes of the same level by cosine
similarity of node centroids, faiss), ``move_options`` (nodes one level up: all of them when there are at most
``max_move_options``, else the nearest ones) and ``split_members`` (the numbered members as options, alias = the
number, for the split groups), plus identifiers that are not shown (``node_id``, ``taxo_batch``,
``taxo_version``, ``taxo_level``) and, once a pull has read the task, ``taxo_outcome``.

Options are ``{"value": label, "alias": node id}``; labels carry the short id, so they are unique in a task. The
pull maps a chosen label (or alias) back to the node id through the payload stored with the task.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from review.config import OUTCOME_KEY
from taxonomy.domain import Tree
from taxonomy.query import node_vectors, short_id


@dataclass(frozen=True)
class TaskOptions:
    members_shown: int = 25  #: values listed per level-1 node (child nodes above level 1: up to 100)
    merge_suggestions: int = 5
    max_move_options: int = 30
    siblings_shown: int = 50


def size_text(values: int, children: int | None, pct: float) -> str:
    """The node's size as shown beside its description: from its statistics, so it is never stale."""
    kids = f"{children} child node{'s' if children != 1 else ''}, " if children is not None else ""
    return f"{kids}{values} value{'s' if values != 1 else ''}, {_fmt_pct(pct)} of all occurrences"


def _fmt_pct(x: float) -> str:
    return f"{x:.3f}%"


def _fmt_weight(w: float) -> str:
    return f"{w:.6g}"


def _search(base: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact inner-product (cosine on unit vectors) search with faiss: (scores, row numbers), best first."""
    import faiss

    index = faiss.IndexFlatIP(base.shape[1])
    index.add(np.ascontiguousarray(base, dtype=np.float32))
    return index.search(queries, k)


def build_tasks(
    tree: Tree,
    level: int,
    uids: Sequence[str],
    *,
    leaf_vectors: np.ndarray | None,
    batch_id: int,
    options: TaskOptions = TaskOptions(),
) -> list[dict]:
    """One payload per node uid: ``{"node", "name", "description", "parent", "data": {...}, "member_keys": [...],
    "member_names": [...]}`` (member keys: value texts at level 1, child node ids above). ``leaf_vectors`` are the
    unit embeddings of ``tree.leaves`` (None: no merge suggestions, move options sorted by name)."""
    nodes = tree.nodes
    depth = tree.depth
    kids: dict[str | None, list] = defaultdict(list)
    for n in nodes.values():
        kids[n.parent_uid].append(n)
    for lst in kids.values():
        lst.sort(key=lambda n: (-n.weight, n.name, n.uid))
    leaves_under: dict[str, list] = defaultdict(list)
    for leaf in tree.leaves:
        leaves_under[leaf.parent_uid].append(leaf)
    total_weight = sum(max(leaf.weight, 0.0) for leaf in tree.leaves) or 0.0

    level_uids = sorted(n.uid for n in nodes.values() if n.level == level)
    parent_uids = sorted(n.uid for n in nodes.values() if n.level == level + 1) if level < depth else []

    sid = {u: short_id(u) for u in nodes}
    merge_hits: dict[str, list[tuple[str, float]]] = {}
    move_hits: dict[str, list[str]] = {}
    if leaf_vectors is not None and len(tree.leaves) and uids:
        all_uids, vecs = node_vectors(tree, leaf_vectors)
        row = {u: i for i, u in enumerate(all_uids)}
        queries = np.ascontiguousarray(vecs[[row[u] for u in uids]], dtype=np.float32)
        if options.merge_suggestions > 0 and len(level_uids) > 1:
            k = min(options.merge_suggestions + 1, len(level_uids))
            scores, idx = _search(vecs[[row[u] for u in level_uids]], queries, k)
            scores, idx = scores.tolist(), idx.tolist()
            for qi, u in enumerate(uids):
                hits = [(level_uids[j], sc) for j, sc in zip(idx[qi], scores[qi], strict=True)
                        if j >= 0 and level_uids[j] != u]
                merge_hits[u] = hits[: options.merge_suggestions]
        if parent_uids and len(parent_uids) > options.max_move_options:
            k = min(options.max_move_options + 1, len(parent_uids))
            idx = _search(vecs[[row[u] for u in parent_uids]], queries, k)[1].tolist()
            for qi, u in enumerate(uids):
                cur = nodes[u].parent_uid
                move_hits[u] = [parent_uids[j] for j in idx[qi] if j >= 0 and parent_uids[j] != cur][
                    : options.max_move_options
                ]
    by_name = sorted(parent_uids, key=lambda p: (nodes[p].name.casefold(), p))
    move_option = {p: {"value": f"{nodes[p].name} (id {sid[p]})", "alias": p} for p in parent_uids}
    sibling_label = {u: f"{n.name} (id {sid[u]}, {n.member_count} values)" for u, n in nodes.items()}

    out = []
    for u in uids:
        n = nodes[u]
        path = []
        cur = n.parent_uid
        while cur is not None:
            path.append(nodes[cur].name)
            cur = nodes[cur].parent_uid
        path = list(reversed(path)) + [n.name]

        if n.level == 1:
            members = sorted(leaves_under.get(u, []), key=lambda lf: (-lf.weight, lf.text))
            shown = members[: options.members_shown] if options.members_shown > 0 else members
            lines = [
                f"{i}. {lf.text} — weight {_fmt_weight(lf.weight)}"
                + (f" ({_fmt_pct(100.0 * lf.weight / total_weight)})" if total_weight > 0 else "")
                for i, lf in enumerate(shown, start=1)
            ]
            member_keys = [lf.text for lf in shown]
            member_names = list(member_keys)
            n_members = len(members)
        else:
            members = kids.get(u, [])
            limit = max(options.members_shown, 100)
            shown = members[:limit]
            lines = [
                f"{i}. {c.name} (id {sid[c.uid]}) — {c.member_count} values, {_fmt_pct(c.pct_total_occurrences)}"
                for i, c in enumerate(shown, start=1)
            ]
            member_keys = [c.uid for c in shown]
            member_names = [c.name for c in shown]
            n_members = len(members)
        if n_members > len(shown):
            lines.append(f"… and {n_members - len(shown)} more (not listed; on a split they stay with the rest)")
        if not lines:
            lines = ["(no members)"]

        sibs = [s for s in kids.get(n.parent_uid, []) if s.uid != u and s.level == n.level]
        sib_lines = [sibling_label[s.uid] for s in sibs[: options.siblings_shown]]
        if len(sibs) > options.siblings_shown:
            sib_lines.append(f"… and {len(sibs) - options.siblings_shown} more")

        merge_opts = [{"value": f"{nodes[h].name} (id {sid[h]}, similarity {sc:.2f})", "alias": h}
                      for h, sc in merge_hits.get(u, [])]
        move_list = move_hits[u] if u in move_hits else [p for p in by_name if p != n.parent_uid]
        move_opts = [move_option[p] for p in move_list]

        data = {
            "path": " › ".join(path),
            "name": n.name,
            "description": n.description or "(no description)",
            "size": size_text(n.member_count, len(members) if n.level > 1 else None, n.pct_total_occurrences),
            "members": "\n".join(lines),
            "siblings": "\n".join(sib_lines) or "(none)",
            "merge_options": merge_opts,
            "move_options": move_opts,
            "split_members": [{"value": line, "alias": str(i)} for i, line in enumerate(lines[: len(shown)], 1)],
            "node_id": u,
            "taxo_batch": batch_id,
            "taxo_version": tree.version_id,
            "taxo_level": level,
            OUTCOME_KEY: "",  #: written by each pull; present from the start so that it is a data manager column
        }
        out.append(
            {
                "node": u,
                "name": n.name,
                "description": n.description or "",
                "parent": n.parent_uid,
                "data": data,
                "member_keys": member_keys,
                "member_names": member_names,
            }
        )
    return out


def leaf_vectors_for(tree: Tree, manifest: dict, *, cache_dir=None, embed: Callable | None = None) -> np.ndarray:
    """Unit embeddings of the tree's values with the version's model (through the embedding cache)."""
    texts = [leaf.text for leaf in tree.leaves]
    if embed is not None:
        return np.asarray(embed(texts), dtype=np.float32)
    from taxonomy.naming import embedder_for

    return embedder_for(manifest, cache_dir).embed(texts)
