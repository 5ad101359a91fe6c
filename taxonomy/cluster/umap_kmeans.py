"""UMAP + hierarchical k-means with two neighbourhood scales: the default method.

* Level 1: k-means on a *local* UMAP embedding of the values (``n_neighbors=15``, 10-D, ``min_dist=0``).
  Clusters follow the kNN manifold of the embeddings rather than raw cosine geometry.
* Levels 2..: k-means on the cluster centroids in a *global* UMAP embedding (``upper_n_neighbors=100``), each
  centroid weighted by the size of its cluster, best of 10 restarts. A wide neighbourhood keeps the coarse
  structure of the data, which is what upper levels need; a narrow one keeps the fine structure level 1 needs.

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


class UMAPKMeans(HierarchyMethod):
    """k-means in a local UMAP space for level 1; k-means on centroids in a global UMAP space above.

    Parameters
    ----------
    random_state: seed for the layouts and k-means.
    n_components: dimensions of both UMAP embeddings.
    n_neighbors: neighbourhood of the level-1 embedding (local structure).
    upper_n_neighbors: neighbourhood of the upper-level embedding (global structure).
    n_epochs, upper_n_epochs: SGD epochs of the two layouts. The local layout is cheap (15 neighbours) and level 1
        gains a little from 200 epochs; the global one (100 neighbours) costs ~5x more per epoch and 100 epochs
        are as good as 200 for the upper levels. The two run in parallel and take about the same time.
    n_init: k-means restarts at level 1; upper_n_init: restarts at the upper levels.
    weighting: how ``sample_weight`` enters level-1 k-means, the centroids and the centroid masses ("none",
        "sqrt", "log", "linear"). "none" by default: on the benchmark no weighting helped (sqrt/log/fourth root
        within noise of none over 10 seeds, linear slightly worse at level 1).
    """

    name: ClassVar[str] = "umap-kmeans"

    def __init__(
        self,
        random_state: int = 0,
        n_components: int = 10,
        n_neighbors: int = 15,
        upper_n_neighbors: int = 100,
        n_epochs: int = 200,
        upper_n_epochs: int = 100,
        n_init: int = 3,
        upper_n_init: int = 10,
        weighting: str = "none",
    ):
        self.random_state = random_state
        self.n_components = n_components
        self.n_neighbors = n_neighbors
        self.upper_n_neighbors = upper_n_neighbors
        self.n_epochs = n_epochs
        self.upper_n_epochs = upper_n_epochs
        self.n_init = n_init
        self.upper_n_init = upper_n_init
        self.weighting = weighting

    def embed(self, X: np.ndarray, upper: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
        """The level-1 and (if ``upper``) upper-level embeddings of unit-length ``X``."""
        if len(X) < MIN_VALUES_FOR_UMAP:
            return X, X
        from taxonomy.cluster._layout import embed_many

        specs = [dict(n_components=self.n_components, n_neighbors=self.n_neighbors, n_epochs=self.n_epochs)]
        if upper:
            specs.append(
                dict(
                    n_components=self.n_components,
                    n_neighbors=self.upper_n_neighbors,
                    n_epochs=self.upper_n_epochs,
                )
            )
        out = embed_many(X, specs, int(self.random_state))
        return out[0], (out[1] if upper else None)

    def fit(self, X: np.ndarray, levels: Sequence[int], sample_weight: np.ndarray | None = None) -> Hierarchy:
        X = as_embeddings(X)
        levels = check_levels(len(X), levels)
        w = as_weights(sample_weight, len(X), self.weighting)
        seed = int(self.random_state)
        local, glob = self.embed(X, upper=len(levels) > 1)
        l1 = kmeans_exact(local, levels[0], w, seed, n_init=self.n_init)
        ups = upper_levels(
            glob,
            l1,
            levels,
            w,
            lambda C, k, mass: kmeans_exact(C, k, mass, seed, n_init=self.upper_n_init),
        )
        return Hierarchy([l1, *ups])
