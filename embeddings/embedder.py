"""Embedding value strings through the cache: only texts the cache lacks reach the model."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from embeddings.cache import EmbeddingCache
from embeddings.model import ModelSpec, load_sentence_transformer, resolve_model
from taxonomy.config import cache_dir

#: progress(done, total) callback
Progress = Callable[[int, int], None]


@dataclass
class EmbedStats:
    n_texts: int = 0
    n_cached: int = 0
    n_embedded: int = 0
    model_loaded: bool = False
    n_light: int = 0  #: texts encoded by the light encoder (embeddings.light; no sentence-transformers import)
    n_numpy: int = 0  #: queries encoded by the NumPy forward pass (embeddings.light_numpy; not stored)


@dataclass
class Embedder:
    """Embeds texts with a sentence-transformers model, through a persistent cache.

    Parameters are stored as given; the model is resolved and loaded on first use (no work in the constructor).
    Vectors are L2-normalized float32. Batches are formed from texts sorted by length, which wastes less
    padding. With the torch backend on the CPU, when one text is missing from the cache (``taxo similar`` with
    a new phrase; ``LIGHT_MAX_TEXTS``) and the model is one :mod:`embeddings.light` reproduces, it is encoded by
    that light encoder, without loading sentence-transformers: the same vector, bit for bit, as
    sentence-transformers gives it.
    """

    model: str | None = None
    cache_dir: str | os.PathLike | None = None
    batch_size: int = 64
    device: str = "auto"  #: "cpu", "cuda", "cuda:1", ... or "auto" ($TAXO_DEVICE, else cuda when torch sees one)
    use_cache: bool = True
    #: torch threads while encoding (default: the free cores), or the ONNX backends' worker threads (default: all
    #: cores); taxonomy.threads
    threads: int | None = None
    backend: str = "auto"  #: "torch", "onnx", "onnx-int8" or "auto" ($TAXO_EMBED_BACKEND, else resolve_backend)
    stats: EmbedStats = field(default_factory=EmbedStats, init=False, repr=False)
    _spec: ModelSpec | None = field(default=None, init=False, repr=False)
    _st: object | None = field(default=None, init=False, repr=False)
    _light: object | None = field(default=None, init=False, repr=False)
    _numpy: object | None = field(default=None, init=False, repr=False)
    _backend: str | None = field(default=None, init=False, repr=False)

    @property
    def spec(self) -> ModelSpec:
        if self._spec is None:
            self._spec = resolve_model(self.model)
        return self._spec

    @property
    def resolved_backend(self) -> str:
        """The backend (:func:`resolve_backend`), once the device is known to be usable (:func:`check_device`: a
        device torch cannot use is a usage error here, before any work, not an internal error when encoding)."""
        if self._backend is None:
            explicit = self.device and self.device != "auto"
            check_device(resolve_device(self.device), "--device" if explicit else "TAXO_DEVICE")
            self._backend = resolve_backend(self.backend, lambda: resolve_device(self.device))
        return self._backend

    @property
    def identity(self) -> str:
        """The model's identity in the embedding cache: the weights, plus the backend when it is not torch's
        fp32 (an int8 model's vectors are not the fp32 model's, so the cache never mixes the two)."""
        backend = self.resolved_backend
        if backend == "torch":
            return self.spec.identity
        from embeddings.onnx_backend import CACHE_TAGS

        return f"{self.spec.identity}+{CACHE_TAGS[backend]}"

    @property
    def cache(self) -> EmbeddingCache:
        return EmbeddingCache(cache_dir(self.cache_dir))

    def _model(self):
        if self._st is None:
            backend = self.resolved_backend
            if backend == "torch":
                self._st = load_sentence_transformer(self.spec, device=resolve_device(self.device))
            else:
                from embeddings.onnx_backend import OnnxEncoder
                from taxonomy.threads import worker_count

                self._st = OnnxEncoder(self.spec, backend, cache_dir(self.cache_dir), worker_count(self.threads))
            self.stats.model_loaded = True
        return self._st

    def _encoder(self, n_missing: int):
        """What encodes ``n_missing`` texts: the loaded model if there is one; else, for at most
        ``LIGHT_MAX_TEXTS`` texts with the torch backend on the CPU and a model the light encoder reproduces,
        the light encoder; else the model (loaded now)."""
        if self._st is None and n_missing <= LIGHT_MAX_TEXTS and self._light_applies():
            if self._light is None:
                from embeddings.light import LightEncoder

                self._light = LightEncoder(self.spec, "cpu")
                self.stats.model_loaded = True
            self.stats.n_light += n_missing
            return self._light
        return self._model()

    def _light_applies(self) -> bool:
        if self._light is not None:
            return True
        if self.resolved_backend != "torch" or resolve_device(self.device) != "cpu":
            return False
        from embeddings.light import light_supported

        return light_supported(self.spec.path)

    def embed(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        """Embed ``texts``; returns an (n, d) float32 array of unit vectors in the same order."""
        texts = list(texts)
        n = len(texts)
        self.stats.n_texts += n
        identity = self.identity
        cached, found = (None, np.zeros(n, dtype=bool))
        if self.use_cache:
            cached, found = self.cache.get(identity, texts)
        missing = np.flatnonzero(~found).tolist()
        self.stats.n_cached += n - len(missing)
        if progress:
            progress(n - len(missing), n)
        if not missing and cached is not None:  # every text cached (an empty input goes on: (0, d) from the model)
            return cached
        # unique missing texts, longest first
        uniq = sorted({texts[i] for i in missing}, key=lambda t: (-len(t), t))
        model = self._encoder(len(uniq))
        dim_of = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        vectors = np.zeros((len(uniq), dim_of()), dtype=np.float32)
        done = n - len(missing)
        step = max(self.batch_size * 8, 256)
        threads = _torch_threads(self.threads) if self.resolved_backend == "torch" else contextlib.nullcontext()
        with threads:
            self._encode_all(model, uniq, vectors, done, n, step, progress)
        self.stats.n_embedded += len(uniq)
        if self.use_cache:
            self.cache.put(identity, uniq, vectors)
        pos = {t: i for i, t in enumerate(uniq)}
        out = cached if cached is not None else np.zeros((n, vectors.shape[1]), dtype=np.float32)
        out[missing] = vectors[np.fromiter((pos[texts[i]] for i in missing), dtype=np.int64, count=len(missing))]
        if progress:
            progress(n, n)
        return out

    def embed_query(self, text: str) -> np.ndarray:
        """The (1, d) unit vector of one query phrase (``taxo similar``): the cached vector when the embedding
        cache has it; else, with the torch backend on the CPU, no model loaded and a model the light encoder
        reproduces, the NumPy forward pass (:mod:`embeddings.light_numpy`: no torch import; within ~1e-7 of
        torch's vector per component, so it is *not* stored in the cache); else :meth:`embed` (stored)."""
        if self.use_cache:
            cached, found = self.cache.get(self.identity, [text])
            if found.all() and cached is not None:
                self.stats.n_texts += 1
                self.stats.n_cached += 1
                return cached
        if self._st is None and self._light is None and self._light_applies():
            if self._numpy is None:
                from embeddings.light_numpy import NumpyEncoder

                self._numpy = NumpyEncoder(self.spec)
            self.stats.n_texts += 1
            self.stats.n_numpy += 1
            return self._numpy.encode_one(text)[None, :]
        return self.embed([text])

    def _encode_all(self, model, uniq: list[str], vectors: np.ndarray, done: int, n: int, step: int, progress):
        if self.resolved_backend != "torch":  # the ONNX encoder batches all texts at once and reports per batch
            report = (lambda k: progress(min(done + k, n), n)) if progress else None
            vectors[:] = model.encode(uniq, batch_size=self.batch_size, progress=report)
            return
        for start in range(0, len(uniq), step):
            part = uniq[start : start + step]
            vectors[start : start + len(part)] = model.encode(
                part,
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            done += len(part)
            if progress:
                progress(min(done, n), n)


#: at most this many texts missing from the cache go to the light encoder (embeddings.light) with the torch
#: backend on the CPU (~10 ms a text, against ~3.5 CPU-s more to import sentence-transformers). One: the light
#: encoder gives a text's vector as sentence-transformers does in a batch of one, and sentence-transformers pads
#: two or more texts into batches, which moves the last bits; so only the case where both agree (``taxo similar``
#: with a new phrase) takes it, and every vector is the one it was before
LIGHT_MAX_TEXTS = 1

BACKENDS = ("auto", "torch", "onnx", "onnx-int8")
#: the backend "auto" picks on a CPU. torch fp32: onnx-int8 (per-token int8) embeds 2.7x more values per CPU-second
#: with the same NMI on the published tree within the 10-seed spread (benchmarks/results/embed_speed.md,
#: build_quality_int8.md), but its vectors are not torch's, and the README walkthrough's ids come from torch's;
#: so the faster backends are opt-in (--embed-backend, $TAXO_EMBED_BACKEND)
DEFAULT_CPU_BACKEND = "torch"


def resolve_backend(backend: str | None, device: Callable[[], str]) -> str:
    """The backend to embed with: ``backend`` unless "auto"/None; then ``$TAXO_EMBED_BACKEND``; else torch on a
    GPU and ``DEFAULT_CPU_BACKEND`` on the CPU. The ONNX backends run on the CPU only. ``device()`` gives the
    resolved device; it is called only when the answer depends on it (it may import torch)."""
    from taxonomy.errors import UsageError

    chosen = backend or "auto"
    if chosen == "auto":
        chosen = os.environ.get("TAXO_EMBED_BACKEND", "").strip() or "auto"
    if chosen not in BACKENDS:
        raise UsageError(f"unknown embedding backend {chosen!r}; choose one of {', '.join(BACKENDS)}")
    if chosen == "torch" or (chosen == "auto" and DEFAULT_CPU_BACKEND == "torch"):
        return "torch"
    where = device()
    on_gpu = not where.startswith("cpu")
    if chosen == "auto":
        return "torch" if on_gpu else DEFAULT_CPU_BACKEND
    if on_gpu:
        raise UsageError(f"the embedding backend {chosen!r} runs on the CPU only; use --embed-backend torch on {where}")
    return chosen


def resolve_device(device: str | None) -> str:
    """The torch device to embed on: ``device`` unless "auto"/None; then ``$TAXO_DEVICE``, else "cuda" when a
    CUDA device is visible, else "cpu". Where no GPU driver is installed the answer is "cpu" without importing
    torch (seconds, and nothing else needs it on a warm build with an ONNX backend)."""
    if device and device != "auto":
        return device
    env = os.environ.get("TAXO_DEVICE", "").strip()
    if env and env != "auto":
        return env
    if "torch" not in sys.modules and not _gpu_driver_present():  # torch could see no GPU: not imported for that
        return "cpu"
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def check_device(device: str, what: str = "--device") -> str:
    """``device`` if torch can embed on it: "cpu", or "cuda" / "cuda:N" with that CUDA device visible; else a
    :class:`~taxonomy.errors.UsageError` naming ``what`` (the option or variable it came from)."""
    import re

    from taxonomy.errors import UsageError

    if device == "cpu":
        return device
    m = re.fullmatch(r"cuda(?::(\d+))?", device or "")
    if m is None:
        raise UsageError(f"{what} {device!r}: use cpu, cuda, cuda:N or auto")
    import torch

    if not torch.cuda.is_available():
        build = ", a CPU-only build" if torch.version.cuda is None and torch.version.hip is None else ""
        raise UsageError(f"{what} {device!r}: torch sees no CUDA device (torch {torch.__version__}{build}); "
                         "use --device cpu or auto")
    n = torch.cuda.device_count()
    if m.group(1) is not None and int(m.group(1)) >= n:
        raise UsageError(f"{what} {device!r}: torch sees {n} CUDA device{'s' if n != 1 else ''} "
                         f"(cuda:0{f' to cuda:{n - 1}' if n > 1 else ''})")
    return device


#: device files of the GPU drivers torch's CUDA (or ROCm) builds use on Linux (NVIDIA, AMD, WSL)
_GPU_DRIVER_FILES = ("/dev/nvidiactl", "/dev/nvidia0", "/proc/driver/nvidia", "/dev/kfd", "/dev/dxg")


def _gpu_driver_present() -> bool:
    """Whether a GPU driver torch could use may be present; always True off Linux (nothing cheap to check)."""
    if not sys.platform.startswith("linux"):
        return True
    return any(os.path.exists(p) for p in _GPU_DRIVER_FILES)


@contextlib.contextmanager
def _torch_threads(requested: int | None):
    """torch's intra-op threads set to the thread budget for the block (oversubscribing a busy machine halves
    throughput: 164 values/s with 2 threads against 298/s with 1 when the other core was busy)."""
    import torch

    from taxonomy.threads import thread_budget

    old = torch.get_num_threads()
    torch.set_num_threads(thread_budget(requested))
    try:
        yield
    finally:
        torch.set_num_threads(old)
