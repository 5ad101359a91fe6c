"""UMAP + HDBSCAN (density based), forced to the exact number of clusters per level.

Level 1
  1. UMAP of the values (5-D, ``n_neighbors=15``, ``min_dist=0``; the layout of ``_layout``).
  2. HDBSCAN on that embedding (``cluster_selection_method="leaf"`` by default: many small dense clusters,
     which suits the hundreds of clusters asked for at level 1). ``min_cluster_size`` defaults to about a third
     of the average requested cluster size (at least 2).
  3. Noise points are never dropped: each goes to the cluster with the nearest centroid (in the UMAP space).
  4. Exact count: if HDBSCAN found more clusters than requested, the two clusters with the smallest weighted
     Ward merge cost (``m_a m_b / (m_a + m_b) |c_a - c_b|^2``, centroids in the UMAP space) are merged, until the
     count is right; if it found fewer, the cluster with the largest weighted within-cluster sum of squares is
     split in two with 2-means, until the count is right.
Levels 2..
  The centroids of the clusters below (weighted by cluster size) are clustered the same way - HDBSCAN with
  ``min_cluster_size=2``, noise to the nearest cluster, merge/split to the exact count.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from taxonomy.cluster._common import (
    as_embeddings,
    as_weights,
    check_levels,
    ensure_k,
    upper_levels,
    weighted_centroids,
)
from taxonomy.cluster.base import Hierarchy, HierarchyMethod

MIN_VALUES_FOR_UMAP = 10


def assign_noise(Z: np.ndarray, labels: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Give every noise point (label < 0) the label of the nearest cluster centroid; all noise -> one cluster."""
    labels = np.asarray(labels).copy()
    noise = labels < 0
    if not noise.any():
        return labels
    if noise.all():
        return np.zeros(len(labels), dtype=np.int64)
    uniq, inv = np.unique(labels[~noise], return_inverse=True)
    C, _ = weighted_centroids(Z[~noise].astype(np.float64), inv, len(uniq), w[~noise])
    P = Z[noise].astype(np.float64)
    d = (P**2).sum(1)[:, None] - 2 * P @ C.T + (C**2).sum(1)[None, :]
    labels[noise] = uniq[np.argmin(d, axis=1)]
    return labels


def hdbscan_exact(
    Z: np.ndarray,
    k: int,
    w: np.ndarray,
    seed: int,
    min_cluster_size: int,
    min_samples: int | None,
    method: str,
) -> np.ndarray:
    """HDBSCAN labels of the rows of ``Z``, noise assigned, then merged/split to exactly ``k`` clusters."""
    n = len(Z)
    if k == n:
        return np.arange(n, dtype=np.int64)
    mcs = max(2, int(min_cluster_size))
    if n >= max(4, 2 * mcs):
        import hdbscan

        ms = None if min_samples is None else max(1, min(int(min_samples), n - 1))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            labels = (
                hdbscan.HDBSCAN(min_cluster_size=mcs, min_samples=ms, cluster_selection_method=method)
                .fit(np.asarray(Z, dtype=np.float64))
                .labels_
            )
    else:
        labels = np.zeros(n, dtype=np.int64)
    labels = assign_noise(Z, labels, w)
    return ensure_k(Z, labels, k, w, seed)


class UMAPHDBSCAN(HierarchyMethod):
    """UMAP + HDBSCAN with noise reassigned and exact counts (merge nearest / split largest); see module doc.

    Parameters
    ----------
    seed: seed of the UMAP layout and of the k-means splits.
    n_components, n_neighbors, n_epochs: of the UMAP layout.
    min_cluster_size: HDBSCAN's, at level 1; None = max(2, round(n_values / levels[0] / 3)).
    min_samples: HDBSCAN's (None = same as min_cluster_size, HDBSCAN's default).
    cluster_selection_method: "leaf" (default, fine clusters) or "eom" (HDBSCAN's default, coarser).
    weighting: how ``sample_weight`` enters the centroids and merge costs ("none", "sqrt", "log", "linear").
    """

    name: ClassVar[str] = "hdbscan"

    def __init__(
        self,
        seed: int = 0,
        n_components: int = 5,
        n_neighbors: int = 15,
        n_epochs: int = 200,
        min_cluster_size: int | None = None,
        min_samples: int | None = None,
        cluster_selection_method: str = "leaf",
        weighting: str = "none",
    ):
        self.seed = seed
        self.n_components = n_components
        self.n_neighbors = n_neighbors
        self.n_epochs = n_epochs
        self.min_cluster_size = min_cluster_size
        self.min_samples = min_samples
        self.cluster_selection_method = cluster_selection_method
        self.weighting = weighting

    def fit(self, X: np.ndarray, levels: Sequence[int], sample_weight: np.ndarray | None = None) -> Hierarchy:
        from taxonomy.errors import UsageError

        X = as_embeddings(X)
        levels = check_levels(len(X), levels)
        if self.cluster_selection_method not in ("leaf", "eom"):
            raise UsageError(f"cluster_selection_method must be 'leaf' or 'eom', got {self.cluster_selection_method!r}")
        w = as_weights(sample_weight, len(X), self.weighting)
        seed = int(self.seed)
        n = len(X)
        if n < MIN_VALUES_FOR_UMAP:
            Z = X
        else:
            from taxonomy.cluster._layout import umap_embed

            Z = umap_embed(X, self.n_components, self.n_neighbors, seed, self.n_epochs)
        mcs = self.min_cluster_size or max(2, round(n / levels[0] / 3))
        l1 = hdbscan_exact(Z, levels[0], w, seed, mcs, self.min_samples, self.cluster_selection_method)
        ups = upper_levels(
            Z,
            l1,
            levels,
            w,
            lambda C, k, mass: hdbscan_exact(C, k, mass, seed, 2, None, self.cluster_selection_method),
        )
        return Hierarchy([l1, *ups])
