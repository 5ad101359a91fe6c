"""What changed between two taxonomy versions: nodes added, removed, renamed, re-described, moved, merged and
split, and values added, removed and moved. Works on any two in-memory :class:`~taxonomy.domain.Tree` objects,
not only a parent version and its child.

``a`` is the old version and ``b`` the new one. Nodes are matched by uid (stable while a node exists: a rename,
move or description change keeps it) and values by their text (``Leaf.text``, the normalised value string, which
is also a value's id in exports; should a tree hold the same text twice, the first leaf is used).

How each node change is recognised:

* **renamed** / **redescribed** / **moved**: the uid is in both trees and the name / description / parent uid
  differs. A move carries a ``cause``: ``"merge"`` when the old parent was merged away and the new parent is the
  node it was merged into (children follow their parent into the survivor), ``"split"`` when the old parent was
  split and the new parent is one of its parts, ``"delete"`` when the old parent was deleted and the new parent is
  the node its contents were reassigned to, else ``"move"``.
* a uid of ``a`` that is not a node of ``b`` is looked up in ``b``'s tombstones:

  - reason ``"merged"`` -> **merged**. The survivor is found by following the tombstones' ``replaced_by`` in
    ``b`` until a live node of ``b`` is reached, so a chain ``x -> c``, ``c -> d`` gives ``x``'s survivor
    ``d``. ``merged_into`` keeps the direct target(s) recorded in ``x``'s own tombstone. Should the chain fork
    (the survivor was later split) every live end is listed in ``survivors`` and ``survivor_uid`` is the first;
    should it end nowhere (the survivor was later deleted) ``survivors`` is empty and ``survivor_uid`` None.
  - reason ``"split"`` -> **split**, with ``parts`` = the live nodes of ``b`` that the split's ``replaced_by``
    resolve to (a part merged away since resolves to its survivor).
  - any other reason (``"deleted"``), or no tombstone in ``b`` -> **removed**, with the tombstone's reason, or
    ``"removed"`` when ``b`` has no tombstone for it (e.g. ``b`` is older than ``a``). A deletion's tombstone names
    the node its contents were reassigned to; ``reassigned_to`` lists the live node(s) of ``b`` that resolves to.

* a node of ``b`` that is not in ``a`` is **added**, unless it is one of the ``parts`` of a split reported in the
  same diff: split parts are listed only under ``split``, so that ``added`` holds genuinely new nodes (created
  ones, or parts of a split of a node that ``a`` never had). A new node that a merge targeted stays in ``added``.

When ``b`` is older than ``a`` no attempt is made to invert merges or splits: nodes ``a`` has and ``b`` lacks are
``removed`` (reason ``"removed"``) and nodes only ``b`` has are ``added``.

Values:

* **values_added** / **values_removed**: texts only in ``b`` / only in ``a`` (sorted).
* **values_moved**: every value in both trees whose level-1 parent uid differs, whatever the reason, with a
  ``cause``: ``"merge"`` when the old parent was merged away and the new parent is its survivor, ``"split"``
  when the old parent was split and the new parent is one of its parts, ``"delete"`` when the old parent was
  deleted and the new parent is the node the deletion reassigned its contents to, else ``"reassign"`` (an
  explicit reassignment, or anything the tombstones do not explain).

Every step is a dict or set operation over the nodes and leaves, so the cost is linear in the tree sizes (plus
sorting the reported entries); two 100,000-value versions are compared in a fraction of a second (see
``benchmarks/diff_speed.py``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from operator import attrgetter
from typing import Any

from taxonomy.domain import Node, Tree
from taxonomy.gcpause import without_gc

#: The kinds of change, in report order.
KINDS: tuple[str, ...] = (
    "added",
    "removed",
    "renamed",
    "redescribed",
    "moved",
    "merged",
    "split",
    "values_moved",
    "values_added",
    "values_removed",
)


@dataclass
class NodeRef:
    uid: str
    name: str


@dataclass
class AddedNode:
    uid: str
    level: int
    name: str
    parent_uid: str | None
    parent_name: str | None  #: in b
    member_count: int


@dataclass
class RemovedNode:
    uid: str
    level: int
    name: str  #: in a
    parent_uid: str | None  #: in a
    parent_name: str | None
    member_count: int  #: in a
    reason: str  #: the tombstone's reason in b ("deleted", ...), or "removed" when b has no tombstone for it
    reassigned_to: list[NodeRef] = field(default_factory=list)  #: live nodes of b its contents went to, if known


@dataclass
class RenamedNode:
    uid: str
    level: int
    old_name: str
    new_name: str


@dataclass
class RedescribedNode:
    uid: str
    level: int
    name: str  #: in b
    old_description: str
    new_description: str


@dataclass
class MovedNode:
    uid: str
    level: int
    name: str  #: in b
    old_parent_uid: str | None
    old_parent_name: str | None  #: in a
    new_parent_uid: str | None
    new_parent_name: str | None  #: in b
    cause: str  #: "merge", "split", "delete" or "move"


@dataclass
class MergedNode:
    uid: str
    level: int
    name: str  #: in a
    survivor_uid: str | None  #: the live node of b the merge chain ends at (the first, should it fork)
    survivor_name: str | None  #: in b
    merged_into: list[str] = field(default_factory=list)  #: direct target(s) from the node's own tombstone
    survivors: list[NodeRef] = field(default_factory=list)  #: every live end of the chain (usually one)


@dataclass
class SplitNode:
    uid: str
    level: int
    name: str  #: in a
    parts: list[NodeRef] = field(default_factory=list)  #: live nodes of b, names in b


@dataclass
class MovedValue:
    text: str
    old_parent_uid: str
    old_parent_name: str | None  #: in a
    new_parent_uid: str
    new_parent_name: str | None  #: in b
    cause: str  #: "merge", "split", "delete" or "reassign"


@dataclass
class TreeDiff:
    """Outcome of :func:`diff_trees` (``a`` old, ``b`` new). Entries are sorted (nodes by level, name, uid;
    values by text)."""

    from_version: int | None = None
    to_version: int | None = None
    added: list[AddedNode] = field(default_factory=list)
    removed: list[RemovedNode] = field(default_factory=list)
    renamed: list[RenamedNode] = field(default_factory=list)
    redescribed: list[RedescribedNode] = field(default_factory=list)
    moved: list[MovedNode] = field(default_factory=list)
    merged: list[MergedNode] = field(default_factory=list)
    split: list[SplitNode] = field(default_factory=list)
    values_moved: list[MovedValue] = field(default_factory=list)
    values_added: list[str] = field(default_factory=list)
    values_removed: list[str] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        """Number of entries per kind (every kind present, in :data:`KINDS` order)."""
        return {kind: len(getattr(self, kind)) for kind in KINDS}

    @property
    def is_empty(self) -> bool:
        return not any(getattr(self, kind) for kind in KINDS)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict: the versions, ``counts`` and one list of plain dicts (or strings) per kind."""
        out: dict[str, Any] = {
            "from_version": self.from_version,
            "to_version": self.to_version,
            "counts": self.counts,
        }
        for kind in KINDS:
            entries = getattr(self, kind)
            out[kind] = list(entries) if kind in ("values_added", "values_removed") else [asdict(e) for e in entries]
        return out


