"""Operations on which values a version holds, used by `taxo assign` and the novelty queue (and available in
change-set files): ``place`` a stored value under a level-1 node, ``unplace`` it again, ``reweigh`` every value
from the batches the version covers. Each carries its own ``apply_to(editor)``; the editor (of
:func:`taxonomy.edits.apply_operations` and :func:`taxonomy.edits.plan`) gives them its ``tree``, ``ctx``,
``node()``, ``in_tree()``, ``leaf_index`` and ``touched``.
"""

from __future__ import annotations

from dataclasses import dataclass

from taxonomy.errors import NotFoundError
from taxonomy.operations import EditError, Operation


@dataclass
class Place(Operation, op="place", summary="place {value!r} into {to}"):
    """Add a stored value that the version does not hold yet under a level-1 node (``taxo assign``, novelty)."""

    value: str
    to: str

    def apply_to(self, editor) -> None:
        from taxonomy.domain import Leaf
        from taxonomy.normalize import normalize_value

        idx = editor.in_tree(self.value)
        if idx is not None:
            leaf = editor.tree.leaves[idx]
            raise EditError(
                f"value {leaf.text!r} is already in the version (under {leaf.parent_uid}); use reassign to move it"
            )
        dst = editor.node(self.to, "target node")
        if dst.level != 1:
            raise EditError(f"values can only be placed under level-1 nodes; {dst.uid} is at level {dst.level}")
        lookup = editor.ctx.lookup_value
        text, found = self.value, None
        if lookup is not None:
            found = lookup(text)
            if found is None:
                text = normalize_value(self.value)
                found = lookup(text)
        if found is None:
            raise NotFoundError(f"value {self.value!r} is not stored in the batches the version covers")
        vid, weight, count = found
        editor.leaf_index[text] = len(editor.tree.leaves)
        editor.tree.leaves.append(Leaf(text=text, parent_uid=dst.uid, weight=weight, count=count, value_id=vid))
        editor.touched.add(dst.uid)


@dataclass
class Unplace(Operation, op="unplace", summary="unplace {value!r}"):
    """Take a value out of the version (undoes a ``place``); a later `taxo assign` considers it again."""

    value: str

    def apply_to(self, editor) -> None:
        idx = editor.in_tree(self.value)
        if idx is None:
            raise NotFoundError(f"value {self.value!r} is not in version {editor.ctx.base_version_id}")
        leaves = editor.tree.leaves
        leaf = leaves[idx]
        last = leaves.pop()  # swap-remove: O(1), the index stays right
        if last is not leaf:
            leaves[idx] = last
            editor.leaf_index[last.text] = idx
        del editor.leaf_index[leaf.text]
        editor.touched.add(leaf.parent_uid)


@dataclass
class Reweigh(Operation, op="reweigh", structural=False):
    """Recompute every value's weight and count from the batches the new version covers."""

    batches: list[int]

    def describe(self) -> str:
        return f"reweigh values from batches {','.join(map(str, self.batches))}"

    def apply_to(self, editor) -> None:
        lookup = editor.ctx.lookup_value
        if lookup is None:
            raise EditError("reweigh needs the stored batches, and none are available")
        for leaf in editor.tree.leaves:
            found = lookup(leaf.text)
            if found is not None:
                leaf.weight, leaf.count = found[1], found[2]
