"""A compact, deterministic UMAP (McInnes, Healy & Melville 2018) for the clustering methods.

Why not ``umap.UMAP`` itself: on inputs under 4,096 rows umap-learn computes the *full* pairwise distance matrix
(quadratic, and slow through a Python callback), and even with a precomputed kNN graph it JIT-compiles its fuzzy
graph construction in every new process (~7 s on 2 cores), which alone would blow a `taxo build` time budget.
This module builds the same objects with numpy/scipy/faiss and runs the same SGD in a cached numba kernel:

1. cosine kNN graph with faiss (``n_neighbors`` per value; memory n x k, never n x n): exact up to 20,000
   values, above them lists of a fixed size found through an HNSW graph and scanned as matrix products (``knn``);
2. UMAP's fuzzy simplicial set: per-point ``rho`` (distance to the nearest distinct neighbour) and ``sigma``
   (binary search so that the memberships sum to log2(k)), then the fuzzy union ``A + A^T - A * A^T``;
3. spectral initialisation (leading eigenvectors of the normalised graph, seeded ARPACK), scaled to [0, 10]
   (or, for the layouts of large inputs, the leading principal axes of the vectors: ``pca_init``);
4. UMAP's cross-entropy SGD with negative sampling (``_sgd.optimize_layout``), sequential and seeded.

Same input and seed -> bit-identical output. It is not bit-identical to umap-learn (different RNG), but it is the
same algorithm; on the Values-in-the-Wild benchmark its embeddings cluster as well as umap-learn's.
"""

from __future__ import annotations

import contextlib

import numpy as np
import scipy.sparse as sp

SMALL_N_DENSE = 300  # below this many points the spectral init uses a dense eigensolver


#: above this many rows ``knn`` searches an inverted-file index instead of scanning every pair (``knn_engine``):
#: measured on 2 cores, the exact scan grows as n^1.7 and costs 42 s at 30k rows (k = 100) against 19 s for IVF;
#: below it the exact scan is as cheap and stays the default (small builds are exactly as before)
KNN_EXACT_MAX = 20_000
KNN_ENGINES = ("auto", "exact", "ivf", "ivf-hnsw", "hnsw")
IVF_LISTS_PER_SQRT_N = 4  #: IVF lists = 4 sqrt(n) (faiss's usual 1-16 sqrt(n))
#: lists scanned per query, and the training sample (points per list, seeded). At 100k stand-in values and 14
#: neighbours, 8 probes and 10 points per list keep recall 0.994 (16 and 40: 1.000; 4 and 10: 0.933) for about
#: half the CPU: the single-threaded quantizer training was a third of the search's cost
IVF_NPROBE = 8
IVF_TRAIN_PER_LIST = 10
IVF_TRAIN_SEED = 1234  #: seed of the IVF indexes' training sample and k-means (fixed: the graph does not depend on the fit's seed)
#: above this many values the layouts are cut to a cost that grows no faster than the data (``layout_epochs``,
#: ``centroid_layout``); at or below it (the published 3,307 values included) they run exactly as before
LAYOUT_FULL_MAX = 20_000
MIN_LAYOUT_EPOCHS = 50  #: the fewest SGD epochs a large layout gets
SGD_KINDS = ("sequential", "blocked")  #: see :func:`layout`
#: the start of the centroid layout (``centroid_layout``): the centroids' leading principal axes, as for the local
#: layout of large inputs, rather than ARPACK on their 100-neighbour graph
CENTROID_INIT = "pca"
HNSW_M = 32  #: graph degree of the HNSW index ("hnsw" engine)
HNSW_EF_CONSTRUCTION = 80
#: "ivf-hnsw", the engine above ``KNN_EXACT_MAX`` rows: n / 300 lists (k-means, each training point assigned
#: through an HNSW graph over the centroids), each row's 24 nearest lists found through that graph, and the lists
#: scanned as matrix products (``_scan_lists``), so a row costs log(lists) + a fixed number of rows whatever n is.
#: On real MiniLM vectors (recall@16; benchmarks/results/knn_scale.md) it has recall 0.988 / 0.978 / 0.987 at
#: 30k / 100k / 300k rows for 3.6 / 12.8 / 42.8 CPU-s, against 0.90 / 0.87 / 0.93 and 1.4 / 7.9 / 48.6 for the
#: 4 sqrt(n) lists ("ivf"), which grow as n^1.5. 24 probes rather than 10 (recall 0.94, 40 % cheaper): with 10
#: the default method's level 2 at 100k real vectors lost 0.009 NMI against the 4 sqrt(n) lists; with 24 it is
#: the same
IVF_HNSW_ROWS_PER_LIST = 300
IVF_HNSW_NPROBE = 24
IVF_HNSW_EF_SEARCH = 48
IVF_HNSW_TRAIN_EF_SEARCH = 32  #: HNSW breadth when k-means assigns its training points
IVF_HNSW_NITER = 10  #: k-means iterations (faiss's default 25 gave the same recall at 300k for 2.7x the training)
#: candidate slots (rows x probes x neighbours) the list scan holds at once: the rows are scanned in chunks of a
#: size fixed by n, k and the probes, never by the thread count
IVF_SCAN_SLOTS = 8_000_000


