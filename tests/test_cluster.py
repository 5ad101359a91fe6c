"""Clustering methods on synthetic data: exact counts, determinism, edge cases, errors, auto_levels.

No embedding model, no reference data; the UMAP-based methods run on a few hundred points only.
"""

from __future__ import annotations

import numpy as np
import pytest

from taxonomy.cluster import DEFAULT_METHOD, METHODS, Hierarchy, HierarchyMethod, auto_levels, get_method
from taxonomy.cluster._common import check_levels, ensure_k
from taxonomy.cluster.density import assign_noise
from taxonomy.errors import UsageError

ALL = sorted(METHODS)


def sphere_blobs(n: int = 300, centers: int = 12, dim: int = 16, spread: float = 0.15, seed: int = 0):
    """Gaussian blobs on the unit sphere (float32) and per-point weights."""
    rng = np.random.default_rng(seed)
    C = rng.normal(size=(centers, dim))
    C /= np.linalg.norm(C, axis=1, keepdims=True)
    lab = rng.integers(0, centers, n)
    X = C[lab] + spread * rng.normal(size=(n, dim))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    w = rng.pareto(1.5, n) + 0.01
    return X.astype(np.float32), w, lab


@pytest.fixture(scope="module")
def blobs():
    return sphere_blobs()


@pytest.fixture(scope="module")
def fits(blobs):
    """One fit per method on the blobs (levels 24, 6, 2), seed 0, twice, and seed 1 - shared by several tests."""
    X, w, _ = blobs
    out = {}
    for name in ALL:
        a = get_method(name, seed=0).fit(X, [24, 6, 2], sample_weight=w)
        b = get_method(name, seed=0).fit(X, [24, 6, 2], sample_weight=w)
        c = get_method(name, seed=1).fit(X, [24, 6, 2], sample_weight=w)
        out[name] = (a, b, c)
    return out


# ------------------------------------------------------------------------------------------------ registry
def test_registry():
    assert DEFAULT_METHOD in METHODS
    assert {"kmeans", "hdbscan"} <= set(METHODS)
    for name, cls in METHODS.items():
        assert issubclass(cls, HierarchyMethod)
        assert cls.name == name
        m = get_method(name, seed=7)
        assert isinstance(m, cls)
        assert m.get_params()["seed"] == 7


def test_unknown_method_lists_known_names():
    with pytest.raises(UsageError) as exc:
        get_method("no-such-method")
    for name in METHODS:
        assert name in str(exc.value)


def test_unknown_parameter_is_usage_error():
    with pytest.raises(UsageError):
        get_method("kmeans", bogus=1)


def test_constructor_does_no_work_and_params_roundtrip():
    m = get_method("kmeans", seed=3, n_init=2)
    assert m.get_params() == {"seed": 3, "n_init": 2, "upper_n_init": 10, "weighting": "none"}
    assert type(m)(**m.get_params()).get_params() == m.get_params()


# ------------------------------------------------------------------------------------------------ shape
@pytest.mark.parametrize("name", ALL)
def test_exact_counts_every_level(name, fits, blobs):
    X, _, _ = blobs
    h, _, _ = fits[name]
    h.validate(len(X), [24, 6, 2])
    assert h.levels == [24, 6, 2]
    for lv in (1, 2, 3):
        assert np.array_equal(np.unique(h.value_labels(lv)), np.arange([24, 6, 2][lv - 1]))


@pytest.mark.parametrize("name", ALL)
def test_deterministic_for_a_seed(name, fits):
    a, b, _ = fits[name]
    for la, lb in zip(a.labels, b.labels, strict=True):
        assert np.array_equal(la, lb)


def test_seeds_can_differ(fits):
    # on ambiguous data (24 clusters from 12 blobs) at least one method must react to the seed
    assert any(
        not all(np.array_equal(x, y) for x, y in zip(a.labels, c.labels, strict=True)) for a, _, c in fits.values()
    )


