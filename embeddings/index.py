"""Exact nearest-neighbour (cosine) queries over unit vectors with faiss."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np

K = TypeVar("K")


@dataclass
class VectorIndex(Generic[K]):
    """Exact inner-product search (cosine on unit vectors) with faiss; keys are returned instead of row numbers.

    The search runs on ``vectors`` as they are (``faiss.knn``: the brute-force search a flat index runs, with the
    same results, without copying the vectors into an index first; a memory-mapped matrix is read in place)."""

    vectors: np.ndarray
    keys: Sequence[K]

    def search(self, queries: np.ndarray, k: int) -> list[list[tuple[K, float]]]:
        """For each query row, up to ``k`` (key, cosine similarity) pairs, most similar first."""
        if len(self.keys) == 0 or k <= 0:
            return [[] for _ in range(len(queries))]
        import faiss

        q = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        x = np.ascontiguousarray(self.vectors, dtype=np.float32)
        scores, rows = faiss.knn(q, x, min(k, len(self.keys)), metric=faiss.METRIC_INNER_PRODUCT)
        return [
            [(self.keys[int(r)], float(s)) for r, s in zip(row_ids, row_scores, strict=True) if r >= 0]
            for row_ids, row_scores in zip(rows, scores, strict=True)
        ]
