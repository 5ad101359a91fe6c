"""The embedding cache (embeddings/cache.py) and the embedder's warm path: every vector served from the cache,
nothing loaded."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from embeddings import EmbeddingCache, Embedder
from embeddings.cache import text_key


def _vectors(n: int, dim: int = 8, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)


def test_get_returns_stored_rows_in_order_with_duplicates_and_misses(tmp_path):
    cache = EmbeddingCache(tmp_path)
    texts = [f"value {i}" for i in range(2000)]  # more than one lookup query
    X = _vectors(len(texts))
    cache.put("m", texts[::2], X[::2])
    asked = ["value 3", "value 4", "value 4", "nowhere", *texts]
    out, found = cache.get("m", asked)
    assert out.shape == (len(asked), 8) and out.dtype == np.float32
    np.testing.assert_array_equal(found[:4], [False, True, True, False])
    np.testing.assert_array_equal(found[4:], np.arange(len(texts)) % 2 == 0)
    np.testing.assert_array_equal(out[1], X[4])
    np.testing.assert_array_equal(out[2], X[4])
    np.testing.assert_array_equal(out[4:][found[4:]], X[::2])
    assert not out[~found].any()  # zeros where nothing was found
    # another model's rows are not this one's
    none, hits = cache.get("other", asked)
    assert none is None and hits.shape == (len(asked),) and not hits.any()
    none, hits = cache.get("m", [])
    assert none is None and hits.shape == (0,)


def test_get_skips_a_row_of_another_width(tmp_path):
    cache = EmbeddingCache(tmp_path)
    cache.put("m", ["a", "b", "c"], _vectors(3))
    conn = sqlite3.connect(cache.path)
    with conn:
        conn.execute("UPDATE embeddings SET dim = 4, vector = ? WHERE key = ?", [b"\0" * 16, text_key("b")])
    conn.close()
    out, found = cache.get("m", ["a", "b", "c"])
    np.testing.assert_array_equal(found, [True, False, True])
    np.testing.assert_array_equal(out[[0, 2]], _vectors(3)[[0, 2]])


def test_warm_embed_serves_the_cache_without_the_model(tmp_path):
    texts = [f"value {i}" for i in range(300)]
    emb = Embedder(cache_dir=tmp_path, backend="onnx-int8", device="cpu")
    X = _vectors(len(texts), 384)
    EmbeddingCache(tmp_path).put(emb.identity, texts, X)
    seen = []
    again = Embedder(cache_dir=tmp_path, backend="onnx-int8", device="cpu")
    got = again.embed([texts[5], *texts], progress=lambda done, total: seen.append((done, total)))
    np.testing.assert_array_equal(got, np.vstack([X[5], X]))
    assert again.stats.n_cached == 301 and again.stats.n_embedded == 0 and not again.stats.model_loaded
    assert seen[-1] == (301, 301)


def test_warm_embed_loads_neither_torch_nor_onnxruntime(tmp_path):
    """A warm build with an ONNX backend needs only the cache: no torch import to ask for a GPU (where no GPU
    driver is installed), no ONNX Runtime session."""
    from embeddings.embedder import _gpu_driver_present

    texts = [f"value {i}" for i in range(50)]
    emb = Embedder(cache_dir=tmp_path, backend="onnx-int8", device="cpu")
    EmbeddingCache(tmp_path).put(emb.identity, texts, _vectors(len(texts), 384))
    code = (
        "import sys\n"
        "from embeddings import Embedder\n"
        f"e = Embedder(cache_dir={str(tmp_path)!r}, backend='onnx-int8')\n"
        f"X = e.embed([f'value {{i}}' for i in range(50)])\n"
        "print(X.shape, e.stats.n_embedded, 'torch' in sys.modules, 'onnxruntime' in sys.modules)\n"
    )
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root,
                         env={**os.environ, "PYTHONPATH": str(root), "TAXO_DEVICE": ""}).stdout.split()
    assert out[:3] == ["(50,", "384)", "0"] and out[4] == "False"
    if not _gpu_driver_present():
        assert out[3] == "False"


def test_resolve_device_without_a_gpu_driver_does_not_import_torch(monkeypatch):
    import embeddings.embedder as embedder

    monkeypatch.delenv("TAXO_DEVICE", raising=False)
    monkeypatch.setattr(embedder, "_gpu_driver_present", lambda: False)
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    assert embedder.resolve_device("auto") == "cpu"
    assert "torch" not in sys.modules
    assert embedder.resolve_device("cuda:1") == "cuda:1"


def test_a_cache_directory_that_cannot_be_used_is_a_usage_error(tmp_path):
    """A cache path under a regular file (or any directory that cannot be made or opened) gives one line naming
    the file, not a traceback; the CLI exits with code 2."""
    from taxonomy.errors import UsageError

    (tmp_path / "a-file").write_text("not a directory")
    cache = EmbeddingCache(tmp_path / "a-file" / "cache")
    for call in (lambda: cache.get("m", ["honesty"]), lambda: cache.put("m", ["honesty"], np.ones((1, 4))),
                 lambda: cache.count()):
        with pytest.raises(UsageError, match=r"^embedding cache .*a-file/cache/embeddings\.sqlite: .*; use a writable "
                                             r"directory \(--cache-dir or TAXO_CACHE_DIR\)$"):
            call()
