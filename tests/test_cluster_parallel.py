"""The blocked (multi-threaded) SGD of the large-input layouts: the same layout and the same labels for any
thread count, a real layout, and never used at or below LAYOUT_FULL_MAX values."""

from __future__ import annotations

import numpy as np
import pytest

from taxonomy.cluster import _common, _layout, _sgd, get_method
from taxonomy.errors import UsageError


def _blobs(n: int, d: int = 16, centers: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    C = rng.normal(size=(centers, d))
    truth = rng.integers(0, centers, n)
    X = C[truth] + 0.3 * rng.normal(size=(n, d))
    return (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32), truth


def _graph(X):
    D, I = _layout.knn(X, 14)
    return _layout.fuzzy_graph(D, I)


@pytest.mark.parametrize("threads", [2, 3])
def test_blocked_sgd_same_layout_for_any_thread_count(monkeypatch, threads):
    X, _ = _blobs(1200)
    G = _graph(X)
    Y0 = _layout.pca_init(X, 5, seed=1)
    monkeypatch.setenv("TAXO_THREADS", "1")
    one = _layout.layout(G, 5, 1, 40, init=Y0, sgd="blocked")
    monkeypatch.setenv("TAXO_THREADS", str(threads))
    many = _layout.layout(G, 5, 1, 40, init=Y0, sgd="blocked")
    np.testing.assert_array_equal(one, many)
    assert np.isfinite(one).all()
    # a different seed draws other negative samples
    assert not np.array_equal(one, _layout.layout(G, 5, 2, 40, init=Y0, sgd="blocked"))


def test_blocked_sgd_is_a_layout_of_the_graph():
    from sklearn.cluster import KMeans
    from sklearn.metrics import normalized_mutual_info_score as nmi

    X, truth = _blobs(1500)
    G = _graph(X)
    Y0 = _layout.pca_init(X, 5, seed=0)
    Y = _layout.layout(G, 5, 0, 50, init=Y0, sgd="blocked")
    C = G.tocoo()
    edge = np.linalg.norm(Y[C.row] - Y[C.col], axis=1).mean()
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, len(Y), (2, 5000))
    assert edge < 0.2 * np.linalg.norm(Y[a] - Y[b], axis=1).mean()  # neighbours end up close together
    lab = KMeans(12, n_init=3, random_state=0).fit_predict(Y)
    assert nmi(truth, lab) > 0.95
    with pytest.raises(UsageError, match="unknown layout SGD 'hogwild'"):
        _layout.layout(G, 5, 0, 5, init=Y0, sgd="hogwild")


def test_blocked_sgd_unsorted_heads_and_tiny_inputs():
    X, _ = _blobs(300)
    G = _graph(X).tocoo()
    head, tail = G.row.astype(np.int64), G.col.astype(np.int64)
    order = np.argsort(-head, kind="stable")  # heads backwards, each head's edges in their order
    eps = G.data.max() / G.data
    Y0 = np.ascontiguousarray(_layout.pca_init(X, 3, seed=0), dtype=np.float32)
    args = (3, 0.0, 1.9, 0.8, 1.0, 5.0, 0)
    ya = _sgd.optimize_layout_blocked(Y0.copy(), head, tail, eps, *args[:1], *args[2:], threads=2)
    yb = _sgd.optimize_layout_blocked(Y0.copy(), head[order], tail[order], eps[order], *args[:1], *args[2:])
    np.testing.assert_array_equal(ya, yb)  # edges are taken in head order, however the heads come
    few = np.zeros((3, 2), dtype=np.float32) + np.arange(3, dtype=np.float32)[:, None]
    out = _sgd.optimize_layout_blocked(few, np.array([0, 1, 1, 2]), np.array([1, 0, 2, 1]), np.ones(4), 5,
                                       1.9, 0.8, 1.0, 5.0, 0, threads=4)
    assert np.isfinite(out).all()


def _force_large(monkeypatch):
    monkeypatch.setattr(_layout, "LAYOUT_FULL_MAX", 500)
    monkeypatch.setattr(_layout, "KNN_EXACT_MAX", 500)
    monkeypatch.setattr(_common, "FAISS_MIN_WORK", 0)


