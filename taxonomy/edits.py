"""Edit operations on a tree, and change-sets: a list of operations applied together, all or nothing.

Every edit — from the command line, the Python API, a change-set file, or review annotations — is an
:class:`Operation` applied by :func:`apply_operations` to a copy of a base version's tree. The result is checked
against the integrity rules before anything is written; a refused edit writes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

import numpy as np

from taxonomy.domain import Node, Tombstone, Tree
from taxonomy.edit_state import EditState
from taxonomy.edits_values import Place, Reweigh, Unplace
from taxonomy.errors import NotFoundError, UsageError
from taxonomy.normalize import MAX_NAME_LENGTH, clean_name
from taxonomy.operations import Create, Delete, EditError, Merge, Move, Operation, Reassign, Rename, Split

EDIT_NAMESPACE = uuid.UUID("2d9b7c54-3f0e-5b1a-8c6d-7e4f3a2b1c0d")

#: every operation by its name in change-set files (those on the version's values are in taxonomy.edits_values)
OPERATIONS: dict[str, type[Operation]] = {
    cls.op: cls for cls in (Rename, Merge, Move, Split, Create, Delete, Reassign, Place, Unplace, Reweigh)
}


def operation_from_dict(data: dict, *, where: str = "") -> Operation:
    """Build an operation from a change-set entry like ``{"op": "merge", "node": "...", "into": "..."}``.
    The short form ``{"merge": {"node": ..., "into": ...}}`` is accepted too."""
    if not isinstance(data, dict):
        raise UsageError(f"{where}expected a mapping with an 'op' key, got {type(data).__name__}")
    data = dict(data)
    if "op" not in data and len(data) == 1:
        (name, args), = data.items()
        if not isinstance(args, dict):
            raise UsageError(f"{where}arguments of {name!r} must be a mapping")
        data = {"op": name, **args}
    name = data.pop("op", None)
    cls = OPERATIONS.get(str(name)) if name is not None else None
    if cls is None:
        raise UsageError(f"{where}unknown operation {name!r}; known: {', '.join(OPERATIONS)}")
    fields = {f for f in cls.__dataclass_fields__}
    unknown = set(data) - fields
    if unknown:
        raise UsageError(f"{where}{name}: unknown argument(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(fields))}")
    try:
        op = cls(**data)
    except TypeError as exc:
        raise UsageError(f"{where}{name}: {exc}") from None
    _validate_types(op, where)
    return op


def _validate_types(op: Operation, where: str) -> None:
    for key, value in asdict(op).items():
        if value is None:
            continue
        if key in ("node", "into", "to", "reassign_to", "parent", "value", "name", "description"):
            if not isinstance(value, str) or (key != "description" and not value.strip()):
                raise UsageError(f"{where}{op.op}: {key} must be a non-empty string, got {value!r}")
        if key in ("k", "level") and (not isinstance(value, int) or isinstance(value, bool)):
            raise UsageError(f"{where}{op.op}: {key} must be an integer, got {value!r}")
        if key == "batches" and (
            not isinstance(value, list) or not all(isinstance(b, int) and not isinstance(b, bool) for b in value)
        ):
            raise UsageError(f"{where}{op.op}: batches must be a list of batch ids")
        if key == "children" and (not isinstance(value, list) or not all(isinstance(c, str) for c in value)):
            raise UsageError(f"{where}{op.op}: children must be a list of node ids")
    if isinstance(op, Split) and (op.k is None) == (op.groups is None):
        raise UsageError(f"{where}split: give either k or groups")
    if isinstance(op, Rename) and op.name is None and op.description is None:
        raise UsageError(f"{where}rename: give a name and/or a description")


# ------------------------------------------------------------------------------------------------------ context
@dataclass
class EditContext:
    """What operations may need besides the tree: how to embed (split) and summarize (new or re-summarized nodes)."""

    base_version_id: int
    id_prefix: str = "values"
    seed: int = 0
    resummarize: bool = False
    embed: Callable[[Sequence[str]], np.ndarray] | None = None
    summarizer: Any = None
    #: value text -> (value id, weight, count) in the data the new version covers, or None if not there
    lookup_value: Callable[[str], tuple[int, float, int] | None] | None = None


@dataclass
class ApplyOutcome:
    tree: Tree
    touched: list[str] = field(default_factory=list)  #: uids whose membership changed (for re-summarizing)
    created: list[str] = field(default_factory=list)  #: uids of new nodes
    unnamed: list[str] = field(default_factory=list)  #: new nodes (split parts) that still need a name
    undescribed: list[str] = field(default_factory=list)  #: new split parts named by the user, still undescribed
    #: (values under each node, their summed weights, the total weight) as the nodes' statistics were set from
    #: them, for :func:`taxonomy.integrity.check_tree_integrity` of the unchanged tree; None when the result is
    #: not structurally sound (the statistics were left as they were)
    totals: tuple[dict[str, int], dict[str, float], float] | None = None


class _Editor(EditState):
    def __init__(self, tree: Tree, ctx: EditContext, *, shared_leaves: bool = False):
        super().__init__(tree, shared_leaves=shared_leaves)
        self.ctx = ctx
        self._counter = 0

    # -- lookups -------------------------------------------------------------------------------------------------
    def node(self, ref: str, what: str = "node") -> Node:
        return resolve_node(self.tree, ref, what=what, version_id=self.ctx.base_version_id)

    def _check_sibling_name(self, name: str, parent_uid: str | None, level: int, exclude: str | None = None) -> None:
        key = name.strip().casefold()
        for s in self.siblings(parent_uid, level):
            if s.uid != exclude and s.name.strip().casefold() == key:
                raise EditError(f"a sibling already has the name {s.name!r} ({s.uid})")

    def new_uid(self, level: int, salt: str) -> str:
        self._counter += 1
        u = uuid.uuid5(EDIT_NAMESPACE, f"{self.ctx.base_version_id}\n{self._counter}\n{salt}")
        return f"{self.ctx.id_prefix}:l{level}:{u}"

    # -- operations ----------------------------------------------------------------------------------------------
    def apply(self, op: Operation) -> None:
        apply_to = getattr(op, "apply_to", None)  # operations defined in other modules carry their own
        if apply_to is not None:  # they add, remove or reweigh values (never nodes)
            self.own_leaves()
            self.record_values()
            try:
                return apply_to(self)
            finally:
                self.values_changed()
        getattr(self, f"_{op.op}")(op)

    def _rename(self, op: Rename) -> None:  # every check before any change: a refused rename changes nothing
        node = self.node(op.node)
        name = description = None
        if op.name is not None:
            name = _clean(op.name, "the new name")
            if not name:
                raise EditError("the new name is empty")
            self._check_sibling_name(name, node.parent_uid, node.level, exclude=node.uid)
        if op.description is not None:
            description = _clean(op.description, "the description", multiline=True)
        self.set_text(node, name, description)

    def _merge(self, op: Merge) -> None:
        src, dst = self.node(op.node), self.node(op.into, "target node")
        if src.uid == dst.uid:
            raise EditError(f"cannot merge node {src.uid} ({src.name!r}) into itself")
        if src.level != dst.level:
            raise EditError(
                f"cannot merge {src.uid} ({src.name!r}, level {src.level}) into {dst.uid} ({dst.name!r}, level "
                f"{dst.level}): merged nodes must be on the same level"
            )
        self.move_contents(src, dst)
        self.retire(src, "merged", [dst.uid])

    def _delete(self, op: Delete) -> None:
        node = self.node(op.node)
        if not any(n.level == node.level and n.uid != node.uid for n in self.tree.nodes.values()):
            what = "top category" if node.level == self.tree.depth else f"node of level {node.level}"
            raise EditError(f"cannot delete {node.uid} ({node.name!r}): it is the last {what}")
        dst = self.node(op.reassign_to, "reassign-to node")
        if node.uid == dst.uid:
            raise EditError(f"cannot delete {node.uid} and reassign its contents to itself")
        if node.level != dst.level:
            raise EditError(
                f"--reassign-to {dst.uid} is at level {dst.level}, but {node.uid} is at level {node.level}: "
                "its children need a node of the same level"
            )
        self.move_contents(node, dst)
        self.retire(node, "deleted", [dst.uid])

    def _move(self, op: Move) -> None:
        node, parent = self.node(op.node), self.node(op.to, "new parent")
        if parent.uid == node.uid or parent.uid in self.descendants(node.uid):
            raise EditError(f"cannot move {node.uid} ({node.name!r}) under itself or its own descendant {parent.uid}")
        if parent.level != node.level + 1:
            raise EditError(
                f"cannot move {node.uid} (level {node.level}) under {parent.uid} (level {parent.level}): "
                f"its parent must be at level {node.level + 1}"
            )
        self._check_sibling_name(node.name, parent.uid, node.level, exclude=node.uid)
        self.touch(node.parent_uid)
        self.set_parent(node, parent.uid)
        self.touch(parent.uid)

    def _reassign(self, op: Reassign) -> None:
        idx = self.in_tree(op.value)
        if idx is None:
            raise NotFoundError(f"value {op.value!r} is not in version {self.ctx.base_version_id}")
        dst = self.node(op.to, "target node")
        if dst.level != 1:
            raise EditError(f"values can only be reassigned to level-1 nodes; {dst.uid} is at level {dst.level}")
        leaf = self.tree.leaves[idx]
        self.touch(leaf.parent_uid, dst.uid)
        self.set_leaf_parent(idx, dst.uid)

    def in_tree(self, text: str) -> int | None:
        """The index of the leaf with this text (as given, or normalized), or None."""
        from taxonomy.normalize import normalize_value

        idx = self.leaf_index.get(text)
        return idx if idx is not None else self.leaf_index.get(normalize_value(text))

    def _create(self, op: Create) -> None:
        depth = self.tree.depth
        if not 1 <= op.level <= depth:
            raise EditError(f"level {op.level} does not exist (levels are 1..{depth})")
        parent_uid = None
        if op.level < depth:
            if op.parent is None:
                raise EditError(f"a level-{op.level} node needs --parent (a level-{op.level + 1} node)")
            parent = self.node(op.parent, "parent")
            if parent.level != op.level + 1:
                raise EditError(f"--parent {parent.uid} is at level {parent.level}; expected level {op.level + 1}")
            parent_uid = parent.uid
        elif op.parent is not None:
            raise EditError(f"level {op.level} is the top level: its nodes have no parent")
        name = _clean(op.name, "the name")
        if not name:
            raise EditError("the name is empty")
        self._check_sibling_name(name, parent_uid, op.level)
        uid = self.new_uid(op.level, name)
        self.add_node(Node(
            uid=uid, level=op.level, name=name, description=_clean(op.description or "", "the description", multiline=True),
            parent_uid=parent_uid,
        ))
        self.add_created(uid)
        for ref in op.children or []:
            if op.level == 1 and self.in_tree(ref) is None and self.ctx.lookup_value is not None:
                self.apply(Place(value=ref, to=uid))
            elif op.level == 1:
                self._reassign(Reassign(value=ref, to=uid))
            else:
                self._move(Move(node=ref, to=uid))

    def _split(self, op: Split) -> None:
        node = self.node(op.node)
        if node.level == 1:
            members = [self.tree.leaves[i].text for i in self.leaves_of(node.uid)]
            kids: list[Node] = []
        else:
            kids = sorted(self.children(node.uid), key=lambda n: n.uid)
            members = [k.uid for k in kids]
        if op.groups is not None:
            groups = self._groups_from_spec(node, op.groups, members, kids)
        else:
            if (k := op.k) is None:
                raise EditError(f"split {node.uid} needs k (the number of parts) or groups")
            if k < 2:
                raise EditError(f"split needs k >= 2, got {k}")
            if k > len(members):
                raise EditError(f"cannot split {node.uid} ({node.name!r}) into {k}: it has only {len(members)} children")
            groups = self._cluster_members(node, members, kids, k)
        part_uids = []
        kept = False
        for gi, g in enumerate(groups):
            name = _clean(g.get("name") or "", f"the name of part {gi + 1}")
            description = _clean(g.get("description") or "", f"the description of part {gi + 1}", multiline=True)
            if g.get("keep"):  # the remainder stays the node: same id, its name and description unless given
                kept = True
                uid = node.uid
                self.set_text(node, name or None, description if g.get("description") is not None else None)
                self.touch(uid)
            else:
                uid = self.new_uid(node.level, f"split {node.uid} {gi}")
                self.add_node(Node(
                    uid=uid,
                    level=node.level,
                    name=name or f"{node.name} (part {gi + 1})",
                    description=description,
                    parent_uid=node.parent_uid,
                ))
                self.add_created(uid, unnamed=not name, undescribed=bool(name) and not description)
                part_uids.append(uid)
            for m in g["members"]:
                if node.level == 1:
                    self.set_leaf_parent(self.leaf_index[m], uid)
                else:
                    self.set_parent(self.tree.nodes[m], uid)
        if not kept:
            self.retire(node, "split", part_uids)
        for uid in part_uids + ([node.uid] if kept else []):
            if uid not in self.unnamed:
                self._check_sibling_name(self.tree.nodes[uid].name, node.parent_uid, node.level, exclude=uid)

    def _groups_from_spec(self, node: Node, spec: list[dict], members: list[str], kids: list[Node]) -> list[dict]:
        from taxonomy.normalize import normalize_value

        if not isinstance(spec, list) or len(spec) < 2:
            raise EditError("split --groups needs a list of at least 2 groups")
        wanted = set(members)
        seen: set[str] = set()
        out = []
        for gi, g in enumerate(spec, start=1):
            if not isinstance(g, dict) or not isinstance(g.get("members"), list) or not g["members"]:
                raise EditError(f"group {gi} needs a non-empty 'members' list")
            resolved = []
            for m in g["members"]:
                if node.level == 1:
                    key = m if m in wanted else normalize_value(str(m))
                else:
                    key = self.node(str(m), "group member").uid
                if key not in wanted:
                    raise EditError(f"group {gi}: {m!r} is not a child of {node.uid} ({node.name!r})")
                if key in seen:
                    raise EditError(f"group {gi}: {m!r} is in more than one group")
                seen.add(key)
                resolved.append(key)
            out.append({"name": g.get("name"), "description": g.get("description"), "members": resolved,
                        "keep": bool(g.get("keep"))})
        if sum(1 for g in out if g["keep"]) > 1:
            raise EditError("only one split group can keep the node (\"keep\": true)")
        missing = wanted - seen
        if missing:
            raise EditError(
                f"{len(missing)} child(ren) of {node.uid} are in no group, e.g. {sorted(missing)[:3]}; "
                "every child must be assigned"
            )
        return out

    def _cluster_members(self, node: Node, members: list[str], kids: list[Node], k: int) -> list[dict]:
        embed = self.ctx.embed
        if embed is None:
            raise EditError("split --k needs embeddings, and no embedder is configured")
        from sklearn.cluster import KMeans

        if node.level == 1:
            X = embed(members)
            w = np.array([self.tree.leaves[self.leaf_index[m]].weight for m in members], dtype=np.float64)
        else:
            # a child node is represented by the weighted mean embedding of the values under it
            X = np.stack([self._node_vector(kid.uid, embed) for kid in kids])
            w = np.array([max(kid.weight, 0.0) for kid in kids], dtype=np.float64)
        if w.sum() <= 0:
            w = np.ones_like(w)
        km = KMeans(n_clusters=k, n_init=10, random_state=self.ctx.seed).fit(X, sample_weight=w + 1e-12)
        labels = km.labels_
        if len(set(labels.tolist())) < k:
            raise EditError(f"{node.uid} has fewer than {k} distinct members; cannot split it into {k}")
        groups = []
        for c in sorted(set(labels.tolist()), key=lambda c: min(i for i, lab in enumerate(labels) if lab == c)):
            groups.append({"members": [members[i] for i in range(len(members)) if labels[i] == c]})
        return groups

    def _node_vector(self, uid: str, embed: Callable[[Sequence[str]], np.ndarray]) -> np.ndarray:
        level1 = {uid}
        node = self.tree.nodes[uid]
        for _ in range(node.level - 1):
            level1 = {n.uid for n in self.tree.nodes.values() if n.parent_uid in level1}
        texts = [leaf.text for leaf in self.tree.leaves if leaf.parent_uid in level1]
        weights = np.array([leaf.weight for leaf in self.tree.leaves if leaf.parent_uid in level1]) + 1e-12
        v = (embed(texts) * weights[:, None]).sum(axis=0)
        return v / (np.linalg.norm(v) or 1.0)


def resolve_node(tree: Tree, ref: str, *, what: str = "node", version_id: int | None = None) -> Node:
    """The live node ``ref`` names: its id, or an unambiguous prefix (4 characters at least) of the id's last part.
    A retired id raises :class:`NotFoundError` saying what became of it and which node(s) stand for it now."""
    from taxonomy.lineage import resolve_node_id, tree_pools

    ref = ref.strip()
    uid = resolve_node_id(ref, *tree_pools(tree), what=what)
    if uid in tree.nodes:
        return tree.nodes[uid]
    tomb = tree.tombstones.get(uid) if uid is not None else None
    if tomb is not None:
        survivors = resolve_tombstone(tree, tomb.uid)
        where = f" in version {tomb.version_id}" if tomb.version_id else ""
        raise NotFoundError(
            f"{what} {ref!r} ({tomb.name!r}) no longer exists: it was {tomb.reason}{where}; "
            f"now: {', '.join(survivors) or 'nothing'}"
        )
    version = version_id if version_id is not None else tree.version_id
    raise NotFoundError(f"unknown {what} id {ref!r} in version {version}")


def resolve_tombstone(tree: Tree, uid: str) -> list[str]:
    """The live node(s) that now stand for a retired node id, following chains of merges/splits."""
    out: list[str] = []
    seen: set[str] = set()
    frontier = [uid]
    while frontier:
        u = frontier.pop(0)
        if u in seen:
            continue
        seen.add(u)
        if u in tree.nodes:
            out.append(u)
        elif u in tree.tombstones:
            frontier.extend(tree.tombstones[u].replaced_by)
    return out


def _clean(text: str, what: str, *, multiline: bool = False) -> str:
    """A name or description under the character policy of :mod:`taxonomy.normalize` (EditError otherwise)."""
    try:
        return clean_name(str(text), what=what, multiline=multiline, limit=None if multiline else MAX_NAME_LENGTH)
    except ValueError as exc:
        raise EditError(str(exc)) from None


def apply_operations(tree: Tree, operations: Sequence[Operation], ctx: EditContext) -> ApplyOutcome:
    """Apply ``operations`` in order to a copy of ``tree`` (``tree`` is not changed); raise :class:`EditError`
    naming the operation that cannot apply. Node statistics are recomputed (as :func:`taxonomy.tree.recompute_stats`
    does, on the copy itself) and new/split nodes are named; the result is not yet checked. The copy's nodes and
    tombstones are new objects; its values are the base's until an operation changes them (then copied one by one:
    a rename copies none of 100,000)."""
    work = Tree(nodes=tree.nodes, version_id=tree.version_id, tombstones=tree.tombstones).copy()
    work.leaves = list(tree.leaves)
    editor = _Editor(work, ctx, shared_leaves=True)
    for i, op in enumerate(operations):
        try:
            editor.apply(op)
        except EditError as exc:
            if exc.op_index is None:
                raise EditError(str(exc), op_index=i, op=op) from None
            raise
        except UsageError as exc:
            if type(exc) is UsageError:
                raise EditError(str(exc), op_index=i, op=op) from None
            raise type(exc)(f"operation {i + 1} ({op.describe()}): {exc}") from None
    out = work
    totals = _restat(work) if _structurally_valid(work) else None
    return ApplyOutcome(
        tree=out,
        touched=sorted(u for u in editor.touched if u in out.nodes),
        created=[u for u in editor.created if u in out.nodes],
        unnamed=sorted(u for u in editor.unnamed if u in out.nodes),
        undescribed=sorted(u for u in editor.undescribed if u in out.nodes),
        totals=totals,
    )


def _restat(tree: Tree) -> tuple[dict[str, int], dict[str, float], float]:
    """Set every node's ``member_count``, ``weight`` and ``pct_total_occurrences`` from the leaves, in place: the
    statistics :func:`taxonomy.tree.recompute_stats` gives a copy (the tree must be structurally sound). Returns
    the totals they come from (:meth:`Tree.subtree_totals` and :meth:`Tree.total_weight`)."""
    from taxonomy.tree import leaf_pct

    counts, weights = tree.subtree_totals()
    total = tree.total_weight()
    for uid, n in tree.nodes.items():
        n.member_count, n.weight, n.pct_total_occurrences = counts[uid], weights[uid], leaf_pct(weights[uid], total)
    return counts, weights, total


def _structurally_valid(tree: Tree) -> bool:
    from taxonomy.integrity import check_structure

    try:
        check_structure(tree)
    except Exception:  # noqa: BLE001 - the integrity check reports it properly
        return False
    return True


#: a step of :func:`plan`: operations that apply together, or a function of the working state (an
#: :class:`~taxonomy.edit_state.EditState`: its ``tree`` and the lookups of each node's children and members) that
#: returns them
Step = Sequence[Operation] | Callable[[EditState], Sequence[Operation]]


class PlanOutcome(NamedTuple):
    applicable: list[tuple[int, list[Operation]]]  #: (step index, its operations), in the order of the steps
    refused: list[tuple[int, str]]  #: (step index, why); those refused for the integrity rules first


def plan(tree: Tree, steps: Sequence[Step], ctx: EditContext, *, rounds: int = 10) -> PlanOutcome:
    """Which of ``steps`` can apply, in order, to ``tree`` (which is not changed), and why each other cannot.

    A step is a list of operations that apply together, or a function that returns them from the working state
    (:class:`~taxonomy.edit_state.EditState`) as the steps before it left it (raising :class:`UsageError` refuses the step). The steps are tried one by one on a
    copy of ``tree``: one whose operations cannot apply is refused with the reason and leaves the copy as it was,
    and the others go on. Then the integrity rules are checked on the result; the structural steps that name a node
    of a broken rule (all structural steps when none does) are refused too, and the rest tried again."""
    from taxonomy.tree import recompute_stats
    from taxonomy.integrity import check_tree_integrity

    excluded: dict[int, str] = {}
    applicable: list[tuple[int, list[Operation]]] = []
    refused: list[tuple[int, str]] = []
    for _round in range(rounds):
        work = tree.copy()
        editor = _Editor(work, ctx)
        applicable = []
        refused = [(i, excluded[i]) for i in range(len(steps)) if i in excluded]
        named: dict[int, set[str]] = {}
        for i, step in enumerate(steps):
            if i in excluded:
                continue
            try:
                ops = list(step(editor) if callable(step) else step)
                if not ops:
                    continue
                snapshot = editor.snapshot() if len(ops) > 1 or isinstance(ops[0], (Split, Create)) else None
                try:
                    for op in ops:
                        editor.apply(op)
                except UsageError:
                    if snapshot is not None:
                        editor.restore(snapshot)
                    raise
            except UsageError as exc:  # EditError, NotFoundError, ...
                refused.append((i, str(exc)))
                continue
            if snapshot is not None:
                editor.keep(snapshot)
            applicable.append((i, ops))
            named[i] = _named_nodes(tree, ops)
        structural = [i for i, ops in applicable if any(op.structural for op in ops)]
        try:
            violations = check_tree_integrity(recompute_stats(work))
        except Exception as exc:  # noqa: BLE001 - structurally broken: refuse the structural steps
            if not structural:
                raise
            excluded.update((i, f"the result would be inconsistent: {exc}") for i in structural)
            continue
        blamed = {i: f"[{v.rule}] {v.message}" for v in violations if (bad := set(v.nodes))
                  for i, _ in applicable if named[i] & bad}
        if violations and not blamed and structural:  # cannot attribute: refuse every structural step
            why = "; ".join(f"[{v.rule}] {v.message}" for v in violations[:3])
            blamed = dict.fromkeys(structural, why)
        if not blamed:
            break
        excluded.update(blamed)
    return PlanOutcome(applicable, refused)


def _named_nodes(tree: Tree, ops: Sequence[Operation]) -> set[str]:
    """The nodes a step's operations name, and the parents (in ``tree``) of the nodes they change."""
    refs = {r for op in ops for key in ("node", "into", "to", "reassign_to", "parent")
            if isinstance(r := getattr(op, key, None), str)}
    return refs | {tree.nodes[r].parent_uid or "" for op in ops if (r := getattr(op, "node", None)) in tree.nodes}