# --------------------------------------------------------------------------------------------------------------
# Diff
# --------------------------------------------------------------------------------------------------------------


def _node_key(level: int, name: str, uid: str) -> tuple[int, str, str]:
    return (level, name.casefold(), uid)


def _name(nodes: dict[str, Node], uid: str | None) -> str | None:
    if uid is None:
        return None
    node = nodes.get(uid)
    return node.name if node is not None else None


def _leaf_parents(tree: Tree) -> dict[str, str]:
    """Value text -> level-1 parent uid (first leaf kept for a repeated text)."""
    rev = tree.leaves[::-1]  # reversed, so that the first leaf of a repeated text is written last and wins
    return dict(zip([leaf.text for leaf in rev], [leaf.parent_uid for leaf in rev]))


class _Resolver:
    """Maps a uid to the live node(s) of ``tree`` it stands for now, following tombstones' ``replaced_by``.
    Memoised; cycles and dangling references end in nothing."""

    def __init__(self, tree: Tree) -> None:
        self.nodes = tree.nodes
        self.tombstones = tree.tombstones
        self.memo: dict[str, tuple[str, ...]] = {}

    def __call__(self, uid: str) -> tuple[str, ...]:
        if uid in self.nodes:
            return (uid,)
        if uid in self.memo:
            return self.memo[uid]
        # Iterative depth-first walk, so that a long chain cannot exhaust the recursion limit.
        stack: list[tuple[str, int]] = [(uid, 0)]
        self.memo[uid] = ()  # in progress: a cycle back to it resolves to nothing
        while stack:
            cur, i = stack[-1]
            ts = self.tombstones.get(cur)
            targets = ts.replaced_by if ts is not None else []
            if i < len(targets):
                stack[-1] = (cur, i + 1)
                nxt = targets[i]
                if nxt not in self.nodes and nxt not in self.memo:
                    self.memo[nxt] = ()
                    stack.append((nxt, 0))
                continue
            stack.pop()
            ends: dict[str, None] = {}
            for t in targets:
                for end in (t,) if t in self.nodes else self.memo.get(t, ()):
                    ends[end] = None
            self.memo[cur] = tuple(ends)
        return self.memo[uid]