@pytest.mark.parametrize("name", ALL)
def test_recovers_clear_blobs(name, fits, blobs):
    """24 clusters over 12 well separated blobs: (almost) no level-1 cluster mixes two blobs."""
    _, _, truth = blobs
    h, _, _ = fits[name]
    l1 = h.labels[0]
    impure = sum(len(np.unique(truth[l1 == c])) > 1 for c in range(24))
    assert impure <= 2


@pytest.mark.parametrize("name", ALL)
def test_small_input_top_level_one(name):
    X, w, _ = sphere_blobs(n=30, centers=5, dim=8, seed=3)
    h = get_method(name, seed=0).fit(X, [6, 3, 1], sample_weight=w)
    h.validate(30, [6, 3, 1])
    assert np.all(h.value_labels(3) == 0)


@pytest.mark.parametrize("name", ALL)
def test_tiny_and_degenerate_inputs(name):
    m = get_method(name, seed=0)
    X, _, _ = sphere_blobs(n=5, centers=2, dim=4)
    m.fit(X, [5, 2, 1]).validate(5, [5, 2, 1])  # one value per cluster
    m.fit(X[:1], [1, 1, 1]).validate(1, [1, 1, 1])
    m.fit(X, [3, 3, 3]).validate(5, [3, 3, 3])  # equal consecutive counts
    m.fit(X, [2]).validate(5, [2])  # a single level


@pytest.mark.parametrize("name", ALL)
def test_duplicate_vectors(name):
    rng = np.random.default_rng(0)
    base = rng.normal(size=(4, 8)).astype(np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    X = np.repeat(base, 10, axis=0)  # 40 values, only 4 distinct vectors
    h = get_method(name, seed=0).fit(X, [10, 4, 2])
    h.validate(40, [10, 4, 2])
    same = np.repeat(base[:1], 12, axis=0)  # all identical
    get_method(name, seed=0).fit(same, [6, 3, 1]).validate(12, [6, 3, 1])


@pytest.mark.parametrize("name", ALL)
def test_zero_and_missing_weights(name, blobs):
    X, w, _ = blobs
    X, w = X[:80], w[:80].copy()
    w[::2] = 0.0
    get_method(name, seed=0).fit(X, [8, 3, 1], sample_weight=w).validate(80, [8, 3, 1])
    get_method(name, seed=0).fit(X, [8, 3, 1], sample_weight=np.zeros(80)).validate(80, [8, 3, 1])


# ------------------------------------------------------------------------------------------------ errors
@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize(
    "levels",
    [[31, 5], [5, 6], [0], [4, 0], [], [2.5], [-1]],
    ids=["more-than-values", "increasing", "zero", "zero-upper", "empty", "float", "negative"],
)
def test_impossible_levels(name, levels):
    X, _, _ = sphere_blobs(n=30, centers=3, dim=4)
    with pytest.raises(UsageError):
        get_method(name).fit(X, levels)


def test_bad_inputs():
    X, _, _ = sphere_blobs(n=30, centers=3, dim=4)
    m = get_method("kmeans")
    with pytest.raises(UsageError):
        m.fit(X, [3], sample_weight=np.ones(29))
    with pytest.raises(UsageError):
        m.fit(X, [3], sample_weight=-np.ones(30))
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(UsageError):
        m.fit(bad, [3])
    with pytest.raises(UsageError):
        m.fit(X[0], [1])
    with pytest.raises(UsageError):
        m.fit(np.zeros((0, 4), dtype=np.float32), [1])


def test_check_levels_messages():
    with pytest.raises(UsageError, match="only 10 values"):
        check_levels(10, [11, 2])
    with pytest.raises(UsageError, match="must not increase"):
        check_levels(10, [3, 4])
    assert check_levels(10, [np.int64(3), 3, 1]) == [3, 3, 1]


# ------------------------------------------------------------------------------------------------ hdbscan
def test_hdbscan_noise_is_assigned_never_dropped():
    Z = np.array([[0, 0], [0, 0.1], [5, 5], [5, 5.1], [0.2, 0], [4.9, 5]], dtype=np.float64)
    labels = np.array([0, 0, 1, 1, -1, -1])
    out = assign_noise(Z, labels, np.ones(6))
    assert out.tolist() == [0, 0, 1, 1, 0, 1]
    assert assign_noise(Z, -np.ones(6, dtype=int), np.ones(6)).tolist() == [0] * 6


def test_hdbscan_with_many_outliers_keeps_every_value(blobs):
    X, w, _ = blobs
    rng = np.random.default_rng(5)
    noise = rng.normal(size=(60, X.shape[1])).astype(np.float32)  # scattered points HDBSCAN calls noise
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    Xn = np.vstack([X[:140], noise])
    h = get_method("hdbscan", seed=0, cluster_selection_method="eom").fit(Xn, [10, 4, 1])
    h.validate(len(Xn), [10, 4, 1])
    assert (h.labels[0] >= 0).all() and len(h.labels[0]) == len(Xn)


def test_ensure_k_merges_and_splits():
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(50, 3))
    w = np.ones(50)
    for start in (np.arange(50), np.zeros(50, dtype=int), rng.integers(0, 7, 50) * 3):
        for k in (1, 5, 20, 50):
            lab = ensure_k(Z, start, k, w, 0)
            assert np.array_equal(np.unique(lab), np.arange(k))
    with pytest.raises(UsageError):
        ensure_k(Z, np.zeros(50, dtype=int), 51, w)