def test_large_input_fit_same_labels_for_one_and_two_threads(monkeypatch):
    X, _ = _blobs(1100)
    levels = [80, 9, 3]
    _force_large(monkeypatch)
    monkeypatch.setenv("TAXO_THREADS", "1")
    one = get_method("umap-kmeans", seed=3).fit(X, levels)
    monkeypatch.setenv("TAXO_THREADS", "2")
    two = get_method("umap-kmeans", seed=3).fit(X, levels)
    two.validate(len(X), levels)
    for a, b in zip(one.labels, two.labels, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("engine", ["ivf", "ivf-hnsw"])
def test_ivf_knn_same_graph_for_one_and_two_threads(monkeypatch, engine):
    X, _ = _blobs(3000, d=24, centers=30)
    monkeypatch.setenv("TAXO_THREADS", "1")
    D1, I1 = _layout.knn(X, 14, engine=engine)
    monkeypatch.setenv("TAXO_THREADS", "2")
    D2, I2 = _layout.knn(X, 14, engine=engine)
    np.testing.assert_array_equal(I1, I2)
    np.testing.assert_array_equal(D1, D2)


def test_blocked_sgd_only_above_the_threshold(monkeypatch):
    seen = []
    real = _layout.layout

    def spy(G, dim, seed, *a, **kw):
        seen.append((G.shape[0], kw.get("sgd", "sequential")))
        return real(G, dim, seed, *a, **kw)

    monkeypatch.setattr(_layout, "layout", spy)
    X, _ = _blobs(700)
    get_method("umap-kmeans", seed=0).fit(X, [50, 6, 2])
    assert seen and all(s == "sequential" for _, s in seen)  # small inputs: the sequential SGD, as before
    seen.clear()
    monkeypatch.setattr(_layout, "LAYOUT_FULL_MAX", 500)
    get_method("umap-kmeans", seed=0).fit(X, [50, 6, 2]).validate(700, [50, 6, 2])
    assert seen == [(700, "blocked"), (50, "blocked")]


def test_ivf_knn_one_quantizer_pass_is_the_plain_faiss_index():
    """The IVF graph (training on the thread budget, one quantizer pass for the lists of the rows and of the
    queries) is what a plain faiss IVF index, trained and filled on one thread, returns."""
    import faiss

    X, _ = _blobs(4000, d=24, centers=30)
    n, d = X.shape
    nlist = max(1, min(n // 39, int(_layout.IVF_LISTS_PER_SQRT_N * np.sqrt(n))))
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, nlist, faiss.METRIC_INNER_PRODUCT)
    index.cp.seed = 1234
    index.cp.min_points_per_centroid = _layout.IVF_TRAIN_PER_LIST
    rng = np.random.default_rng(1234)
    sample = X[np.sort(rng.choice(n, size=min(n, _layout.IVF_TRAIN_PER_LIST * nlist), replace=False))]
    with _layout._one_thread():
        index.train(sample)
        index.add(X)
    index.nprobe = _layout.IVF_NPROBE
    expected = index.search(X, 15)[1]
    np.testing.assert_array_equal(_layout._search(X, 15, "ivf"), expected)


@pytest.mark.parametrize("threads", [1, 2])
def test_blocked_sgd_merges_in_block_order(threads):
    """The merge after each epoch adds the blocks' pending moves in block order, as ``Y += P[0]; Y += P[1]; ...``
    (checked against that loop written out with the kernel of one block)."""
    X, _ = _blobs(900)
    G = _graph(X).tocoo()
    head, tail = G.row.astype(np.int64), G.col.astype(np.int64)
    eps = G.data.max() / G.data
    Y0 = np.ascontiguousarray(_layout.pca_init(X, 4, seed=0), dtype=np.float32)
    a, b, epochs, seed = 1.9, 0.8, 6, 5
    got = _sgd.optimize_layout_blocked(Y0.copy(), head, tail, eps, epochs, a, b, 1.0, 5.0, seed, threads=threads)
    Y, n, blocks = Y0.copy(), len(Y0), _sgd.SGD_BLOCKS
    vb = (np.arange(blocks + 1) * n) // blocks
    eb = np.searchsorted(head, vb)
    ns, nn = eps.copy(), eps / 5.0
    states = np.array([[(seed * 2654435761 + 12345 + i * 0x9E3779B97F4A7C15) % 2**64] for i in range(blocks)],
                      dtype=np.uint64)
    for epoch in range(epochs):
        Ys, P = Y.copy(), np.zeros((blocks, *Y.shape), dtype=np.float32)
        for i in range(blocks):
            _sgd._block_epoch(Y, Ys, P[i], head, tail, eps, eps / 5.0, ns, nn, states[i], eb[i], eb[i + 1], vb[i],
                              vb[i + 1], epoch, epochs, a, b, 1.0)
        for i in range(blocks):
            Y += P[i]
    np.testing.assert_array_equal(got, Y)
