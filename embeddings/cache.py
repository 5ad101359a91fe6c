"""A persistent embedding cache: one SQLite file keyed by (model identity, normalized text)."""

from __future__ import annotations

import hashlib
import sqlite3
from collections import Counter
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

    #: page size of a new cache file: a 1.5 KB vector row fits in a 16 KB page of this WITHOUT ROWID table, where
    #: in a 4 KB page (SQLite's default, kept by files made before) its last 600 bytes take an overflow page each
    PAGE_SIZE = 16384
    #: reads through a memory map (no read() call and copy per page)
    MMAP_SIZE = 1 << 32

    def _connect(self) -> sqlite3.Connection:
        """A connection to the cache file (made with its table when absent). A directory or file that cannot be
        made or opened is a :class:`~taxonomy.errors.TaxoError` naming it (exit code 2), not a traceback."""
        conn = None
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=60)
            conn.execute(f"PRAGMA page_size={self.PAGE_SIZE}")  # a no-op on an existing file
            conn.execute(f"PRAGMA mmap_size={self.MMAP_SIZE}")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            if conn is not None:
                conn.close()
            raise self._unusable(exc) from None
        return conn

    def _unusable(self, exc: Exception):
        from taxonomy.errors import UsageError

        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return UsageError(f"embedding cache {self.path}: {reason}; use a writable directory "
                          "(--cache-dir or TAXO_CACHE_DIR)")

    #: keys per lookup query (SQLite allows 32,766 bound parameters from 3.32)
    CHUNK = 900

    def get(self, model: str, texts: Sequence[str]) -> tuple[np.ndarray | None, np.ndarray]:
        """Look texts up. Returns (vectors with rows for found texts, zeros elsewhere; or None if none found,
        boolean mask of found rows). A stored row of another size than most found rows counts as not found."""
        n = len(texts)
        if not n:
            return None, np.zeros(0, dtype=bool)
        slot: dict[bytes, int] = {}  # key -> its number among the distinct keys
        where = np.fromiter((slot.setdefault(k, len(slot)) for k in map(text_key, texts)), dtype=np.int64, count=n)
        keys = sorted(slot)  # each query's keys together in the table (its primary key order)
        got: list[tuple[int, bytes]] = []  # (distinct key number, vector blob)
        conn = self._connect()
        try:
            for start in range(0, len(keys), self.CHUNK):
                part = keys[start : start + self.CHUNK]
                marks = ",".join("?" * len(part))
                rows = conn.execute(
                    f"SELECT key, vector FROM embeddings WHERE model = ? AND key IN ({marks})", [model, *part]
                )
                got.extend(rows.fetchall())
        finally:
            conn.close()
        if not got:
            return None, np.zeros(n, dtype=bool)
        found_keys, blobs = zip(*got)
        sizes = set(map(len, blobs))
        if len(sizes) > 1:  # one model, one width: a row of another size than most is damaged
            counts = Counter(map(len, blobs))
            size = max(counts, key=lambda b: (counts[b], b))
            found_keys, blobs = zip(*[(k, b) for k, b in got if len(b) == size])
        else:
            size = sizes.pop()
        dim = size // 4
        by_slot = np.zeros((len(keys), dim), dtype=np.float32)  # each distinct key's vector (zeros: not found)
        known = np.zeros(len(keys), dtype=bool)
        for key, blob in zip(found_keys, blobs, strict=True):  # row by row into place (no joined copy of all)
            k = slot[key]
            by_slot[k] = np.frombuffer(blob, dtype=np.float32)
            known[k] = True
        found = known[where]
        if len(keys) == n:  # distinct texts: the slots are their positions (numbered in order), no gather
            return by_slot, found
        return by_slot[where], found

    def put(self, model: str, texts: Sequence[str], vectors: np.ndarray) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        conn = self._connect()
        try:
            rows = sorted(zip(map(text_key, texts), range(len(texts))))  # in key order: appends, not page splits
            dim = vectors.shape[1]
            with conn:
                conn.executemany(
                    "INSERT OR REPLACE INTO embeddings (model, key, dim, vector) VALUES (?, ?, ?, ?)",
                    ((model, key, dim, vectors[i].tobytes()) for key, i in rows),
                )
        except sqlite3.OperationalError as exc:  # a full disk, a read-only file: nothing stored (rolled back)
            raise self._unusable(exc) from None
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
