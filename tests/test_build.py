"""`build` end to end on the bundled sample with the real embedding model (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections import Counter, defaultdict

import pytest
from sqlalchemy import func, select

from taxonomy.api import build, ingest, sample_path
from taxonomy.db.engine import session_scope
from taxonomy.db.models import Membership, Node, Version
from taxonomy.errors import UsageError
from taxonomy.store import read_tree

LEVELS = [40, 8, 3]


@pytest.fixture
def sample_db(db):
    ingest(str(sample_path()), db=db, value_col="value", weight_col="pct_convos")
    return db


def check_invariants(tree, levels):
    """Exact counts, every node non-empty, one parent per value, parents one level up, pct sums ~100."""
    assert tree.depth == len(levels)
    for level, k in enumerate(levels, start=1):
        nodes = tree.nodes_at(level)
        assert len(nodes) == k, f"level {level}"
        assert abs(sum(n.pct_total_occurrences for n in nodes) - 100.0) < 1e-6
        for n in nodes:
            if level == len(levels):
                assert n.parent_uid is None
            else:
                assert tree.nodes[n.parent_uid].level == level + 1
            assert n.uid.startswith(f"values:l{level}:")
    children = Counter(n.parent_uid for n in tree.nodes.values() if n.parent_uid)
    children.update(leaf.parent_uid for leaf in tree.leaves)
    assert all(children[uid] >= 1 for uid in tree.nodes), "a node without children"
    texts = [leaf.text for leaf in tree.leaves]
    assert len(texts) == len(set(texts)), "a value placed twice"
    # member counts and weights agree with the leaves
    anc = tree.ancestors_by_level()
    for level, uids in anc.items():
        members = Counter(uids)
        for uid, n in members.items():
            assert tree.nodes[uid].member_count == n


def test_build_stores_a_complete_named_version(sample_db, cache_dir):
    res = build(db=sample_db, levels=",".join(map(str, LEVELS)), seed=0, message="first cut", cache_dir=cache_dir)
    assert res.version_id == 1 and res.levels == LEVELS and res.n_values == 552
    with session_scope(sample_db) as s:
        v = s.get(Version, 1)
        tree = read_tree(s, 1)
        assert v.parent_id is None and v.message == "first cut" and v.kind == "build" and v.n_levels == 3
        m = v.manifest
    check_invariants(tree, LEVELS)
    assert len(tree.leaves) == 552
    # manifest: inputs and their checksums, model identity, method, levels, seed, package versions
    assert m["batches"][0]["sha256"] and m["batches"][0]["n_rows"] == 552
    assert m["model"]["name"] == "all-MiniLM-L6-v2" and "@sha256:" in m["model"]["identity"]
    assert m["method"]["name"] == res.method and m["levels"] == LEVELS and m["seed"] == 0
    assert {"numpy", "scikit-learn", "sentence-transformers", "torch"} <= set(m["packages"])
    # every node named and described; sibling names distinct
    siblings = defaultdict(list)
    for n in tree.nodes.values():
        assert n.name.strip() and n.description.strip()
        siblings[n.parent_uid].append(n.name)
    for names in siblings.values():
        assert len(names) == len(set(names))


def test_same_seed_same_tree_and_cache_makes_second_build_embed_nothing(sqlite_url, cache_dir, tmp_path):
    from taxonomy.init import init

    init(sqlite_url)
    ingest(str(sample_path()), db=sqlite_url, weight_col="pct_convos")
    a = build(db=sqlite_url, levels=LEVELS, seed=0, cache_dir=cache_dir)
    b = build(db=sqlite_url, levels=LEVELS, seed=0, cache_dir=cache_dir)
    c = build(db=sqlite_url, levels=LEVELS, seed=1, cache_dir=cache_dir)
    assert b.embedded == 0 and b.cached == 552
    assert a.checksum == b.checksum
    with session_scope(sqlite_url) as s:
        ta, tb, tc = read_tree(s, a.version_id), read_tree(s, b.version_id), read_tree(s, c.version_id)
    assert {(n.uid, n.name, n.parent_uid) for n in ta.nodes.values()} == {
        (n.uid, n.name, n.parent_uid) for n in tb.nodes.values()
    }
    assert c.checksum != a.checksum
    check_invariants(tc, LEVELS)


def test_a_fresh_cache_directory_embeds_everything(sqlite_url, tmp_path, cache_dir):
    from taxonomy.init import init

    init(sqlite_url)
    ingest(str(sample_path()), db=sqlite_url, weight_col="pct_convos")
    res = build(db=sqlite_url, levels=[10, 3], cache_dir=tmp_path / "empty-cache")
    assert res.embedded == 552 and res.cached == 0
    assert (tmp_path / "empty-cache" / "embeddings.sqlite").exists()


@pytest.mark.parametrize("method", ["kmeans", "hdbscan"])
def test_each_method_gives_exact_counts(sqlite_url, cache_dir, method):
    from taxonomy.init import init

    init(sqlite_url)
    ingest(str(sample_path()), db=sqlite_url, weight_col="pct_convos")
    res = build(db=sqlite_url, levels=[30, 6, 2], method=method, seed=0, cache_dir=cache_dir)
    assert res.method == method
    with session_scope(sqlite_url) as s:
        check_invariants(read_tree(s, res.version_id), [30, 6, 2])


def test_levels_auto(sample_db, cache_dir):
    res = build(db=sample_db, levels="auto", top=4, cache_dir=cache_dir)
    assert len(res.levels) == 3 and res.levels[-1] == 4
    assert res.levels == sorted(res.levels, reverse=True)
    with session_scope(sample_db) as s:
        check_invariants(read_tree(s, res.version_id), res.levels)


@pytest.mark.parametrize(
    "levels, message",
    [
        ("600,26,5", "only 552 values"),
        ("26,266,5", "must not increase"),
        ("26,x,5", "comma-separated integers"),
        ("26,0", "at least 1"),
        ("", "at least one level"),
    ],
)
def test_impossible_levels_are_refused(sample_db, cache_dir, levels, message):
    with pytest.raises(UsageError, match=message):
        build(db=sample_db, levels=levels, cache_dir=cache_dir)
    with session_scope(sample_db) as s:
        assert s.scalar(select(func.count()).select_from(Version)) == 0


def test_build_without_values_is_refused(db, cache_dir):
    with pytest.raises(UsageError, match="taxo ingest"):
        build(db=db, levels="3,1", cache_dir=cache_dir)


def test_interrupted_build_leaves_no_partial_version(sample_db, cache_dir, monkeypatch):
    """The version, its nodes and memberships are one transaction: a failure midway leaves nothing."""
    import taxonomy.store as store

    real_insert = store.insert_rows
    real_memberships = store._insert_memberships
    calls = {"n": 0, "memberships": 0}

    def counting_insert(conn, table, columns, rows, meanwhile=None):
        calls["n"] += table == "nodes"
        return real_insert(conn, table, columns, rows, meanwhile)

    def interrupted_memberships(conn, rows, meanwhile=None):
        real_memberships(conn, rows[: len(rows) // 2], meanwhile)  # half of them really written, then the interrupt
        calls["memberships"] = len(rows) // 2
        raise KeyboardInterrupt("interrupted while writing memberships")

    monkeypatch.setattr(store, "insert_rows", counting_insert)
    monkeypatch.setattr(store, "_insert_memberships", interrupted_memberships)
    with pytest.raises(KeyboardInterrupt):
        build(db=sample_db, levels=LEVELS, cache_dir=cache_dir)
    assert calls["n"] >= 1, "nodes were written before the memberships"
    assert calls["memberships"] > 0, "memberships were being written when the build was interrupted"
    with session_scope(sample_db) as s:
        assert s.scalar(select(func.count()).select_from(Version)) == 0
        assert s.scalar(select(func.count()).select_from(Node)) == 0
        assert s.scalar(select(func.count()).select_from(Membership)) == 0


def test_contrast_splits_shared_word_nodes_keeps_the_counts_and_is_recorded(sample_db, cache_dir):
    """`build(contrast=...)`: exact counts, the same tree for the same seed, recorded in the manifest, and fewer
    pairs of values in one level-1 node's largest shared-word group than without it."""
    from taxonomy.cluster.contrast import shared_groups

    def level1(version_id):
        with session_scope(sample_db) as s:
            tree = read_tree(s, version_id)
            manifest = s.get(Version, version_id).manifest
        texts = [lf.text for lf in tree.leaves]
        uids = sorted(n.uid for n in tree.nodes_at(1))
        labels = [uids.index(lf.parent_uid) for lf in tree.leaves]
        return tree, manifest, texts, labels

    def grouped(texts, labels):  # pairs of values in one node's largest same-word group (of 3 or more)
        import numpy as np

        return sum(len(g[1]) * (len(g[1]) - 1) // 2 for g in shared_groups(texts, np.array(labels), 4, 3).values())

    base = build(db=sample_db, levels=LEVELS, seed=0, cache_dir=cache_dir)
    a = build(db=sample_db, levels=LEVELS, seed=0, cache_dir=cache_dir, contrast=0.25)
    b = build(db=sample_db, levels=LEVELS, seed=0, cache_dir=cache_dir, contrast=0.25)
    assert a.checksum == b.checksum != base.checksum
    tree, manifest, texts, labels = level1(a.version_id)
    check_invariants(tree, LEVELS)
    assert "Contrast(share=0.25" in manifest["method"]["params"]["contrast"]
    _, base_manifest, base_texts, base_labels = level1(base.version_id)
    assert base_manifest["method"]["params"]["contrast"] is None
    assert grouped(texts, labels) < grouped(base_texts, base_labels)


@pytest.mark.parametrize("kw, message", [
    ({"contrast": 0}, "--contrast must be a share between 0"),
    ({"contrast": 1.5}, "--contrast must be a share between 0"),
    ({"contrast": 0.1, "method": "hdbscan"}, "--contrast: only for the umap-kmeans method, not hdbscan"),
])
def test_bad_contrast_is_refused_before_any_work(sample_db, cache_dir, kw, message):
    with pytest.raises(UsageError, match=message):
        build(db=sample_db, levels=LEVELS, seed=0, cache_dir=cache_dir, **kw)
    with session_scope(sample_db) as s:
        assert s.scalar(select(func.count()).select_from(Version)) == 0
