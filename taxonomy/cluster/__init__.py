"""Hierarchical clustering methods, selectable by name (``taxo build --method NAME``).

* ``umap-kmeans`` (default, :class:`UMAPKMeans`): k-means in a local UMAP space for level 1, k-means on cluster
  centroids in a global UMAP space above. Best on the Values-in-the-Wild benchmark (``benchmarks/``).
* ``kmeans`` (:class:`HierarchicalKMeans`): the paper's hierarchical k-means on the raw embeddings.
* ``hdbscan`` (:class:`UMAPHDBSCAN`): UMAP + HDBSCAN, noise reassigned, forced to the exact counts.

Every method returns exactly the requested number of non-empty clusters per level.
"""

from __future__ import annotations

from taxonomy.cluster._layout import KNN_EXACT_MAX, knn
from taxonomy.cluster.base import Hierarchy, HierarchyMethod
from taxonomy.cluster.density import UMAPHDBSCAN
from taxonomy.cluster.kmeans import HierarchicalKMeans
from taxonomy.cluster.umap_kmeans import UMAPKMeans
from taxonomy.errors import UsageError

METHODS: dict[str, type[HierarchyMethod]] = {
    UMAPKMeans.name: UMAPKMeans,
    HierarchicalKMeans.name: HierarchicalKMeans,
    UMAPHDBSCAN.name: UMAPHDBSCAN,
}

DEFAULT_METHOD: str = UMAPKMeans.name


def get_method(name: str, seed: int = 0, **params) -> HierarchyMethod:
    """An instance of the method called ``name``; UsageError for an unknown name or parameter."""
    try:
        cls = METHODS[name]
    except (KeyError, TypeError):
        raise UsageError(f"unknown clustering method {name!r}; known methods: {', '.join(sorted(METHODS))}") from None
    try:
        return cls(seed=seed, **params)
    except TypeError as exc:
        raise UsageError(f"bad parameters for clustering method {name!r}: {exc}") from None


def auto_levels(n_values: int, top: int = 5, n_levels: int = 3) -> list[int]:
    """Cluster counts for ``--levels auto``: a geometric progression from about n/12 down to ``top``.

    Bottom level first. Strictly decreasing and every count >= ``top`` whenever ``n_values`` allows it; for tiny
    inputs ``top`` is lowered and the bottom count capped at ``n_values`` so that the result is always valid for
    :meth:`HierarchyMethod.fit` (with fewer values than levels the counts cannot all differ and repeat at 1).
    A single level is just ``[top]`` (capped at ``n_values``).

    >>> auto_levels(3307)
    [276, 37, 5]
    """
    if n_values < 1:
        raise UsageError("cannot choose levels for an empty set of values")
    if n_levels < 1:
        raise UsageError(f"n_levels must be at least 1, got {n_levels}")
    if top < 1:
        raise UsageError(f"top must be at least 1, got {top}")
    if n_values < n_levels:
        return [max(1, n_values - i) for i in range(n_levels)]
    top_eff = max(1, min(top, n_values - (n_levels - 1)))
    if n_levels == 1:
        return [top_eff]
    first = max(round(n_values / 12), top_eff + n_levels - 1)
    first = min(first, n_values)
    ratio = (first / top_eff) ** (1 / (n_levels - 1))
    levels = [first]
    for i in range(1, n_levels - 1):
        hi = levels[-1] - 1
        lo = top_eff + (n_levels - 1 - i)
        levels.append(int(min(hi, max(lo, round(first / ratio**i)))))
    levels.append(top_eff)
    return levels


__all__ = [
    "DEFAULT_METHOD",
    "METHODS",
    "Hierarchy",
    "HierarchicalKMeans",
    "HierarchyMethod",
    "KNN_EXACT_MAX",
    "UMAPHDBSCAN",
    "UMAPKMeans",
    "auto_levels",
    "get_method",
    "knn",
]
