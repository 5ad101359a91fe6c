"""Hierarchical clustering methods: k-means on values, then on the weighted centroids of the level below."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from taxonomy.cluster.base import Hierarchy, HierarchyMethod
from taxonomy.errors import UsageError


def check_levels(n: int, levels: Sequence[int]) -> list[int]:
    levels = [int(k) for k in levels]
    if not levels:
        raise UsageError("give at least one level count")
    if any(k < 1 for k in levels):
        raise UsageError(f"every level needs at least 1 cluster, got {levels}")
    if any(b > a for a, b in zip(levels, levels[1:])):
        raise UsageError(f"cluster counts must not increase towards the top, got {levels}")
    if levels[0] > n:
        raise UsageError(f"{levels[0]} level-1 clusters asked for, but there are only {n} values")
    return levels


def weighted_centroids(X: np.ndarray, labels: np.ndarray, k: int, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-cluster weighted mean of rows of X (normalized) and the clusters' total weights. Linear time."""
    sums = np.zeros((k, X.shape[1]), dtype=np.float64)
    np.add.at(sums, labels, X * w[:, None])
    tot = np.bincount(labels, weights=w, minlength=k)
    C = sums / np.maximum(tot, 1e-12)[:, None]
    norms = np.linalg.norm(C, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (C / norms).astype(np.float32), tot


def exact_kmeans(X: np.ndarray, k: int, w: np.ndarray, random_state: int, n_init: int) -> np.ndarray:
    """k-means with exactly k non-empty clusters (k <= number of distinct rows is not required: duplicates are
    split deterministically when needed)."""
    from sklearn.cluster import KMeans

    n = len(X)
    if k >= n:
        return np.arange(n)
    if k == 1:
        return np.zeros(n, dtype=int)
    km = KMeans(n_clusters=k, n_init=n_init, random_state=random_state)
    labels = km.fit_predict(X, sample_weight=w)
    return fill_empty(labels, k, X, km.cluster_centers_)


def fill_empty(labels: np.ndarray, k: int, X: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Make every cluster 0..k-1 non-empty by moving the point farthest from its centre out of the largest
    cluster (deterministic), then renumber by first appearance for stable output."""
    labels = labels.copy()
    counts = np.bincount(labels, minlength=k)
    for c in np.flatnonzero(counts == 0):
        big = int(np.argmax(counts))
        members = np.flatnonzero(labels == big)
        d = np.linalg.norm(X[members] - centers[big], axis=1)
        j = members[int(np.argmax(d))]
        labels[j] = c
        counts[big] -= 1
        counts[c] += 1
    return labels


def _upper_levels(Z: np.ndarray, w: np.ndarray, first: np.ndarray, levels: Sequence[int], random_state: int,
                  n_init: int) -> list[np.ndarray]:
    labels = [first]
    vl = first
    for k in levels[1:]:
        C, tot = weighted_centroids(Z, vl, int(vl.max()) + 1, w)
        lab = exact_kmeans(C, k, tot + 1e-12, random_state, n_init)
        labels.append(lab)
        vl = lab[vl]
    return labels


class HierarchicalKMeans(HierarchyMethod):
    """k-means on the values (the paper's method), then k-means on weighted cluster centroids, level by level."""

    name = "kmeans"

    def __init__(self, random_state: int = 0, n_init: int = 3, use_weights: bool = False):
        self.random_state = random_state
        self.n_init = n_init
        self.use_weights = use_weights

    def fit(self, X, levels, sample_weight=None) -> Hierarchy:
        X = np.asarray(X, dtype=np.float32)
        levels = check_levels(len(X), levels)
        w = _weights(sample_weight, len(X))
        fit_w = w if self.use_weights else np.ones(len(X))
        first = exact_kmeans(X, levels[0], fit_w, self.random_state, self.n_init)
        return Hierarchy(_upper_levels(X, w, first, levels, self.random_state, max(self.n_init, 10)))


class UMAPKMeans(HierarchyMethod):
    """UMAP to a few dimensions (cosine kNN graph, linear in the number of values), then hierarchical k-means in
    that space: k-means on the values, then on the weighted centroids of each level."""

    name = "umap-kmeans"

    def __init__(self, random_state: int = 0, n_components: int = 10, n_neighbors: int = 15, n_init: int = 3):
        self.random_state = random_state
        self.n_components = n_components
        self.n_neighbors = n_neighbors
        self.n_init = n_init

    def fit(self, X, levels, sample_weight=None) -> Hierarchy:
        X = np.asarray(X, dtype=np.float32)
        levels = check_levels(len(X), levels)
        w = _weights(sample_weight, len(X))
        U = umap_embed(X, self.n_components, self.n_neighbors, self.random_state)
        first = exact_kmeans(U, levels[0], np.ones(len(X)), self.random_state, self.n_init)
        return Hierarchy(_upper_levels(U, w, first, levels, self.random_state, max(self.n_init, 10)))


class UMAPHDBSCAN(HierarchyMethod):
    """UMAP + HDBSCAN (density based). Noise points join their nearest cluster (never dropped); the clusters are
    then brought to exactly the requested count: too many -> the closest clusters (by centroid) are merged with
    k-means on the centroids; too few -> the largest clusters are split in two with k-means. Upper levels:
    k-means on weighted centroids."""

    name = "hdbscan"

    def __init__(self, random_state: int = 0, n_components: int = 10, n_neighbors: int = 15,
                 min_cluster_size: int = 5, min_samples: int | None = 2):
        self.random_state = random_state
        self.n_components = n_components
        self.n_neighbors = n_neighbors
        self.min_cluster_size = min_cluster_size
        self.min_samples = min_samples

    def fit(self, X, levels, sample_weight=None) -> Hierarchy:
        import hdbscan

        X = np.asarray(X, dtype=np.float32)
        levels = check_levels(len(X), levels)
        w = _weights(sample_weight, len(X))
        n = len(X)
        U = umap_embed(X, self.n_components, self.n_neighbors, self.random_state)
        if n > max(self.min_cluster_size, 2):
            lab = hdbscan.HDBSCAN(
                min_cluster_size=min(self.min_cluster_size, n), min_samples=self.min_samples
            ).fit_predict(U)
        else:
            lab = np.full(n, -1)
        lab = _assign_noise(U, lab)
        lab = _to_exact_k(U, lab, levels[0], self.random_state)
        return Hierarchy(_upper_levels(U, w, lab, levels, self.random_state, 10))


def _assign_noise(U: np.ndarray, lab: np.ndarray) -> np.ndarray:
    lab = lab.copy()
    if (lab >= 0).sum() == 0:
        return np.zeros(len(U), dtype=int)
    ids = np.unique(lab[lab >= 0])
    remap = {int(c): i for i, c in enumerate(ids)}
    lab = np.array([remap[int(c)] if c >= 0 else -1 for c in lab])
    noise = np.flatnonzero(lab < 0)
    if len(noise):
        C = np.stack([U[lab == c].mean(axis=0) for c in range(len(ids))])
        d = ((U[noise, None, :] - C[None, :, :]) ** 2).sum(axis=2)  # noise x clusters, not n x n
        lab[noise] = np.argmin(d, axis=1)
    return lab


def _to_exact_k(U: np.ndarray, lab: np.ndarray, k: int, random_state: int) -> np.ndarray:
    lab = lab.copy()
    m = int(lab.max()) + 1
    while m < k:  # split the largest cluster in two
        counts = np.bincount(lab, minlength=m)
        big = int(np.argmax(counts))
        members = np.flatnonzero(lab == big)
        sub = exact_kmeans(U[members], 2, np.ones(len(members)), random_state, 3)
        lab[members[sub == 1]] = m
        m += 1
    if m > k:  # merge clusters by clustering their centroids
        C = np.stack([U[lab == c].mean(axis=0) for c in range(m)])
        sizes = np.bincount(lab, minlength=m).astype(float)
        group = exact_kmeans(C.astype(np.float32), k, sizes, random_state, 10)
        lab = group[lab]
    return lab


def umap_embed(X: np.ndarray, n_components: int, n_neighbors: int, random_state: int) -> np.ndarray:
    n = len(X)
    if n <= n_components + 2:
        return X
    import umap

    reducer = umap.UMAP(
        n_components=min(n_components, n - 2),
        n_neighbors=max(2, min(n_neighbors, n - 1)),
        metric="cosine",
        min_dist=0.0,
        random_state=random_state,
        n_jobs=1,
        init="spectral" if n > 50 else "random",
    )
    return reducer.fit_transform(X).astype(np.float32)


def _weights(sample_weight, n: int) -> np.ndarray:
    if sample_weight is None:
        return np.ones(n)
    w = np.asarray(sample_weight, dtype=np.float64)
    w = np.where(np.isfinite(w) & (w > 0), w, 0.0)
    if w.sum() <= 0:
        return np.ones(n)
    return w + 1e-9 * w.max()
