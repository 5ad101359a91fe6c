"""Embedding models (loaded from local files only), a persistent embedding cache, and a faiss index."""

from embeddings.cache import EmbeddingCache
from embeddings.embedder import Embedder
from embeddings.index import VectorIndex
from embeddings.model import DEFAULT_MODEL, ModelSpec, resolve_model

__all__ = ["DEFAULT_MODEL", "EmbeddingCache", "Embedder", "ModelSpec", "VectorIndex", "resolve_model"]