@without_gc  # (dicts and sets over both trees' values: no collector passes over them meanwhile)
def diff_trees(a: Tree, b: Tree) -> TreeDiff:
    """Everything that differs between tree ``a`` (old) and tree ``b`` (new); empty when they are the same.
    Linear in the sizes of the two trees. See the module docstring for how each kind is recognised."""
    d = TreeDiff(from_version=a.version_id, to_version=b.version_id)
    an, bn = a.nodes, b.nodes
    resolve = _Resolver(b)

    # Nodes gone from b: merged, split or removed. Remember, per gone uid, the nodes of b its content went to.
    merge_targets: dict[str, set[str]] = {}
    split_targets: dict[str, set[str]] = {}
    delete_targets: dict[str, set[str]] = {}
    split_parts: set[str] = set()
    for uid, old in an.items():
        if uid in bn:
            continue
        ts = b.tombstones.get(uid)
        reason = ts.reason if ts is not None else "removed"
        if ts is not None and reason == "merged":
            ends = resolve(uid)
            merge_targets[uid] = set(ends)
            survivors = [NodeRef(e, bn[e].name) for e in ends]
            d.merged.append(MergedNode(
                uid=uid, level=old.level, name=old.name,
                survivor_uid=survivors[0].uid if survivors else None,
                survivor_name=survivors[0].name if survivors else None,
                merged_into=list(ts.replaced_by), survivors=survivors,
            ))
        elif ts is not None and reason == "split":
            ends = resolve(uid)
            split_targets[uid] = set(ends)
            split_parts.update(ends)
            d.split.append(SplitNode(uid=uid, level=old.level, name=old.name,
                                     parts=[NodeRef(e, bn[e].name) for e in ends]))
        else:
            ends = resolve(uid) if ts is not None else ()
            delete_targets[uid] = set(ends)
            d.removed.append(RemovedNode(
                uid=uid, level=old.level, name=old.name, parent_uid=old.parent_uid,
                parent_name=_name(an, old.parent_uid), member_count=old.member_count, reason=reason,
                reassigned_to=[NodeRef(e, bn[e].name) for e in ends],
            ))

    def cause_of(old_parent: str | None, new_parent: str | None, default: str) -> str:
        if old_parent is None or new_parent is None:
            return default
        if new_parent in merge_targets.get(old_parent, ()):
            return "merge"
        if new_parent in split_targets.get(old_parent, ()):
            return "split"
        if new_parent in delete_targets.get(old_parent, ()):
            return "delete"
        return default

    # Nodes in both (rename, description, move) and nodes only in b (added unless a split part).
    for uid, new in bn.items():
        old = an.get(uid)
        if old is None:
            if uid not in split_parts:
                d.added.append(AddedNode(uid=uid, level=new.level, name=new.name, parent_uid=new.parent_uid,
                                         parent_name=_name(bn, new.parent_uid), member_count=new.member_count))
            continue
        if old.name != new.name:
            d.renamed.append(RenamedNode(uid=uid, level=new.level, old_name=old.name, new_name=new.name))
        if old.description != new.description:
            d.redescribed.append(RedescribedNode(uid=uid, level=new.level, name=new.name,
                                                 old_description=old.description,
                                                 new_description=new.description))
        if old.parent_uid != new.parent_uid:
            d.moved.append(MovedNode(
                uid=uid, level=new.level, name=new.name,
                old_parent_uid=old.parent_uid, old_parent_name=_name(an, old.parent_uid),
                new_parent_uid=new.parent_uid, new_parent_name=_name(bn, new.parent_uid),
                cause=cause_of(old.parent_uid, new.parent_uid, "move"),
            ))

    # Values.
    pa, pb = _leaf_parents(a), _leaf_parents(b)
    for text, old_parent in pa.items():
        new_parent = pb.get(text)
        if new_parent is None:
            d.values_removed.append(text)
        elif new_parent != old_parent:
            d.values_moved.append(MovedValue(
                text=text, old_parent_uid=old_parent, old_parent_name=_name(an, old_parent),
                new_parent_uid=new_parent, new_parent_name=_name(bn, new_parent),
                cause=cause_of(old_parent, new_parent, "reassign"),
            ))
    d.values_added = [text for text in pb if text not in pa]

    # Deterministic order.
    for kind in ("added", "removed", "renamed", "redescribed", "moved", "merged", "split"):
        getattr(d, kind).sort(key=lambda e: _node_key(e.level, e.new_name if kind == "renamed" else e.name, e.uid))
    d.values_moved.sort(key=attrgetter("text"))
    d.values_added.sort()
    d.values_removed.sort()
    return d


