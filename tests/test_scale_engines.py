"""The large-input engines: faiss k-means with exact counts, HNSW kNN, the thread budget, synthetic data."""

from __future__ import annotations

import csv
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from taxonomy.cluster import _common, _layout
from taxonomy.cluster._common import kmeans_engine, kmeans_exact
from taxonomy.cluster._layout import knn, knn_engine
from taxonomy.errors import UsageError
from taxonomy.threads import thread_budget, thread_limit

ROOT = Path(__file__).resolve().parents[1]


def blobs(n: int, d: int, centers: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    C = rng.normal(size=(centers, d))
    X = C[rng.integers(0, centers, n)] + 0.3 * rng.normal(size=(n, d))
    return (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)


# ------------------------------------------------------------------------------------------------ k-means engine
def test_engine_choice_by_size():
    assert kmeans_engine(3307, 266) == "sklearn"  # the published data stays on the old engine
    assert kmeans_engine(100_000, 8333) == "faiss"
    assert kmeans_engine(10, 2, "faiss") == "faiss"
    with pytest.raises(UsageError, match="unknown k-means engine 'gpu'"):
        kmeans_engine(10, 2, "gpu")


@pytest.mark.parametrize("k", [2, 37, 150])
def test_faiss_engine_exact_counts_and_deterministic(k):
    X = blobs(1500, 10, 40)
    w = np.random.default_rng(1).gamma(1.0, size=len(X))
    a = kmeans_exact(X, k, w, seed=3, n_init=2, engine="faiss")
    b = kmeans_exact(X, k, w, seed=3, n_init=2, engine="faiss")
    assert a.shape == (len(X),)
    assert sorted(np.unique(a)) == list(range(k))
    np.testing.assert_array_equal(a, b)


def test_faiss_engine_same_result_for_any_thread_budget():
    X = blobs(3000, 10, 60, seed=2)
    one = kmeans_exact(X, 120, None, seed=0, engine="faiss", threads=1)
    two = kmeans_exact(X, 120, None, seed=0, engine="faiss", threads=2)
    np.testing.assert_array_equal(one, two)


def _force_graph(monkeypatch, leaf=32):
    monkeypatch.setattr(_common, "GRAPH_MIN_N", 500)
    monkeypatch.setattr(_common, "GRAPH_MIN_K", 50)
    monkeypatch.setattr(_common, "SEED_LEAF", leaf)
    monkeypatch.setattr(_common, "SEED_BRANCH", 4)


def _inertia(X, lab, k):
    C = np.zeros((k, X.shape[1]))
    np.add.at(C, lab, X.astype(np.float64))
    C /= np.bincount(lab, minlength=k)[:, None]
    return ((X - C[lab]) ** 2).sum()


def test_graph_engine_exact_counts_same_for_any_thread_budget(monkeypatch):
    _force_graph(monkeypatch)
    X = blobs(2000, 8, 30, seed=4)
    w = np.random.default_rng(2).gamma(1.0, size=len(X))
    a = kmeans_exact(X, 160, w, seed=1, engine="faiss", threads=2)
    b = kmeans_exact(X, 160, w, seed=1, engine="faiss", threads=1)
    assert sorted(np.unique(a)) == list(range(160))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, kmeans_exact(X, 160, w, seed=2, engine="faiss", threads=1))


def test_graph_engine_close_to_flat_engine_inertia(monkeypatch):
    X = blobs(6000, 10, 300, seed=0)
    k = 500
    flat = _inertia(X, kmeans_exact(X, k, None, seed=0, max_iter=25, engine="faiss"), k)
    _force_graph(monkeypatch, leaf=128)
    graph = _inertia(X, kmeans_exact(X, k, None, seed=0, max_iter=25, engine="faiss"), k)
    assert graph <= 1.01 * flat


def test_graph_engine_duplicates_still_exact(monkeypatch):
    _force_graph(monkeypatch)
    rng = np.random.default_rng(0)
    X = np.repeat(rng.normal(size=(40, 6)).astype(np.float32), 20, axis=0)  # 40 distinct points, 800 rows
    lab = kmeans_exact(X, 60, None, seed=0, engine="faiss")
    assert sorted(np.unique(lab)) == list(range(60))


