"""ONNX Runtime backends for the embedding model: fp32 ("onnx") and int8 ("onnx-int8").

No optimum (it would pin an older transformers): the transformer of the sentence-transformers model is exported
once with ``torch.onnx.export`` from the local weights (eager attention: a plain MatMul/Softmax graph), with mean
pooling and L2 normalisation inside the graph (what the model's ``1_Pooling`` / ``2_Normalize`` modules do), and
the int8 model is made from it by :func:`embeddings.onnx_quant.quantize_per_token` (weights int8 per column,
each token's activations quantized on their own, so a value's vector does not depend on its batch). Both files
are cached under ``$TAXO_CACHE_DIR/onnx/<weights hash>-v<EXPORT_VERSION>/``: only the first use pays the export
(~10 s); nothing is downloaded. Only BERT-like models whose pooling is "mean" are supported (the bundled
all-MiniLM-L6-v2 and all-mpnet-base-v2 are).
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from embeddings.model import ModelSpec
from embeddings.onnx_quant import quantize_per_token
from taxonomy.errors import UsageError

ONNX_BACKENDS = ("onnx", "onnx-int8")
#: bumped when the exported graph or the quantization changes: old files are never reused
EXPORT_VERSION = 3
#: each backend's tag in the embedding cache identity; the int8 tag names the quantization scheme, so vectors of
#: the earlier per-tensor int8 model (tag "onnx-int8") are never served for this one, and both carry the export
#: version, so vectors of an earlier graph (export 2 differed by up to 4.5e-8) never mix with this one's: a
#: cached and a fresh build of the same input and seed give the same tree
CACHE_TAGS = {"onnx": f"onnx-v{EXPORT_VERSION}", "onnx-int8": f"onnx-int8-token-v{EXPORT_VERSION}"}
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_PROBES = ["honesty", "respect for the user's autonomy and privacy", "a"]


def onnx_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def _require_onnxruntime(backend: str) -> None:
    if not onnx_available():
        raise UsageError(
            f"the embedding backend {backend!r} needs onnxruntime and onnx (pip install 'taxo[onnx]', or "
            "`pip install onnxruntime onnx`); --embed-backend torch works without them"
        )


def _max_seq_length(path: Path) -> int:
    cfg = path / "sentence_bert_config.json"
    if cfg.exists():
        return int(json.loads(cfg.read_text()).get("max_seq_length") or 256)
    return 256


def _check_pooling(path: Path) -> None:
    pooling = path / "1_Pooling" / "config.json"
    modes = json.loads(pooling.read_text()) if pooling.exists() else {}
    if not modes.get("pooling_mode_mean_tokens") or any(
        modes.get(k) for k in ("pooling_mode_cls_token", "pooling_mode_max_tokens", "pooling_mode_mean_sqrt_len_tokens")
    ):
        raise UsageError(
            f"the ONNX embedding backends support mean-pooling models only; {path} pools otherwise: use "
            "--embed-backend torch"
        )


def _atomic_target(final: Path):
    fd, tmp = tempfile.mkstemp(dir=final.parent, prefix=final.stem + ".", suffix=".tmp.onnx")
    os.close(fd)
    return Path(tmp)


def export_onnx(spec: ModelSpec, directory: Path) -> Path:
    """``directory/model.onnx``: the model's transformer + mean pooling + normalisation, exported from the local
    weights (once; later calls return the cached file)."""
    final = directory / "model.onnx"
    if final.exists():
        return final
    directory.mkdir(parents=True, exist_ok=True)
    _check_pooling(spec.path)
    import torch
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # no "Loading weights" bar on a build's first use

    tok = AutoTokenizer.from_pretrained(str(spec.path), local_files_only=True)
    try:  # eager attention exports as MatMul/Softmax (SDPA adds IsNaN/Where masking nodes)
        model = AutoModel.from_pretrained(str(spec.path), local_files_only=True, attn_implementation="eager")
    except (TypeError, ValueError):  # a model class without the option
        model = AutoModel.from_pretrained(str(spec.path), local_files_only=True)
    model = model.eval()

    enc = tok(_PROBES[:2], padding=True, truncation=True, max_length=_max_seq_length(spec.path), return_tensors="pt")
    names = [k for k in _INPUTS if k in enc]  # MPNet has no token_type_ids

    class Pooled(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, *args):
            feed = dict(zip(names, args))
            h = self.inner(**feed).last_hidden_state
            m = feed["attention_mask"].unsqueeze(-1).to(h.dtype)
            v = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(v, p=2, dim=1)

    tmp = _atomic_target(final)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                Pooled(model),
                tuple(enc[k] for k in names),
                str(tmp),
                dynamo=False,
                input_names=names,
                output_names=["embedding"],
                dynamic_axes={**{k: {0: "batch", 1: "tokens"} for k in names}, "embedding": {0: "batch"}},
                opset_version=17,
            )
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    return final


def quantize_int8(fp32: Path) -> Path:
    """``model-int8-token.onnx`` beside ``fp32``: its weight MatMuls in per-token int8 (cached)."""
    final = fp32.with_name("model-int8-token.onnx")
    if final.exists():
        return final
    tmp = _atomic_target(final)
    try:
        quantize_per_token(fp32, tmp)
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    return final


class OnnxEncoder:
    """Encodes texts to unit vectors with ONNX Runtime on the CPU (the interface the embedder uses of a
    sentence-transformers model: ``encode`` and ``get_sentence_embedding_dimension``).

    ``threads`` Python threads share one session, each running whole batches with one ONNX Runtime thread
    (``run`` releases the GIL): nothing spins or waits at a barrier, so a busy core costs wall time but not CPU
    time. Every batch holds texts of one token length (no padding) and is the same whatever the thread count,
    and a text's vector does not depend on the other texts in its batch (every op works on each token row or
    each text on its own), so the vectors are the same, bit for bit, for any thread count and batch size."""

    #: texts per tokenizer call when tokenizing in the worker threads (the tokenizer releases the GIL)
    TOKENIZE_CHUNK = 4096

    def __init__(self, spec: ModelSpec, backend: str, cache_root: Path, threads: int):
        if backend not in ONNX_BACKENDS:
            raise UsageError(f"unknown ONNX backend {backend!r}; choose one of {', '.join(ONNX_BACKENDS)}")
        _require_onnxruntime(backend)
        import onnxruntime as ort
        from tokenizers import Tokenizer

        directory = Path(cache_root) / "onnx" / f"{spec.weights_sha256[:16]}-v{EXPORT_VERSION}"
        path = export_onnx(spec, directory)
        if backend == "onnx-int8":
            path = quantize_int8(path)
        self.path = path
        self.threads = max(1, int(threads))
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1  # parallel over batches instead (class docstring)
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self.session.get_inputs()}
        self.tokenizer = Tokenizer.from_file(str(spec.path / "tokenizer.json"))
        self.tokenizer.enable_truncation(_max_seq_length(spec.path))
        self.tokenizer.no_padding()
        self._dim = int(self.session.get_outputs()[0].shape[1] or 0) or None

    def get_sentence_embedding_dimension(self) -> int:
        if self._dim is None:
            self._dim = int(self.encode(["a"]).shape[1])
        return self._dim

    def encode(self, texts: Sequence[str], batch_size: int = 64, progress=None, **_ignored) -> np.ndarray:
        """Unit vectors of ``texts`` in their order. ``progress(k)`` is called with the number of texts done
        after each batch."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.get_sentence_embedding_dimension()), dtype=np.float32)
        pool = None
        if self.threads > 1:
            from concurrent.futures import ThreadPoolExecutor

            pool = ThreadPoolExecutor(self.threads, thread_name_prefix="taxo-embed")
        try:
            return self._encode(texts, max(1, int(batch_size)), progress, pool.map if pool else map)
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)

    def _encode(self, texts: list[str], batch_size: int, progress, pmap) -> np.ndarray:
        chunk = self.TOKENIZE_CHUNK
        encs = [e for part in pmap(self.tokenizer.encode_batch, [texts[i : i + chunk]
                                                                  for i in range(0, len(texts), chunk)])
                for e in part]
        lengths = np.fromiter((len(e) for e in encs), dtype=np.int64, count=len(encs))
        out = None
        done = 0
        for rows, vectors in pmap(lambda rows: (rows, self._run(encs, rows)), token_batches(lengths, batch_size)):
            if out is None:
                out = np.empty((len(encs), vectors.shape[1]), dtype=np.float32)
            out[rows] = vectors
            done += len(rows)
            if progress:
                progress(done)
        return out

    def _run(self, encs: list, rows: np.ndarray) -> np.ndarray:
        """The vectors of one batch (texts of one token length). A batch of one text runs as two copies of it:
        ONNX Runtime sums a batch of one over the tokens (the mean pooling's ReduceSum) in another order than
        a larger batch, which moves the last bit of some components."""
        picked = rows if len(rows) > 1 else np.repeat(rows, 2)
        ids = np.array([encs[i].ids for i in picked], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
        if "token_type_ids" in self._inputs:
            feed["token_type_ids"] = np.array([encs[i].type_ids for i in picked], dtype=np.int64)
        return self.session.run(None, {k: v for k, v in feed.items() if k in self._inputs})[0][: len(rows)]


def token_batches(lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Row numbers in batches of at most ``batch_size`` texts of one token length each, longest texts first (the
    costliest batches start first, so the workers finish together); a function of ``lengths`` only."""
    order = np.lexsort((np.arange(len(lengths)), -lengths))
    cuts = np.flatnonzero(np.diff(lengths[order])) + 1
    return [group[s : s + batch_size] for group in np.split(order, cuts) for s in range(0, len(group), batch_size)]
