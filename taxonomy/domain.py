"""Plain data objects shared by the build pipeline, export and comparison.

They carry no database session: the database layer (:mod:`taxonomy.db`) reads and writes them.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from operator import attrgetter

from taxonomy.errors import TaxoError


@dataclass(slots=True)
class Node:
    """A cluster node at level >= 1 of one taxonomy version."""

    uid: str  #: stable id of the form ``<prefix>:l<level>:<uuid>``
    level: int
    name: str
    description: str
    parent_uid: str | None  #: None for the top level
    member_count: int = 0  #: number of values (level 0) under the node
    weight: float = 0.0  #: summed weight of the values under the node
    pct_total_occurrences: float = 0.0  #: 100 * weight / total weight


@dataclass(slots=True)
class Leaf:
    """A value (level 0) placed in one taxonomy version."""

    text: str  #: normalized value string; also its id in exports
    parent_uid: str  #: the level-1 node
    weight: float
    count: int = 0
    value_id: int | None = None
    aliases: list[str] = field(default_factory=list)  #: other surface forms seen in the input


@dataclass
class Tombstone:
    """A node that no longer exists: merged away, deleted or split. Kept so that any old id can be resolved in any
    later version (SKOS: ``owl:deprecated true`` + ``dct:isReplacedBy``)."""

    uid: str
    level: int
    name: str
    reason: str  #: "merged", "deleted" or "split"
    replaced_by: list[str]  #: uids of the survivor(s) (several for a split)
    version_id: int | None = None  #: the version in which it stopped existing


@dataclass
class Tree:
    """A whole taxonomy version: cluster nodes and leaves."""

    nodes: dict[str, Node] = field(default_factory=dict)
    leaves: list[Leaf] = field(default_factory=list)
    version_id: int | None = None
    tombstones: dict[str, Tombstone] = field(default_factory=dict)  #: every node retired in this lineage

    def copy(self) -> Tree:
        """A deep copy (every node, leaf and tombstone a new object; their lists copied). The same result as
        ``copy.deepcopy`` for these plain fields, ~20x faster on a 100k-value tree."""
        return Tree(
            nodes={
                u: Node(n.uid, n.level, n.name, n.description, n.parent_uid, n.member_count, n.weight,
                        n.pct_total_occurrences)
                for u, n in self.nodes.items()
            },
            leaves=[Leaf(lf.text, lf.parent_uid, lf.weight, lf.count, lf.value_id, list(lf.aliases))
                    for lf in self.leaves],
            version_id=self.version_id,
            tombstones={
                u: Tombstone(t.uid, t.level, t.name, t.reason, list(t.replaced_by), t.version_id)
                for u, t in self.tombstones.items()
            },
        )

    @property
    def depth(self) -> int:
        """Number of cluster levels (3 for the published tree)."""
        return max((n.level for n in self.nodes.values()), default=0)

    def nodes_at(self, level: int) -> list[Node]:
        return [n for n in self.nodes.values() if n.level == level]

    def ancestor(self, leaf: Leaf, level: int) -> str:
        """The uid of a leaf's ancestor at ``level`` (>= 1)."""
        uid = leaf.parent_uid
        node = self.nodes[uid]
        while node.level < level:
            if node.parent_uid is None:
                raise TaxoError(f"tree is inconsistent: node {node.uid!r} at level {node.level} has no parent")
            node = self.nodes[node.parent_uid]
        return node.uid

    def ancestors_by_level(self) -> dict[int, list[str]]:
        """For each level 1..depth, the ancestor uid of every leaf (in leaf order). Linear time."""
        out: dict[int, list[str]] = {1: [leaf.parent_uid for leaf in self.leaves]}
        parent = {uid: n.parent_uid for uid, n in self.nodes.items()}
        for level in range(2, self.depth + 1):
            out[level] = list(map(parent.__getitem__, out[level - 1]))  # type: ignore[arg-type]
        return out

    def total_weight(self) -> float:
        """The summed weight of the leaves (exact: ``math.fsum``, so independent of their order)."""
        return math.fsum(map(attrgetter("weight"), self.leaves))

    def subtree_totals(self) -> tuple[dict[str, int], dict[str, float]]:
        """For every node: the number of values under it and their summed weight (added in leaf order). Linear
        time; the tree must be structurally sound (see :func:`taxonomy.integrity.check_structure`)."""
        fast = self._subtree_totals_vectorised()
        return fast if fast is not None else self._subtree_totals_loop()

    def _subtree_totals_loop(self) -> tuple[dict[str, int], dict[str, float]]:
        counts = dict.fromkeys(self.nodes, 0)
        weights = dict.fromkeys(self.nodes, 0.0)
        w = [leaf.weight for leaf in self.leaves]
        for ancestors in self.ancestors_by_level().values():
            for uid, x in zip(ancestors, w, strict=True):
                weights[uid] += x  # (a KeyError for a uid that is not a node, as before)
            counts.update(Counter(ancestors))
        return counts, weights

    def _subtree_totals_vectorised(self) -> tuple[dict[str, int], dict[str, float]] | None:
        """:meth:`subtree_totals` in numpy, the same numbers bit for bit: ``bincount`` adds each node's weights one
        at a time in the order of its input, here every level's ancestors one level after the other, in leaf order
        (as the loop adds them). None where an ancestor is missing or a weight not a number (the loop then says
        what is wrong)."""
        import numpy as np

        uids = list(self.nodes)
        pos = {u: i for i, u in enumerate(uids)}
        try:
            at = np.array([pos[leaf.parent_uid] for leaf in self.leaves], dtype=np.intp)
        except (KeyError, TypeError):
            return None
        w = [leaf.weight for leaf in self.leaves]
        if not {float, int}.issuperset(map(type, w)):
            return None
        parent = np.fromiter((pos.get(n.parent_uid, -1) for n in self.nodes.values()), dtype=np.intp,
                             count=len(uids))
        levels = [at]
        for _level in range(2, self.depth + 1):
            if len(at) and at.min() < 0:
                return None
            at = parent[at]
            levels.append(at)
        if len(at) and at.min() < 0:
            return None
        every = np.concatenate(levels)
        counts = np.bincount(every, minlength=len(uids)).tolist()
        weights = np.bincount(every, weights=np.tile(np.array(w, dtype=np.float64), len(levels)),
                              minlength=len(uids)).tolist()
        return dict(zip(uids, counts, strict=True)), dict(zip(uids, weights, strict=True))
