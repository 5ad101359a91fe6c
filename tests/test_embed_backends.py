"""Embedding backends: torch fp32 (sentence-transformers) and the ONNX Runtime fp32 / int8 models exported from the
bundled weights (embeddings/onnx_backend.py); backend and device selection."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from embeddings import Embedder
from embeddings.embedder import DEFAULT_CPU_BACKEND, resolve_backend, resolve_device
from embeddings.onnx_backend import onnx_available
from taxonomy.errors import UsageError

SAMPLE = Path(__file__).resolve().parents[1] / "taxonomy" / "data" / "sample_values.csv"


def _never():
    raise AssertionError("the device was resolved although the answer did not depend on it")


def test_backend_selection(monkeypatch):
    monkeypatch.delenv("TAXO_EMBED_BACKEND", raising=False)
    assert resolve_backend("torch", _never) == "torch"
    assert resolve_backend("onnx-int8", lambda: "cpu") == "onnx-int8"
    assert resolve_backend("auto", lambda: "cpu") == DEFAULT_CPU_BACKEND
    # on a GPU, auto means torch (on that GPU); the ONNX backends are CPU-only and say so
    assert resolve_backend("auto", lambda: "cuda") == "torch"
    assert resolve_backend(None, lambda: "cuda:1") == "torch"
    with pytest.raises(UsageError, match="CPU only"):
        resolve_backend("onnx-int8", lambda: "cuda")
    with pytest.raises(UsageError, match="unknown embedding backend"):
        resolve_backend("tensorrt", lambda: "cpu")
    monkeypatch.setenv("TAXO_EMBED_BACKEND", "onnx")
    assert resolve_backend("auto", lambda: "cpu") == "onnx"
    assert resolve_backend("torch", _never) == "torch"  # an explicit choice wins over the environment


def test_device_selection(monkeypatch):
    import torch

    monkeypatch.delenv("TAXO_DEVICE", raising=False)
    assert resolve_device("cuda") == "cuda"
    assert resolve_device("cuda:1") == "cuda:1"
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    monkeypatch.setenv("TAXO_DEVICE", "cuda:0")
    assert resolve_device("auto") == "cuda:0"
    assert resolve_device("cpu") == "cpu"
    # auto backend on an explicit GPU device embeds with torch there
    assert Embedder(device="cuda", backend="auto").resolved_backend == "torch"


def test_cache_identity_separates_backends(tmp_path):
    fp32 = Embedder(cache_dir=tmp_path, backend="torch", device="cpu")
    int8 = Embedder(cache_dir=tmp_path, backend="onnx-int8", device="cpu")
    assert fp32.identity == fp32.spec.identity
    assert int8.identity == f"{fp32.spec.identity}+onnx-int8"


def _sample_texts() -> list[str]:
    with open(SAMPLE, newline="", encoding="utf-8") as f:
        return [row["value"] for row in csv.DictReader(f)]


@pytest.mark.slow
@pytest.mark.skipif(not onnx_available(), reason="onnxruntime is not installed (pip install 'taxo[onnx]')")
def test_onnx_backends_close_to_torch(tmp_path):
    texts = _sample_texts()
    assert len(texts) >= 50
    ref = Embedder(cache_dir=tmp_path, backend="torch", device="cpu", use_cache=False).embed(texts)
    fp32_emb = Embedder(cache_dir=tmp_path, backend="onnx", device="cpu")
    fp32 = fp32_emb.embed(texts)
    assert (tmp_path / "onnx").is_dir() and fp32_emb._model().path.name == "model.onnx"
    int8_emb = Embedder(cache_dir=tmp_path, backend="onnx-int8", device="cpu")
    int8 = int8_emb.embed(texts)
    assert int8_emb._model().path.name == "model-int8.onnx"
    for X in (fp32, int8):
        assert X.shape == ref.shape and X.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-5)
    assert (fp32 * ref).sum(1).min() > 0.9999  # the same function up to float rounding
    cos = (int8 * ref).sum(1)
    assert cos.mean() > 0.99 and cos.min() > 0.95  # int8 costs a little, measured in benchmarks/embed_speed.py
    # the cache keeps each backend's vectors apart, and a second embedder reuses the exported files
    again = Embedder(cache_dir=tmp_path, backend="onnx-int8", device="cpu")
    np.testing.assert_array_equal(again.embed(texts), int8)
    assert again.stats.n_embedded == 0 and not again.stats.model_loaded
    torch_emb = Embedder(cache_dir=tmp_path, backend="torch", device="cpu")
    np.testing.assert_allclose(torch_emb.embed(texts[:3]), ref[:3], atol=1e-5)
    assert torch_emb.stats.n_embedded == 3  # not served the int8 vectors
