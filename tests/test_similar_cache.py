"""`similar` caches each version's value and node vectors (taxonomy.similar_cache), keyed by content and model."""

from __future__ import annotations

import numpy as np
import pytest

import taxonomy.query as query
from embeddings import EmbeddingCache, resolve_model
from taxonomy import api as tx
from taxonomy.db.engine import session_scope
from taxonomy.domain import Leaf, Node, Tree
from taxonomy.ingest import value_totals
from taxonomy.tree import content_checksum, recompute_stats
from taxonomy.similar_cache import (
    SUBDIR,
    VersionVectors,
    clear_version_vectors,
    load_version_vectors,
    save_version_vectors,
)
from taxonomy.store import get_version, write_version

VALUES = ["honesty", "truthfulness", "candor", "care", "kindness", "safety", "privacy", "security"]


def store(db: str, tmp_path, renamed: str | None = None) -> int:
    """A 3-level version of VALUES written through the store (nothing clustered); ``renamed`` renames node a1."""
    if not (tmp_path / "v.csv").exists():
        (tmp_path / "v.csv").write_text("value,weight\n" + "".join(f"{v},{i + 1}\n" for i, v in enumerate(VALUES)))
        tx.init(db=db)
        tx.ingest(str(tmp_path / "v.csv"), value_col="value", weight_col="weight", db=db)
    parents = {"a1": "b1", "a2": "b1", "a3": "b2", "b1": "top", "b2": "top", "top": None}
    levels = {"a1": 1, "a2": 1, "a3": 1, "b1": 2, "b2": 2, "top": 3}
    tree = Tree(nodes={f"t:l{levels[u]}:{u}": Node(f"t:l{levels[u]}:{u}", levels[u], renamed if renamed and u == "a1"
                                                   else f"node {u} [b]", f"about {u}",
                                                   p and f"t:l{levels[p]}:{p}") for u, p in parents.items()})
    with session_scope(db) as s:
        for t in value_totals(s):
            tree.leaves.append(Leaf(t.text, ["t:l1:a1", "t:l1:a2", "t:l1:a3"][VALUES.index(t.text) % 3], t.weight,
                                    t.count, value_id=t.id))
        tree = recompute_stats(tree)
        return write_version(s, tree, kind="build", message="similar cache test", checksum=content_checksum(tree),
                             manifest={"kind": "build", "model": {"name": "all-MiniLM-L6-v2"}})


@pytest.fixture
def setup(db_url, tmp_path):
    """A version, and random unit vectors for its values and the queries in a fresh embedding cache (so the
    model is never loaded)."""
    cache = tmp_path / "cache"
    texts = VALUES + ["honest", "caring"]
    x = np.random.default_rng(0).standard_normal((len(texts), 16)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    EmbeddingCache(cache).put(resolve_model(None).identity, texts, x)
    return db_url, str(cache), store(db_url, tmp_path)


def files(cache: str) -> list:
    from pathlib import Path

    return sorted((Path(cache) / SUBDIR).glob("*.npz"))


def test_cached_result_is_the_computed_one_and_the_tree_is_not_read_again(setup, monkeypatch):
    db, cache, v = setup
    fresh = tx.similar("honest", version=v, k=5, db=db, cache_dir=cache, cache_vectors=False)
    assert files(cache) == []
    first = tx.similar("honest", version=v, k=5, db=db, cache_dir=cache)
    assert len(files(cache)) == 1

    def no_tree(*a, **k):
        raise AssertionError("read_tree called although the vectors are cached")

    monkeypatch.setattr(query, "read_tree", no_tree)
    again = tx.similar("honest", version=v, k=5, db=db, cache_dir=cache)
    assert fresh.to_dict() == first.to_dict() == again.to_dict()
    assert [h.level for h in again.nodes].count(1) >= 1 and again.values[0].path[0] == "node top [b]"
    with pytest.raises(AssertionError, match="read_tree called"):
        tx.similar("honest", version=v, k=5, db=db, cache_dir=cache, cache_vectors=False)


def test_a_new_version_content_gets_its_own_entry(setup, tmp_path):
    db, cache, v1 = setup
    before = tx.similar("honest", version=v1, k=8, db=db, cache_dir=cache)
    v2 = store(db, tmp_path, renamed="Renamed 'a1'")
    after = tx.similar("honest", version=v2, k=8, db=db, cache_dir=cache)
    assert len(files(cache)) == 2
    names = lambda r: {h.id: h.name for h in r.nodes}  # noqa: E731
    assert names(before)["t:l1:a1"] == "node a1 [b]" and names(after)["t:l1:a1"] == "Renamed 'a1'"
    paths = {h.id: h.path for h in after.values}
    assert paths["honesty"] == ["node top [b]", "node b1 [b]", "Renamed 'a1'"]
    assert tx.similar("honest", version=v1, k=8, db=db, cache_dir=cache).to_dict() == before.to_dict()


def test_the_key_covers_checksum_and_model_and_bad_files_are_ignored(setup):
    db, cache, v = setup
    tx.similar("caring", version=v, k=3, db=db, cache_dir=cache)
    with session_scope(db) as s:
        checksum = get_version(s, v).checksum
    ident = resolve_model(None).identity
    vv = load_version_vectors(cache, checksum, ident)
    assert isinstance(vv, VersionVectors) and sorted(vv.texts) == sorted(VALUES) and vv.leaf_vecs.shape == (8, 16)
    assert load_version_vectors(cache, checksum, ident + "-other") is None
    assert load_version_vectors(cache, "0" * 64, ident) is None
    [f] = files(cache)
    f.write_bytes(b"not a zip file")  # a damaged entry is a miss, and is rewritten
    assert load_version_vectors(cache, checksum, ident) is None
    r = tx.similar("caring", version=v, k=3, db=db, cache_dir=cache)
    assert load_version_vectors(cache, checksum, ident) is not None and len(r.values) == 3
    # a file whose stored key does not match (e.g. copied under another name) is not used
    save_version_vectors(cache, "f" * 64, ident, vv)
    other = [p for p in files(cache) if p != f][0]
    other.replace(f)
    assert load_version_vectors(cache, checksum, ident) is None
    assert clear_version_vectors(cache) == 1 and files(cache) == []


def test_old_entries_are_pruned(setup, monkeypatch):
    import taxonomy.similar_cache as sc

    db, cache, v = setup
    monkeypatch.setattr(sc, "KEEP", 2)
    with session_scope(db) as s:
        checksum = get_version(s, v).checksum
    tx.similar("honest", version=v, db=db, cache_dir=cache)
    vv = load_version_vectors(cache, checksum, resolve_model(None).identity)
    for i in range(4):
        save_version_vectors(cache, f"{i:064d}", "m", vv)
    assert len(files(cache)) == 2
    assert load_version_vectors(cache, f"{3:064d}", "m") is not None
