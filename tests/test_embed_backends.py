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
    # auto backend on an explicit GPU device embeds with torch there; without one it is a usage error, early
    if torch.cuda.is_available():
        assert Embedder(device="cuda", backend="auto").resolved_backend == "torch"
    else:
        with pytest.raises(UsageError, match=r"^--device 'cuda': torch sees no CUDA device \(torch .*\); use --device"):
            Embedder(device="cuda", backend="auto").resolved_backend  # noqa: B018
    n = torch.cuda.device_count()
    with pytest.raises(UsageError, match=rf"^--device 'cuda:{n}': torch sees "):
        Embedder(device=f"cuda:{n}").resolved_backend  # noqa: B018
    for bad in ("tpu", "cuda:x", "CUDA", "gpu"):
        with pytest.raises(UsageError, match=rf"^--device '{bad}': use cpu, cuda, cuda:N or auto$"):
            Embedder(device=bad).resolved_backend  # noqa: B018
    monkeypatch.setenv("TAXO_DEVICE", "tpu")
    with pytest.raises(UsageError, match=r"^TAXO_DEVICE 'tpu': use cpu"):
        Embedder().resolved_backend  # noqa: B018


def test_cache_identity_separates_backends(tmp_path):
    fp32 = Embedder(cache_dir=tmp_path, backend="torch", device="cpu")
    onnx = Embedder(cache_dir=tmp_path, backend="onnx", device="cpu")
    int8 = Embedder(cache_dir=tmp_path, backend="onnx-int8", device="cpu")
    assert fp32.identity == fp32.spec.identity
    assert onnx.identity == f"{fp32.spec.identity}+onnx-v3"
    # the int8 tag names the quantization scheme and both name the export version: the earlier per-tensor
    # model's cached vectors ("+onnx-int8") and the previous export's ("+onnx-int8-token", "+onnx") are not this
    # model's and are never served for it
    assert int8.identity == f"{fp32.spec.identity}+onnx-int8-token-v3"
    earlier = {f"{fp32.spec.identity}+{t}" for t in ("onnx-int8", "onnx-int8-token", "onnx")}
    assert len({fp32.identity, onnx.identity, int8.identity} | earlier) == 6
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
def test_onnx_vectors_do_not_depend_on_batching_or_threads(tmp_path, backend):
    """The same text gets the same vector, bit for bit, whatever it is batched with, in any order, at any batch
    size and thread count: batches hold texts of one token length (no padding), and the int8 model quantizes
    each token on its own (a per-batch scale would move vectors by up to 0.05 in cosine)."""
    texts = _sample_texts()
    whole = Embedder(cache_dir=tmp_path, backend=backend, device="cpu", use_cache=False, threads=1).embed(texts)
    order = np.random.default_rng(0).permutation(len(texts))
    small = Embedder(cache_dir=tmp_path, backend=backend, device="cpu", use_cache=False, batch_size=3, threads=2)
    np.testing.assert_array_equal(small.embed([texts[i] for i in order]), whole[order])
    one = Embedder(cache_dir=tmp_path, backend=backend, device="cpu", use_cache=False, batch_size=1, threads=2)
    longest = max(range(len(texts)), key=lambda i: len(texts[i]))
    np.testing.assert_array_equal(one.embed([texts[longest], texts[0]]), whole[[longest, 0]])
    # and the encoder returns its input order, whatever order it batches in, reporting each batch
    encoder = small._model()
    assert encoder.threads == 2
    done = []
    np.testing.assert_array_equal(encoder.encode(texts[::-1], batch_size=5, progress=done.append), whole[::-1])
    assert done == sorted(done) and done[-1] == len(texts) and len(done) >= len(texts) / 5


def test_token_batches_are_one_length_each_longest_first():
    from embeddings.onnx_backend import token_batches

    lengths = np.array([5, 3, 5, 9, 3, 3, 5, 5, 5, 12, 3])
    batches = token_batches(lengths, 2)
    rows = np.concatenate(batches)
    assert sorted(rows.tolist()) == list(range(len(lengths)))  # every row once
    assert all(1 <= len(b) <= 2 and len(set(lengths[b])) == 1 for b in batches)
    firsts = [int(lengths[b[0]]) for b in batches]
    assert firsts == sorted(firsts, reverse=True) and firsts[0] == 12
    assert [b.tolist() for b in batches if lengths[b[0]] == 5] == [[0, 2], [6, 7], [8]]  # by row within a length
    assert token_batches(np.zeros(0, dtype=np.int64), 4) == []


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


def _save(path: Path, nodes, inputs, outputs, consts: dict, opset: int = 17) -> None:
    import onnx
    from onnx import TensorProto
    from onnx import helper as oh
    from onnx import numpy_helper as nh

    graph = oh.make_graph(nodes, "g",
                          [oh.make_tensor_value_info(i, TensorProto.FLOAT, ["b", "t", d]) for i, d in inputs],
                          [oh.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs],
                          [nh.from_array(np.asarray(v), k) for k, v in consts.items()])
    onnx.save(oh.make_model(graph, opset_imports=[oh.make_opsetid("", opset)]), str(path))


def _producers(path: Path):
    import onnx

    graph = onnx.load(str(path)).graph
    return {o: n for n in graph.node for o in n.output}, {i.name: i for i in graph.initializer}


