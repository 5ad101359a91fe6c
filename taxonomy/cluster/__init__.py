"""Hierarchical clustering methods, selectable by name (``taxo build --method NAME``)."""

from __future__ import annotations

from taxonomy.cluster.base import Hierarchy, HierarchyMethod
from taxonomy.cluster.hierarchical import HierarchicalKMeans, UMAPHDBSCAN, UMAPKMeans
from taxonomy.errors import UsageError

METHODS: dict[str, type[HierarchyMethod]] = {
    cls.name: cls for cls in (UMAPKMeans, HierarchicalKMeans, UMAPHDBSCAN)
}
#: The method that scores best in benchmarks/build_quality.py.
DEFAULT_METHOD = "umap-kmeans"


def get_method(name: str, random_state: int = 0, **params) -> HierarchyMethod:
    cls = METHODS.get(name)
    if cls is None:
        raise UsageError(f"unknown clustering method {name!r}; choose one of: {', '.join(METHODS)}")
    try:
        return cls(random_state=random_state, **params)
    except TypeError as exc:
        raise UsageError(f"method {name!r}: {exc}") from None


def auto_levels(n_values: int, top: int = 5, n_levels: int = 3) -> list[int]:
    """Cluster counts for ``--levels auto``: a geometric progression from about n/12 down to ``top``."""
    if n_values < 1:
        raise UsageError("no values to cluster")
    top = max(1, min(top, n_values))
    first = max(top, min(n_values, round(n_values / 12)))
    if n_levels == 1:
        return [first]
    ratio = (first / top) ** (1 / (n_levels - 1))
    levels = [max(top, round(first / ratio**i)) for i in range(n_levels)]
    levels[-1] = top
    for i in range(1, n_levels):
        levels[i] = min(levels[i], levels[i - 1])
    return levels


__all__ = ["DEFAULT_METHOD", "METHODS", "Hierarchy", "HierarchyMethod", "auto_levels", "get_method"]