def test_seed_tree_leaves_partition_points(monkeypatch):
    monkeypatch.setattr(_common, "SEED_LEAF", 20)
    monkeypatch.setattr(_common, "SEED_BRANCH", 3)
    X = blobs(3000, 6, 25, seed=3)
    w = np.random.default_rng(0).gamma(1.0, size=len(X))
    C, order, pstart, cstart = _common._seed_tree(X, 250, w, seed=0)
    assert C.shape == (250, 6) and len(np.unique(C, axis=0)) == 250
    assert sorted(order) == list(range(3000))  # every point in exactly one leaf
    counts = np.diff(cstart)
    assert counts.max() <= 20 and (counts > 0).all() and (np.diff(pstart) >= counts).all()
    for g in range(len(counts)):  # each leaf's seeds are points of that leaf
        pts = X[order[pstart[g]:pstart[g + 1]]].astype(np.float64)
        seeds = C[cstart[g]:cstart[g + 1]]
        assert all(np.isclose(((pts - s) ** 2).sum(1), 0).any() for s in seeds)


def test_graph_kernels_match_exact_search():
    from taxonomy.cluster import _kmeans_graph as kg

    rng = np.random.default_rng(1)
    C = rng.normal(size=(300, 5))
    X = rng.normal(size=(2000, 5)).astype(np.float32)
    D = ((C[:, None] - C[None]) ** 2).sum(-1)
    np.fill_diagonal(D, np.inf)
    exact = np.argsort(D, axis=1, kind="stable")[:, :8]
    # one neighbour-of-neighbour step from the exact graph keeps it exact; from a poor graph it gets closer
    np.testing.assert_array_equal(kg.refine_graph(C, exact.astype(np.int64)), exact)
    poor = np.argsort(D, axis=1, kind="stable")[:, 8:16].astype(np.int64)
    better = kg.refine_graph(C, poor)
    hits = lambda G: np.mean([len(set(a) & set(b)) for a, b in zip(G, exact, strict=True)])  # noqa: E731
    assert hits(better) > hits(poor) + 2
    # assignment over a complete graph is the exact nearest centroid
    full = np.array([[j for j in range(300) if j != i] for i in range(300)], dtype=np.int64)
    labels = np.zeros(2000, dtype=np.int64)
    dist = np.empty(2000)
    moved = kg.assign_graph(X, C, labels, full, dist, np.arange(2000)[::-1].copy())
    near = ((X[:, None].astype(np.float64) - C[None]) ** 2).sum(-1)
    np.testing.assert_array_equal(labels, near.argmin(1))
    np.testing.assert_allclose(dist, near.min(1))
    assert moved == (near.argmin(1) != 0).sum()
    S, mass = kg.centroid_sums(X, np.ones(2000), labels, 300)
    np.testing.assert_allclose(S, np.stack([X[labels == c].astype(np.float64).sum(0) for c in range(300)]), atol=1e-9)
    np.testing.assert_array_equal(mass, np.bincount(labels, minlength=300))


def test_faiss_engine_close_to_sklearn_inertia():
    X = blobs(4000, 10, 50, seed=5)
    k = 100

    def inertia(lab):
        C = np.zeros((k, X.shape[1]))
        np.add.at(C, lab, X.astype(np.float64))
        C /= np.bincount(lab, minlength=k)[:, None]
        return ((X - C[lab]) ** 2).sum()

    f = inertia(kmeans_exact(X, k, None, seed=0, n_init=3, engine="faiss"))
    s = inertia(kmeans_exact(X, k, None, seed=0, n_init=3, engine="sklearn"))
    assert f <= 1.05 * s


def test_faiss_engine_duplicates_still_exact():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(5, 6)).astype(np.float32)
    X = np.repeat(base, 40, axis=0)  # 5 distinct points, 200 rows
    lab = kmeans_exact(X, 12, None, seed=0, engine="faiss")
    assert len(np.unique(lab)) == 12


def test_allocate_shares_exactly():
    mass = np.array([5.0, 1.0, 0.0, 3.0])
    sizes = np.array([3, 10, 4, 10])
    share = _common._allocate(12, mass, sizes)
    assert share.sum() == 12 and np.all(share <= sizes) and share[0] == 3