def _split_reference(Z, labels, k, w, seed):
    """ensure_k's splitting as first written: a full pass over every row before each split."""
    from taxonomy.cluster._common import _split_cluster, compact, weighted_centroids

    labels = compact(labels).copy()
    m = int(labels.max()) + 1
    while m < k:
        C, _ = weighted_centroids(Z, labels, m, w)
        sse = np.bincount(labels, weights=w * ((Z - C[labels]) ** 2).sum(1), minlength=m)
        sizes = np.bincount(labels, minlength=m)
        sse = np.where(sizes >= 2, sse, -np.inf)
        c = int(np.lexsort((-sizes, -sse))[0])
        members = np.nonzero(labels == c)[0]
        mask = _split_cluster(Z, w, members, seed)
        labels[members[mask]] = m
        m += 1
        seed += 1
    return labels


def test_ensure_k_splits_as_the_full_rescan_did():
    rng = np.random.default_rng(3)
    Z = np.vstack([rng.normal(size=(120, 4)), np.repeat(rng.normal(size=(3, 4)), 10, axis=0)])
    w = rng.gamma(1.0, size=len(Z))
    for start in (np.zeros(len(Z), dtype=int), rng.integers(0, 6, len(Z)), np.arange(len(Z)) % 9):
        for k in (10, 40, 140):
            np.testing.assert_array_equal(ensure_k(Z, start, k, w, 5), _split_reference(Z, start, k, w, 5))


def test_ensure_k_merge_keeps_clusters_whole():
    Z = np.array([[0.0], [0.1], [10.0], [10.1], [20.0]])
    lab = ensure_k(Z, np.arange(5), 3, np.ones(5))
    assert lab[0] == lab[1] and lab[2] == lab[3] and len({lab[0], lab[2], lab[4]}) == 3


# ------------------------------------------------------------------------------------------------ auto_levels
@pytest.mark.parametrize("n", [1, 2, 3, 5, 7, 10, 30, 100, 1000, 3307, 50000])
@pytest.mark.parametrize("top,n_levels", [(5, 3), (5, 2), (1, 3), (8, 4), (5, 1)])
def test_auto_levels_valid(n, top, n_levels):
    levels = auto_levels(n, top=top, n_levels=n_levels)
    assert len(levels) == n_levels
    check_levels(n, levels)  # usable for fit
    if n >= top + n_levels - 1:
        assert levels[-1] == top
        assert all(k >= top for k in levels)
    if n >= n_levels:
        assert all(a > b for a, b in zip(levels, levels[1:]))  # strictly decreasing


