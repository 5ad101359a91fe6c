"""Hierarchical k-means: the method of the Values-in-the-Wild paper.

Level 1: k-means on the (unit-length) value embeddings into ``levels[0]`` clusters. Level i+1: k-means on the
centroids of the level-i clusters (each centroid = weighted mean of its values, re-normalised to unit length,
and weighing as much as its values together), and so on up the tree.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from taxonomy.cluster._common import as_embeddings, as_weights, check_levels, kmeans_exact, upper_levels
from taxonomy.cluster.base import Hierarchy, HierarchyMethod


class HierarchicalKMeans(HierarchyMethod):
    """k-means on the values, then k-means on cluster centroids for every level above.

    Parameters
    ----------
    seed: seed for k-means++ initialisation.
    n_init: k-means restarts at level 1 (the best inertia wins).
    upper_n_init: k-means restarts at the upper levels (cheap: they cluster hundreds of centroids).
    weighting: how ``sample_weight`` enters level-1 k-means and the centroids: "none" (default: counts only),
        "sqrt", "log" or "linear". Upper levels always weigh each centroid by the (weighted) size of its cluster.
    """

    name: ClassVar[str] = "kmeans"

    def __init__(self, seed: int = 0, n_init: int = 1, upper_n_init: int = 10, weighting: str = "none"):
        self.seed = seed
        self.n_init = n_init
        self.upper_n_init = upper_n_init
        self.weighting = weighting

    def fit(self, X: np.ndarray, levels: Sequence[int], sample_weight: np.ndarray | None = None) -> Hierarchy:
        X = as_embeddings(X)
        levels = check_levels(len(X), levels)
        w = as_weights(sample_weight, len(X), self.weighting)
        seed = int(self.seed)
        l1 = kmeans_exact(X, levels[0], w, seed, n_init=self.n_init)
        ups = upper_levels(
            X,
            l1,
            levels,
            w,
            lambda C, k, mass: kmeans_exact(C, k, mass, seed, n_init=self.upper_n_init),
            normalize=True,
        )
        return Hierarchy([l1, *ups])
