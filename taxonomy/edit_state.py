"""The state an edit changes (:class:`EditState`): the working tree with indexes of each node's children and
values, what was touched or created, and a journal to undo the changes of one step of :func:`taxonomy.edits.plan`.

Every change of structure goes through the methods here, so that the indexes stay right and each lookup costs
the size of its answer, not of the tree; undoing a refused step costs what the step changed.
"""

from __future__ import annotations

from collections.abc import Callable

from taxonomy.domain import Leaf, Node, Tombstone, Tree


class EditState:
    """``shared_leaves``: ``tree.leaves`` holds the base tree's Leaf objects (a new list, the same objects); each is
    copied before its first change (:meth:`set_leaf_parent`), all of them before an operation of another module,
    so that the base is never changed and an edit that moves no value copies none."""

    def __init__(self, tree: Tree, *, shared_leaves: bool = False):
        self.tree = tree
        # the base's leaves in their places: leaf i is still shared while it is base_leaves[i] (None: none is)
        self._base_leaves: list[Leaf] | None = list(tree.leaves) if shared_leaves else None
        self.touched: set[str] = set()
        self.created: list[str] = []
        self.unnamed: set[str] = set()
        self.undescribed: set[str] = set()  #: new split parts with a given name but no description
        self._leaf_index: dict[str, int] | None = None
        # parent uid -> its child nodes' uids / its leaves' indices (insertion-ordered), built on first use
        self._kids: dict[str | None, dict[str, None]] | None = None
        self._pos: dict[str, int] = {}  #: each node's place in the order of tree.nodes (new nodes at the end)
        self._leaves_at: dict[str, dict[int, None]] | None = None
        self._journal: list[Callable[[], None]] | None = None  #: how to undo the changes of the step being tried

    # -- lookups -------------------------------------------------------------------------------------------------
    @property
    def leaf_index(self) -> dict[str, int]:
        """Each value's text -> its place in ``tree.leaves``; built on first use (a rename needs none), then kept
        right by the changes that add or remove values."""
        if self._leaf_index is None:
            self._leaf_index = {leaf.text: i for i, leaf in enumerate(self.tree.leaves)}
        return self._leaf_index

    @leaf_index.setter
    def leaf_index(self, index: dict[str, int]) -> None:
        self._leaf_index = index

    def kid_index(self) -> dict[str | None, dict[str, None]]:
        if self._kids is None:
            self._kids = {}
            for n in self.tree.nodes.values():
                self._kids.setdefault(n.parent_uid, {})[n.uid] = None
                self._pos.setdefault(n.uid, len(self._pos))
        return self._kids

    def leaf_parent_index(self) -> dict[str, dict[int, None]]:
        if self._leaves_at is None:
            self._leaves_at = {}
            for i, leaf in enumerate(self.tree.leaves):
                self._leaves_at.setdefault(leaf.parent_uid, {})[i] = None
        return self._leaves_at

    def children(self, uid: str | None) -> list[Node]:
        """The child nodes, in the order of ``tree.nodes``."""
        kids = sorted(self.kid_index().get(uid, ()), key=self._pos.__getitem__)
        return [self.tree.nodes[u] for u in kids]

    def members(self, uid: str) -> list[str]:
        """A node's members: the texts of its values (level 1, in the order of the leaves), else its children's ids."""
        if self.tree.nodes[uid].level == 1:
            return [self.tree.leaves[i].text for i in self.leaves_of(uid)]
        return [n.uid for n in self.children(uid)]

    def leaves_of(self, uid: str) -> list[int]:
        return sorted(self.leaf_parent_index().get(uid, ()))

    def descendants(self, uid: str) -> set[str]:
        kids = self.kid_index()
        out: set[str] = set()
        frontier = [uid]
        while frontier:
            fresh = [c for c in kids.get(frontier.pop(), ()) if c not in out]
            out.update(fresh)
            frontier += fresh
        return out

    def siblings(self, parent_uid: str | None, level: int) -> list[Node]:
        return [n for n in self.children(parent_uid) if n.level == level]

    # -- changes of structure (every one goes through these, so that the indexes above stay right) -------------
    def set_parent(self, node: Node, parent_uid: str | None) -> None:
        self._record(lambda old=node.parent_uid: self.set_parent(node, old))
        if self._kids is not None:
            self._kids.get(node.parent_uid, {}).pop(node.uid, None)
            self._kids.setdefault(parent_uid, {})[node.uid] = None
        node.parent_uid = parent_uid

    def own_leaf(self, i: int) -> Leaf:
        """Leaf ``i``, copied first if it is still the base tree's."""
        leaf = self.tree.leaves[i]
        base = self._base_leaves
        if base is not None and i < len(base) and base[i] is leaf:
            leaf = self.tree.leaves[i] = Leaf(leaf.text, leaf.parent_uid, leaf.weight, leaf.count, leaf.value_id,
                                              list(leaf.aliases))
        return leaf

    def own_leaves(self) -> None:
        """Copy every leaf still shared with the base tree (before code that changes leaves directly)."""
        if self._base_leaves is not None:
            for i in range(len(self.tree.leaves)):
                self.own_leaf(i)
            self._base_leaves = None

    def set_leaf_parent(self, i: int, parent_uid: str) -> None:
        leaf = self.own_leaf(i)
        self._record(lambda old=leaf.parent_uid: self.set_leaf_parent(i, old))
        if self._leaves_at is not None:
            self._leaves_at.get(leaf.parent_uid, {}).pop(i, None)
            self._leaves_at.setdefault(parent_uid, {})[i] = None
        leaf.parent_uid = parent_uid

    def values_changed(self) -> None:
        """Values were added, removed or moved by code that does not go through :meth:`set_leaf_parent`."""
        self._leaves_at = None

    def add_node(self, node: Node) -> None:
        self.tree.nodes[node.uid] = node
        if self._kids is not None:
            self._kids.setdefault(node.parent_uid, {})[node.uid] = None
            self._pos.setdefault(node.uid, len(self._pos))
        self._record(lambda: self._unadd(node))

    def _unadd(self, node: Node) -> None:
        del self.tree.nodes[node.uid]
        if self._kids is not None:
            self._kids.get(node.parent_uid, {}).pop(node.uid, None)

    def set_text(self, node: Node, name: str | None, description: str | None) -> None:
        """A new name and/or description (None: unchanged)."""
        self._record(lambda old=(node.name, node.description): self._put_text(node, *old))
        self._put_text(node, node.name if name is None else name,
                       node.description if description is None else description)

    @staticmethod
    def _put_text(node: Node, name: str, description: str | None) -> None:
        node.name, node.description = name, description

    def touch(self, *uids: str | None) -> None:
        for u in uids:
            if u and u not in self.touched:
                self.touched.add(u)
                self._record(lambda u=u: self.touched.discard(u))

    def add_created(self, uid: str, unnamed: bool = False, undescribed: bool = False) -> None:
        self.created.append(uid)
        for flag, where in ((unnamed, self.unnamed), (undescribed, self.undescribed)):
            if flag:
                where.add(uid)
        self._record(lambda: (self.created.pop(), self.unnamed.discard(uid), self.undescribed.discard(uid)))

    def retire(self, node: Node, reason: str, replaced_by: list[str]) -> None:
        tombs = self.tree.tombstones
        self.kid_index()  # (built now if not yet: the node keeps its place in the order, should it come back)
        self._unadd(node)
        self._record(lambda old=tombs.get(node.uid), was=node.uid in self.touched: self._unretire(node, old, was))
        tombs[node.uid] = Tombstone(
            uid=node.uid, level=node.level, name=node.name, reason=reason, replaced_by=list(replaced_by)
        )
        self.touched.discard(node.uid)

    def _unretire(self, node: Node, tomb: Tombstone | None, touched: bool) -> None:
        self.add_node(node)  # at the end of tree.nodes; children() still gives it its old place
        if tomb is None:
            del self.tree.tombstones[node.uid]
        else:
            self.tree.tombstones[node.uid] = tomb
        if touched:
            self.touched.add(node.uid)

    def move_contents(self, src: Node, dst: Node) -> None:
        for c in self.children(src.uid):
            self.set_parent(c, dst.uid)
        if src.level == 1:
            for i in self.leaves_of(src.uid):
                self.set_leaf_parent(i, dst.uid)
        self.touch(dst.uid)

    # -- trying a step of plan(): each change above records how to undo it ----------------------------------------
    def _record(self, undo: Callable[[], None]) -> None:
        if self._journal is not None:
            self._journal.append(undo)

    def snapshot(self) -> list:
        """Start recording the changes of a step of :func:`plan`, to :meth:`restore` them when one of its
        operations cannot apply (this costs what the step changes, not the size of the tree); :meth:`keep` ends it."""
        self._journal = []
        return self._journal

    def keep(self, snap: list) -> None:
        self._journal = None

    def restore(self, snap: list) -> None:
        self._journal = None
        for undo in reversed(snap):
            undo()

    def record_values(self) -> None:
        """Before an operation of another module (it adds, removes or reweighs values): the whole state of the
        values, as the journal cannot see those changes."""
        if self._journal is None:
            return
        t, leaves, index, touched = self.tree, list(self.tree.leaves), dict(self.leaf_index), set(self.touched)
        state = [(lf.parent_uid, lf.weight, lf.count) for lf in leaves]

        def undo() -> None:
            t.leaves[:] = leaves
            for lf, (parent, weight, count) in zip(leaves, state, strict=True):
                lf.parent_uid, lf.weight, lf.count = parent, weight, count
            self.leaf_index, self.touched, self._leaves_at = index, touched, None

        self._journal.append(undo)
