"""What a node page shows beyond the tree itself: its history across versions, the nearest other nodes, and a
few redacted evidence excerpts. Each is computed for all nodes of a version at once, in time linear in the
number of rows read (history: the node's rows in every version; excerpts: one record per value)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from taxonomy.db.models import ExtractionRecord, Membership, Node, TombstoneRow
from taxonomy.domain import Tree

#: the kinds of history event, as stored in the report data
HISTORY_KINDS = ("first", "renamed", "moved", "members", "merged", "split", "deleted", "absorbed", "split_from",
                 "received")


def _chunks(items: Sequence, size: int = 500):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def node_histories(session: Session, tree: Tree) -> dict[str, list[list]]:
    """For every node uid of ``tree``: its events across all versions, oldest first, each
    ``[version_id, kind, text]`` (kinds in :data:`HISTORY_KINDS`). Consecutive versions are compared in id
    order, as `taxo history` does; retirements come from the tombstone written where the node was retired, and
    ``absorbed`` / ``split_from`` / ``received`` list the nodes merged into, split into or reassigned to this one.
    """
    uids = sorted(tree.nodes)
    rows: list = []
    for part in _chunks(uids):
        rows.extend(
            session.execute(
                select(Node.version_id, Node.uid, Node.name, Node.parent_id, Node.member_count).where(Node.uid.in_(part))
            ).all()
        )
    parent_ids = sorted({r.parent_id for r in rows if r.parent_id is not None})
    parent_name: dict[int, tuple[str, str]] = {}
    for part in _chunks(parent_ids):
        for nid, uid, name in session.execute(select(Node.id, Node.uid, Node.name).where(Node.id.in_(part))):
            parent_name[nid] = (uid, name)
    present: dict[str, list] = defaultdict(list)
    for r in sorted(rows, key=lambda r: (r.uid, r.version_id)):
        present[r.uid].append(r)
    events: dict[str, list[list]] = {u: [] for u in uids}
    for uid, seq in present.items():
        prev = None
        for r in seq:
            if prev is None:
                events[uid].append([r.version_id, "first", f"first seen as {r.name!r}"])
            else:
                if r.name != prev.name:
                    events[uid].append([r.version_id, "renamed", f"renamed {prev.name!r} → {r.name!r}"])
                old_p, new_p = parent_name.get(prev.parent_id), parent_name.get(r.parent_id)
                if (old_p and old_p[0]) != (new_p and new_p[0]):
                    events[uid].append([
                        r.version_id, "moved",
                        f"moved from {old_p[1] if old_p else '(top)'!r} to {new_p[1] if new_p else '(top)'!r}",
                    ])
                if r.member_count != prev.member_count:
                    events[uid].append([r.version_id, "members", f"values {prev.member_count} → {r.member_count}"])
            prev = r
    # Retirements: the tombstone row of the version in which a node was retired (they are copied forward).
    retired = session.execute(
        select(TombstoneRow.uid, TombstoneRow.name, TombstoneRow.reason, TombstoneRow.replaced_by,
               TombstoneRow.retired_in).where(TombstoneRow.version_id == TombstoneRow.retired_in)
    ).all()
    names = {u: n.name for u, n in tree.nodes.items()}
    name_in = {(r.uid, r.version_id): r.name for r in rows}

    def name_at(uid: str, version_id: int) -> str:
        """The node's name in that version when it is one of ours, else its name here, else the id."""
        return name_in.get((uid, version_id)) or names.get(uid, uid)

    for t in retired:
        if t.uid in events:  # a node of this version retired in a later version (or on another branch)
            targets = ", ".join(repr(name_at(x, t.retired_in)) for x in t.replaced_by) or "nothing"
            text = {"merged": f"merged into {targets}", "split": f"split into {targets}"}.get(
                t.reason, f"deleted; contents to {targets}")
            kind = t.reason if t.reason in ("merged", "split") else "deleted"
            events[t.uid].append([t.retired_in, kind, text])
        for target in t.replaced_by:
            if target in events:
                if t.reason == "merged":
                    events[target].append([t.retired_in, "absorbed", f"{t.name!r} merged into this node"])
                elif t.reason == "split":
                    events[target].append([t.retired_in, "split_from", f"split from {t.name!r}"])
                else:
                    events[target].append([t.retired_in, "received", f"received the contents of deleted {t.name!r}"])
    order = {k: i for i, k in enumerate(HISTORY_KINDS)}
    for evs in events.values():
        evs.sort(key=lambda e: (e[0], order[e[1]], e[2]))
    return events


def node_neighbours(tree: Tree, leaf_vectors: np.ndarray, k: int) -> dict[str, list[tuple[str, float]]]:
    """For every node: the ``k`` nearest other nodes of the same level by cosine similarity of node centroids
    (the weighted mean of their values' embeddings; exact faiss search)."""
    from embeddings import VectorIndex
    from taxonomy.query import node_vectors

    uids, vecs = node_vectors(tree, leaf_vectors)
    out: dict[str, list[tuple[str, float]]] = {}
    by_level: dict[int, list[int]] = defaultdict(list)
    for i, u in enumerate(uids):
        by_level[tree.nodes[u].level].append(i)
    for rows in by_level.values():
        keys = [uids[i] for i in rows]
        index = VectorIndex(vecs[rows], keys)
        for uid, hits in zip(keys, index.search(vecs[rows], k + 1), strict=True):
            out[uid] = [(h, s) for h, s in hits if h != uid][:k]
    return out


def first_excerpts(session: Session, version_id: int) -> tuple[dict[int, int], int]:
    """({value id: id of its first extraction record with an excerpt}, number of records in this version's
    values) -- which values can show evidence."""
    q = (
        select(ExtractionRecord.value_id, func.min(ExtractionRecord.id))
        .join(Membership, Membership.value_id == ExtractionRecord.value_id)
        .where(Membership.version_id == version_id, ExtractionRecord.excerpt.is_not(None),
               ExtractionRecord.excerpt != "")
        .group_by(ExtractionRecord.value_id)
    )
    first = {vid: rid for vid, rid in session.execute(q)}
    n = session.scalar(
        select(func.count(ExtractionRecord.id))
        .join(Membership, Membership.value_id == ExtractionRecord.value_id)
        .where(Membership.version_id == version_id)
    ) or 0
    return first, int(n)


def redacted_excerpts(session: Session, record_ids: Sequence[int], max_chars: int) -> tuple[dict[int, tuple], int]:
    """{record id: (role, redacted excerpt)} and the number of redactions made. The redaction is the one
    `validate sample --redact` applies (e-mails, URLs, IPs, phones, long digit runs)."""
    from review.validation import redact

    out: dict[int, tuple] = {}
    n = 0
    for part in _chunks(sorted(set(record_ids))):
        for rid, role, excerpt in session.execute(
            select(ExtractionRecord.id, ExtractionRecord.role, ExtractionRecord.excerpt).where(
                ExtractionRecord.id.in_(part))
        ):
            r = redact(excerpt)
            n += r.n
            text = r.text if len(r.text) <= max_chars else r.text[: max_chars - 1].rstrip() + "…"
            out[rid] = (role, text)
    return out, n
