"""Embedding value strings through the cache: only texts the cache lacks reach the model."""

from __future__ import annotations

import contextlib
import os
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


@dataclass
class Embedder:
    """Embeds texts with a sentence-transformers model, through a persistent cache.

    Parameters are stored as given; the model is resolved and loaded on first use (no work in the constructor).
    Vectors are L2-normalized float32. Batches are formed from texts sorted by length, which wastes less
    padding.
    """

    model: str | None = None
    cache_dir: str | os.PathLike | None = None
    batch_size: int = 64
    device: str = "auto"  #: "cpu", "cuda", "cuda:1", ... or "auto" ($TAXO_DEVICE, else cuda when torch sees one)
    use_cache: bool = True
    threads: int | None = None  #: torch threads while encoding; default: the free cores (taxonomy.threads)
    stats: EmbedStats = field(default_factory=EmbedStats, init=False, repr=False)
    _spec: ModelSpec | None = field(default=None, init=False, repr=False)
    _st: object | None = field(default=None, init=False, repr=False)

    @property
    def spec(self) -> ModelSpec:
        if self._spec is None:
            self._spec = resolve_model(self.model)
        return self._spec

    @property
    def cache(self) -> EmbeddingCache:
        return EmbeddingCache(cache_dir(self.cache_dir))

    def _model(self):
        if self._st is None:
            self._st = load_sentence_transformer(self.spec, device=resolve_device(self.device))
            self.stats.model_loaded = True
        return self._st

    def embed(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        """Embed ``texts``; returns an (n, d) float32 array of unit vectors in the same order."""
        texts = list(texts)
        n = len(texts)
        self.stats.n_texts += n
        identity = self.spec.identity
        cached, found = (None, np.zeros(n, dtype=bool))
        if self.use_cache:
            cached, found = self.cache.get(identity, texts)
        missing = [i for i in range(n) if not found[i]]
        self.stats.n_cached += n - len(missing)
        if progress:
            progress(n - len(missing), n)
        if not missing and cached is not None:  # every text cached (an empty input goes on: (0, d) from the model)
            return cached
        # unique missing texts, longest first
        uniq = sorted({texts[i] for i in missing}, key=lambda t: (-len(t), t))
        model = self._model()
        dim_of = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        vectors = np.zeros((len(uniq), dim_of()), dtype=np.float32)
        done = n - len(missing)
        step = max(self.batch_size * 8, 256)
        with _torch_threads(self.threads):
            self._encode_all(model, uniq, vectors, done, n, step, progress)
        self.stats.n_embedded += len(uniq)
        if self.use_cache:
            self.cache.put(identity, uniq, vectors)
        pos = {t: i for i, t in enumerate(uniq)}
        out = cached if cached is not None else np.zeros((n, vectors.shape[1]), dtype=np.float32)
        for i in missing:
            out[i] = vectors[pos[texts[i]]]
        if progress:
            progress(n, n)
        return out

    def _encode_all(self, model, uniq: list[str], vectors: np.ndarray, done: int, n: int, step: int, progress):
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


def resolve_device(device: str | None) -> str:
    """The torch device to embed on: ``device`` unless "auto"/None; then ``$TAXO_DEVICE``, else "cuda" when a
    CUDA device is visible, else "cpu"."""
    if device and device != "auto":
        return device
    env = os.environ.get("TAXO_DEVICE", "").strip()
    if env and env != "auto":
        return env
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


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