# --------------------------------------------------------------------------------------------------------------
# Text report
# --------------------------------------------------------------------------------------------------------------


def _ref(uid: str | None, name: str | None) -> str:
    if uid is None:
        return "(top)"
    return f"{name!r} [{uid}]" if name is not None else f"[{uid}]"


def _line(kind: str, e: Any) -> str:
    if kind == "added":
        return f"l{e.level} {e.name!r} [{e.uid}] under {_ref(e.parent_uid, e.parent_name)}"
    if kind == "removed":
        to = f", contents -> {', '.join(_ref(r.uid, r.name) for r in e.reassigned_to)}" if e.reassigned_to else ""
        return f"l{e.level} {e.name!r} [{e.uid}] ({e.reason}, {e.member_count} values{to})"
    if kind == "renamed":
        return f"l{e.level} {e.old_name!r} -> {e.new_name!r} [{e.uid}]"
    if kind == "redescribed":
        return f"l{e.level} {e.name!r} [{e.uid}]: {_short(e.old_description)!r} -> {_short(e.new_description)!r}"
    if kind == "moved":
        return (f"l{e.level} {e.name!r} [{e.uid}]: {_ref(e.old_parent_uid, e.old_parent_name)} -> "
                f"{_ref(e.new_parent_uid, e.new_parent_name)} ({e.cause})")
    if kind == "merged":
        into = ", ".join(_ref(s.uid, s.name) for s in e.survivors) or "nothing left (survivor gone)"
        return f"l{e.level} {e.name!r} [{e.uid}] -> {into}"
    if kind == "split":
        parts = ", ".join(_ref(p.uid, p.name) for p in e.parts) or "nothing left"
        return f"l{e.level} {e.name!r} [{e.uid}] -> {parts}"
    if kind == "values_moved":
        return (f"{e.text!r}: {_ref(e.old_parent_uid, e.old_parent_name)} -> "
                f"{_ref(e.new_parent_uid, e.new_parent_name)} ({e.cause})")
    return repr(e)  # values_added / values_removed: texts


def _short(text: str, width: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def format_diff(d: TreeDiff, limit: int = 20) -> str:
    """A readable report: a table of counts per kind, then the first ``limit`` entries of each non-empty kind."""
    def v(x: int | None) -> str:
        return "?" if x is None else str(x)

    lines = [f"Diff of version {v(d.from_version)} -> version {v(d.to_version)}"]
    counts = d.counts
    if d.is_empty:
        lines.append("no differences")
        return "\n".join(lines)
    width = max(len(k) for k in KINDS)
    lines.append(f"  {'kind'.ljust(width)}  {'count':>8}")
    for kind in KINDS:
        lines.append(f"  {kind.ljust(width)}  {counts[kind]:>8}")
    for kind in KINDS:
        entries = getattr(d, kind)
        if not entries:
            continue
        lines.append("")
        lines.append(f"{kind} ({len(entries)}):")
        for e in entries[: max(limit, 0)]:
            lines.append(f"  {_line(kind, e)}")
        if len(entries) > limit:
            lines.append(f"  ... and {len(entries) - max(limit, 0)} more")
    return "\n".join(lines)