def test_auto_levels_geometric():
    assert auto_levels(3307) == [276, 37, 5]
    lv = auto_levels(50000)
    assert lv[0] == round(50000 / 12) and lv[-1] == 5
    assert 0.5 < (lv[0] / lv[1]) / (lv[1] / lv[2]) < 2
    with pytest.raises(UsageError):
        auto_levels(0)


def test_hierarchy_value_labels():
    h = Hierarchy([np.array([0, 1, 2, 2]), np.array([0, 0, 1]), np.array([0, 0])])
    assert h.value_labels(2).tolist() == [0, 0, 1, 1]
    assert h.value_labels(3).tolist() == [0, 0, 0, 0]


def test_validate_raises_a_real_error_for_a_wrong_shape():
    """The shape check is a real exception (it survives ``python -O``), not an assert."""
    from taxonomy.cluster.base import Hierarchy, HierarchyShapeError

    h = Hierarchy(labels=[np.array([0, 1, 1]), np.array([0, 0])])
    h.validate(3, [2, 1])
    with pytest.raises(HierarchyShapeError, match="level 1: clusters must be exactly 0..2"):
        h.validate(3, [3, 1])
    with pytest.raises(HierarchyShapeError, match="one label array per level"):
        h.validate(3, [2])
    with pytest.raises(HierarchyShapeError, match="level 1: expected 4 labels"):
        h.validate(4, [2, 1])

# ------------------------------------------------------------------------------------------------ consensus
def test_consensus_kmeans_exact_k_deterministic_and_agrees_more_across_seeds_than_one_restart():
    from sklearn.metrics import adjusted_rand_score

    from taxonomy.cluster._common import kmeans_exact
    from taxonomy.cluster.umap_kmeans import consensus_kmeans

    rng = np.random.default_rng(0)
    # 15 overlapping blobs of unequal sizes in 5-D, to be cut into 5 groups: single k-means runs disagree
    centers = rng.normal(0, 1.0, (15, 5))
    sizes = rng.integers(5, 40, 15)
    C = np.concatenate([c + rng.normal(0, 0.6, (s, 5)) for c, s in zip(centers, sizes, strict=True)])
    mass = rng.uniform(0.5, 2.0, len(C))
    a = consensus_kmeans(C, 5, mass, seed=1, runs=30)
    assert np.array_equal(a, consensus_kmeans(C, 5, mass, seed=1, runs=30))
    assert np.array_equal(np.unique(a), np.arange(5))
    cons = [consensus_kmeans(C, 5, mass, seed=s, runs=30) for s in range(5)]
    single = [kmeans_exact(C, 5, mass, s, n_init=1) for s in range(5)]
    agree = lambda labs: np.mean([adjusted_rand_score(labs[i], labs[j]) for i in range(5) for j in range(i + 1, 5)])  # noqa: E731
    assert agree(cons) > agree(single) + 0.1, (agree(cons), agree(single))
    assert consensus_kmeans(C[:5], 5, mass[:5], seed=0).tolist() == [0, 1, 2, 3, 4]
    assert set(consensus_kmeans(C, 1, mass, seed=0).tolist()) == {0}


def test_umap_kmeans_upper_consensus_is_a_parameter():
    from taxonomy.cluster import get_method

    m = get_method("umap-kmeans", seed=0)
    assert m.get_params()["upper_consensus"] == 50
    X = np.random.default_rng(1).normal(size=(120, 16)).astype(np.float32)
    plain = get_method("umap-kmeans", seed=0, upper_consensus=0).fit(X, [20, 6, 2])
    cons = m.fit(X, [20, 6, 2])
    for h in (plain, cons):
        h.validate(120, [20, 6, 2])
    assert np.array_equal(plain.labels[0], cons.labels[0])  # level 1 is not touched
