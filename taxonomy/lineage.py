"""Lineage: the version log (`taxo log`), one node across versions (`taxo history`), branch heads (`taxo branch`),
and the one rule that turns what a user types for a node (a full id, its uuid part, or a unique prefix of it)
into a node id, wherever a node is named: a stored version (:func:`taxonomy.query.resolve_node`), any version
(`taxo history`) or a tree being edited (:mod:`taxonomy.edits`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import NamedTuple

from sqlalchemy import Engine, select

from taxonomy.db.engine import session_scope
from taxonomy.db.models import Branch, ChangeSet, Node, TombstoneRow, Version, utcnow
from taxonomy.errors import NotFoundError, UsageError
from taxonomy.store import get_version

# ----------------------------------------------------------------------------------------------- node ids
#: The fewest characters of a node id's uuid part that may stand for the id.
MIN_ID_CHARS = 4


class IdPool(NamedTuple):
    """Node ids to look a reference up in: ``has(uid)`` says whether an exact id is there; ``like(part)`` gives the
    ids whose uuid part may start with ``part`` (a superset is fine: the resolver keeps the real prefix matches)."""

    has: Callable[[str], bool]
    like: Callable[[str], Iterable[str]]


def resolve_node_id(ref: str, *pools: IdPool, what: str = "node", scope: str = "") -> str | None:
    """The node id that ``ref`` names: ``ref`` itself when a pool holds it, else the one id whose uuid part starts
    with ``ref``'s (at least :data:`MIN_ID_CHARS` characters), searched pool by pool (the first pool with a match
    wins); None when no pool has one. :class:`UsageError` for a reference too short, or for a prefix that matches
    several ids of a pool (``scope``, e.g. ``" in version 3"``, is said in that message)."""
    ref = ref.strip()
    if any(pool.has(ref) for pool in pools):
        return ref
    part = ref.rsplit(":", 1)[-1].lower()
    if len(part) < MIN_ID_CHARS:
        raise UsageError(f"{what} id {ref!r} is too short: give at least {MIN_ID_CHARS} characters of the id")
    for pool in pools:
        found = sorted({u for u in pool.like(part) if u.rsplit(":", 1)[-1].startswith(part)})
        if len(found) > 1:
            raise UsageError(f"{what} id {ref!r} is ambiguous{scope}: {', '.join(found[:5])}; give more characters")
        if found:
            return found[0]
    return None


def tree_pools(tree) -> tuple[IdPool, IdPool]:
    """The live nodes and the tombstones of a tree (a :class:`taxonomy.domain.Tree`), in that order."""
    return (IdPool(tree.nodes.__contains__, lambda part: tree.nodes),
            IdPool(tree.tombstones.__contains__, lambda part: tree.tombstones))


def version_pool(session, version_id: int, *, limit: int = 6) -> IdPool:
    """The nodes of one stored version."""

    def has(uid: str) -> bool:
        return session.scalar(select(Node.id).where(Node.version_id == version_id, Node.uid == uid)) is not None

    def like(part: str) -> Iterable[str]:
        return session.scalars(
            select(Node.uid).where(Node.version_id == version_id, Node.uid.like(f"%:{part}%")).limit(limit)
        )

    return IdPool(has, like)


def lineage_pools(session, *, limit: int = 10) -> tuple[IdPool, IdPool]:
    """Every node id of every version, then every retired one (tombstones)."""

    def pool(col) -> IdPool:
        return IdPool(
            lambda uid: session.scalar(select(col).where(col == uid).limit(1)) is not None,
            lambda part: session.scalars(select(col).where(col.like(f"%:{part}%")).distinct().limit(limit)),
        )

    return pool(Node.uid), pool(TombstoneRow.uid)


# ------------------------------------------------------------------------------------------------------- log
@dataclass
class LogEntry:
    id: int
    parent_id: int | None
    created_at: str
    author: str | None
    kind: str
    message: str
    summary: str
    depth: int  #: distance from the root of its lineage
    branches: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def log(version: int | None = None, *, db: str | Engine | None = None) -> list[LogEntry]:
    """Lineage. With ``version``: its ancestry, newest first. Without: every version in tree order (a child after
    its parent; an edit of an old version makes a branch)."""
    from taxonomy.query import version_fields

    with session_scope(db) as session:
        rows = session.scalars(select(Version).order_by(Version.id)).all()
        summaries = {vid: s for vid, s in session.execute(select(ChangeSet.version_id, ChangeSet.summary))}
        heads: dict[int, list[str]] = {}
        for b in session.scalars(select(Branch).order_by(Branch.name)):
            heads.setdefault(b.head_version_id, []).append(b.name)
        by_id = {v.id: v for v in rows}
        if version is not None:
            get_version(session, version)
        depth: dict[int, int] = {}
        for v in rows:
            depth[v.id] = 0 if v.parent_id is None else depth.get(v.parent_id, 0) + 1

        def entry(v: Version) -> LogEntry:
            return LogEntry(**version_fields(v), summary=summaries.get(v.id, _build_summary(v)), depth=depth[v.id],
                            branches=heads.get(v.id, []))

        if version is not None:
            out = []
            cur: int | None = version
            while cur is not None:
                out.append(entry(by_id[cur]))
                cur = by_id[cur].parent_id
            return out
        children: dict[int | None, list[Version]] = {}
        for v in rows:
            children.setdefault(v.parent_id, []).append(v)
        out = []
        stack = list(reversed(children.get(None, [])))
        while stack:
            v = stack.pop()
            out.append(entry(v))
            stack.extend(reversed(children.get(v.id, [])))
        return out


def _build_summary(v: Version) -> str:
    m = v.manifest or {}
    if v.kind == "build":
        levels = ",".join(str(x) for x in m.get("levels", []))
        return f"build of {m.get('n_values', '?')} values, levels {levels}, {m.get('method', {}).get('name', '?')}"
    return v.kind


# ---------------------------------------------------------------------------------------------------- history
@dataclass
class HistoryEntry:
    version_id: int
    status: str  #: "present", "merged", "deleted", "split", "absent"
    name: str | None
    level: int | None
    parent: str | None
    member_count: int | None
    replaced_by: list[str] = field(default_factory=list)
    change: str = ""  #: what changed relative to the previous entry

    def to_dict(self) -> dict:
        return asdict(self)


def history(node: str, *, db: str | Engine | None = None) -> list[HistoryEntry]:
    """One node across all versions: name, parent, size where it exists; how it was retired where it was."""
    with session_scope(db) as session:
        uid = resolve_node_id(node, *lineage_pools(session))
        if uid is None:
            raise NotFoundError(f"no version has a node {node!r}")
        present = {
            r.version_id: r
            for r in session.execute(
                select(Node.version_id, Node.name, Node.level, Node.parent_id, Node.member_count).where(Node.uid == uid)
            )
        }
        parent_ids = {r.parent_id for r in present.values() if r.parent_id}
        parents = {
            i: u for i, u in session.execute(select(Node.id, Node.uid).where(Node.id.in_(parent_ids)))
        } if parent_ids else {}
        tombs = {
            t.version_id: t for t in session.scalars(select(TombstoneRow).where(TombstoneRow.uid == uid))
        }
        versions = session.scalars(select(Version.id).order_by(Version.id)).all()
    out: list[HistoryEntry] = []
    prev: HistoryEntry | None = None
    for vid in versions:
        if vid in present:
            r = present[vid]
            e = HistoryEntry(vid, "present", r.name, r.level, parents.get(r.parent_id), r.member_count)
        elif vid in tombs:
            t = tombs[vid]
            e = HistoryEntry(vid, t.reason, t.name, t.level, None, None, list(t.replaced_by))
        else:
            continue
        if prev is None:
            e.change = "first seen" if e.status == "present" else f"retired ({e.status})"
        else:
            changes = []
            if e.status != prev.status:
                changes.append(e.status if e.status != "present" else "present again")
            if e.status == "present" and prev.status == "present":
                if e.name != prev.name:
                    changes.append(f"renamed {prev.name!r} → {e.name!r}")
                if e.parent != prev.parent:
                    changes.append("moved")
                if e.member_count != prev.member_count:
                    changes.append(f"members {prev.member_count} → {e.member_count}")
            e.change = ", ".join(changes)
        out.append(e)
        prev = e
    return out


# -------------------------------------------------------------------------------------------------- branches
@dataclass
class BranchInfo:
    name: str
    head_version_id: int
    updated_at: str

    def to_dict(self) -> dict:
        return asdict(self)


def branches(*, db: str | Engine | None = None) -> list[BranchInfo]:
    """Every branch and the version it points at, by name."""
    with session_scope(db) as session:
        return [
            BranchInfo(b.name, b.head_version_id, b.updated_at.isoformat(timespec="seconds"))
            for b in session.scalars(select(Branch).order_by(Branch.name))
        ]


def branch(name: str, version: int, *, force: bool = False, db: str | Engine | None = None) -> BranchInfo:
    """Create a branch pointing at ``version`` (or, with ``force``, move an existing one there)."""
    if not name.strip() or any(c.isspace() for c in name):
        raise UsageError(f"branch name {name!r}: use a non-empty name without spaces")
    with session_scope(db) as session:
        get_version(session, version)
        b = session.get(Branch, name)
        if b is not None and not force:
            raise UsageError(f"branch {name!r} exists (at version {b.head_version_id}); use --force to move it")
        if b is None:
            b = Branch(name=name, head_version_id=version)
            session.add(b)
        else:
            b.head_version_id, b.updated_at = version, utcnow()
        session.flush()
        return BranchInfo(b.name, b.head_version_id, b.updated_at.isoformat(timespec="seconds"))
