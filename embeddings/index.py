"""A faiss index over unit vectors for nearest-neighbour (cosine) queries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import numpy as np

K = TypeVar("K")


@dataclass
class VectorIndex(Generic[K]):
    """Exact inner-product search (cosine on unit vectors) with faiss; keys are returned instead of row numbers."""

    vectors: np.ndarray
    keys: Sequence[K]
    _index: object | None = field(default=None, init=False, repr=False)

    def _faiss(self):
        if self._index is None:
            import faiss

            x = np.ascontiguousarray(self.vectors, dtype=np.float32)
            index = faiss.IndexFlatIP(x.shape[1])
            index.add(x)
            self._index = index
        return self._index

    def search(self, queries: np.ndarray, k: int) -> list[list[tuple[K, float]]]:
        """For each query row, up to ``k`` (key, cosine similarity) pairs, most similar first."""
        if len(self.keys) == 0 or k <= 0:
            return [[] for _ in range(len(queries))]
        q = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        scores, rows = self._faiss().search(q, min(k, len(self.keys)))
        return [
            [(self.keys[int(r)], float(s)) for r, s in zip(row_ids, row_scores, strict=True) if r >= 0]
            for row_ids, row_scores in zip(rows, scores, strict=True)
        ]
