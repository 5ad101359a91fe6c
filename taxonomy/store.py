"""Writing a tree as a new immutable version, and reading versions back."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import itemgetter

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from taxonomy.db.bulk import driver_rows, insert_rows
from taxonomy.db.models import Membership, Node, TombstoneRow, Value, ValueAlias, Version
from taxonomy.domain import Leaf, Tombstone, Tree
from taxonomy.domain import Node as TreeNode
from taxonomy.errors import NotFoundError, UsageError
from taxonomy.gcpause import without_gc
from taxonomy.normalize import MAX_NAME_LENGTH


def write_version(
    session: Session,
    tree: Tree,
    *,
    kind: str,
    message: str,
    manifest: dict,
    checksum: str | Callable[[], str],
    parent_id: int | None = None,
    author: str | None = None,
) -> int:
    """Insert ``tree`` as a new version inside the caller's transaction and return its id.

    Leaves must carry ``value_id``. Nothing is written unless the caller's transaction commits. Names and
    descriptions are checked against the column limits first (:func:`check_storable`), so that SQLite and
    PostgreSQL refuse the same trees with the same message. ``checksum``: the version's, or the function that
    computes it, called while the database takes in the memberships (on PostgreSQL its side of their COPY, most of
    the time of a write, runs meanwhile) and stored in the version's row before the caller's transaction ends.
    """
    check_storable(tree)
    later = checksum if callable(checksum) else None
    version = Version(
        parent_id=parent_id,
        message=message,
        author=author,
        kind=kind,
        n_levels=tree.depth,
        checksum="" if later else checksum,  # (the column takes no NULL: set below, in this transaction)
        manifest=manifest,
    )
    session.add(version)
    session.flush()
    uid_to_id: dict[str, int] = {}
    conn = session.connection()
    vid = version.id
    for level in range(tree.depth, 0, -1):
        nodes = sorted(tree.nodes_at(level), key=lambda n: n.uid)
        if not nodes:
            continue
        insert_rows(conn, Node.__table__.name, NODE_COLUMNS, [
            (vid, n.uid, n.level, n.name, n.description, uid_to_id[n.parent_uid] if n.parent_uid else None,
             n.member_count, n.weight, n.pct_total_occurrences)
            for n in nodes
        ])
        uid_to_id.update(
            {
                uid: nid
                for uid, nid in session.execute(
                    select(Node.uid, Node.id).where(Node.version_id == vid, Node.level == level)
                )
            }
        )
    computed: list[str] = []
    _insert_memberships(conn, [(vid, leaf.value_id, uid_to_id[leaf.parent_uid], leaf.weight, leaf.count)
                               for leaf in tree.leaves],
                        meanwhile=(lambda: computed.append(later())) if later else None)
    if later:
        version.checksum = computed[0]
        session.flush()
    if tree.tombstones:
        session.execute(
            insert(TombstoneRow),
            [
                {
                    "version_id": version.id,
                    "uid": t.uid,
                    "level": t.level,
                    "name": t.name,
                    "reason": t.reason,
                    "replaced_by": list(t.replaced_by),
                    "retired_in": t.version_id if t.version_id is not None else version.id,
                }
                for t in sorted(tree.tombstones.values(), key=lambda t: t.uid)
            ],
        )
    return version.id


#: the columns :func:`write_version` fills, in the order of its rows (a node's id: the database's)
NODE_COLUMNS = ("version_id", "uid", "level", "name", "description", "parent_id", "member_count", "weight",
                "pct_total_occurrences")
MEMBERSHIP_COLUMNS = ("version_id", "value_id", "node_id", "weight", "count")


def _insert_memberships(conn, rows: list[tuple], meanwhile: Callable[[], object] | None = None) -> None:
    """(version id, value id, node id, weight, count) rows into ``memberships`` (:func:`insert_rows`), in the order
    of the value ids (the rows are a set; only where they lie follows it): the primary-key (version, value) and
    value indexes then grow at one end, 100,000 rows into a table of several versions 1.2x faster on PostgreSQL's
    side and 1.7x on SQLite (2.5x with its page cache made bigger meanwhile). ``meanwhile``: as
    :func:`insert_rows` takes it."""
    insert_rows(conn, Membership.__table__.name, MEMBERSHIP_COLUMNS, sorted(rows, key=itemgetter(1)), meanwhile)


def check_storable(tree: Tree) -> None:
    """Raise :class:`UsageError` for a node name longer than the column holds or text holding NUL (PostgreSQL
    refuses both; SQLite would store them): the same error on every database, before any row is written."""
    for node in tree.nodes.values():
        label = f"node {node.uid}"
        if len(node.name) > MAX_NAME_LENGTH:
            raise UsageError(f"{label}: the name is {len(node.name)} characters long; the limit is {MAX_NAME_LENGTH}")
        if len(node.uid) > 200:
            raise UsageError(f"{label}: the id is {len(node.uid)} characters long; the limit is 200")
        if "\x00" in node.name or "\x00" in (node.description or ""):
            raise UsageError(f"{label}: the name or description contains a NUL character")


def get_numbered(session: Session, model, row_id: int, what: str, none_yet: str):
    """The ``model`` row with id ``row_id``, else :class:`NotFoundError` naming ``what`` and the newest id (or
    ``none_yet`` when there is none)."""
    row = session.get(model, row_id)
    if row is None:
        last = session.scalar(select(func.max(model.id)))
        hint = f"the newest is {last}" if last else none_yet
        raise NotFoundError(f"{what} {row_id} does not exist ({hint})")
    return row


def get_version(session: Session, version_id: int) -> Version:
    return get_numbered(session, Version, version_id, "version", "there are no versions yet: run `taxo build`")


@without_gc  # ~300,000 new objects without cycles: the collector's passes over them cost as much as the read
def read_tree(session: Session, version_id: int, *, aliases: bool = False) -> Tree:
    """The whole tree of a version: nodes, leaves (ordered by value text) and tombstones; with ``aliases``, each
    leaf's other surface forms too."""
    get_version(session, version_id)
    id_to_uid: dict[int, str] = {}
    raw = session.execute(
        select(
            Node.id,
            Node.uid,
            Node.level,
            Node.name,
            Node.description,
            Node.parent_id,
            Node.member_count,
            Node.weight,
            Node.pct_total_occurrences,
        ).where(Node.version_id == version_id)
    ).all()
    for r in raw:
        id_to_uid[r.id] = r.uid
    tree = Tree(version_id=version_id)
    for r in raw:
        tree.nodes[r.uid] = TreeNode(
            uid=r.uid,
            level=r.level,
            name=r.name,
            description=r.description,
            parent_uid=id_to_uid[r.parent_id] if r.parent_id is not None else None,
            member_count=r.member_count,
            weight=r.weight,
            pct_total_occurrences=r.pct_total_occurrences,
        )
    # sorted here, not by the database: code-point order on every database (PostgreSQL's ORDER BY follows its
    # collation), and PostgreSQL's sort of 100,000 texts costs more than Python's; the rows sorted before the
    # leaves are made, so that the leaves lie in memory in their order (every later pass over them is faster)
    rows = driver_rows(
        session,
        select(Value.text, Value.id, Membership.node_id, Membership.weight, Membership.count)
        .join(Value, Value.id == Membership.value_id)
        .where(Membership.version_id == version_id),
    )
    rows.sort(key=itemgetter(0))
    tree.leaves = [Leaf(t, id_to_uid[nid], w, c, vid) for t, vid, nid, w, c in rows]
    for t in session.scalars(select(TombstoneRow).where(TombstoneRow.version_id == version_id)):
        tree.tombstones[t.uid] = Tombstone(
            uid=t.uid, level=t.level, name=t.name, reason=t.reason, replaced_by=list(t.replaced_by), version_id=t.retired_in
        )
    if aliases:
        by_id = {leaf.value_id: leaf for leaf in tree.leaves}
        q = (
            select(ValueAlias.value_id, ValueAlias.surface)
            .join(Membership, Membership.value_id == ValueAlias.value_id)
            .where(Membership.version_id == version_id)
            .order_by(ValueAlias.value_id, ValueAlias.n_rows.desc(), ValueAlias.surface)
        )
        for vid, surface in session.execute(q):
            leaf = by_id[vid]
            if surface != leaf.text and surface not in leaf.aliases:
                leaf.aliases.append(surface)
    return tree


def level_counts(session: Session, version_ids: Sequence[int] | None = None) -> dict[int, dict[int, int]]:
    """{version id: {level: number of nodes}}, level 0 = values."""
    out: dict[int, dict[int, int]] = {}
    q = select(Node.version_id, Node.level, func.count()).group_by(Node.version_id, Node.level)
    m = select(Membership.version_id, func.count()).group_by(Membership.version_id)
    if version_ids is not None:
        q = q.where(Node.version_id.in_(version_ids))
        m = m.where(Membership.version_id.in_(version_ids))
    for vid, level, n in session.execute(q):
        out.setdefault(vid, {})[level] = n
    for vid, n in session.execute(m):
        out.setdefault(vid, {})[0] = n
    return out
