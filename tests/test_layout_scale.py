"""The large-input layouts (taxonomy/cluster/_layout.py): epochs scaled above LAYOUT_FULL_MAX values, and the
upper-level layout computed on the level-1 centroids; small inputs exactly as before."""

from __future__ import annotations

import numpy as np
import pytest

from taxonomy.cluster import _layout, get_method
from taxonomy.cluster._layout import LAYOUT_FULL_MAX, MIN_LAYOUT_EPOCHS, centroid_layout, layout_epochs
from taxonomy.errors import UsageError


def _blobs(n: int, d: int = 16, centers: int = 12, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    C = rng.normal(size=(centers, d))
    X = C[rng.integers(0, centers, n)] + 0.3 * rng.normal(size=(n, d))
    return (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)


def test_layout_epochs_scale_above_threshold_only():
    assert layout_epochs(3307, 200) == 200
    assert layout_epochs(LAYOUT_FULL_MAX, 200) == 200
    assert layout_epochs(2 * LAYOUT_FULL_MAX, 200) == 100
    assert layout_epochs(100 * LAYOUT_FULL_MAX, 200) == MIN_LAYOUT_EPOCHS
    assert layout_epochs(10 * LAYOUT_FULL_MAX, 30) == 30  # never more than asked
    sizes = [LAYOUT_FULL_MAX + 1, 2 * LAYOUT_FULL_MAX, 5 * LAYOUT_FULL_MAX, 50 * LAYOUT_FULL_MAX]
    epochs = [layout_epochs(n, 200) for n in sizes]
    assert epochs == sorted(epochs, reverse=True)


def test_centroid_layout_one_row_per_value_at_its_cluster():
    X = _blobs(600)
    labels = np.arange(600) % 40
    w = np.ones(600)
    spec = dict(n_components=5, n_neighbors=15, n_epochs=50)
    Y = centroid_layout(X, labels, 40, w, spec, seed=3)
    assert Y.shape == (600, 5) and np.isfinite(Y).all()
    for c in range(40):
        rows = Y[labels == c]
        assert (rows == rows[0]).all()
    assert len(np.unique(Y, axis=0)) == 40
    np.testing.assert_array_equal(Y, centroid_layout(X, labels, 40, w, spec, seed=3))


def test_large_input_path_exact_counts_deterministic_and_gated(monkeypatch):
    X = _blobs(900)
    levels = [60, 8, 3]
    small = get_method("umap-kmeans", seed=0).fit(X, levels)
    monkeypatch.setattr(_layout, "LAYOUT_FULL_MAX", 500)  # force the large-input path on 900 values
    a = get_method("umap-kmeans", seed=0).fit(X, levels)
    b = get_method("umap-kmeans", seed=0).fit(X, levels)
    for h in (a, b):
        h.validate(len(X), levels)
    for la, lb in zip(a.labels, b.labels, strict=True):
        np.testing.assert_array_equal(la, lb)
    # it is a different computation (scaled epochs, centroid layout) ...
    assert any(not np.array_equal(x, y) for x, y in zip(a.labels, small.labels, strict=True))
    # ... and the threshold alone decides: below it, the small-input fit
    monkeypatch.setattr(_layout, "LAYOUT_FULL_MAX", 10**9)
    again = get_method("umap-kmeans", seed=0).fit(X, levels)
    for x, y in zip(again.labels, small.labels, strict=True):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("n_levels", [1, 2])
def test_large_input_path_with_few_levels(monkeypatch, n_levels):
    monkeypatch.setattr(_layout, "LAYOUT_FULL_MAX", 100)
    X = _blobs(400)
    levels = [30, 4][:n_levels]
    get_method("umap-kmeans", seed=1).fit(X, levels).validate(len(X), levels)


def test_pca_init_is_the_leading_principal_axes_scaled_and_deterministic():
    rng = np.random.default_rng(0)
    # variance 25, 9, 1, then small: the first two coordinates are the leading axes
    X = rng.normal(size=(2000, 6)) * np.array([5.0, 3.0, 1.0, 0.1, 0.1, 0.1])
    Y = _layout.pca_init(X.astype(np.float32), 2, seed=4)
    assert Y.shape == (2000, 2)
    assert np.abs(Y).max() == pytest.approx(10.0, abs=1e-3)
    for j in range(2):
        assert abs(np.corrcoef(Y[:, j], X[:, j])[0, 1]) > 0.99
    np.testing.assert_array_equal(Y, _layout.pca_init(X.astype(np.float32), 2, seed=4))
    # more axes asked than the data has: padded, finite
    assert np.isfinite(_layout.pca_init(X[:, :1].astype(np.float32), 3, seed=0)).all()


def test_umap_embed_init_choices():
    X = _blobs(300)
    a = _layout.umap_embed(X, n_components=4, seed=2, n_epochs=30, init="pca")
    b = _layout.umap_embed(X, n_components=4, seed=2, n_epochs=30, init="pca")
    s = _layout.umap_embed(X, n_components=4, seed=2, n_epochs=30)
    np.testing.assert_array_equal(a, b)
    assert a.shape == s.shape == (300, 4) and not np.array_equal(a, s)
    with pytest.raises(UsageError, match="unknown layout init 'random'"):
        _layout.umap_embed(X, init="random")


def test_large_input_path_uses_pca_init_and_one_short_kmeans_restart(monkeypatch):
    from taxonomy.cluster import umap_kmeans

    seen = {"kmeans": [], "init": []}
    real_kmeans, real_embed = umap_kmeans.kmeans_exact, _layout.umap_embed

    def spy_kmeans(Z, k, w, seed, **kw):
        seen["kmeans"].append((len(Z), k, kw.get("n_init"), kw.get("max_iter", 300)))
        return real_kmeans(Z, k, w, seed, **kw)

    def spy_embed(X, **kw):
        seen["init"].append((len(X), kw.get("init", "spectral")))
        return real_embed(X, **kw)

    monkeypatch.setattr(umap_kmeans, "kmeans_exact", spy_kmeans)
    monkeypatch.setattr(_layout, "umap_embed", spy_embed)
    X = _blobs(900)
    get_method("umap-kmeans", seed=0).fit(X, [60, 8, 3])
    assert seen["kmeans"][0] == (900, 60, 3, 300) and (900, "spectral") in seen["init"]  # small: as before
    seen["kmeans"].clear(), seen["init"].clear()
    monkeypatch.setattr(_layout, "LAYOUT_FULL_MAX", 500)
    get_method("umap-kmeans", seed=0).fit(X, [60, 8, 3]).validate(900, [60, 8, 3])
    assert seen["kmeans"][0] == (900, 60, umap_kmeans.LARGE_N_INIT, umap_kmeans.LARGE_MAX_ITER)
    assert seen["init"] == [(900, "pca"), (60, "pca")]  # both layouts start from the principal axes


def test_centroid_layout_epochs_follow_the_number_of_values(monkeypatch):
    seen = []
    real = _layout.layout

    def spy(G, dim, seed, n_epochs=200, *a, **kw):
        seen.append((G.shape[0], n_epochs))
        return real(G, dim, seed, n_epochs, *a, **kw)

    monkeypatch.setattr(_layout, "layout", spy)
    monkeypatch.setattr(_layout, "LAYOUT_FULL_MAX", 300)
    X = _blobs(900)
    labels = np.arange(900) % 60
    centroid_layout(X, labels, 60, np.ones(900), dict(n_components=4, n_neighbors=15, n_epochs=200), seed=0)
    # scaled as a layout of the 900 values would be (200 x 300 / 900), not as one of 60 points (200)
    assert seen == [(60, layout_epochs(900, 200))] and layout_epochs(900, 200) == 67


def test_large_input_upper_levels_kmeans_on_one_thread(monkeypatch):
    from taxonomy.cluster import umap_kmeans

    seen = []
    real = umap_kmeans.kmeans_exact

    def spy(Z, k, w, seed, **kw):
        seen.append((len(Z), kw.get("threads")))
        return real(Z, k, w, seed, **kw)

    monkeypatch.setattr(umap_kmeans, "kmeans_exact", spy)
    X = _blobs(900)
    get_method("umap-kmeans", seed=0, upper_consensus=3).fit(X, [60, 8, 3])
    assert all(t is None for _, t in seen)  # small inputs: the thread budget, as before
    seen.clear()
    monkeypatch.setattr(_layout, "LAYOUT_FULL_MAX", 500)
    get_method("umap-kmeans", seed=0, upper_consensus=3).fit(X, [60, 8, 3]).validate(900, [60, 8, 3])
    assert seen[0] == (900, None)  # level 1 on the budget
    assert len(seen) > 1 and all(t == umap_kmeans.LARGE_UPPER_THREADS == 1 for _, t in seen[1:])
