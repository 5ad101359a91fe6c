"""Per-version vectors for ``taxo similar``, cached in the embedding cache directory.

``similar`` needs, for one version, every value's vector, every node's centroid (:func:`taxonomy.query.node_vectors`)
and each node's name, level and parent (for the paths it prints). Reading the tree, looking up 100,000 vectors in
the embedding cache and computing the centroids is most of a call at that size; the result depends only on the
version's content and the embedding model, so it is kept in ``<cache dir>/version-vectors/<key>.npz``.

Key and invalidation: the key is a hash of (:data:`FORMAT`, the version's content checksum, the model's identity).
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

#: Version of the file layout (part of the key: a new layout never reads an old file).
FORMAT = 1
#: Most files kept in the directory (each holds n_values + n_nodes vectors: ~160 MB at 100,000 values).
KEEP = 8
SUBDIR = "version-vectors"


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
