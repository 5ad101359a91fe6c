"""The privacy threshold applied to exports (`taxo export --min-conversations K`).

A value is backed by the number of distinct conversations among the extraction records of that value (values that
have no records, e.g. ingested as aggregated counts, are backed by none). Values backed by fewer than K are
replaced, within each level-1 node, by one "other" value carrying their summed weight and count, so that every
share still sums to 100; nodes backed by fewer than K distinct conversations keep their place, id and share but lose
their name and description. The threshold and what was suppressed are returned for the export's manifest.
"""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import and_, distinct, func, select
from sqlalchemy.orm import Session

from taxonomy.db.models import ExtractionRecord, Membership, Node
from taxonomy.domain import Leaf, Tree
from taxonomy.errors import UsageError

SUPPRESSED_NAME = "(suppressed: fewer than {k} conversations)"


def other_text(n: int, k: int, node_uid: str) -> str:
    short = node_uid.rsplit(":", 1)[-1][:8]
    return f"other ({n} value{'s' if n != 1 else ''} under {k} conversations) [{short}]"


def conversations_per_value(session: Session, version_id: int) -> dict[int, int]:
    r = ExtractionRecord
    m = Membership
    stmt = (select(r.value_id, func.count(distinct(r.conversation_id)))
            .join(m, and_(m.value_id == r.value_id, m.version_id == version_id)).group_by(r.value_id))
    return {int(v): int(n) for v, n in session.execute(stmt)}


def conversations_per_node(session: Session, version_id: int, depth: int) -> dict[str, int]:
    """Distinct conversations under every node (SQL: memberships joined up the node chain, per level)."""
    out: dict[str, int] = {}
    r = ExtractionRecord.__table__
    m = Membership.__table__
    for level in range(1, depth + 1):
        frm = r.join(m, and_(m.c.value_id == r.c.value_id, m.c.version_id == version_id))
        key = m.c.node_id
        for lv in range(2, level + 1):
            n = Node.__table__.alias(f"n{lv}")
            frm = frm.join(n, n.c.id == key)
            key = n.c.parent_id
        top = Node.__table__.alias("top")
        frm = frm.join(top, top.c.id == key)
        stmt = select(top.c.uid, func.count(distinct(r.c.conversation_id))).select_from(frm).group_by(top.c.uid)
        out.update({uid: int(n) for uid, n in session.execute(stmt)})
    return out


def suppress_tree(session: Session, tree: Tree, k: int) -> tuple[Tree, dict]:
    """A copy of ``tree`` with the threshold applied (see the module docstring), and the report."""
    if tree.version_id is None:
        raise ValueError("suppress_tree needs a stored version (the tree has no version id)")
    per_value = conversations_per_value(session, tree.version_id)
    if not per_value:
        raise UsageError(
            f"--min-conversations: version {tree.version_id} has no extraction records, so no value can be shown to "
            "be backed by enough conversations; ingest the records (`taxo ingest FILE --conversation-col ...`)"
        )
    kept: list[Leaf] = []
    others: dict[str, list[Leaf]] = {}
    for leaf in tree.leaves:
        if per_value.get(leaf.value_id or -1, 0) >= k:
            kept.append(replace(leaf))
        else:
            others.setdefault(leaf.parent_uid, []).append(leaf)
    for uid, group in sorted(others.items()):
        kept.append(Leaf(text=other_text(len(group), k, uid), parent_uid=uid,
                         weight=sum(lf.weight for lf in group), count=sum(lf.count for lf in group)))
    per_node = conversations_per_node(session, tree.version_id, tree.depth)
    nodes = {}
    hidden = 0
    for uid, node in tree.nodes.items():
        if per_node.get(uid, 0) < k:
            hidden += 1
            node = replace(node, name=SUPPRESSED_NAME.format(k=k) + f" [{uid.rsplit(':', 1)[-1][:8]}]",
                           description="")
        nodes[uid] = replace(node)
    out = Tree(nodes=nodes, leaves=kept, version_id=tree.version_id, tombstones=dict(tree.tombstones))
    report = {"min_conversations": k, "suppressed_values": sum(len(g) for g in others.values()),
              "other_rows": len(others), "suppressed_nodes": hidden,
              "rule": "values backed by fewer than min_conversations distinct conversations are aggregated into "
                      "one 'other' value per level-1 node; nodes below it lose their name and description"}
    return out, report
