"""Tree algebra: what is computed from a :class:`~taxonomy.domain.Tree` and nothing else (no database, no files).

* :func:`content_checksum`: the order-independent SHA-256 of a tree's content (stored with every version, stated in
  every export);
* :func:`leaf_pct`: a value's share of the total leaf weight (:meth:`Tree.total_weight`);
* :func:`recompute_stats`: a copy whose node statistics are derived from the leaves;
* :func:`level1_sums` and :func:`node_centroids`: every node's centroid from its values' vectors.

The copy of a tree is :meth:`Tree.copy`; the integrity rules are in :mod:`taxonomy.integrity`.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING

from taxonomy.domain import Leaf, Node, Tree
from taxonomy.integrity import check_structure

if TYPE_CHECKING:
    import numpy as np  # (imported where used: reading or exporting a tree needs no numpy)

_CHECKSUM_SCHEME = "taxo-tree-v1"


def _float_key(x: float) -> str:
    """Canonical text of a float: shortest round-trip repr, with -0.0 folded into 0.0."""
    return repr(float(x) + 0.0)


def content_checksum(tree: Tree) -> str:
    """SHA-256 (hex) of a canonical serialisation of the tree's content, independent of row/list order.

    Covered: every node's ``uid, level, name, description, parent_uid`` and every leaf's
    ``text, parent_uid, weight, count``. Not covered: the version id, ``value_id`` (database ids) and the
    node statistics ``member_count, weight, pct_total_occurrences``, which are derived from the leaves (and
    whose last bits depend on summation order).
    """
    # tuples, not lists (cheaper to make; sorted and written alike); _float_key inlined for the 100,000 leaves
    nodes = sorted(
        (n.uid, int(n.level), n.name, n.description, n.parent_uid or "") for n in tree.nodes.values()
    )
    leaves = sorted((lf.text, lf.parent_uid, repr(float(lf.weight) + 0.0), int(lf.count)) for lf in tree.leaves)
    payload = json.dumps(
        {"scheme": _CHECKSUM_SCHEME, "nodes": nodes, "leaves": leaves},
        ensure_ascii=False,
        separators=(",", ":"),
        allow_nan=True,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def leaf_pct(weight: float, total: float) -> float:
    """``100 * weight / total`` (0 when the total is 0)."""
    return 100.0 * weight / total if total > 0 else 0.0


def recompute_stats(tree: Tree) -> Tree:
    """A copy of ``tree`` whose nodes' ``member_count``, ``weight`` and ``pct_total_occurrences`` are computed
    from the leaves (values under the node; weight sum; 100 * weight / total leaf weight). Pure. Raises
    :class:`~taxonomy.errors.TaxoError` for a tree that is not structurally sound (:func:`check_structure`)."""
    check_structure(tree)
    counts, weights = tree.subtree_totals()
    total = tree.total_weight()
    nodes = {  # the constructors, not dataclasses.replace: several times faster on 100,000 leaves
        uid: Node(n.uid, n.level, n.name, n.description, n.parent_uid, counts[uid], weights[uid],
                  leaf_pct(weights[uid], total))
        for uid, n in tree.nodes.items()
    }
    return Tree(
        nodes=nodes,
        leaves=[Leaf(lf.text, lf.parent_uid, lf.weight, lf.count, lf.value_id, list(lf.aliases)) for lf in tree.leaves],
        version_id=tree.version_id,
        tombstones=dict(tree.tombstones),
    )


def level1_sums(tree: Tree, leaf_vectors: np.ndarray, weights: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Level-1 uids (sorted) and, for each, the sum of ``weights[i] * leaf_vectors[i]`` over its values
    (float64, added in leaf order). Linear in the number of values."""
    import numpy as np

    uids = sorted(n.uid for n in tree.nodes_at(1))
    pos = {u: i for i, u in enumerate(uids)}
    sums = np.zeros((len(uids), leaf_vectors.shape[1]), dtype=np.float64)
    idx = np.array([pos[leaf.parent_uid] for leaf in tree.leaves], dtype=np.int64)
    np.add.at(sums, idx, leaf_vectors * weights[:, None])
    return uids, sums


def node_centroids(tree: Tree, uids: list[str], sums: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Every node's centroid from the summed vectors of the level-1 nodes ``uids`` (``sums``, one row each, e.g.
    :func:`level1_sums`): a node's sum is that of the level-1 nodes under it, normalised to unit length (a node
    with nothing under it gets the zero vector). Returns all uids sorted and their float32 centroids. Linear in
    the number of nodes."""
    import numpy as np

    total = {u: np.zeros(sums.shape[1], dtype=np.float64) for u in tree.nodes}
    for i, u in enumerate(uids):
        total[u] = total[u] + sums[i]
    for level in range(2, tree.depth + 1):
        for n in tree.nodes_at(level - 1):
            if n.parent_uid is not None:
                total[n.parent_uid] = total[n.parent_uid] + total[n.uid]
    out = sorted(total)
    V = np.stack([total[u] for u in out]) if out else np.zeros((0, sums.shape[1]), dtype=np.float64)
    norms = np.linalg.norm(V, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return out, (V / norms).astype(np.float32)
