"""Shared helpers for the clustering methods: input checks, weighted centroids, exact-k repair, k-means.

Everything here is linear (or linear times a small k) in the number of values; pairwise work is only ever done
between *clusters* (hundreds), never between values.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from taxonomy.errors import UsageError

WEIGHTINGS = ("none", "sqrt", "log", "linear")


# --------------------------------------------------------------------------------------------------- input checks
def check_levels(n_values: int, levels: Sequence[int]) -> list[int]:
    """Validate requested counts per level (bottom level first); return them as plain ints.

    Rules: at least one level; every count an integer >= 1; the bottom level has at most ``n_values`` clusters;
    counts never increase going up (equal consecutive counts are allowed: each cluster is then its own parent).
    """
    try:
        levels = list(levels)
    except TypeError as exc:
        raise UsageError(f"levels must be a list of cluster counts, got {levels!r}") from exc
    if not levels:
        raise UsageError("levels must name at least one level (e.g. 266,26,5)")
    out = []
    for i, k in enumerate(levels):
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
            raise UsageError(f"level {i + 1}: cluster count must be an integer, got {k!r}")
        if k < 1:
            raise UsageError(f"level {i + 1}: cluster count must be at least 1, got {k}")
        out.append(int(k))
    if n_values < 1:
        raise UsageError("there are no values to cluster")
    if out[0] > n_values:
        raise UsageError(
            f"level 1 asks for {out[0]} clusters but there are only {n_values} values; "
            f"use at most {n_values} clusters at level 1"
        )
    for i in range(1, len(out)):
        if out[i] > out[i - 1]:
            raise UsageError(
                f"level {i + 1} asks for {out[i]} clusters, more than the {out[i - 1]} clusters of level {i}; "
                "counts must not increase going up the tree (e.g. 266,26,5)"
            )
    return out


def as_embeddings(X) -> np.ndarray:
    """Float32, C-contiguous, 2-D, finite; rows re-normalised to unit length (zero rows left as they are)."""
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2 or X.shape[1] < 1:
        raise UsageError(f"embeddings must be a 2-D array (values x dimensions), got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise UsageError("embeddings contain NaN or infinite entries")
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    X = np.where(norms > 0, X / np.where(norms > 0, norms, 1), X)
    return np.ascontiguousarray(X, dtype=np.float32)


def as_weights(sample_weight, n: int, weighting: str = "linear") -> np.ndarray:
    """Per-value weights as float64, transformed by ``weighting`` ("none", "sqrt", "log", "linear").

    Weights are rescaled to mean 1 and floored at 1e-6 so that a cluster of zero-weight values still has a
    well-defined centroid. ``None`` means all ones.
    """
    if weighting not in WEIGHTINGS:
        raise UsageError(f"unknown weighting {weighting!r}; choose one of {', '.join(WEIGHTINGS)}")
    if sample_weight is not None:
        w = np.asarray(sample_weight, dtype=np.float64)
        if w.shape != (n,):
            raise UsageError(f"sample_weight must have one entry per value ({n}), got shape {w.shape}")
        if not np.all(np.isfinite(w)) or np.any(w < 0):
            raise UsageError("sample_weight must be finite and non-negative")
    if sample_weight is None or weighting == "none":
        w = np.ones(n)
    else:
        if weighting == "sqrt":
            w = np.sqrt(w)
        elif weighting == "log":
            w = np.log1p(w / (np.median(w[w > 0]) if np.any(w > 0) else 1.0))
    total = w.sum()
    if not total > 0:
        return np.ones(n)
    w = w * (n / total)
    return np.maximum(w, 1e-6)


# --------------------------------------------------------------------------------------------------- cluster stats
def weighted_centroids(Z: np.ndarray, labels: np.ndarray, k: int, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted mean of the rows of ``Z`` per label (0..k-1) and the total weight per label."""
    mass = np.bincount(labels, weights=w, minlength=k)
    C = np.zeros((k, Z.shape[1]), dtype=np.float64)
    np.add.at(C, labels, Z * w[:, None])
    C /= np.maximum(mass, 1e-300)[:, None]
    return C, mass


