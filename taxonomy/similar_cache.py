"""Per-version vectors for ``taxo similar``, cached in the embedding cache directory.

``similar`` needs, for one version, every value's vector, every node's centroid (:func:`taxonomy.query.node_vectors`)
and each node's name, level and parent (for the paths it prints). Reading the tree, looking up 100,000 vectors in
the embedding cache and computing the centroids is most of a call at that size; the result depends only on the
version's content and the embedding model, so it is kept in ``<cache dir>/version-vectors/``, in two files:

- ``values-<key>.npy``: the values' vectors, one row per value text in code-point order. The key is a hash of
  (:data:`FORMAT`, the model's identity, the texts), so every version with the same values shares one file: an
  edit that only renames, merges, moves or reassigns reuses its parent's (the values' vectors are most of the
  bytes: 150 MB at 100,000 values).
- ``<key>.npz``: the version's part (the node vectors, names, levels and parents, which node each value is in,
  the texts, and the key of its values file). The key is a hash of (:data:`FORMAT`, the version's content
  checksum, the model's identity).

The files are written when the vectors are in hand: by ``taxo build`` (:func:`save_built_version`) and by the
first ``similar`` on a version that has none. That first call takes the values' vectors from a values file when
one holds the version's texts, else from the parent version's file and the embedding cache in one query
(:func:`cached_vectors`; the model embeds only the values the cache lacks), and sums the vectors of each node's
members with one sparse product for level 1 and one ``np.add.at`` per level above, no Python loop per node or
value (:func:`compute_version_vectors`); a new values file is written by a thread meanwhile. After an edit that
only renames nodes, it takes everything but the names from the parent version's file (:func:`derive_renamed`),
reading only the new version's nodes.

The content checksum (:func:`taxonomy.tree.content_checksum`) covers every value text, weight and parent and
every node's name, level and parent, i.e. everything the vectors and paths are computed from; the model
identity includes the hash of its weights. A different version content or model therefore never reads another's
file, and two versions with the same content share one. A file is also checked on load (its stored checksum,
model and shapes must match; unreadable or mismatched files are ignored and rewritten). Versions without a
checksum are not cached. At most :data:`KEEP` files of each kind are kept (least recently used removed first; a
version file whose values file was removed is a miss); :func:`clear_version_vectors` removes them all.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import select

#: Version of the file layout (part of the keys: a new layout never reads an old file).
FORMAT = 2
#: Most files of each kind kept in the directory (a values file holds n_values vectors: ~150 MB at 100,000 values).
KEEP = 8
SUBDIR = "version-vectors"
VALUES_PREFIX = "values-"
#: :func:`cached_vectors` reads every row of the model when the cache holds at most this many times the rows wanted
SCAN_RATIO = 3
#: Dimensions per block of the node sums (:func:`assemble`): 25 MB of float64 vectors at 100,000 values.
BLOCK = 32


@dataclass
class VersionVectors:
    """What ``similar`` searches and prints for one version; rows of ``leaf_vecs`` follow ``texts``, rows of
    ``node_vecs`` follow ``uids`` (sorted); ``leaf_row[i]`` is the row in ``uids`` of text ``i``'s level-1 node."""

    texts: list[str]
    leaf_row: np.ndarray
    leaf_vecs: np.ndarray
    uids: list[str]
    names: list[str]
    levels: list[int]
    parents: list[str | None]
    node_vecs: np.ndarray

    @property
    def leaf_parent(self) -> list[str]:
        """Each text's level-1 node uid."""
        return [self.uids[i] for i in self.leaf_row]

    @classmethod
    def from_tree(cls, tree, leaf_vecs: np.ndarray, uids: list[str], node_vecs: np.ndarray) -> VersionVectors:
        nodes = [tree.nodes[u] for u in uids]
        pos = {u: i for i, u in enumerate(uids)}
        return cls([lf.text for lf in tree.leaves], np.array([pos[lf.parent_uid] for lf in tree.leaves], dtype=np.int64),
                   leaf_vecs, list(uids), [n.name for n in nodes], [int(n.level) for n in nodes],
                   [n.parent_uid for n in nodes], node_vecs)

    def path_of(self, uid: str | None) -> list[str]:
        """Names from the top level down to ``uid`` (empty for None)."""
        pos = self.positions()
        names = []
        while uid is not None:
            i = pos[uid]
            names.append(self.names[i])
            uid = self.parents[i]
        return names[::-1]

    def positions(self) -> dict[str, int]:
        """Each node uid's row in ``uids`` (built once)."""
        if not hasattr(self, "_pos_map"):
            self._pos_map = {u: i for i, u in enumerate(self.uids)}
        return self._pos_map