# ------------------------------------------------------------------------------------------------ kNN
def test_knn_engine_choice():
    assert knn_engine(3307) == "exact"
    assert knn_engine(_layout.KNN_EXACT_MAX) == "exact"
    assert knn_engine(_layout.KNN_EXACT_MAX + 1) == "ivf-hnsw"
    assert knn_engine(10**7) == "ivf-hnsw"
    assert knn_engine(10**7, "ivf") == "ivf"
    assert knn_engine(10, "hnsw") == "hnsw"
    with pytest.raises(UsageError, match="unknown kNN engine"):
        knn_engine(10, "annoy")


@pytest.mark.parametrize("engine", ["ivf", "ivf-hnsw", "hnsw"])
def test_approximate_knn_matches_exact_and_is_deterministic(engine):
    X = blobs(3000, 32, 30, seed=7)
    De, Ie = knn(X, 15, engine="exact")
    Dh, Ih = knn(X, 15, engine=engine)
    assert Ih.shape == (3000, 15) and Dh.shape == (3000, 15)
    assert not (Ih == np.arange(3000)[:, None]).any()  # never a row itself
    assert np.all(np.diff(Dh, axis=1) >= 0)  # sorted by distance
    recall = np.mean([len(set(a) & set(b)) / 15 for a, b in zip(Ie, Ih, strict=True)])
    assert recall > 0.95
    with thread_limit(1):
        D1, I1 = knn(X, 15, engine=engine)
    np.testing.assert_array_equal(I1, Ih)
    np.testing.assert_array_equal(D1, Dh)


def test_list_scan_finds_the_best_rows_of_the_probed_lists(monkeypatch):
    """``_scan_lists`` returns, for every row, the k most similar rows among the rows of its probed lists: checked
    against a plain scan of those rows, with many lists (60 over 3,000 rows) and chunks of rows (200 at a time)
    that must not change the answer."""
    X = blobs(3000, 32, 30, seed=3).astype(np.float32)
    monkeypatch.setattr(_layout, "IVF_HNSW_ROWS_PER_LIST", 50)
    probes, nlist = _layout._hnsw_lists(X)
    assert nlist == 60 and probes.shape == (3000, _layout.IVF_HNSW_NPROBE)
    k = 8
    got = _layout._scan_lists(X, k, probes, nlist)
    monkeypatch.setattr(_layout, "IVF_SCAN_SLOTS", 200 * _layout.IVF_HNSW_NPROBE * k)
    chunked = _layout._scan_lists(X, k, probes, nlist)
    np.testing.assert_array_equal(np.sort(chunked, 1), np.sort(got, 1))  # each row's k in any order
    own = probes[:, 0]
    S = X.astype(np.float64) @ X.astype(np.float64).T
    for i in range(0, 3000, 7):
        pool = np.flatnonzero(np.isin(own, probes[i][probes[i] >= 0]))
        want = pool[np.argsort(-S[i, pool], kind="stable")[:k]]
        assert set(got[i]) == set(want), i
    assert (got == np.arange(3000)[:, None]).any(1).all()  # a row's own list is scanned: it finds itself


def test_fixed_size_lists_recall_and_threads(monkeypatch):
    """With several probed lists per row (not every list), the engine still finds nearly all of the exact
    neighbours, and 1 or 2 threads give the same graph."""
    X = blobs(6000, 32, 40, seed=5)
    monkeypatch.setattr(_layout, "IVF_HNSW_ROWS_PER_LIST", 100)  # 60 lists, 10 probed
    De, Ie = knn(X, 15, engine="exact")
    with thread_limit(1):
        D1, I1 = knn(X, 15, engine="ivf-hnsw")
    with thread_limit(2):
        D2, I2 = knn(X, 15, engine="ivf-hnsw")
    np.testing.assert_array_equal(I1, I2)
    np.testing.assert_array_equal(D1, D2)
    recall = np.mean([len(set(a) & set(b)) / 15 for a, b in zip(Ie, I1, strict=True)])
    assert recall > 0.9


