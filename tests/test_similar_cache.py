"""`similar` caches each version's value and node vectors (taxonomy.similar_cache), keyed by content and model."""

from __future__ import annotations

from pathlib import Path

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

    import taxonomy.similar_cache as sc

    def no_tree(*a, **k):
        raise AssertionError("the version read although the vectors are cached")

    monkeypatch.setattr(sc, "compute_version_vectors", no_tree)
    again = tx.similar("honest", version=v, k=5, db=db, cache_dir=cache)
    assert fresh.to_dict() == first.to_dict() == again.to_dict()
    assert [h.level for h in again.nodes].count(1) >= 1 and again.values[0].path[0] == "node top [b]"
    with pytest.raises(AssertionError, match="the version read"):
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


@pytest.mark.parametrize("weights", ["given", "zero", "mostly zero"])
def test_computed_vectors_are_those_of_the_tree(db_url, tmp_path, monkeypatch, weights):
    """compute_version_vectors (one bulk read of the cache, the level-1 sums as one sparse product) gives bit for
    bit what read_tree, the embedder and node_vectors give, on a 4-level version with uneven nodes (one of 150
    values), across several blocks of dimensions."""
    import random

    import taxonomy.similar_cache as sc
    from embeddings import Embedder
    from taxonomy.store import read_tree

    monkeypatch.setattr(sc, "BLOCK", 7)  # the sums in blocks of 7 of the 24 dimensions (the last one shorter)
    rng = random.Random(1)
    texts = [f"value {i:03d} {'x' * rng.randrange(1, 4)}" for i in range(300)]
    w = {"given": lambda i: rng.choice([0.0, 0.5, 1.0, 3.25]) * (i % 7 + 1), "zero": lambda i: 0.0,
         "mostly zero": lambda i: 0.0 if i % 3 else 2.0}[weights]
    (tmp_path / "v.csv").write_text("value,weight\n" + "".join(f"{t},{w(i)}\n" for i, t in enumerate(texts)))
    tx.init(db=db_url)
    tx.ingest(str(tmp_path / "v.csv"), value_col="value", weight_col="weight", db=db_url)
    sizes = {1: 23, 2: 6, 3: 3, 4: 1}
    uid = {lv: [f"t:l{lv}:{rng.random():.12f}" for _ in range(k)] for lv, k in sizes.items()}
    tree = Tree()
    for lv in (4, 3, 2, 1):
        for i, u in enumerate(uid[lv]):
            parent = None if lv == 4 else uid[lv + 1][i % sizes[lv + 1] if i < sizes[lv + 1] else rng.randrange(sizes[lv + 1])]
            tree.nodes[u] = Node(u, lv, f"n{lv}.{i}", "", parent)
    with session_scope(db_url) as s:
        for k, t in enumerate(value_totals(s)):  # one value in a node, others in dozens (skewed)
            parent = uid[1][0] if k % 2 else uid[1][k % 23 if k < 23 else min(rng.randrange(23), rng.randrange(23))]
            tree.leaves.append(Leaf(t.text, parent, t.weight, t.count, value_id=t.id))
        tree = recompute_stats(tree)
        v = write_version(s, tree, kind="build", message="t", checksum=content_checksum(tree), manifest={})
    cache = tmp_path / "cache"
    x = np.random.default_rng(2).standard_normal((len(texts), 24)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    EmbeddingCache(cache).put(resolve_model(None).identity, texts[::-1], x[::-1])
    emb = Embedder(cache_dir=cache)
    with session_scope(db_url) as s:
        t = read_tree(s, v)
        new = sc.compute_version_vectors(s, v, emb)
    vecs = emb.embed([lf.text for lf in t.leaves])
    old = VersionVectors.from_tree(t, vecs, *query.node_vectors(t, vecs))
    assert not emb.stats.model_loaded and emb.stats.n_cached == emb.stats.n_texts == 2 * len(texts)
    for f in ("texts", "leaf_parent", "uids", "names", "levels", "parents"):
        assert getattr(new, f) == getattr(old, f), f
    assert np.array_equal(new.leaf_vecs, old.leaf_vecs) and np.array_equal(new.node_vecs, old.node_vecs)
    empty = np.array([t.nodes[u].member_count == 0 for u in new.uids])  # (a node with no values: the zero vector)
    assert np.allclose(np.linalg.norm(new.node_vecs, axis=1), np.where(empty, 0.0, 1.0), atol=1e-5)


@pytest.mark.parametrize("scan_ratio", [10**6, 3, 0], ids=["scan, by the file size", "scan, counted", "join"])
def test_cached_vectors_embeds_only_what_the_cache_lacks(tmp_path, monkeypatch, scan_ratio):
    """Both ways of reading the cache (every row of the model, or the wanted keys joined), with rows of another
    model and unwanted rows of this one in the file."""
    import taxonomy.similar_cache as sc
    from embeddings import Embedder
    from taxonomy.similar_cache import cached_vectors

    monkeypatch.setattr(sc, "SCAN_RATIO", scan_ratio)
    cache = tmp_path / "cache"
    x = np.eye(4, dtype=np.float32)
    EmbeddingCache(cache).put(resolve_model(None).identity, ["a", "b", "c", "unwanted"], np.vstack([x[:3], -x[:1]]))
    EmbeddingCache(cache).put("another model", ["zz", "a"], -x[:2])
    emb = Embedder(cache_dir=cache)
    asked = []

    def fake_embed(texts):
        asked.append(list(texts))
        return np.tile(x[3], (len(texts), 1))

    monkeypatch.setattr(emb, "embed", fake_embed)
    out = cached_vectors(emb, ["c", "zz", "a", "c", "b"])
    assert asked == [["zz"]]
    assert np.array_equal(out, x[[2, 3, 0, 2, 1]])
    assert cached_vectors(emb, []).shape[0] == 0 and asked[-1] == []
    # a row of another size: the embedder's own lookup decides (here: embeds them all)
    EmbeddingCache(cache).put(resolve_model(None).identity, ["short"], np.ones((1, 3), dtype=np.float32))
    asked.clear()
    assert np.array_equal(cached_vectors(emb, ["a", "short"]), np.tile(x[3], (2, 1))) and asked == [["a", "short"]]


def _same(a: VersionVectors, b: VersionVectors) -> None:
    for f in ("texts", "leaf_parent", "uids", "names", "levels", "parents"):
        assert getattr(a, f) == getattr(b, f), f
    assert np.array_equal(a.leaf_vecs, b.leaf_vecs) and np.array_equal(a.node_vecs, b.node_vecs)


def _computed(db, v, cache):
    """The version's vectors computed from the database and the embedding cache alone (no vector file)."""
    import taxonomy.similar_cache as sc
    from embeddings import Embedder

    with session_scope(db) as s:
        manifest = get_version(s, v).manifest
        emb = Embedder(model=manifest["model"]["name"], cache_dir=cache, backend=manifest["model"]["embed_backend"])
        return sc.compute_version_vectors(s, v, emb), emb.identity


def test_a_build_writes_its_version_vectors_and_edits_reuse_them(db_url, cache_dir, sample_csv, tmp_path, monkeypatch):
    """`taxo build` stores the new version's vectors (bit for bit those computed from the stored version), so
    the first `similar` reads them; after a rename the first `similar` takes them from the parent's file with the
    new names; after a merge it reads the memberships but takes the values' vectors from the shared values file,
    not from the embedding cache. Every result equals the one computed afresh."""
    import shutil

    import taxonomy.similar_cache as sc

    cache = tmp_path / "cache"
    shutil.copytree(cache_dir, cache, dirs_exist_ok=True)  # the session's embeddings, without its vector files
    sc.clear_version_vectors(cache)
    tx.init(db=db_url)
    tx.ingest(str(sample_csv), value_col="value", weight_col="pct_convos", db=db_url)
    v1 = tx.build(levels="30,6,2", seed=0, cache_dir=str(cache), db=db_url).version_id
    with session_scope(db_url) as s:
        checksum = get_version(s, v1).checksum
    computed, ident = _computed(db_url, v1, cache)
    stored = load_version_vectors(cache, checksum, ident)
    assert stored is not None
    _same(stored, computed)

    calls = []
    real_compute, real_cached = sc.compute_version_vectors, sc.cached_vectors
    monkeypatch.setattr(sc, "compute_version_vectors", lambda *a, **k: calls.append("compute") or real_compute(*a, **k))
    monkeypatch.setattr(sc, "cached_vectors", lambda *a, **k: calls.append("cache") or real_cached(*a, **k))
    first = tx.similar("helpfulness", version=v1, k=5, db=db_url, cache_dir=str(cache))
    assert calls == [] and first.values[0].id == "helpfulness"

    top = tx.show(v1, level=1, db=db_url).nodes
    v2 = tx.rename(v1, top[0].id, "Renamed <b>node</b>", db=db_url).version_id
    r2 = tx.similar("helpfulness", version=v2, k=40, db=db_url, cache_dir=str(cache))  # every node
    assert calls == []
    assert r2.to_dict() == tx.similar("helpfulness", version=v2, k=40, db=db_url, cache_dir=str(cache),
                                      cache_vectors=False).to_dict()
    assert {h.id: h.name for h in r2.nodes}[top[0].id] == "Renamed <b>node</b>"
    old = tx.similar("helpfulness", version=v1, k=40, db=db_url, cache_dir=str(cache))
    assert {h.id: h.name for h in old.nodes}[top[0].id] == top[0].name != "Renamed <b>node</b>"
    with session_scope(db_url) as s:
        _same(load_version_vectors(cache, get_version(s, v2).checksum, ident), _computed(db_url, v2, cache)[0])
    calls.clear()

    v3 = tx.merge(v2, top[1].id, into=top[2].id, db=db_url).version_id
    r3 = tx.similar("helpfulness", version=v3, k=30, db=db_url, cache_dir=str(cache))
    assert calls == ["compute"]  # the memberships are read; the values' vectors come from the values file
    assert r3.to_dict() == tx.similar("helpfulness", version=v3, k=30, db=db_url, cache_dir=str(cache),
                                      cache_vectors=False).to_dict()
    assert len(sorted((cache / SUBDIR).glob("values-*.npy"))) == 1 and len(files(str(cache))) == 3

    # a value taken out: no values file holds the new set; the parent's file gives every vector
    calls.clear()
    v4 = tx.apply(v3, [{"op": "unplace", "value": "helpfulness"}], db=db_url).version_id
    r4 = tx.similar("helpfulness", version=v4, k=30, db=db_url, cache_dir=str(cache))
    assert calls == ["compute"] and "helpfulness" not in [h.id for h in r4.values]
    assert r4.to_dict() == tx.similar("helpfulness", version=v4, k=30, db=db_url, cache_dir=str(cache),
                                      cache_vectors=False).to_dict()
    assert len(sorted((cache / SUBDIR).glob("values-*.npy"))) == 2


def test_a_rename_whose_nodes_differ_from_the_parents_is_computed(setup, tmp_path):
    """derive_renamed refuses a version whose nodes are not the base's (another parent): computed instead."""
    import taxonomy.similar_cache as sc

    db, cache, v = setup
    tx.similar("honest", version=v, db=db, cache_dir=cache)
    with session_scope(db) as s:
        base = load_version_vectors(cache, get_version(s, v).checksum, resolve_model(None).identity)
        assert sc.derive_renamed(s, v, base) is not None
        moved = VersionVectors(base.texts, base.leaf_row, base.leaf_vecs, base.uids, base.names, base.levels,
                               [None] * len(base.uids), base.node_vecs)
        assert sc.derive_renamed(s, v, moved) is None


def test_a_missing_values_file_is_a_miss(setup):
    from pathlib import Path

    db, cache, v = setup
    first = tx.similar("honest", version=v, k=5, db=db, cache_dir=cache)
    [values] = sorted((Path(cache) / SUBDIR).glob("values-*.npy"))
    values.unlink()
    with session_scope(db) as s:
        assert load_version_vectors(cache, get_version(s, v).checksum, resolve_model(None).identity) is None
    assert tx.similar("honest", version=v, k=5, db=db, cache_dir=cache).to_dict() == first.to_dict()
    assert values.exists()


def test_values_the_cache_lacks_are_embedded_with_progress(setup, tmp_path):
    """A version whose values the embedding cache lacks (another model, a cleared cache): `similar` embeds them
    once, through the progress it is given (the CLI's bar), and caches them."""
    from contextlib import contextmanager

    db, _, v = setup
    steps = []

    class Recording:
        @contextmanager
        def step(self, description, total=None):
            updates = []
            steps.append((description, total, updates))

            class Step:
                def update(self, completed, total=None):
                    updates.append((completed, total))

            yield Step()

    empty = str(tmp_path / "empty-cache")
    r = tx.similar("honest", version=v, k=3, db=db, cache_dir=empty, progress=Recording())
    assert len(r.values) == 3
    [(description, total, updates)] = steps
    assert description == "Embedding values" and total == len(VALUES) and updates[-1] == (len(VALUES), len(VALUES))
    # the model was loaded for the values, so the query went through it too, and was stored with them
    assert EmbeddingCache(empty).count() == len(VALUES) + 1
    steps.clear()
    tx.similar("honest", version=v, k=3, db=db, cache_dir=empty, progress=Recording())
    assert steps == []  # the version's vectors are cached now


def test_the_values_file_is_looked_for_before_the_parents_file(setup, monkeypatch):
    """After a merge (the same values) the values file holds every vector: the parent version's file is not
    read; after a value is taken out (no values file holds the new set) it is, for the values it holds. Both
    give what a fresh computation gives, and the new values file is written (by its thread) with the vectors."""
    import taxonomy.similar_cache as sc

    db, cache, v1 = setup
    tx.similar("honest", version=v1, k=5, db=db, cache_dir=cache)
    v2 = tx.merge(v1, "t:l1:a1", into="t:l1:a2", db=db).version_id
    v3 = tx.apply(v2, [{"op": "unplace", "value": "candor"}], db=db).version_id
    with session_scope(db) as s:
        sums = {v: get_version(s, v).checksum for v in (v1, v2, v3)}
    read = []
    real_load = sc.load_version_vectors
    monkeypatch.setattr(sc, "load_version_vectors", lambda c, checksum, m: read.append(checksum) or real_load(c, checksum, m))
    r2 = tx.similar("honest", version=v2, k=8, db=db, cache_dir=cache)
    assert read == [sums[v2]]
    read.clear()
    r3 = tx.similar("honest", version=v3, k=8, db=db, cache_dir=cache)
    assert read == [sums[v3], sums[v2]]
    assert "candor" not in [h.id for h in r3.values]
    for v, r in ((v2, r2), (v3, r3)):
        assert r.to_dict() == tx.similar("honest", version=v, k=8, db=db, cache_dir=cache, cache_vectors=False).to_dict()
        _same(real_load(cache, sums[v], resolve_model(None).identity), _computed_here(db, v, cache))
    assert len(sorted((Path(cache) / SUBDIR).glob("values-*.npy"))) == 2


def _computed_here(db, v, cache):
    import taxonomy.similar_cache as sc
    from embeddings import Embedder

    with session_scope(db) as s:
        return sc.compute_version_vectors(s, v, Embedder(cache_dir=cache))