def _key(checksum: str, model_identity: str) -> str:
    return hashlib.sha256(f"{FORMAT}\0{checksum}\0{model_identity}".encode()).hexdigest()[:32]


def values_key(texts: list[str], model_identity: str) -> str:
    """The key of the values file for these texts (in this order) under this model."""
    h = hashlib.sha256(f"{FORMAT}\0{model_identity}\0{len(texts)}\0".encode())
    h.update("\0".join(texts).encode("utf-8", "surrogatepass"))
    return h.hexdigest()[:32]


def _dir(cache_dir: str | os.PathLike | None) -> Path:
    from taxonomy.config import cache_dir as resolve

    return resolve(cache_dir) / SUBDIR


def _touch(path: Path) -> None:
    try:
        os.utime(path)  # recently used: kept longest
    except OSError:
        pass


def _values_path(cache_dir, key: str) -> Path:
    return _dir(cache_dir) / f"{VALUES_PREFIX}{key}.npy"


def _holds_rows(path: Path, n: int) -> bool:
    """The file is a whole float32 matrix of ``n`` rows (its header read, and its size checked against it)."""
    try:
        with open(path, "rb") as fh:
            read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                           (2, 0): np.lib.format.read_array_header_2_0}.get(np.lib.format.read_magic(fh))
            if read_header is None:
                return False
            shape, fortran, dtype = read_header(fh)
            start = fh.tell()
        size = path.stat().st_size
    except (OSError, ValueError, EOFError):  # absent, partial or foreign file
        return False
    return (len(shape) == 2 and shape[0] == n and not fortran and dtype == np.float32
            and size == start + shape[0] * shape[1] * 4)


def load_values_file(cache_dir, key: str, n: int) -> np.ndarray | None:
    """The values file ``key`` (memory-mapped, read-only) if it holds ``n`` rows, else None."""
    path = _values_path(cache_dir, key)
    if not _holds_rows(path, n):
        return None
    try:
        vecs = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    _touch(path)
    return vecs


def load_version_vectors(cache_dir, checksum: str, model_identity: str) -> VersionVectors | None:
    """The cached vectors of the version with this content checksum under this model, or None."""
    path = _dir(cache_dir) / f"{_key(checksum, model_identity)}.npz"
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(z["meta"].tobytes().decode("utf-8"))
            if (meta.get("format"), meta.get("checksum"), meta.get("model")) != (FORMAT, checksum, model_identity):
                return None
            node_vecs, leaf_row = z["node_vecs"], z["leaf_row"]
    except (OSError, ValueError, KeyError, EOFError, UnicodeDecodeError):  # absent, partial or foreign file
        return None
    texts, uids = meta["texts"], meta["uids"]
    if node_vecs.shape[0] != len(uids) or leaf_row.shape != (len(texts),):
        return None
    if len(texts) and (leaf_row.min() < 0 or leaf_row.max() >= len(uids)):
        return None
    leaf_vecs = load_values_file(cache_dir, meta["values"], len(texts))
    if leaf_vecs is None:
        return None
    _touch(path)
    return VersionVectors(texts, leaf_row.astype(np.int64), leaf_vecs, uids, meta["names"], meta["levels"],
                          meta["parents"], node_vecs)


def _write_atomically(d: Path, name: str, write) -> None:
    """``write(fh)`` into ``d/name`` through a temporary file (a reader sees the old file, no file, or the whole new
    one)."""
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-", suffix=Path(name).suffix)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.replace(tmp, d / name)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_values_file(cache_dir, model_identity: str, texts: list[str], vecs: np.ndarray) -> Path | None:
    """Store the values file of these texts' vectors under this model, unless one is there; None when the cache
    cannot be written (read-only directory, full disk: not an error)."""
    d = _dir(cache_dir)
    path = _values_path(cache_dir, values_key(texts, model_identity))
    try:
        d.mkdir(parents=True, exist_ok=True)
        if not _holds_rows(path, len(texts)):
            _write_atomically(d, path.name, lambda fh: np.save(
                fh, np.ascontiguousarray(vecs, dtype=np.float32), allow_pickle=False))
    except OSError:
        return None
    return path