def test_after_gelu_matches_the_gelu_only(tmp_path):
    """The shifted 0..255 grid is for a GELU's output only: an Erf a few nodes back (a fused or reordered graph)
    must not make a signed tensor look non-negative."""
    from onnx import helper as oh

    from embeddings.onnx_quant import _after_gelu

    rng = np.random.default_rng(0)
    _tiny_mlp(tmp_path / "mlp.onnx", rng)
    producers, inits = _producers(tmp_path / "mlp.onnx")
    assert _after_gelu("g", producers, inits)  # 0.5 * (h * (1 + erf(h / sqrt 2)))
    assert not _after_gelu("hm", producers, inits) and not _after_gelu("he", producers, inits)
    assert not _after_gelu("x", producers, inits) and not _after_gelu("h", producers, inits)
    # the other grouping, (0.5 * h) * (1 + erf(h * 1/sqrt 2)), and a fused Gelu
    nodes = [
        oh.make_node("Mul", ["x", "isq"], ["xd"]), oh.make_node("Erf", ["xd"], ["e"]),
        oh.make_node("Add", ["one", "e"], ["e1"]), oh.make_node("Mul", ["half", "x"], ["xh"]),
        oh.make_node("Mul", ["xh", "e1"], ["g"]),
        oh.make_node("Gelu", ["x"], ["fused"], domain="com.microsoft"),
        # erf of something else, and a GELU's output moved by a residual Add and a LayerNorm-like Sub
        oh.make_node("Mul", ["y", "e1"], ["not1"]), oh.make_node("Mul", ["not1", "half"], ["not2"]),
        oh.make_node("Add", ["fused", "y"], ["res"]), oh.make_node("Sub", ["res", "half"], ["ln"]),
        oh.make_node("Mul", ["fused", "three"], ["scaled"]),
    ]
    _save(tmp_path / "g.onnx", nodes, [("x", 4), ("y", 4)], ["g", "ln", "not2", "scaled"],
          {"isq": np.float32(1 / np.sqrt(2)), "one": np.float32(1), "half": np.float32(0.5),
           "three": np.float32(3)})
    producers, inits = _producers(tmp_path / "g.onnx")
    assert _after_gelu("g", producers, inits) and _after_gelu("fused", producers, inits)
    for name in ("not2", "not1", "res", "ln", "scaled", "e1", "xh"):
        assert not _after_gelu(name, producers, inits), name


@pytest.mark.skipif(not onnx_available(), reason="onnxruntime is not installed (pip install 'taxo[onnx]')")
def test_signed_input_near_an_erf_keeps_its_negative_values(tmp_path):
    """x -> 3 * erf(x) -> MatMul: an Erf two nodes back, but values down to -3. The earlier five-node walk took
    it for a GELU's output and clipped everything below -0.17."""
    import onnxruntime as ort
    from onnx import helper as oh
    from scipy.special import erf

    from embeddings.onnx_quant import quantize_per_token

    rng = np.random.default_rng(1)
    W = rng.normal(size=(16, 8)).astype(np.float32)
    nodes = [oh.make_node("Erf", ["x"], ["e"]), oh.make_node("Mul", ["e", "three"], ["s"]),
             oh.make_node("MatMul", ["s", "W"], ["y"])]
    _save(tmp_path / "e.onnx", nodes, [("x", 16)], ["y"], {"W": W, "three": np.float32(3)})
    assert quantize_per_token(tmp_path / "e.onnx", tmp_path / "q.onnx") == 1
    session = ort.InferenceSession(str(tmp_path / "q.onnx"), providers=["CPUExecutionProvider"])
    x = rng.normal(size=(2, 6, 16)).astype(np.float32)
    exact = (3 * erf(x)) @ W
    assert np.abs(session.run(None, {"x": x})[0] - exact).max() < 0.02 * np.abs(exact).max()


@pytest.mark.skipif(not onnx_available(), reason="onnxruntime is not installed (pip install 'taxo[onnx]')")
def test_a_tensor_feeding_several_matmuls_is_quantized_once(tmp_path):
    import onnx
    import onnxruntime as ort
    from onnx import helper as oh

    from embeddings.onnx_quant import quantize_per_token

    rng = np.random.default_rng(2)
    Ws = {f"W{i}": rng.normal(size=(16, 8)).astype(np.float32) for i in range(3)}
    nodes = [oh.make_node("MatMul", ["x", f"W{i}"], [f"y{i}"]) for i in range(3)]
    nodes += [oh.make_node("Add", ["y0", "y1"], ["a"]), oh.make_node("Add", ["a", "y2"], ["y"])]
    _save(tmp_path / "qkv.onnx", nodes, [("x", 16)], ["y"], Ws)
    assert quantize_per_token(tmp_path / "qkv.onnx", tmp_path / "q.onnx") == 3
    ops = [n.op_type for n in onnx.load(str(tmp_path / "q.onnx")).graph.node]
    assert ops.count("QuantizeLinear") == 1 and ops.count("MatMulIntegerToFloat") == 3 and "MatMul" not in ops
    session = ort.InferenceSession(str(tmp_path / "q.onnx"), providers=["CPUExecutionProvider"])
    x = rng.normal(size=(3, 4, 16)).astype(np.float32)
    exact = x @ (Ws["W0"] + Ws["W1"] + Ws["W2"])
    got = session.run(None, {"x": x})[0]
    assert np.abs(got - exact).max() < 0.02 * np.abs(exact).max()
    np.testing.assert_array_equal(session.run(None, {"x": x[1:2, :3]})[0], got[1:2, :3])  # each row on its own
