"""Embedding models (loaded from local files only), a persistent embedding cache, and a faiss index."""

import taxonomy  # noqa: F401  (before NumPy and torch load: pins their CPU kernels, see taxonomy.kernels)

from embeddings.cache import EmbeddingCache
from embeddings.embedder import Embedder
from embeddings.index import VectorIndex
from embeddings.model import DEFAULT_MODEL, ModelSpec, resolve_model

__all__ = ["DEFAULT_MODEL", "EmbeddingCache", "Embedder", "ModelSpec", "VectorIndex", "resolve_model"]