def save_version_vectors(cache_dir, checksum: str, model_identity: str, vv: VersionVectors) -> Path | None:
    """Store ``vv``: its values file unless one with the same texts and model is there
    (:func:`save_values_file`), then the version's file. A cache that cannot be written (read-only directory,
    full disk) is not an error: the next call computes the vectors again."""
    d = _dir(cache_dir)
    values = save_values_file(cache_dir, model_identity, vv.texts, vv.leaf_vecs)
    if values is None:
        return None
    meta = {"format": FORMAT, "checksum": checksum, "model": model_identity, "values": values.stem[len(VALUES_PREFIX):],
            "texts": vv.texts, "uids": vv.uids, "names": vv.names, "levels": vv.levels, "parents": vv.parents}
    blob = np.frombuffer(json.dumps(meta, ensure_ascii=False).encode("utf-8"), dtype=np.uint8)
    name = f"{_key(checksum, model_identity)}.npz"
    try:
        _write_atomically(d, name, lambda fh: np.savez(
            fh, meta=blob, leaf_row=np.asarray(vv.leaf_row, dtype=np.int32),
            node_vecs=np.ascontiguousarray(vv.node_vecs, dtype=np.float32)))
        _prune(d, KEEP)
    except OSError:
        return None
    return d / name


def _prune(d: Path, keep: int) -> None:
    for pattern in ("*.npz", f"{VALUES_PREFIX}*.npy"):
        files = sorted(d.glob(pattern), key=lambda p: p.stat().st_mtime, reverse=True)
        for p in files[keep:]:
            p.unlink(missing_ok=True)


def clear_version_vectors(cache_dir=None) -> int:
    """Remove every cached version-vector file (and values file); returns how many version files were removed."""
    d = _dir(cache_dir)
    n = 0
    for p in sorted(d.iterdir()) if d.is_dir() else []:
        if p.suffix in (".npz", ".npy"):
            n += p.suffix == ".npz"
            p.unlink(missing_ok=True)
    return n


