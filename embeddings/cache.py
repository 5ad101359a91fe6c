"""A persistent embedding cache: one SQLite file keyed by (model identity, normalized text)."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import numpy as np

_SCHEMA = """
CREATE TABLE IF NOT EXISTS embeddings (
    model TEXT NOT NULL,
    key BLOB NOT NULL,
    dim INTEGER NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (model, key)
) WITHOUT ROWID
"""


def text_key(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


class EmbeddingCache:
    """Vectors stored as float32 blobs in ``<directory>/embeddings.sqlite``. Safe to share between processes."""

    FILENAME = "embeddings.sqlite"

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)

    @property
    def path(self) -> Path:
        return self.directory / self.FILENAME

    def _connect(self) -> sqlite3.Connection:
        self.directory.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=60)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(_SCHEMA)
        return conn

    def get(self, model: str, texts: Sequence[str]) -> tuple[np.ndarray | None, np.ndarray]:
        """Look texts up. Returns (vectors with rows for found texts, zeros elsewhere; or None if none found,
        boolean mask of found rows)."""
        found = np.zeros(len(texts), dtype=bool)
        if not texts:
            return None, found
        keys = [text_key(t) for t in texts]
        index: dict[bytes, list[int]] = {}
        for i, k in enumerate(keys):
            index.setdefault(k, []).append(i)
        out: np.ndarray | None = None
        conn = self._connect()
        try:
            uniq = list(index)
            for start in range(0, len(uniq), 900):
                part = uniq[start : start + 900]
                marks = ",".join("?" * len(part))
                rows = conn.execute(
                    f"SELECT key, dim, vector FROM embeddings WHERE model = ? AND key IN ({marks})", [model, *part]
                )
                for key, dim, blob in rows:
                    vec = np.frombuffer(blob, dtype=np.float32)
                    if out is None:
                        out = np.zeros((len(texts), dim), dtype=np.float32)
                    for i in index[key]:
                        out[i] = vec
                        found[i] = True
        finally:
            conn.close()
        return out, found

    def put(self, model: str, texts: Sequence[str], vectors: np.ndarray) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        conn = self._connect()
        try:
            with conn:
                conn.executemany(
                    "INSERT OR REPLACE INTO embeddings (model, key, dim, vector) VALUES (?, ?, ?, ?)",
                    [(model, text_key(t), vectors.shape[1], vectors[i].tobytes()) for i, t in enumerate(texts)],
                )
        finally:
            conn.close()

    def count(self, model: str | None = None) -> int:
        conn = self._connect()
        try:
            if model is None:
                return conn.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0]
            return conn.execute("SELECT COUNT(*) FROM embeddings WHERE model = ?", [model]).fetchone()[0]
        finally:
            conn.close()