def _normalize_rows(C: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(C, axis=1, keepdims=True)
    return C / np.where(n > 0, n, 1)


def compact(labels: np.ndarray) -> np.ndarray:
    """Relabel to 0..m-1 keeping the order of first appearance of the sorted label values."""
    return np.unique(labels, return_inverse=True)[1].astype(np.int64)


# --------------------------------------------------------------------------------------------------- exact k
def _split_cluster(Z: np.ndarray, w: np.ndarray, members: np.ndarray, seed: int) -> np.ndarray:
    """Boolean mask (over ``members``) of the part to split off; never empty, never all."""
    from sklearn.cluster import KMeans

    pts = Z[members]
    if len(np.unique(pts, axis=0)) >= 2:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            lab = KMeans(2, n_init=3, random_state=seed).fit(pts, sample_weight=w[members]).labels_
        mask = lab == 1
        if 0 < mask.sum() < len(members):
            return mask
    # identical points (duplicates): split off the second half, in index order
    mask = np.zeros(len(members), dtype=bool)
    mask[len(members) // 2 :] = True
    return mask


def _cluster_sse(Z: np.ndarray, w: np.ndarray, members: np.ndarray) -> float:
    """Weighted within-cluster sum of squares of the rows ``members`` (accumulated in their order, exactly as
    :func:`weighted_centroids` and a ``bincount`` over all rows would)."""
    zero = np.zeros(len(members), dtype=np.int64)
    C, _ = weighted_centroids(Z[members], zero, 1, w[members])
    return float(np.bincount(zero, weights=w[members] * ((Z[members] - C[0]) ** 2).sum(1), minlength=1)[0])


def _split_to_k(Z: np.ndarray, labels: np.ndarray, m: int, k: int, w: np.ndarray, seed: int) -> np.ndarray:
    """Split clusters (0..m-1) until there are ``k``: each time the one with the largest weighted within-cluster
    sum of squares among those with at least two members (ties: the larger, then the lower label), in two with
    2-means. Only the two halves of a split are re-measured, so the cost is one pass over the rows plus the sizes
    of the clusters split, not a pass over all rows per split."""
    import heapq

    n = len(Z)
    labels = labels.copy()
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(m + 1))
    members = [order[bounds[c] : bounds[c + 1]] for c in range(m)]
    C, _ = weighted_centroids(Z, labels, m, w)
    sse = np.bincount(labels, weights=w * ((Z - C[labels]) ** 2).sum(1), minlength=m)
    heap = [(-float(sse[c]), -len(idx), c) for c, idx in enumerate(members) if len(idx) >= 2]
    heapq.heapify(heap)
    rng_seed = seed
    while m < k:
        if not heap:  # cannot happen when k <= n
            raise UsageError(f"cannot make {k} non-empty clusters out of {n} items")
        _, _, c = heapq.heappop(heap)
        idx = members[c]
        mask = _split_cluster(Z, w, idx, rng_seed)
        labels[idx[mask]] = m
        members[c], new = idx[~mask], idx[mask]
        members.append(new)
        for a in (c, m):
            if len(members[a]) >= 2:
                heapq.heappush(heap, (-_cluster_sse(Z, w, members[a]), -len(members[a]), a))
        m += 1
        rng_seed += 1
    return labels


def ensure_k(Z: np.ndarray, labels: np.ndarray, k: int, w: np.ndarray, seed: int = 0) -> np.ndarray:
    """Turn any labelling of the rows of ``Z`` into exactly ``k`` non-empty clusters.

    * too many clusters: repeatedly merge the pair with the smallest (weighted) Ward cost
      ``m_a m_b / (m_a + m_b) * |c_a - c_b|^2``; the cost matrix is over clusters, not points.
    * too few: repeatedly split the cluster with the largest weighted within-cluster sum of squares (among those
      with at least two members) in two with 2-means (identical points are split by index order).
    """
    n = len(Z)
    if not 1 <= k <= n:
        raise UsageError(f"cannot make {k} non-empty clusters out of {n} items")
    labels = compact(labels)
    m = int(labels.max()) + 1
    Zd = Z.astype(np.float64, copy=False)

    if m > k:
        C, mass = weighted_centroids(Zd, labels, m, w)
        sq = (C**2).sum(1)
        D = np.maximum(sq[:, None] + sq[None, :] - 2 * C @ C.T, 0.0)
        cost = D * (mass[:, None] * mass[None, :]) / (mass[:, None] + mass[None, :])
        np.fill_diagonal(cost, np.inf)
        alive = np.ones(m, dtype=bool)
        target = np.arange(m)
        # cached row minima: only rows that pointed at a merged cluster need a rescan
        rowarg = np.argmin(cost, axis=1)
        rowmin = cost[np.arange(m), rowarg]
        for _ in range(m - k):
            a = int(np.argmin(rowmin))
            b = int(rowarg[a])
            if a > b:
                a, b = b, a
            # merge b into a
            C[a] = (mass[a] * C[a] + mass[b] * C[b]) / (mass[a] + mass[b])
            mass[a] += mass[b]
            alive[b] = False
            target[target == b] = a
            cost[b, :] = np.inf
            cost[:, b] = np.inf
            rowmin[b] = np.inf
            d = ((C - C[a]) ** 2).sum(1)
            row = d * mass * mass[a] / (mass + mass[a])
            row[~alive] = np.inf
            row[a] = np.inf
            cost[a, :] = row
            cost[:, a] = row
            stale = np.nonzero(alive & ((rowarg == a) | (rowarg == b)))[0]
            stale = np.union1d(stale, [a])
            rowarg[stale] = np.argmin(cost[stale], axis=1)
            rowmin[stale] = cost[stale, rowarg[stale]]
            # rows whose best partner may now be the (changed) cluster a
            better = alive & (row < rowmin)
            rowarg[better] = a
            rowmin[better] = row[better]
        labels = compact(target[labels])
        m = k

    if m < k:
        labels = _split_to_k(Zd, labels, m, k, w, int(seed))
    return labels.astype(np.int64)


#: k-means engines; "auto" picks scikit-learn for small problems and faiss above FAISS_MIN_WORK
KMEANS_ENGINES = ("auto", "sklearn", "faiss")
#: n x k above which "auto" uses faiss: scikit-learn's k-means++ (2 + log k trials per centre, each a pass over
#: the data) and its Lloyd iterations grow as n x k, which with k ~ n/12 is quadratic in n. At 3,307 values and
#: k = 266 (0.9 M) scikit-learn is used, so small builds are exactly as before.
FAISS_MIN_WORK = 20_000_000
#: above GRAPH_MIN_N points and from GRAPH_MIN_K clusters on, the faiss engine runs its own Lloyd iterations in
#: which each point is compared only with its centroid and that centroid's GRAPH_NEIGHBOURS nearest centroids
#: (n x 33 distances per iteration instead of n x k), seeded through a tree of small coarse k-means
#: (:func:`_seed_tree`); at or below GRAPH_MIN_N points (the published values, any 20,000) nothing changes
GRAPH_MIN_N = 20_000
GRAPH_MIN_K = 1_000
GRAPH_NEIGHBOURS = 32
#: above HIGH_D dimensions (the 384-d vectors HierarchicalKMeans clusters, not the 10-d layouts) neighbourhoods are
#: wider: 64 neighbours and seeding leaves of 128 (30k vectors into 2,500: inertia +0.55 % over the flat engine
#: instead of +1.5 % with 32 and 256)
HIGH_D = 32
GRAPH_NEIGHBOURS_HIGH_D = 64
SEED_LEAF_HIGH_D = 128
#: the seeding tree: greedy k-means++ inside leaves of at most SEED_LEAF centres, reached through coarse k-means
#: into at most SEED_BRANCH parts per node
SEED_LEAF = 256
SEED_BRANCH = 16


def kmeans_engine(n: int, k: int, engine: str = "auto") -> str:
    """The engine ``kmeans_exact`` uses for ``n`` points and ``k`` clusters."""
    if engine not in KMEANS_ENGINES:
        raise UsageError(f"unknown k-means engine {engine!r}; choose one of {', '.join(KMEANS_ENGINES)}")
    if engine != "auto":
        return engine
    return "faiss" if n * k >= FAISS_MIN_WORK else "sklearn"


def kmeans_exact(
    Z: np.ndarray,
    k: int,
    w: np.ndarray | None,
    seed: int,
    n_init: int = 1,
    max_iter: int = 300,
    engine: str = "auto",
    threads: int | None = None,
) -> np.ndarray:
    """k-means labels with exactly ``k`` non-empty clusters (weighted; deterministic for a given seed).

    ``engine``: "sklearn" (k-means++ and Lloyd until convergence), "faiss" (greedy k-means++ seeding per region,
    then faiss's Lloyd iterations: ``max_iter``, or 50 when left at its default of 300; above GRAPH_MIN_N points and
    from GRAPH_MIN_K clusters on, seeding through a tree and Lloyd iterations over a kNN graph of the centroids;
    the best of ``n_init`` restarts by weighted inertia) or "auto" (by problem size, see :func:`kmeans_engine`). ``threads``: the
    thread budget (default: :func:`taxonomy.threads.thread_budget`); it never changes the result.
    """
    from taxonomy.threads import thread_limit

    n = len(Z)
    w = np.ones(n) if w is None else w
    if k == n:
        return np.arange(n, dtype=np.int64)
    if k == 1:
        return np.zeros(n, dtype=np.int64)
    chosen = kmeans_engine(n, k, engine)
    with thread_limit(threads):
        if chosen == "faiss":
            labels = _faiss_kmeans(Z, k, w, seed, n_init=n_init, niter=max_iter if max_iter < 300 else 50)
        else:
            from sklearn.cluster import KMeans

            with warnings.catch_warnings():
                # fewer distinct points than k (duplicates) is repaired by ensure_k below
                warnings.simplefilter("ignore")
                km = KMeans(k, n_init=n_init, max_iter=max_iter, random_state=seed).fit(Z, sample_weight=w)
            labels = km.labels_
        return ensure_k(Z, labels, k, w, seed)


def _faiss_kmeans(Z: np.ndarray, k: int, w: np.ndarray, seed: int, n_init: int, niter: int) -> np.ndarray:
    """Weighted k-means: greedy k-means++ seeding per region (:func:`_seed_centroids`), then faiss's Lloyd
    iterations (no subsampling); labels of the best of ``n_init`` seeded runs by weighted inertia. Above
    ``GRAPH_MIN_N`` points and from ``GRAPH_MIN_K`` clusters on, :func:`_graph_kmeans` runs instead.
    """
    import faiss

    X = np.ascontiguousarray(Z, dtype=np.float32)
    n, d = X.shape
    wf = np.ascontiguousarray(w, dtype=np.float32)
    graph = n > GRAPH_MIN_N and k >= GRAPH_MIN_K
    best_labels, best_obj = None, np.inf
    for r in range(max(1, int(n_init))):
        run_seed = int(seed) * 1000 + r
        if graph:
            labels, obj = _graph_kmeans(X, k, w, run_seed, niter)
        else:
            cp = faiss.ClusteringParameters()
            cp.niter = int(niter)
            cp.nredo = 1
            cp.seed = run_seed
            cp.max_points_per_centroid = max(1, -(-n // k)) * 4 + 1024  # never subsample
            cp.min_points_per_centroid = 1
            cp.verbose = False
            clus = faiss.Clustering(d, k, cp)
            init = _seed_centroids(X, k, w, run_seed)
            faiss.copy_array_to_vector(np.ascontiguousarray(init, dtype=np.float32).ravel(), clus.centroids)
            clus.train(X, faiss.IndexFlatL2(d), wf)
            C = faiss.vector_float_to_array(clus.centroids).reshape(k, d)
            index = faiss.IndexFlatL2(d)
            index.add(np.ascontiguousarray(C, dtype=np.float32))
            labels = index.search(X, 1)[1][:, 0].astype(np.int64)
            diff = X.astype(np.float64) - C[labels]
            obj = float((wf * (diff * diff).sum(1)).sum())
        if obj < best_obj:
            best_labels, best_obj = labels, obj
    if best_labels is None:  # every run's objective was NaN: the vectors or weights are not finite
        raise ValueError("k-means found no finite objective: the vectors or weights hold NaN or infinite values")
    return best_labels


def _graph_kmeans(X: np.ndarray, k: int, w: np.ndarray, seed: int, niter: int) -> tuple[np.ndarray, float]:
    """Weighted Lloyd iterations for large k, linear in n per iteration: (labels, weighted inertia).

    Seeds from :func:`_seed_tree`, each point first assigned to the nearest seed of its seeding leaf (on these
    points that starts better than the nearest seed overall: 1368.5 against 1394.6 at 300k). Every
    iteration then recomputes the centroids, moves each cluster left empty onto the point farthest from its centroid,
    refreshes a ``GRAPH_NEIGHBOURS``-nearest-neighbour graph of the centroids (built once through HNSW, then one
    neighbour-of-neighbour step per iteration) and moves every point to the nearest of its centroid and that
    centroid's graph neighbours; it stops after ``niter`` iterations or when no point moves. Sequential kernels
    and a single-threaded HNSW build, so the labels do not depend on the thread budget.
    """
    from taxonomy.cluster import _kmeans_graph as kg

    n, d = X.shape
    w64 = np.ascontiguousarray(w, dtype=np.float64)
    C, order, pstart, cstart = _seed_tree(X, k, w64, seed)
    labels = np.empty(n, dtype=np.int64)
    dist = np.empty(n, dtype=np.float64)
    kg.assign_groups(X, C, order, pstart, cstart, labels, dist)
    G = _centroid_graph(C, GRAPH_NEIGHBOURS if d <= HIGH_D else GRAPH_NEIGHBOURS_HIGH_D)
    for _ in range(int(niter)):
        S, mass = kg.centroid_sums(X, w64, labels, k)
        full = (np.bincount(labels, minlength=k) > 0) & (mass > 0)  # weights may be zero
        C[full] = S[full] / mass[full, None]
        empty = np.nonzero(~full)[0]
        if len(empty):
            _relocate_empty(X, C, G, labels, dist, empty)
        G = kg.refine_graph(C, G)
        moved = kg.assign_graph(X, C, labels, G, dist, order)
        if moved == 0 and not len(empty):
            break
    return labels, float((w64 * dist).sum())


def _relocate_empty(X, C, G, labels, dist, empty) -> None:
    """Put each empty cluster (ascending) on the point farthest from its centroid (farthest first, ties by index),
    in place; the cluster it leaves and the empty one become graph neighbours."""
    ne = len(empty)
    far = np.argpartition(-dist, ne - 1)[:ne] if ne < len(dist) else np.arange(len(dist))
    far = far[np.lexsort((far, -dist[far]))]
    K = G.shape[1]
    for e, p in zip(empty, far, strict=False):
        j = labels[p]
        C[e] = X[p]
        labels[p] = e
        dist[p] = 0.0
        G[e] = np.concatenate(([j], G[j, : K - 1]))
        G[j, K - 1] = e


def _centroid_graph(C: np.ndarray, K: int) -> np.ndarray:
    """Each centroid's ``K`` nearest other centroids (-1 where there are fewer), through an HNSW graph built
    single-threaded (its order would otherwise depend on the thread count)."""
    import faiss

    k, d = C.shape
    Cf = np.ascontiguousarray(C, dtype=np.float32)
    index = faiss.IndexHNSWFlat(d, 32)
    index.hnsw.efConstruction = 40
    index.hnsw.efSearch = max(64, 2 * K)
    old = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        index.add(Cf)
    finally:
        faiss.omp_set_num_threads(old)
    I = index.search(Cf, min(K + 1, k))[1]
    keep = (I >= 0) & (I != np.arange(k)[:, None])
    first = np.argsort(~keep, axis=1, kind="stable")  # kept entries first, in distance order
    I = np.take_along_axis(np.where(keep, I, -1), first, axis=1)
    out = np.full((k, K), -1, dtype=np.int64)
    m = min(K, I.shape[1])
    out[:, :m] = I[:, :m]
    return out


def _seed_tree(X: np.ndarray, k: int, w: np.ndarray, seed: int):
    """k seeds (float64) from greedy k-means++ (scikit-learn's) inside the leaves of a tree of coarse k-means:
    a node with more than ``SEED_LEAF`` centres to place (``SEED_LEAF_HIGH_D`` above ``HIGH_D`` dimensions) splits
    its points into at most ``SEED_BRANCH`` parts (faiss k-means, 20 iterations) and shares its centres among them
    by weight (:func:`_allocate`); a part that gets none joins the part with the nearest coarse centre. Seeding
    costs about n x SEED_LEAF x (2 + log SEED_LEAF) distances plus n x SEED_BRANCH x 20 per tree level, instead of
    the n x k of plain k-means++ (or the n x sqrt(k) of :func:`_seed_centroids`).

    Returns (seeds, order, pstart, cstart): leaf g holds the points ``order[pstart[g]:pstart[g+1]]`` and the
    seeds ``cstart[g]:cstart[g+1]``.
    """
    import faiss
    from sklearn.cluster import kmeans_plusplus

    n, d = X.shape
    leaf_max = SEED_LEAF if d <= HIGH_D else SEED_LEAF_HIGH_D
    seeds, groups = [], []
    node = [0]

    def visit(idx: np.ndarray, share: int) -> None:
        node_seed = seed + node[0]
        node[0] += 1
        def leaf() -> None:
            if share >= len(idx):
                seeds.append(X[idx].astype(np.float64))
            else:
                seeds.append(kmeans_plusplus(X[idx].astype(np.float64), int(share), sample_weight=w[idx],
                                             random_state=node_seed)[0])
            groups.append(idx)

        if share >= len(idx) or share <= leaf_max:
            leaf()
            return
        b = int(min(SEED_BRANCH, -(-share // leaf_max), len(idx) // 2))
        Xi = np.ascontiguousarray(X[idx])
        coarse = faiss.Kmeans(d, b, niter=20, seed=node_seed, max_points_per_centroid=len(idx) + 1,
                              min_points_per_centroid=1, verbose=False)
        coarse.train(Xi, weights=np.ascontiguousarray(w[idx], dtype=np.float32))
        region = coarse.index.search(Xi, 1)[1][:, 0]
        sizes = np.bincount(region, minlength=b)
        if (sizes > 0).sum() < 2:  # the coarse k-means found one part only (duplicates): seed the node directly
            leaf()
            return
        parts = _allocate(share, np.bincount(region, weights=w[idx], minlength=b), sizes)
        if (parts == 0).any():  # parts without centres join the nearest part with some
            cen = faiss.vector_float_to_array(coarse.centroids).reshape(b, d).astype(np.float64)
            live = np.nonzero(parts > 0)[0]
            d2 = ((cen[:, None, :] - cen[None, live, :]) ** 2).sum(-1)
            target = np.where(parts > 0, np.arange(b), live[np.argmin(d2, axis=1)])
            region = target[region]
        for g in range(b):
            if parts[g] > 0:
                visit(idx[region == g], int(parts[g]))

    visit(np.arange(n), int(k))
    sizes = np.array([len(g) for g in groups], dtype=np.int64)
    counts = np.array([len(c) for c in seeds], dtype=np.int64)
    pstart = np.concatenate(([0], np.cumsum(sizes)))
    cstart = np.concatenate(([0], np.cumsum(counts)))
    return np.ascontiguousarray(np.vstack(seeds)), np.concatenate(groups), pstart, cstart


def _seed_centroids(X: np.ndarray, k: int, w: np.ndarray, seed: int) -> np.ndarray:
    """k initial centres: greedy k-means++ (scikit-learn's, 2 + log k trials per centre) run inside each of
    ``m ~ sqrt(k) / 2`` regions of a coarse k-means, with the k centres shared among the regions in proportion
    to their weight.

    Plain k-means++ costs k x trials passes over all n points (n^2 when k ~ n); per region each pass only covers
    the region, so the cost drops m-fold while the seeding stays greedy k-means++ locally. On the published
    values this seeding gives the same level-1 NMI as scikit-learn's k-means (faiss's own k-means++ loses
    0.003, random seeding 0.008; see benchmarks/README.md).
    """
    import faiss
    from sklearn.cluster import kmeans_plusplus

    n, d = X.shape
    m = max(1, min(int(round(np.sqrt(k) / 2)), k, n // 2 if n >= 2 else 1))
    if m > 1:
        coarse = faiss.Kmeans(d, m, niter=20, seed=seed, max_points_per_centroid=n + 1, verbose=False)
        coarse.train(X, weights=np.ascontiguousarray(w, dtype=np.float32))
        region = coarse.index.search(X, 1)[1][:, 0]
    else:
        region = np.zeros(n, dtype=np.int64)
    sizes = np.bincount(region, minlength=m)
    mass = np.bincount(region, weights=w, minlength=m)
    share = _allocate(k, mass, sizes)
    out = []
    for g in range(m):
        if share[g] == 0:
            continue
        idx = np.nonzero(region == g)[0]
        if share[g] >= len(idx):
            out.append(X[idx])
            continue
        centers, _ = kmeans_plusplus(
            X[idx].astype(np.float64), int(share[g]), sample_weight=w[idx], random_state=seed + g
        )
        out.append(centers)
    return np.vstack(out)


def _allocate(k: int, mass: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """k centres shared in proportion to ``mass`` (largest remainders), at most ``sizes[g]`` per region."""
    share = np.zeros(len(mass), dtype=np.int64)
    left = k
    room = sizes.astype(np.int64).copy()
    while left > 0:
        open_ = room > 0
        quota = np.where(open_, mass, 0.0)
        quota = quota / quota.sum() * left if quota.sum() > 0 else open_ * (left / open_.sum())
        add = np.minimum(np.floor(quota).astype(np.int64), room)
        if add.sum() == 0:  # hand out the remainders, largest first (ties by region index)
            order = np.lexsort((np.arange(len(mass)), -(quota - np.floor(quota))))
            for g in order:
                if left == 0:
                    break
                if room[g] > 0:
                    add[g] += 1
                    left -= 1
                    room[g] -= 1
            share += add
            continue
        share += add
        room -= add
        left -= int(add.sum())
    return share


def upper_levels(
    Z: np.ndarray,
    value_labels: np.ndarray,
    levels: Sequence[int],
    w: np.ndarray,
    cluster_fn,
    normalize: bool = False,
) -> list[np.ndarray]:
    """Build levels 2.. by clustering the (weighted) centroids of the level below.

    ``cluster_fn(points, k, point_weights) -> labels`` must return exactly k labels (0..k-1). Centroids are always
    computed from the *values* (weighted by ``w``), and each centroid weighs as much as its values together.
    When a level asks for as many clusters as the level below has, each cluster becomes its own parent.
    """
    out = []
    vl = value_labels
    m = levels[0]
    for k in levels[1:]:
        if k == m:
            lab = np.arange(m, dtype=np.int64)
        else:
            C, mass = weighted_centroids(Z, vl, m, w)
            if normalize:
                C = _normalize_rows(C)
            lab = np.asarray(cluster_fn(C, k, mass), dtype=np.int64)
        out.append(lab)
        vl = lab[vl]
        m = k
    return out