# ------------------------------------------------------------------------------------------------ threads
def test_thread_budget(monkeypatch):
    monkeypatch.delenv("TAXO_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert 1 <= thread_budget() <= 1024
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert thread_budget() == 1  # an explicit OpenMP limit caps the automatic budget
    assert thread_budget(2) == 2  # but not an explicit request
    assert thread_budget(3) == 3
    monkeypatch.setenv("TAXO_THREADS", "2")
    assert thread_budget() == 2
    monkeypatch.setenv("TAXO_THREADS", "two")
    with pytest.raises(UsageError, match="TAXO_THREADS='two'"):
        thread_budget()
    with pytest.raises(UsageError, match="at least 1"):
        thread_budget(0)


def test_thread_limit_restores_faiss_threads():
    import faiss

    before = faiss.omp_get_max_threads()
    with thread_limit(1) as n:
        assert n == 1 and faiss.omp_get_max_threads() == 1
    assert faiss.omp_get_max_threads() == before


# ------------------------------------------------------------------------------------------------ synthetic data
def _synthetic():
    spec = importlib.util.spec_from_file_location("synthetic", ROOT / "benchmarks" / "synthetic.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["synthetic"] = mod
    spec.loader.exec_module(mod)
    return mod


def test_synthetic_records_shape_and_reproducible(tmp_path):
    syn = _synthetic()
    a = syn.write(tmp_path / "a.csv", 500, 3000, seed=1)
    b = syn.write(tmp_path / "b.csv", 500, 3000, seed=1)
    assert a.read_bytes() == b.read_bytes()
    with open(a, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 3000
    assert set(rows[0]) == {"conversation_id", "value", "role", "task", "excerpt"}
    distinct = {" ".join(r["value"].casefold().split()) for r in rows}
    assert len(distinct) == 500  # every value appears
    assert {r["role"] for r in rows} == {"ai", "human"}
    assert all(len(r["excerpt"]) == 200 for r in rows)
    counts = sorted(np.unique([" ".join(r["value"].casefold().split()) for r in rows], return_counts=True)[1])
    assert counts[-1] > 20 * counts[len(counts) // 2]  # a Zipf-like head
    with pytest.raises(ValueError, match="at least one record per value"):
        syn.write(tmp_path / "c.csv", 100, 50)


# ------------------------------------------------------------------------------------------------ embedding threads
def test_embedder_thread_budget_and_device(tmp_path, monkeypatch):
    import torch

    from embeddings import Embedder
    from embeddings.embedder import resolve_device

    assert resolve_device("cpu") == "cpu"
    monkeypatch.setenv("TAXO_DEVICE", "cpu")
    assert resolve_device("auto") == "cpu"
    monkeypatch.delenv("TAXO_DEVICE")
    assert resolve_device(None) == ("cuda" if torch.cuda.is_available() else "cpu")
    before = torch.get_num_threads()
    texts = ["honesty", "care for wellbeing", "patient autonomy in medical advice"]
    one = Embedder(cache_dir=tmp_path / "a", threads=1).embed(texts)
    assert torch.get_num_threads() == before  # restored after encoding
    two = Embedder(cache_dir=tmp_path / "b", threads=2).embed(texts)
    assert one.shape == (3, 384)
    np.testing.assert_allclose(one, two, atol=1e-5)


# ------------------------------------------------------------------------------------------------ tree copy
def test_tree_copy_is_deep_and_equal():
    import copy

    from taxonomy.domain import Leaf, Node, Tombstone, Tree

    t = Tree(
        nodes={"a": Node("a", 1, "A", "d", "b", 2, 3.0, 75.0), "b": Node("b", 2, "B", "", None, 2, 3.0, 100.0)},
        leaves=[Leaf("x", "a", 1.0, 2, 7, ["X"]), Leaf("y", "a", 2.0, 1, None, [])],
        version_id=4,
        tombstones={"c": Tombstone("c", 1, "C", "merged", ["a"], 3)},
    )
    c = t.copy()
    assert c == t == copy.deepcopy(t)
    c.nodes["a"].name = "changed"
    c.leaves[0].aliases.append("x2")
    c.tombstones["c"].replaced_by.append("b")
    c.nodes["z"] = c.nodes.pop("b")
    assert t.nodes["a"].name == "A" and t.leaves[0].aliases == ["X"]
    assert t.tombstones["c"].replaced_by == ["a"] and "b" in t.nodes
