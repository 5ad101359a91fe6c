"""Plain data objects shared by the build pipeline, export and comparison.

They carry no database session: the database layer (:mod:`taxonomy.db`) reads and writes them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from taxonomy.errors import TaxoError


@dataclass
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


@dataclass
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
        for level in range(2, self.depth + 1):
            out[level] = [self.nodes[u].parent_uid for u in out[level - 1]]  # type: ignore[misc]
        return out

    def total_weight(self) -> float:
        """The summed weight of the leaves (exact: ``math.fsum``, so independent of their order)."""
        return math.fsum(leaf.weight for leaf in self.leaves)

    def subtree_totals(self) -> tuple[dict[str, int], dict[str, float]]:
        """For every node: the number of values under it and their summed weight (added in leaf order). Linear
        time; the tree must be structurally sound (see :func:`taxonomy.integrity.check_structure`). (``np.add.at``
        adds one value at a time in index order: the sums of adding the weights one by one, with no Python loop.)"""
        import numpy as np

        uids = list(self.nodes)
        row = {u: i for i, u in enumerate(uids)}
        parent = np.array([row.get(n.parent_uid, -1) for n in self.nodes.values()], dtype=np.intp)
        at = np.fromiter((row[leaf.parent_uid] for leaf in self.leaves), dtype=np.intp, count=len(self.leaves))
        w = np.fromiter((leaf.weight for leaf in self.leaves), dtype=np.float64, count=len(self.leaves))
        counts, weights = np.zeros(len(uids), dtype=np.int64), np.zeros(len(uids), dtype=np.float64)
        for _level in range(self.depth):  # level 1, then each level above: every leaf's ancestor there
            if at.size and at.min() < 0:
                raise TaxoError("tree is inconsistent: a value has no ancestor at every level")
            counts += np.bincount(at, minlength=len(uids))
            np.add.at(weights, at, w)
            at = parent[at]
        return dict(zip(uids, counts.tolist())), dict(zip(uids, weights.tolist()))
