"""Embedding backends: torch fp32 (sentence-transformers) and the ONNX Runtime fp32 / int8 models exported from the
bundled weights (embeddings/onnx_backend.py, embeddings/onnx_quant.py); backend and device selection."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from embeddings import Embedder
from embeddings.embedder import DEFAULT_CPU_BACKEND, resolve_backend, resolve_device
from embeddings.onnx_backend import CACHE_TAGS, EXPORT_VERSION, onnx_available
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
    onnx = Embedder(cache_dir=tmp_path, backend="onnx", device="cpu")
    int8 = Embedder(cache_dir=tmp_path, backend="onnx-int8", device="cpu")
    assert fp32.identity == fp32.spec.identity
    assert onnx.identity == f"{fp32.spec.identity}+onnx"
    # the int8 tag names the quantization scheme: the earlier per-tensor model's cached vectors ("+onnx-int8")
    # are not this model's and are never served for it
    assert int8.identity == f"{fp32.spec.identity}+onnx-int8-token"
    assert len({fp32.identity, onnx.identity, int8.identity, f"{fp32.spec.identity}+onnx-int8"}) == 4
    assert set(CACHE_TAGS) == {"onnx", "onnx-int8"}


def test_missing_onnxruntime_is_one_line(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` raises ImportError
    assert not onnx_available()
    for backend in ("onnx", "onnx-int8"):
        with pytest.raises(UsageError) as err:
            Embedder(cache_dir=tmp_path, backend=backend, device="cpu").embed(["honesty"])
        message = str(err.value)
        assert "\n" not in message and "onnxruntime" in message and "--embed-backend torch" in message
    assert not (tmp_path / "onnx").exists()  # nothing exported before the check


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
    path = fp32_emb._model().path
    assert path.name == "model.onnx" and path.parent.name.endswith(f"-v{EXPORT_VERSION}")
    int8_emb = Embedder(cache_dir=tmp_path, backend="onnx-int8", device="cpu")
    int8 = int8_emb.embed(texts)
    assert int8_emb._model().path == path.with_name("model-int8-token.onnx")
    for X in (fp32, int8):
        assert X.shape == ref.shape and X.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-5)
    assert (fp32 * ref).sum(1).min() > 0.9999  # the same function up to float rounding
    cos = (int8 * ref).sum(1)
    # int8 costs a little, measured in benchmarks/embed_speed.py (per-tensor int8 gave 0.991 / 0.93-0.96)
    assert cos.mean() > 0.995 and cos.min() > 0.98
    # the cache keeps each backend's vectors apart, and a second embedder reuses the exported files
    again = Embedder(cache_dir=tmp_path, backend="onnx-int8", device="cpu")
    np.testing.assert_array_equal(again.embed(texts), int8)
    assert again.stats.n_embedded == 0 and not again.stats.model_loaded
    torch_emb = Embedder(cache_dir=tmp_path, backend="torch", device="cpu")
    np.testing.assert_allclose(torch_emb.embed(texts[:3]), ref[:3], atol=1e-5)
    assert torch_emb.stats.n_embedded == 3  # not served the int8 vectors


@pytest.mark.slow
@pytest.mark.skipif(not onnx_available(), reason="onnxruntime is not installed (pip install 'taxo[onnx]')")
@pytest.mark.parametrize("backend", ["onnx", "onnx-int8"])
def test_onnx_vectors_do_not_depend_on_batching(tmp_path, backend):
    """The same text gets the same vector whatever it is batched with, in any order, at any batch size: the
    int8 model quantizes each token on its own (a per-batch scale would move vectors by up to 0.05 in cosine)."""
    texts = _sample_texts()
    whole = Embedder(cache_dir=tmp_path, backend=backend, device="cpu", use_cache=False).embed(texts)
    order = np.random.default_rng(0).permutation(len(texts))
    small = Embedder(cache_dir=tmp_path, backend=backend, device="cpu", use_cache=False, batch_size=3)
    np.testing.assert_allclose(small.embed([texts[i] for i in order]), whole[order], atol=1e-6)
    one = Embedder(cache_dir=tmp_path, backend=backend, device="cpu", use_cache=False, batch_size=1)
    longest = max(range(len(texts)), key=lambda i: len(texts[i]))
    alone = one.embed([texts[longest], texts[0]])
    np.testing.assert_allclose(alone, whole[[longest, 0]], atol=1e-6)
    # and the encoder returns its input order, whatever order it batches in
    encoder = small._model()
    np.testing.assert_allclose(encoder.encode(texts[::-1], batch_size=5), whole[::-1], atol=1e-6)


def _tiny_mlp(path: Path, rng) -> tuple[np.ndarray, np.ndarray]:
    """x -> MatMul(W1) -> erf GELU -> MatMul(W2), saved to ``path``; returns the weights."""
    import onnx
    from onnx import TensorProto
    from onnx import helper as oh
    from onnx import numpy_helper as nh

    W1 = rng.normal(size=(16, 32)).astype(np.float32)
    W2 = rng.normal(size=(32, 8)).astype(np.float32)
    consts = {"W1": W1, "W2": W2, "sqrt2": np.float32(np.sqrt(2)), "one": np.float32(1), "half": np.float32(0.5)}
    nodes = [
        oh.make_node("MatMul", ["x", "W1"], ["h"], name="up"),
        oh.make_node("Div", ["h", "sqrt2"], ["hd"]),
        oh.make_node("Erf", ["hd"], ["he"]),
        oh.make_node("Add", ["he", "one"], ["h1"]),
        oh.make_node("Mul", ["h", "h1"], ["hm"]),
        oh.make_node("Mul", ["hm", "half"], ["g"]),
        oh.make_node("MatMul", ["g", "W2"], ["y"], name="down"),
    ]
    graph = oh.make_graph(nodes, "mlp", [oh.make_tensor_value_info("x", TensorProto.FLOAT, ["b", "t", 16])],
                          [oh.make_tensor_value_info("y", TensorProto.FLOAT, ["b", "t", 8])],
                          [nh.from_array(np.asarray(v), k) for k, v in consts.items()])
    onnx.save(oh.make_model(graph, opset_imports=[oh.make_opsetid("", 17)]), str(path))
    return W1, W2


@pytest.mark.skipif(not onnx_available(), reason="onnxruntime is not installed (pip install 'taxo[onnx]')")
def test_per_token_quantization_is_close_and_row_independent(tmp_path):
    import onnxruntime as ort
    from scipy.special import erf

    from embeddings.onnx_quant import quantize_per_token

    rng = np.random.default_rng(0)
    W1, W2 = _tiny_mlp(tmp_path / "mlp.onnx", rng)
    assert quantize_per_token(tmp_path / "mlp.onnx", tmp_path / "q.onnx") == 2
    session = ort.InferenceSession(str(tmp_path / "q.onnx"), providers=["CPUExecutionProvider"])
    run = lambda x: session.run(None, {"x": x})[0]  # noqa: E731

    x = rng.normal(size=(4, 5, 16)).astype(np.float32)
    h = x @ W1
    exact = (0.5 * h * (1 + erf(h / np.sqrt(2)))) @ W2
    got = run(x)
    assert got.shape == exact.shape
    assert np.abs(got - exact).max() < 0.02 * np.abs(exact).max()  # 8-bit grids: ~1% of the range
    # one outlier token in the batch leaves every other token's result as it was alone (a per-tensor scale
    # would coarsen them all)
    loud = x.copy()
    loud[3, 4] *= 1000
    np.testing.assert_allclose(run(loud)[:3], got[:3], rtol=0, atol=1e-5)
    np.testing.assert_allclose(run(x[1:2]), got[1:2], rtol=0, atol=1e-5)
    np.testing.assert_allclose(run(x[:, :2]), got[:, :2], rtol=0, atol=1e-5)