def cached_vectors(embedder, texts: list[str], progress=None) -> np.ndarray:
    """``embedder.embed(texts)`` (the same unit vectors, in order), reading the embedding cache in one query
    instead of one lookup per 900 texts: every row of the model when the cache holds at most
    :data:`SCAN_RATIO` times as many as are wanted (one pass in key order: 0.25 s for 100,000; the rows are
    counted only when the file's size allows more), else the wanted keys in a temporary table joined with the
    cache's (0.75 s for 100,000, whatever else the cache holds). Each stored vector is copied into its text's row
    as it is read (no NumPy call per row, no row kept); only the texts the cache lacks go to ``embedder.embed``
    (which loads the model and stores them)."""
    import sqlite3

    from embeddings.cache import text_key

    if not texts or not embedder.use_cache or not embedder.cache.path.is_file():
        return _embed(embedder, texts, progress)
    first: dict[bytes, int] = {}
    for i, t in enumerate(texts):
        first.setdefault(text_key(t), i)
    conn = sqlite3.connect(embedder.cache.path, timeout=60)
    try:
        model = embedder.identity
        one = conn.execute("SELECT length(key), length(vector) FROM embeddings WHERE model = ? LIMIT 1",
                           [model]).fetchone()
        if one is None or not one[1] or one[1] % 4:  # nothing of this model, or not float32 rows
            return _embed(embedder, texts, progress)
        size = one[1]
        buf = bytearray(len(texts) * size)  # each text's vector at its first occurrence, zeros where none is
        into, found = memoryview(buf), bytearray(len(texts))
        if _few_rows(conn, embedder.cache.path, model, len(first), sum(one)):  # the model's rows, in key order
            at = first.get
            for key, blob in conn.execute("SELECT key, vector FROM embeddings WHERE model = ?", [model]):
                i = at(key)
                if i is not None:
                    into[i * size : i * size + size] = blob
                    found[i] = 1
        else:
            conn.execute("PRAGMA temp_store = MEMORY")
            conn.execute("CREATE TEMP TABLE wanted (key BLOB PRIMARY KEY, i INTEGER NOT NULL) WITHOUT ROWID")
            conn.executemany("INSERT INTO wanted VALUES (?, ?)", sorted(first.items()))  # appended in key order
            for i, blob in conn.execute(
                "SELECT w.i, e.vector FROM wanted w JOIN embeddings e ON e.model = ? AND e.key = w.key", [model]
            ):
                into[i * size : i * size + size] = blob
                found[i] = 1
    except (sqlite3.Error, ValueError):  # another layout, a damaged file, rows of several sizes: the embedder's
        return _embed(embedder, texts, progress)  # own lookup decides
    finally:
        conn.close()
    out = np.frombuffer(buf, dtype=np.float32).reshape(len(texts), size // 4)
    held = np.frombuffer(found, dtype=np.uint8).astype(bool)
    if len(first) < len(texts):  # repeated texts (not in a version, whose texts are unique): copy the first's row
        rep = np.array([first[text_key(t)] for t in texts], dtype=np.int64)
        out, held = out[rep], held[rep]
    missing = np.flatnonzero(~held)
    if len(missing):
        out[missing] = _embed(embedder, [texts[i] for i in missing], progress)
    embedder.stats.n_texts += len(texts) - len(missing)
    embedder.stats.n_cached += len(texts) - len(missing)
    return out


def _few_rows(conn, path: Path, model: str, wanted: int, row_bytes: int) -> bool:
    """The cache holds at most :data:`SCAN_RATIO` times ``wanted`` rows of ``model``: known without counting
    them when the whole file could hold no more rows of ``row_bytes`` (key and vector), else counted."""
    try:
        if path.stat().st_size <= SCAN_RATIO * wanted * row_bytes:
            return True
    except OSError:
        pass
    held = conn.execute("SELECT count(*) FROM embeddings WHERE model = ?", [model]).fetchone()[0]
    return held <= SCAN_RATIO * wanted


def _embed(embedder, texts: list[str], progress) -> np.ndarray:
    """``embedder.embed(texts)``, with a progress step when there is something to show (values the embedding cache
    lacks: a version built with another model than ``similar --model`` names, a cleared cache)."""
    if progress is None or len(texts) <= 1:
        return embedder.embed(texts)
    with progress.step("Embedding values", total=len(texts)) as step:
        return embedder.embed(texts, progress=step.update)


def assemble(texts: list[str], leaf_row: np.ndarray, weights: np.ndarray, leaf_vecs: np.ndarray, uids: list[str],
             names: list[str], levels: list[int], parent_row: np.ndarray) -> VersionVectors:
    """A version's vectors from its values (``texts`` in code-point order, each one's level-1 node row
    ``leaf_row`` in ``uids`` and its weight) and its nodes (sorted by uid; ``parent_row`` -1 for a top node):
    every node's centroid, the same as :func:`taxonomy.query.node_vectors` gives: the weight-weighted sum (weights
    ``max(w, 0) + 1e-12``, all 1 when none is positive) of the vectors of the values under the node, normalised
    (zero for an empty node). A level-1 node adds its values in their order (float64), as one sparse product (each
    node's row of weights times the values' vectors, :data:`BLOCK` dimensions at a time), a node above adds its
    children in the order of their uids. Linear in the number of values."""
    w = np.maximum(np.asarray(weights, dtype=np.float64), 0.0)
    if w.sum() <= 0:
        w = np.ones_like(w)
    w += 1e-12
    level_arr = np.asarray(levels, dtype=np.int64)
    d = leaf_vecs.shape[1] if leaf_vecs.ndim == 2 else 0
    total = np.zeros((len(uids), d), dtype=np.float64)
    if len(texts):
        from scipy.sparse import csr_matrix

        # node i's row holds the weights of its values, in their order (a stable sort keeps it): the product adds
        # weight * vector value by value, in that order, as np.add.at does
        order = np.argsort(leaf_row, kind="stable")
        starts = np.zeros(len(uids) + 1, dtype=np.int64)
        np.cumsum(np.bincount(leaf_row, minlength=len(uids)), out=starts[1:])
        members = csr_matrix((w[order], order, starts), shape=(len(uids), len(texts)))
        for j in range(0, d, BLOCK):
            total[:, j : j + BLOCK] = members @ np.asarray(leaf_vecs[:, j : j + BLOCK], dtype=np.float64)
    for level in range(2, int(level_arr.max(initial=0)) + 1):  # then each level from its children, in uid order
        kids = np.flatnonzero((level_arr == level - 1) & (parent_row >= 0))
        np.add.at(total, parent_row[kids], total[kids])
    norms = np.linalg.norm(total, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return VersionVectors(texts, leaf_row, leaf_vecs, uids, names, [int(x) for x in levels],
                          [uids[i] if i >= 0 else None for i in parent_row], (total / norms).astype(np.float32))


def _leaf_vectors(cache_dir, embedder, texts: list[str], values_files: bool,
                  base: VersionVectors | Callable[[], VersionVectors | None] | None = None,
                  progress=None) -> tuple[np.ndarray, bool]:
    """The values' vectors, and whether they came from a values file: from a values file holding exactly these
    texts (another version with the same values wrote it); else those ``base`` (the parent version's, or the
    function that loads them, called only then) holds, and the rest from the embedding cache; else all from the
    embedding cache."""
    found = values_files and bool(texts)
    vecs = load_values_file(cache_dir, values_key(texts, embedder.identity), len(texts)) if found else None
    if vecs is not None:
        return vecs, True
    if callable(base):
        base = base()
    if base is None or not texts:
        return cached_vectors(embedder, texts, progress), False
    row = {t: i for i, t in enumerate(base.texts)}
    at = np.fromiter((row.get(t, -1) for t in texts), dtype=np.int64, count=len(texts))
    out = np.empty((len(texts), base.leaf_vecs.shape[1]), dtype=np.float32)
    known = at >= 0
    out[known] = base.leaf_vecs[at[known]]
    missing = np.flatnonzero(~known)
    if len(missing):
        out[missing] = cached_vectors(embedder, [texts[i] for i in missing], progress)
    return out, False


def compute_version_vectors(session, version_id: int, embedder, *, cache_dir=None, values_files: bool = False,
                            base: VersionVectors | Callable[[], VersionVectors | None] | None = None,
                            progress=None,
                            new_values: Callable[[list[str], np.ndarray], object] | None = None) -> VersionVectors:
    """The vectors of a stored version (:func:`assemble`): its values' (in code-point order of the texts, as
    :func:`taxonomy.store.read_tree` orders them; with ``values_files``, from a values file of ``cache_dir`` when
    one holds these texts; else those ``base``, another version's vectors or the function that loads them, holds
    and :func:`cached_vectors` for the rest) and every node's centroid. Reads only what ``similar`` needs of the
    version (value texts, weights and nodes: no tree objects), as the driver's rows. ``new_values(texts,
    vectors)`` is called once the values' vectors are in hand when no values file held them, before the nodes
    are read and summed (:func:`version_vectors` writes the values file meanwhile)."""
    from operator import itemgetter

    from taxonomy.db.bulk import driver_rows
    from taxonomy.db.models import Membership, Node, Value

    rows = driver_rows(session, select(Value.text, Membership.node_id, Membership.weight)
                       .join(Value, Value.id == Membership.value_id).where(Membership.version_id == version_id))
    rows.sort(key=itemgetter(0))
    texts = [r[0] for r in rows]
    node_of = np.fromiter(map(itemgetter(1), rows), dtype=np.int64, count=len(rows))
    w = np.fromiter(map(itemgetter(2), rows), dtype=np.float64, count=len(rows))
    del rows
    leaf_vecs, from_file = _leaf_vectors(cache_dir, embedder, texts, values_files, base, progress)
    if new_values is not None and not from_file and texts:
        new_values(texts, leaf_vecs)
    nodes = driver_rows(session, select(Node.uid, Node.id, Node.name, Node.level, Node.parent_id)
                        .where(Node.version_id == version_id))
    nodes.sort(key=itemgetter(0))
    row_of = {n[1]: i for i, n in enumerate(nodes)}
    parent_row = np.array([row_of[n[4]] if n[4] is not None else -1 for n in nodes], dtype=np.int64)
    ids = np.fromiter(row_of, dtype=np.int64, count=len(row_of))  # node ids in uid order
    by_id = np.argsort(ids)
    leaf_row = by_id[np.minimum(np.searchsorted(ids, node_of, sorter=by_id), max(len(ids) - 1, 0))]
    if len(node_of) and (not len(ids) or not np.array_equal(ids[leaf_row], node_of)):
        raise ValueError(f"version {version_id}: a membership names a node of another version")
    return assemble(texts, leaf_row, w, leaf_vecs, [n[0] for n in nodes], [n[2] for n in nodes],
                    [n[3] for n in nodes], parent_row)


def derive_renamed(session, version_id: int, base: VersionVectors) -> VersionVectors | None:
    """The vectors of a version whose change-set only renamed nodes of the version ``base`` holds the vectors
    of: the same values, memberships and weights, so the same vectors; only the names are read (the version's
    nodes). None when the nodes are not those of ``base`` (other uids, levels or parents)."""
    from operator import itemgetter

    from taxonomy.db.models import Node

    nodes = session.execute(
        select(Node.id, Node.uid, Node.name, Node.level, Node.parent_id).where(Node.version_id == version_id)
    ).all()
    nodes.sort(key=itemgetter(1))
    uid_of = {n.id: n.uid for n in nodes}
    if ([n.uid for n in nodes] != base.uids or [n.level for n in nodes] != base.levels
            or [uid_of.get(n.parent_id) for n in nodes] != base.parents):
        return None
    return VersionVectors(base.texts, base.leaf_row, base.leaf_vecs, base.uids, [n.name for n in nodes], base.levels,
                          base.parents, base.node_vecs)


def from_tree_vectors(tree, texts: list[str], vectors: np.ndarray) -> VersionVectors:
    """The vectors of ``tree`` (as :func:`compute_version_vectors` gives them once it is stored) from the vectors of
    its values: row ``i`` of ``vectors`` is the vector of ``texts[i]``."""
    row = {t: i for i, t in enumerate(texts)}
    leaves = sorted(tree.leaves, key=lambda lf: lf.text)
    uids = sorted(tree.nodes)
    pos = {u: i for i, u in enumerate(uids)}
    nodes = [tree.nodes[u] for u in uids]
    leaf_vecs = np.ascontiguousarray(vectors[np.fromiter((row[lf.text] for lf in leaves), dtype=np.int64,
                                                         count=len(leaves))], dtype=np.float32)
    return assemble([lf.text for lf in leaves], np.array([pos[lf.parent_uid] for lf in leaves], dtype=np.int64),
                    np.array([lf.weight for lf in leaves], dtype=np.float64), leaf_vecs, uids,
                    [n.name for n in nodes], [n.level for n in nodes],
                    np.array([pos[n.parent_uid] if n.parent_uid else -1 for n in nodes], dtype=np.int64))


def version_vectors(session, version, embedder, *, cache_dir=None, cache: bool = True,
                    progress=None) -> VersionVectors:
    """The vectors ``similar`` searches for ``version`` (a :class:`~taxonomy.db.models.Version`) under
    ``embedder``'s model: its cached file; else, for a rename-only change of a version whose file is cached, that
    file with the new names (:func:`derive_renamed`); else computed (:func:`compute_version_vectors`), with the
    values' vectors from the values file that holds the version's values, else those the parent's file holds
    (read only then). Stored unless ``cache`` is false or the version has no checksum: a new values file is
    written by a thread while the nodes are read and summed. ``progress`` (:class:`taxonomy.progress.Progress`)
    shows the embedding of values the cache lacks."""
    import threading

    identity = embedder.identity
    checksum = version.checksum or ""
    cache = cache and bool(checksum)
    vv = load_version_vectors(cache_dir, checksum, identity) if cache else None
    if vv is not None:
        return vv

    def parent() -> VersionVectors | None:  # the parent version's vectors: most of this version's, often all
        if not cache or version.parent_id is None:
            return None
        from taxonomy.db.models import Version

        parent_sum = session.execute(select(Version.checksum).where(Version.id == version.parent_id)).scalar()
        return load_version_vectors(cache_dir, parent_sum, identity) if parent_sum else None

    ops = ((version.manifest or {}).get("change_set") or {}).get("operations") or []
    base = None
    if ops and all(op.get("op") == "rename" for op in ops):
        base = parent()
        vv = derive_renamed(session, version.id, base) if base is not None else None
    writing: list[threading.Thread] = []

    def write_values(texts: list[str], vecs: np.ndarray) -> None:
        writing.append(threading.Thread(target=save_values_file, args=(cache_dir, identity, texts, vecs),
                                        name="taxo-values-file"))
        writing[-1].start()

    try:
        if vv is None:
            vv = compute_version_vectors(session, version.id, embedder, cache_dir=cache_dir, values_files=cache,
                                         base=base if base is not None else parent, progress=progress,
                                         new_values=write_values if cache else None)
    finally:
        for thread in writing:
            thread.join()
    if cache:
        save_version_vectors(cache_dir, checksum, identity, vv)
    return vv


def save_built_version(cache_dir, checksum: str, embedder, tree, texts: list[str], vectors: np.ndarray) -> None:
    """After a build: store the new version's vectors (it has them in hand), so that its first ``similar`` reads
    them instead of computing them. Nothing when the embedder does not use the cache."""
    if embedder.use_cache and checksum:
        save_version_vectors(cache_dir, checksum, embedder.identity, from_tree_vectors(tree, texts, vectors))
