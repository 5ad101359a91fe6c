"""Per-version vectors for ``taxo similar``, cached in the embedding cache directory.

``similar`` needs, for one version, every value's vector, every node's centroid (:func:`taxonomy.query.node_vectors`)
and each node's name, level and parent (for the paths it prints). Reading the tree, looking up 100,000 vectors in
the embedding cache and computing the centroids is most of a call at that size; the result depends only on the
version's content and the embedding model, so it is kept in ``<cache dir>/version-vectors/<key>.npz``.

Key and invalidation: the key is a hash of (:data:`FORMAT`, the version's content checksum, the model's identity).
Computing them (:func:`compute_version_vectors`) reads only what ``similar`` needs of the version (value texts,
weights and nodes: no tree objects), looks every value's vector up in the embedding cache in one query
(:func:`cached_vectors`; the model embeds only the values the cache lacks) and sums the vectors of each node's
members with one segment sum per level, no Python loop per node or value.

The content checksum (:func:`taxonomy.tree.content_checksum`) covers every value text, weight and parent and
every node's name, level and parent, i.e. everything the vectors and paths are computed from; the model
identity includes the hash of its weights. A different version content or model therefore never reads another's
file, and two versions with the same content share one. A file is also checked on load (its stored checksum and
model must match; unreadable or mismatched files are ignored and rewritten). Versions without a checksum are not
cached. At most :data:`KEEP` files are kept (least recently used removed first); :func:`clear_version_vectors`
removes them all.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import select

#: Version of the file layout (part of the key: a new layout never reads an old file).
FORMAT = 1
#: Most files kept in the directory (each holds n_values + n_nodes vectors: ~160 MB at 100,000 values).
KEEP = 8
SUBDIR = "version-vectors"
#: Values per block of the node sums (:func:`compute_version_vectors`): ~12 MB of float64 products at 384 dimensions.
BLOCK = 4096


@dataclass
class VersionVectors:
    """What ``similar`` searches and prints for one version; rows of ``leaf_vecs`` follow ``texts``, rows of
    ``node_vecs`` follow ``uids`` (sorted)."""

    texts: list[str]
    leaf_parent: list[str]
    leaf_vecs: np.ndarray
    uids: list[str]
    names: list[str]
    levels: list[int]
    parents: list[str | None]
    node_vecs: np.ndarray

    @classmethod
    def from_tree(cls, tree, leaf_vecs: np.ndarray, uids: list[str], node_vecs: np.ndarray) -> VersionVectors:
        nodes = [tree.nodes[u] for u in uids]
        return cls([lf.text for lf in tree.leaves], [lf.parent_uid for lf in tree.leaves], leaf_vecs, list(uids),
                   [n.name for n in nodes], [int(n.level) for n in nodes], [n.parent_uid for n in nodes], node_vecs)

    def path_of(self, uid: str | None) -> list[str]:
        """Names from the top level down to ``uid`` (empty for None)."""
        pos = self._pos()
        names = []
        while uid is not None:
            i = pos[uid]
            names.append(self.names[i])
            uid = self.parents[i]
        return names[::-1]

    def _pos(self) -> dict[str, int]:
        if not hasattr(self, "_pos_map"):
            self._pos_map = {u: i for i, u in enumerate(self.uids)}
        return self._pos_map


def _key(checksum: str, model_identity: str) -> str:
    return hashlib.sha256(f"{FORMAT}\0{checksum}\0{model_identity}".encode()).hexdigest()[:32]


def _dir(cache_dir: str | os.PathLike | None) -> Path:
    from taxonomy.config import cache_dir as resolve

    return resolve(cache_dir) / SUBDIR


def load_version_vectors(cache_dir, checksum: str, model_identity: str) -> VersionVectors | None:
    """The cached vectors of the version with this content checksum under this model, or None."""
    path = _dir(cache_dir) / f"{_key(checksum, model_identity)}.npz"
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(z["meta"].tobytes().decode("utf-8"))
            if (meta.get("format"), meta.get("checksum"), meta.get("model")) != (FORMAT, checksum, model_identity):
                return None
            leaf_vecs, node_vecs = z["leaf_vecs"], z["node_vecs"]
    except (OSError, ValueError, KeyError, EOFError, UnicodeDecodeError):  # absent, partial or foreign file
        return None
    if leaf_vecs.shape[0] != len(meta["texts"]) or node_vecs.shape[0] != len(meta["uids"]):
        return None
    try:
        os.utime(path)  # recently used: kept longest
    except OSError:
        pass
    return VersionVectors(meta["texts"], meta["leaf_parent"], leaf_vecs, meta["uids"], meta["names"],
                          meta["levels"], meta["parents"], node_vecs)


def save_version_vectors(cache_dir, checksum: str, model_identity: str, vv: VersionVectors) -> Path | None:
    """Store ``vv`` (atomically: a reader sees the old file, no file, or the whole new one). A cache that cannot
    be written (read-only directory, full disk) is not an error: the next call computes the vectors again."""
    d = _dir(cache_dir)
    meta = {"format": FORMAT, "checksum": checksum, "model": model_identity, "texts": vv.texts,
            "leaf_parent": vv.leaf_parent, "uids": vv.uids, "names": vv.names, "levels": vv.levels,
            "parents": vv.parents}
    blob = np.frombuffer(json.dumps(meta, ensure_ascii=False).encode("utf-8"), dtype=np.uint8)
    path = d / f"{_key(checksum, model_identity)}.npz"
    tmp = None
    try:
        d.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-", suffix=".npz")
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, meta=blob, leaf_vecs=np.ascontiguousarray(vv.leaf_vecs, dtype=np.float32),
                     node_vecs=np.ascontiguousarray(vv.node_vecs, dtype=np.float32))
        os.replace(tmp, path)
        tmp = None
        _prune(d, KEEP)
    except OSError:
        return None
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
    return path


def _prune(d: Path, keep: int) -> None:
    files = sorted(d.glob("*.npz"), key=lambda p: p.stat().st_mtime, reverse=True)
    for p in files[keep:]:
        p.unlink(missing_ok=True)


def clear_version_vectors(cache_dir=None) -> int:
    """Remove every cached version-vector file; returns how many were removed."""
    d = _dir(cache_dir)
    n = 0
    for p in d.glob("*.npz") if d.is_dir() else []:
        p.unlink(missing_ok=True)
        n += 1
    return n


def cached_vectors(embedder, texts: list[str]) -> np.ndarray:
    """``embedder.embed(texts)`` (the same unit vectors, in order), reading the embedding cache in one query: the
    wanted keys go into a temporary table joined with the cache's, instead of one lookup per 900 texts; only the
    texts the cache lacks go to ``embedder.embed`` (which loads the model and stores them)."""
    import sqlite3

    from embeddings.cache import text_key

    if not texts or not embedder.use_cache or not embedder.cache.path.is_file():
        return embedder.embed(texts)
    first: dict[bytes, int] = {}
    for i, t in enumerate(texts):
        first.setdefault(text_key(t), i)
    conn = sqlite3.connect(embedder.cache.path, timeout=60)
    try:
        conn.execute("PRAGMA temp_store = MEMORY")
        conn.execute("CREATE TEMP TABLE wanted (key BLOB PRIMARY KEY, i INTEGER NOT NULL) WITHOUT ROWID")
        conn.executemany("INSERT INTO wanted VALUES (?, ?)", sorted(first.items()))  # appended in key order
        rows = conn.execute(  # in key order: the cache's primary key is (model, key)
            "SELECT w.i, e.dim, e.vector FROM wanted w JOIN embeddings e ON e.model = ? AND e.key = w.key",
            [embedder.identity],
        ).fetchall()
    except sqlite3.Error:  # another layout or a damaged file: the embedder's own lookup decides
        return embedder.embed(texts)
    finally:
        conn.close()
    dims = {dim for _, dim, _ in rows}
    if len(dims) != 1 or any(len(blob) != 4 * dim for _, dim, blob in rows):
        return embedder.embed(texts)
    dim = dims.pop()
    out = np.zeros((len(texts), dim), dtype=np.float32)
    found = np.zeros(len(texts), dtype=bool)
    at = np.fromiter((i for i, _, _ in rows), dtype=np.int64, count=len(rows))
    out[at] = np.frombuffer(b"".join(blob for _, _, blob in rows), dtype=np.float32).reshape(len(rows), dim)
    found[at] = True
    if len(first) < len(texts):  # repeated texts (not in a version, whose texts are unique): copy the first's row
        rep = np.array([first[text_key(t)] for t in texts], dtype=np.int64)
        out, found = out[rep], found[rep]
    missing = np.flatnonzero(~found)
    if len(missing):
        out[missing] = embedder.embed([texts[i] for i in missing])
    embedder.stats.n_texts += len(texts) - len(missing)
    embedder.stats.n_cached += len(texts) - len(missing)
    return out


def compute_version_vectors(session, version_id: int, embedder) -> VersionVectors:
    """The vectors of a stored version: its values' (:func:`cached_vectors`, in code-point order of the texts, as
    :func:`taxonomy.store.read_tree` orders them) and every node's centroid, the same as
    :func:`taxonomy.query.node_vectors` gives: the weight-weighted sum (weights ``max(w, 0) + 1e-12``, all 1 when
    none is positive) of the vectors of the values under the node, normalised (zero for an empty node). A level-1
    node adds its values in their order, a node above adds its children in the order of their uids (float64).
    Linear in the number of values."""
    from operator import itemgetter

    from taxonomy.db.models import Membership, Node, Value

    rows = session.execute(
        select(Value.text, Membership.node_id, Membership.weight)
        .join(Value, Value.id == Membership.value_id)
        .where(Membership.version_id == version_id)
    ).all()
    rows.sort(key=itemgetter(0))
    nodes = session.execute(
        select(Node.id, Node.uid, Node.name, Node.level, Node.parent_id).where(Node.version_id == version_id)
    ).all()
    nodes.sort(key=itemgetter(1))
    row_of = {n.id: i for i, n in enumerate(nodes)}
    uids = [n.uid for n in nodes]
    parent_row = np.array([row_of[n.parent_id] if n.parent_id is not None else -1 for n in nodes], dtype=np.int64)
    levels = np.array([n.level for n in nodes], dtype=np.int64)
    texts = [r[0] for r in rows]
    leaf_row = np.fromiter((row_of[r[1]] for r in rows), dtype=np.int64, count=len(rows))
    w = np.fromiter((max(r[2], 0.0) for r in rows), dtype=np.float64, count=len(rows))
    if w.sum() <= 0:
        w = np.ones_like(w)
    w += 1e-12
    leaf_vecs = cached_vectors(embedder, texts)
    d = leaf_vecs.shape[1] if leaf_vecs.ndim == 2 else 0
    total = np.zeros((len(nodes), d), dtype=np.float64)
    if len(rows):
        # level 1: the values grouped by node (stable: each node's in their order), one segment sum per block of
        # whole nodes of about BLOCK values (float64 products of one block at a time, not of every value)
        order = np.argsort(leaf_row, kind="stable")
        at = leaf_row[order]
        starts = np.flatnonzero(np.r_[True, at[1:] != at[:-1]])
        bounds = np.r_[starts, len(rows)]
        i = 0
        while i < len(starts):
            j = max(i + 1, int(np.searchsorted(bounds, bounds[i] + BLOCK, side="right")) - 1)
            part = order[bounds[i] : bounds[j]]
            total[at[starts[i:j]]] = np.add.reduceat(leaf_vecs[part] * w[part, None], starts[i:j] - bounds[i], axis=0)
            i = j
    for level in range(2, int(levels.max(initial=0)) + 1):  # then each level from its children, in uid order
        kids = np.flatnonzero((levels == level - 1) & (parent_row >= 0))
        np.add.at(total, parent_row[kids], total[kids])
    norms = np.linalg.norm(total, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return VersionVectors(texts, [uids[i] for i in leaf_row], leaf_vecs, uids, [n.name for n in nodes],
                          [int(n.level) for n in nodes], [uids[i] if i >= 0 else None for i in parent_row],
                          (total / norms).astype(np.float32))
