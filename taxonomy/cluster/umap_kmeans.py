"""UMAP + hierarchical k-means with two neighbourhood scales: the default method.

* Level 1: k-means on a *local* UMAP embedding of the values (``n_neighbors=15``, 10-D, ``min_dist=0``).
  Clusters follow the kNN manifold of the embeddings rather than raw cosine geometry.
* Levels 2..: k-means on the cluster centroids in a *global* UMAP embedding (``upper_n_neighbors=100``), each
  centroid weighted by the size of its cluster, as a *consensus* of 50 seeded restarts (below). A wide
  neighbourhood keeps the coarse structure of the data, which is what upper levels need; a narrow one keeps the
  fine structure level 1 needs.

Consensus (``upper_consensus``): the best of a few restarts depends on which restarts the seed draws, and upper
levels moved with it (ten seeds: level-2 labels agreed at ARI 0.58, level-3 at 0.53). Instead, R single k-means
runs are pooled in a co-association matrix (the share of runs that put two centroids together; m x m over the
m level-1 clusters, never over values), cut into k groups by average linkage and refined by one weighted k-means
from those groups. On the benchmark (10 seeds) this lifts the agreement between seeds to about 0.69 / 0.60, with the same NMI
within its spread.

Both layouts come from one kNN search and run in two threads (see ``_layout``). On 3,307 values x 384 dims and
2 cores the whole fit takes about 3-5 s (about 5 CPU-seconds; more on a loaded machine). On the
Values-in-the-Wild reference tree (levels 266/26/5) it is clearly better than plain hierarchical k-means and
BERTopic at levels 2 and 3 and on par at level 1, where all methods hit the embedding's ceiling
(see ``benchmarks/README.md``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from taxonomy.cluster._common import as_embeddings, as_weights, check_levels, kmeans_exact, upper_levels
from taxonomy.cluster.base import Hierarchy, HierarchyMethod

MIN_VALUES_FOR_UMAP = 10  # below this, cluster the embeddings themselves
#: above ``_layout.LAYOUT_FULL_MAX`` values level-1 k-means runs one restart of at most 25 Lloyd iterations (the
#: faiss engine's default is 50, and ``n_init`` restarts): at 100k values it was the second-largest stage
LARGE_N_INIT = 1
LARGE_MAX_ITER = 25
#: the SGD of both layouts above ``_layout.LAYOUT_FULL_MAX`` values: "blocked" runs on every core of the thread
#: budget with the same result for any thread count (``_sgd.optimize_layout_blocked``)
LARGE_SGD = "blocked"
#: threads of the upper levels' k-means above ``_layout.LAYOUT_FULL_MAX`` values: their problems are small (level-1
#: clusters in 10-D), and two OpenMP threads spent 11 CPU-s there at 100k values on a busy machine against 1.0
LARGE_UPPER_THREADS = 1


class UMAPKMeans(HierarchyMethod):
    """k-means in a local UMAP space for level 1; k-means on centroids in a global UMAP space above.

    Parameters
    ----------
    seed: seed for the layouts and k-means.
    n_components: dimensions of both UMAP embeddings.
    n_neighbors: neighbourhood of the level-1 embedding (local structure).
    upper_n_neighbors: neighbourhood of the upper-level embedding (global structure).
    n_epochs, upper_n_epochs: SGD epochs of the two layouts. The local layout is cheap (15 neighbours) and level 1
        gains a little from 200 epochs; the global one (100 neighbours) costs ~5x more per epoch and 100 epochs
        are as good as 200 for the upper levels. The two run in parallel and take about the same time.
    n_init: k-means restarts at level 1 (at most ``LARGE_N_INIT`` above ``_layout.LAYOUT_FULL_MAX`` values);
        upper_n_init: restarts at the upper levels when not by consensus.
    upper_consensus: k-means runs pooled into a consensus at the upper levels (0 = best of ``upper_n_init``
        restarts instead). Levels with more than ``MAX_CONSENSUS`` clusters below use the restarts.
    weighting: how ``sample_weight`` enters level-1 k-means, the centroids and the centroid masses ("none",
        "sqrt", "log", "linear"). "none" by default: on the benchmark no weighting helped (sqrt/log/fourth root
        within noise of none over 10 seeds, linear slightly worse at level 1).
    contrast: a :class:`taxonomy.cluster.contrast.Contrast` (the values' texts and embedder) that moves values
        grouped by a shared word only, right after level 1; None (default) = off.
    """

    name: ClassVar[str] = "umap-kmeans"

    def __init__(
        self,
        seed: int = 0,
        n_components: int = 10,
        n_neighbors: int = 15,
        upper_n_neighbors: int = 100,
        n_epochs: int = 200,
        upper_n_epochs: int = 100,
        n_init: int = 3,
        upper_n_init: int = 10,
        weighting: str = "none",
        upper_consensus: int = 50,
        contrast=None,
    ):
        self.seed = seed
        self.n_components = n_components
        self.n_neighbors = n_neighbors
        self.upper_n_neighbors = upper_n_neighbors
        self.n_epochs = n_epochs
        self.upper_n_epochs = upper_n_epochs
        self.n_init = n_init
        self.upper_n_init = upper_n_init
        self.weighting = weighting
        self.upper_consensus = upper_consensus
        self.contrast = contrast

    def embed(self, X: np.ndarray, upper: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
        """The level-1 and (if ``upper``) upper-level embeddings of unit-length ``X``."""
        if len(X) < MIN_VALUES_FOR_UMAP:
            return X, X
        from taxonomy.cluster._layout import embed_many

        specs = [self._local_spec()]
        if upper:
            specs.append(self._upper_spec())
        out = embed_many(X, specs, int(self.seed))
        return out[0], (out[1] if upper else None)

    def _local_spec(self) -> dict:
        return dict(n_components=self.n_components, n_neighbors=self.n_neighbors, n_epochs=self.n_epochs)

    def _upper_spec(self) -> dict:
        return dict(n_components=self.n_components, n_neighbors=self.upper_n_neighbors, n_epochs=self.upper_n_epochs)

    def fit(self, X: np.ndarray, levels: Sequence[int], sample_weight: np.ndarray | None = None) -> Hierarchy:
        X = as_embeddings(X)
        levels = check_levels(len(X), levels)
        w = as_weights(sample_weight, len(X), self.weighting)
        seed = int(self.seed)
        from taxonomy.cluster._layout import LAYOUT_FULL_MAX, centroid_layout, embed_many

        if len(X) > LAYOUT_FULL_MAX and len(levels) > 1:  # large inputs: global layout of the level-1 clusters
            local = embed_many(X, [dict(self._local_spec(), init="pca", sgd=LARGE_SGD)], seed)[0]
            l1 = kmeans_exact(local, levels[0], w, seed, n_init=min(self.n_init, LARGE_N_INIT),
                              max_iter=LARGE_MAX_ITER)
            l1 = self._contrast(X, l1, levels[0], w, seed, local)
            glob = centroid_layout(X, l1, levels[0], w, dict(self._upper_spec(), sgd=LARGE_SGD), seed)
            upper = self._upper_fn(seed, threads=LARGE_UPPER_THREADS)
        else:
            local, glob = self.embed(X, upper=len(levels) > 1)
            l1 = kmeans_exact(local, levels[0], w, seed, n_init=self.n_init)
            l1 = self._contrast(X, l1, levels[0], w, seed, local)
            upper = self._upper_fn(seed)
        ups = upper_levels(glob, l1, levels, w, upper)
        return Hierarchy([l1, *ups])

    def _contrast(self, X, l1, k, w, seed, local):
        return l1 if self.contrast is None else self.contrast.refine(X, l1, k, w, seed, Z=local)

    def _upper_fn(self, seed: int, threads: int | None = None):
        """The upper levels' clustering; ``threads``: their k-means threads (default: the thread budget)."""
        runs = int(self.upper_consensus)

        def cluster(C: np.ndarray, k: int, mass: np.ndarray) -> np.ndarray:
            if runs > 1 and len(C) <= MAX_CONSENSUS:
                return consensus_kmeans(C, k, mass, seed, runs, threads=threads)
            return kmeans_exact(C, k, mass, seed, n_init=self.upper_n_init, threads=threads)

        return cluster


MAX_CONSENSUS = 3000  # an m x m co-association matrix of float64 stays under ~72 MB


def consensus_kmeans(C: np.ndarray, k: int, mass: np.ndarray, seed: int, runs: int = 50,
                     threads: int | None = None) -> np.ndarray:
    """Exactly ``k`` groups of the rows of ``C`` (weighted by ``mass``) agreed on by ``runs`` seeded k-means runs:
    co-association (share of runs that put two rows together), average-linkage cut into k, then one weighted
    k-means started from those groups. Deterministic for a given seed; quadratic in ``len(C)`` (clusters, not
    values). ``threads``: the k-means threads (default: the runs on the thread budget, the last one unlimited)."""
    import contextlib
    import warnings

    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform
    from sklearn.cluster import KMeans

    from taxonomy.cluster._common import ensure_k, weighted_centroids

    m = len(C)
    if k >= m:
        return np.arange(m, dtype=np.int64)
    if k <= 1:
        return np.zeros(m, dtype=np.int64)
    together = np.zeros((m, m), dtype=np.float64)
    for r in range(runs):
        lab = kmeans_exact(C, k, mass, seed * 1009 + r, n_init=1, threads=threads)
        together += lab[:, None] == lab[None, :]
    D = 1.0 - together / runs
    np.fill_diagonal(D, 0.0)
    tree = linkage(squareform(D, checks=False), method="average")
    lab = ensure_k(C, fcluster(tree, k, criterion="maxclust") - 1, k, mass, seed)
    start, _ = weighted_centroids(C.astype(np.float64), lab, k, mass)
    from taxonomy.threads import thread_limit

    with warnings.catch_warnings(), (contextlib.nullcontext() if threads is None else thread_limit(threads)):
        warnings.simplefilter("ignore")
        km = KMeans(k, init=start, n_init=1).fit(C.astype(np.float64), sample_weight=mass)
    return ensure_k(C, km.labels_, k, mass, seed)