def knn_engine(n: int, engine: str = "auto") -> str:
    """The search ``knn`` uses for ``n`` rows: "exact" (faiss flat scan, n^2 d) up to ``KNN_EXACT_MAX`` rows,
    "ivf-hnsw" (lists of a fixed size, about n log n) above; "ivf" (faiss IVF-Flat with 4 sqrt(n) lists, about
    n^1.5 d) and "hnsw" (faiss HNSW) on request."""
    if engine not in KNN_ENGINES:
        from taxonomy.errors import UsageError

        raise UsageError(f"unknown kNN engine {engine!r}; choose one of {', '.join(KNN_ENGINES)}")
    if engine != "auto":
        return engine
    return "exact" if n <= KNN_EXACT_MAX else "ivf-hnsw"


@contextlib.contextmanager
def _one_thread():
    """faiss single-threaded inside the block: HNSW insertion (and a k-means that assigns its points through an
    HNSW graph) depends on the thread count (insertion order); single-threaded it gives the same index on every
    machine. faiss's k-means over a flat index does not (each centroid sums its points in row order)."""
    import faiss

    old = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(old)


def _hnsw(d: int):
    """An empty faiss HNSW index (inner product); fill it single-threaded (``_one_thread``)."""
    import faiss

    index = faiss.IndexHNSWFlat(d, HNSW_M, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    return index


def _search(Xf: np.ndarray, k: int, engine: str) -> np.ndarray:
    """Indices of the ``k`` most similar rows of every row (itself usually among them)."""
    import faiss

    n, d = Xf.shape
    if engine == "exact":
        index = faiss.IndexFlatIP(d)
        index.add(Xf)
        return index.search(Xf, k)[1]
    if engine == "ivf":
        nlist = max(1, min(n // 39, int(IVF_LISTS_PER_SQRT_N * np.sqrt(n))))
        quantizer = faiss.IndexFlatIP(d)
        index = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
        index.cp.seed = IVF_TRAIN_SEED
        index.cp.min_points_per_centroid = IVF_TRAIN_PER_LIST  # the sample is meant to be small: no warning
        rng = np.random.default_rng(IVF_TRAIN_SEED)
        sample = Xf[np.sort(rng.choice(n, size=min(n, IVF_TRAIN_PER_LIST * nlist), replace=False))]
        index.nprobe = min(nlist, IVF_NPROBE)
        # flat quantizer: k-means training is the same on any number of threads (each centroid sums its points in
        # row order, faiss's ``compute_centroids``)
        index.train(sample)
        # the queries are the indexed rows themselves, so one quantizer pass gives both each row's list (its
        # nearest centroid) and its ``nprobe`` lists to scan (each query's search is on its own: any thread count)
        Dq, Iq = quantizer.search(Xf, index.nprobe)
        lists = np.ascontiguousarray(Iq[:, 0])  # kept referenced: swig_ptr does not hold the array
        index.add_core(n, faiss.swig_ptr(Xf), None, faiss.swig_ptr(lists))
        return index.search_preassigned(Xf, k, Iq, Dq)[1]
    if engine == "ivf-hnsw":
        return _scan_lists(Xf, k, *_hnsw_lists(Xf))
    index = _hnsw(d)
    with _one_thread():
        index.add(Xf)
    index.hnsw.efSearch = max(2 * k, 64)
    return index.search(Xf, k)[1]


def _hnsw_lists(Xf: np.ndarray) -> tuple[np.ndarray, int]:
    """The "ivf-hnsw" lists: n / ``IVF_HNSW_ROWS_PER_LIST`` k-means centroids (trained single-threaded on 10
    points per list, each assigned through an HNSW graph) in an HNSW graph, and every row's ``IVF_HNSW_NPROBE``
    nearest centroids through it (first: the row's own list). Returns those (n, probes) list numbers (-1 where
    the graph found fewer) and the number of lists."""
    import faiss

    n, d = Xf.shape
    nlist = max(1, n // IVF_HNSW_ROWS_PER_LIST)
    nprobe = min(nlist, IVF_HNSW_NPROBE)
    quantizer = _hnsw(d)
    quantizer.hnsw.efSearch = max(IVF_HNSW_EF_SEARCH, nprobe)
    index = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)  # trains the quantizer
    clustering_index = _hnsw(d)
    clustering_index.hnsw.efSearch = IVF_HNSW_TRAIN_EF_SEARCH
    index.clustering_index = clustering_index
    index.cp.niter = IVF_HNSW_NITER
    index.cp.seed = IVF_TRAIN_SEED
    index.cp.min_points_per_centroid = IVF_TRAIN_PER_LIST  # the sample is meant to be small: no warning
    rng = np.random.default_rng(IVF_TRAIN_SEED)
    sample = Xf[np.sort(rng.choice(n, size=min(n, IVF_TRAIN_PER_LIST * nlist), replace=False))]
    with _one_thread():  # the HNSW graphs (of the training assignment and of the quantizer) are built in order
        index.train(sample)
    return quantizer.search(Xf, nprobe)[1], nlist  # each query on its own: the same on any thread count


def _scan_lists(Xf: np.ndarray, k: int, probes: np.ndarray, nlist: int) -> np.ndarray:
    """The ``k`` most similar rows of every row among the rows of its probed lists (``probes[:, 0]``, each row's
    nearest list, is the list it belongs to).

    Scanned list by list as matrix products: the rows that probe a list against the list's rows, one product
    per list and chunk of rows, keeping each row's ``k`` best per list; then each row's ``k`` best over its
    probes. The products, their shapes and the order of every selection are fixed by the data (the chunks by n,
    k and the probes), so the result is the same on any number of threads; the lists run on the thread budget,
    each product on one BLAS thread."""
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_limits

    from taxonomy.threads import thread_budget

    n = len(Xf)
    nprobe = probes.shape[1]
    own = probes[:, 0]
    members = np.argsort(own, kind="stable")  # rows grouped by list, in row order
    bounds = np.searchsorted(own[members], np.arange(nlist + 1))
    grouped = Xf[members]
    out = np.empty((n, k), dtype=np.int64)
    chunk = max(1, IVF_SCAN_SLOTS // (nprobe * k))
    threads = thread_budget()
    for c0 in range(0, n, chunk):
        part = probes[c0 : c0 + chunk].ravel()
        slot_of = np.flatnonzero(part >= 0)  # slot = row in chunk * nprobe + probe rank
        by_list = slot_of[np.argsort(part[slot_of], kind="stable")]
        cuts = np.searchsorted(part[by_list], np.arange(nlist + 1))
        best = np.full((len(part), k), -np.inf, dtype=np.float32)
        best_id = np.full((len(part), k), -1, dtype=np.int64)

        def scan(b, c0=c0, by_list=by_list, cuts=cuts, best=best, best_id=best_id):
            slots = by_list[cuts[b] : cuts[b + 1]]
            lo, hi = bounds[b], bounds[b + 1]
            if not len(slots) or lo == hi:
                return
            S = Xf[c0 + slots // nprobe] @ grouped[lo:hi].T
            ids = members[lo:hi]
            if hi - lo > k:
                top = np.argpartition(S, hi - lo - k, axis=1)[:, hi - lo - k :]
                best[slots] = np.take_along_axis(S, top, 1)
                best_id[slots] = ids[top]
            else:
                best[slots, : hi - lo] = S
                best_id[slots, : hi - lo] = ids

        with threadpool_limits(limits=1, user_api="blas"):
            if threads > 1:
                with ThreadPoolExecutor(max_workers=threads) as pool:
                    list(pool.map(scan, range(nlist)))
            else:
                for b in range(nlist):
                    scan(b)
        m = len(part) // nprobe
        best = best.reshape(m, nprobe * k)
        top = np.argpartition(best, nprobe * k - k, axis=1)[:, nprobe * k - k :]
        out[c0 : c0 + m] = np.take_along_axis(best_id.reshape(m, nprobe * k), top, 1)
    return out


def knn(X: np.ndarray, k: int, engine: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """Cosine distances and indices of the ``k`` nearest *other* rows of ``X`` (rows must be unit length).

    ``engine``: "exact", "ivf-hnsw", "ivf" or "hnsw" (approximate; see :func:`knn_engine`) or "auto" (exact up to
    ``KNN_EXACT_MAX`` rows, "ivf-hnsw" above). Distances are recomputed in float64 either way.
    """
    from taxonomy.threads import thread_budget, thread_limit

    n = len(X)
    k = min(k, n - 1)
    Xf = np.ascontiguousarray(X, dtype=np.float32)
    with thread_limit():
        I = _search(Xf, k + 1, knn_engine(n, engine))
    # drop each row itself; with duplicate vectors it need not come first, so remove it wherever it is (an
    # approximate search may miss it: then drop the last, least similar, hit)
    is_self = I == np.arange(n)[:, None]
    drop = np.where(is_self.any(1), is_self.argmax(1), k)
    keep = np.ones_like(is_self)
    keep[np.arange(n), drop] = False
    I = I[keep].reshape(n, k)
    # faiss pads with -1 when it finds fewer than k (an approximate search can): point those at the row itself,
    # at the largest distance, so they carry no weight
    bad = I < 0
    if bad.any():
        I = np.where(bad, np.arange(n)[:, None], I)
    # faiss's BLAS sums depend on the thread count in the last bits, and the layout amplifies any difference:
    # recompute the similarities of the found pairs in float64 with a fixed summation order
    S = np.empty((n, k))
    step = max(1, 2_000_000 // max(1, k * Xf.shape[1]))

    def sims(s):  # fixed row blocks, each summed the same way whichever thread runs it
        # float64 of the block's rows only (the same values as a float64 copy of X, without its n x d x 8 bytes)
        S[s : s + step] = np.einsum("id,ikd->ik", Xf[s : s + step].astype(np.float64),
                                    Xf[I[s : s + step]].astype(np.float64))

    starts = range(0, n, step)
    budget = min(thread_budget(), len(starts))
    if budget > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=budget) as pool:
            list(pool.map(sims, starts))
    else:
        for s in starts:
            sims(s)
    D = np.clip(1.0 - S, 0.0, 2.0)
    D[bad] = 2.0
    order = np.argsort(D, axis=1, kind="stable")
    return np.take_along_axis(D, order, 1), np.take_along_axis(I, order, 1).astype(np.int64)


def fuzzy_graph(D: np.ndarray, I: np.ndarray, n_iter: int = 64) -> sp.csr_matrix:
    """UMAP's fuzzy simplicial set (local_connectivity=1, set_op_mix_ratio=1) from a kNN graph."""
    n, k = D.shape
    pos = np.where(D > 0, D, np.inf)
    rho = pos.min(1)
    rho[~np.isfinite(rho)] = 0.0
    target = np.log2(k + 1)  # umap counts the point itself among its n_neighbors
    lo = np.zeros(n)
    hi = np.full(n, np.inf)
    mid = np.ones(n)
    excess = np.maximum(D - rho[:, None], 0.0)
    for _ in range(n_iter):
        psum = np.exp(-excess / mid[:, None]).sum(1)
        big = psum > target
        hi = np.where(big, mid, hi)
        lo = np.where(big, lo, mid)
        mid = np.where(np.isinf(hi), mid * 2, (lo + hi) / 2)
    mean_d = D.mean(1)
    sigma = np.where(rho > 0, np.maximum(mid, 1e-3 * mean_d), np.maximum(mid, 1e-3 * D.mean()))
    sigma = np.maximum(sigma, 1e-12)
    W = np.exp(-excess / sigma[:, None])
    A = sp.csr_matrix((W.ravel(), (np.repeat(np.arange(n), k), I.ravel())), shape=(n, n))
    A.sum_duplicates()
    At = A.T.tocsr()
    G = (A + At - A.multiply(At)).tocsr()
    G.eliminate_zeros()
    return G


def spectral_init(G: sp.csr_matrix, dim: int, seed: int) -> np.ndarray:
    """Leading non-trivial eigenvectors of D^-1/2 G D^-1/2 (as UMAP's spectral init), scaled to max |x| = 10."""
    n = G.shape[0]
    rng = np.random.RandomState(seed)
    deg = np.asarray(G.sum(1)).ravel()
    dm = 1.0 / np.sqrt(np.maximum(deg, 1e-12))
    A = sp.diags(dm) @ G @ sp.diags(dm)
    vecs = None
    if n <= SMALL_N_DENSE or dim + 2 >= n:
        vals, vecs = np.linalg.eigh(A.toarray())
        order = np.argsort(-vals, kind="stable")
        vecs = vecs[:, order[1 : dim + 1]]
    else:
        from scipy.sparse.linalg import ArpackError, eigsh

        try:
            vals, vecs = eigsh(A, k=dim + 1, which="LA", v0=rng.uniform(-1, 1, n), tol=1e-4, maxiter=n * 5)
            order = np.argsort(-vals, kind="stable")
            vecs = vecs[:, order[1:]]
        except ArpackError:  # pragma: no cover - rare; UMAP falls back to a random init too
            vecs = None
    if vecs is None or vecs.shape[1] < dim:
        extra = rng.uniform(-1, 1, (n, dim - (0 if vecs is None else vecs.shape[1])))
        vecs = extra if vecs is None else np.hstack([vecs, extra])
    # fix each eigenvector's sign so the result does not depend on the solver's arbitrary choice
    signs = np.sign(vecs[np.abs(vecs).argmax(0), np.arange(vecs.shape[1])])
    vecs = vecs * np.where(signs == 0, 1, signs)
    vecs = vecs / max(np.abs(vecs).max(), 1e-12) * 10.0
    return vecs + rng.normal(scale=1e-4, size=vecs.shape)


def pca_init(X: np.ndarray, dim: int, seed: int) -> np.ndarray:
    """The rows of ``X`` projected on their ``dim`` leading principal axes, scaled to max |x| = 10 (UMAP's "pca"
    initialisation): a d x d covariance (summed in float64 in fixed blocks) and one symmetric eigensolve, linear
    in the rows. For large inputs it replaces :func:`spectral_init`, whose ARPACK solve on the n x n graph is
    the largest part of the layout's cost at 100k values."""
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_limits

    from taxonomy.threads import thread_budget

    rng = np.random.RandomState(seed)
    n, d = X.shape
    step = 8192
    starts = range(0, n, step)

    def gram(s):
        B = np.asarray(X[s : s + step], dtype=np.float64) - mean
        return B.T @ B

    def project(s):
        Y[s : s + step] = (np.asarray(X[s : s + step], dtype=np.float64) - mean) @ axes

    # one BLAS thread per block: the same sums, in the same order, on any machine; the fixed blocks run on the
    # thread budget and their Gram matrices are added in block order, so any thread count gives the same result
    with threadpool_limits(limits=1), ThreadPoolExecutor(max_workers=max(1, thread_budget())) as pool:
        mean = np.asarray(X, dtype=np.float64).mean(0)
        cov = np.zeros((d, d))
        for part in pool.map(gram, starts):
            cov += part
        vals, vecs = np.linalg.eigh(cov)
        axes = vecs[:, np.argsort(-vals, kind="stable")[:dim]]
        signs = np.sign(axes[np.abs(axes).argmax(0), np.arange(axes.shape[1])])
        axes = axes * np.where(signs == 0, 1, signs)
        Y = np.empty((n, axes.shape[1]))
        list(pool.map(project, starts))
    if Y.shape[1] < dim:
        Y = np.hstack([Y, rng.uniform(-1, 1, (n, dim - Y.shape[1]))])
    Y = Y / max(np.abs(Y).max(), 1e-12) * 10.0
    return Y + rng.normal(scale=1e-4, size=Y.shape)


def find_ab(min_dist: float, spread: float = 1.0) -> tuple[float, float]:
    """UMAP's curve parameters a, b for ``min_dist`` / ``spread``."""
    from scipy.optimize import curve_fit

    xv = np.linspace(0, spread * 3, 300)
    yv = np.where(xv < min_dist, 1.0, np.exp(-(xv - min_dist) / spread))
    (a, b), _ = curve_fit(lambda x, a, b: 1.0 / (1.0 + a * x ** (2 * b)), xv, yv)
    return float(a), float(b)


def layout(
    G: sp.csr_matrix,
    dim: int,
    seed: int,
    n_epochs: int = 200,
    min_dist: float = 0.0,
    negative_sample_rate: int = 5,
    init: np.ndarray | None = None,
    sgd: str = "sequential",
) -> np.ndarray:
    """Low-dimensional layout of the fuzzy graph ``G`` (UMAP's optimisation), started from ``init`` (n x dim)
    or, by default, from :func:`spectral_init`. ``sgd``: "sequential" (``_sgd.optimize_layout``, one thread) or
    "blocked" (``_sgd.optimize_layout_blocked``: fixed vertex blocks run on the thread budget; the same layout for
    any thread count, but not the sequential one; used above ``LAYOUT_FULL_MAX`` values)."""
    from taxonomy.cluster._sgd import optimize_layout, optimize_layout_blocked

    if sgd not in SGD_KINDS:
        from taxonomy.errors import UsageError

        raise UsageError(f"unknown layout SGD {sgd!r}; choose one of {', '.join(SGD_KINDS)}")
    n = G.shape[0]
    Y = spectral_init(G, dim, seed) if init is None else np.asarray(init, dtype=np.float64)
    lo, hi = Y.min(0), Y.max(0)
    Y = 10.0 * (Y - lo) / np.where(hi > lo, hi - lo, 1.0)
    C = G.tocoo()
    w = C.data
    keep = w >= w.max() / n_epochs
    head = C.row[keep].astype(np.int64)
    tail = C.col[keep].astype(np.int64)
    eps = w.max() / w[keep]
    a, b = find_ab(min_dist)
    Y = np.ascontiguousarray(Y, dtype=np.float32)
    if len(head) and n > 1:
        args = (Y, head, tail, eps.astype(np.float64), int(n_epochs), a, b, 1.0, float(negative_sample_rate),
                int(seed))
        if sgd == "blocked":
            from taxonomy.threads import thread_budget

            optimize_layout_blocked(*args, threads=thread_budget())
        else:
            optimize_layout(*args)
    return Y


def layout_epochs(n: int, n_epochs: int) -> int:
    """SGD epochs for a layout of ``n`` points: ``n_epochs`` up to ``LAYOUT_FULL_MAX`` points; above, scaled by
    ``LAYOUT_FULL_MAX / n`` (so the SGD's total work stays that of a ``LAYOUT_FULL_MAX``-point layout), but never
    under ``MIN_LAYOUT_EPOCHS`` (nor above ``n_epochs``)."""
    if n <= LAYOUT_FULL_MAX:
        return int(n_epochs)
    return int(min(n_epochs, max(MIN_LAYOUT_EPOCHS, round(n_epochs * LAYOUT_FULL_MAX / n))))


def centroid_layout(
    X: np.ndarray, labels: np.ndarray, k: int, w: np.ndarray, spec: dict, seed: int
) -> np.ndarray:
    """The global (upper-level) layout for many values, computed on their ``k`` level-1 clusters instead of on
    every value: the ``w``-weighted mean of each cluster's unit vectors, renormalised, laid out with ``spec``
    (``umap_embed`` keywords). Returns one row per *value* (its cluster's position), so the upper levels see the
    same centroids as with a layout of all values. Costs a layout of k ~ n/12 points instead of n. Unless ``spec``
    says otherwise it starts from the centroids' principal axes (``CENTROID_INIT``), and its epochs are scaled by
    the number of values, as a layout of all of them would be (``layout_epochs``), not by ``k``."""
    from taxonomy.cluster._common import weighted_centroids

    C, _ = weighted_centroids(np.asarray(X, dtype=np.float64), labels, k, w)
    C /= np.maximum(np.linalg.norm(C, axis=1, keepdims=True), 1e-12)
    spec = dict(spec, init=spec.get("init", CENTROID_INIT),
                n_epochs=layout_epochs(len(X), spec.get("n_epochs", 200)))
    Y = umap_embed(C.astype(np.float32), seed=seed, **spec)
    return Y[labels]


def umap_embed(
    X: np.ndarray,
    n_components: int = 10,
    n_neighbors: int = 15,
    seed: int = 0,
    n_epochs: int = 200,
    min_dist: float = 0.0,
    knn_graph: tuple[np.ndarray, np.ndarray] | None = None,
    init: str = "spectral",
    sgd: str = "sequential",
) -> np.ndarray:
    """UMAP embedding of unit-length rows ``X`` under cosine distance (see module docstring). ``init``:
    "spectral" (the leading eigenvectors of the graph) or "pca" (:func:`pca_init`, for large inputs); ``sgd``:
    "sequential" or "blocked" (see :func:`layout`)."""
    n = len(X)
    k = max(1, min(n_neighbors - 1, n - 1))  # n_neighbors counts the point itself, as in umap-learn
    if knn_graph is None:
        D, I = knn(X, k)
    else:
        D, I = knn_graph[0][:, :k], knn_graph[1][:, :k]
    G = fuzzy_graph(D, I)
    dim = max(1, min(n_components, n - 2))
    if init not in ("spectral", "pca"):
        from taxonomy.errors import UsageError

        raise UsageError(f"unknown layout init {init!r}; choose spectral or pca")
    start = pca_init(X, dim, seed) if init == "pca" else None
    return layout(G, dim, seed, layout_epochs(n, n_epochs), min_dist, init=start, sgd=sgd)


def embed_many(X: np.ndarray, specs: list[dict], seed: int) -> list[np.ndarray]:
    """Several UMAP embeddings of the same data, sharing one kNN search, computed in parallel threads.

    The numba kernel releases the GIL, so on a 2-core machine two layouts take about as long as the slower one.
    Each layout is sequential and seeded on its own, so the result does not depend on thread scheduling.
    """
    n = len(X)
    kmax = max(1, min(max(s.get("n_neighbors", 15) for s in specs) - 1, n - 1))
    D, I = knn(X, kmax)

    def one(spec):
        return umap_embed(X, seed=seed, knn_graph=(D, I), **spec)

    if len(specs) == 1:
        return [one(specs[0])]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(len(specs), 2)) as pool:
        return list(pool.map(one, specs))
