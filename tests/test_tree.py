"""Tree algebra (taxonomy.tree, Tree methods), the structural check of taxonomy.integrity, and the one ExportResult."""

from __future__ import annotations

import json

import numpy as np
import pytest

from taxonomy import api as tx
from taxonomy.domain import Leaf, Node, Tombstone, Tree
from taxonomy.errors import TaxoError
from taxonomy.integrity import check_structure, check_tree_integrity
from taxonomy.query import node_vectors
from taxonomy.store import get_version
from taxonomy.tree import content_checksum, leaf_pct, level1_sums, node_centroids, recompute_stats
from tests.curation_fixtures import make_version


def small_tree() -> Tree:
    nodes = {
        "t:l2:a": Node("t:l2:a", 2, "A", "", None),
        "t:l2:b": Node("t:l2:b", 2, "B", "", None),
        "t:l1:x": Node("t:l1:x", 1, "X", "", "t:l2:a"),
        "t:l1:y": Node("t:l1:y", 1, "Y", "", "t:l2:a"),
        "t:l1:z": Node("t:l1:z", 1, "Z", "", "t:l2:b"),
    }
    leaves = [Leaf("v1", "t:l1:x", 1.0, 2), Leaf("v2", "t:l1:x", 3.0, 1, aliases=["V2"]),
              Leaf("v3", "t:l1:y", 0.5), Leaf("v4", "t:l1:z", 5.5)]
    tree = Tree(nodes, leaves, version_id=4)
    tree.tombstones["t:l1:w"] = Tombstone("t:l1:w", 1, "W", "merged", ["t:l1:x"], 3)
    return recompute_stats(tree)


def test_stats_from_the_leaves():
    tree = small_tree()
    assert tree.total_weight() == 10.0
    counts, weights = tree.subtree_totals()
    assert counts == {"t:l2:a": 3, "t:l2:b": 1, "t:l1:x": 2, "t:l1:y": 1, "t:l1:z": 1}
    assert weights["t:l2:a"] == 4.5 and weights["t:l1:x"] == 4.0
    a = tree.nodes["t:l2:a"]
    assert (a.member_count, a.weight, a.pct_total_occurrences) == (3, 4.5, 45.0)
    assert leaf_pct(5.5, 10.0) == 55.0 and leaf_pct(1.0, 0.0) == 0.0
    assert check_tree_integrity(tree) == []


def test_subtree_totals_vectorised_are_the_loops_bit_for_bit():
    rng = np.random.default_rng(3)
    nodes = {f"t:l3:{i}": Node(f"t:l3:{i}", 3, f"C{i}", "", None) for i in range(3)}
    nodes |= {f"t:l2:{i}": Node(f"t:l2:{i}", 2, f"B{i}", "", f"t:l3:{i % 3}") for i in range(7)}
    nodes |= {f"t:l1:{i}": Node(f"t:l1:{i}", 1, f"A{i}", "", f"t:l2:{i % 7}") for i in range(40)}
    leaves = [Leaf(f"v{i}", f"t:l1:{rng.integers(40)}", float(rng.random() * 10.0 ** rng.integers(-6, 6)))
              for i in range(3000)] + [Leaf("int weight", "t:l1:0", 3), Leaf("neg zero", "t:l1:1", -0.0)]
    tree = Tree(nodes, leaves)
    counts, weights = tree.subtree_totals()
    loop_counts, loop_weights = tree._subtree_totals_loop()
    assert list(counts.items()) == list(loop_counts.items())
    assert [w.hex() for w in weights.values()] == [w.hex() for w in loop_weights.values()]
    assert {type(c) for c in counts.values()} == {int} and {type(w) for w in weights.values()} == {float}
    # what the loop refuses, the same way: a value under no node, a node whose parent is missing
    for broken in (Tree(nodes, [*leaves, Leaf("lost", "t:l1:nope", 1.0)]),
                   Tree({**nodes, "t:l1:0": Node("t:l1:0", 1, "A0", "", "t:l2:nope")}, leaves)):
        with pytest.raises(KeyError):
            broken.subtree_totals()


def test_copy_is_deep_and_equal():
    tree = small_tree()
    c = tree.copy()
    assert c == tree and content_checksum(c) == content_checksum(tree)
    c.nodes["t:l1:x"].name = "changed"
    c.leaves[1].aliases.append("v-two")
    c.tombstones["t:l1:w"].replaced_by.append("t:l1:y")
    assert tree.nodes["t:l1:x"].name == "X" and tree.leaves[1].aliases == ["V2"]
    assert tree.tombstones["t:l1:w"].replaced_by == ["t:l1:x"]


@pytest.mark.parametrize("breakage, message", [
    (lambda t: setattr(t.nodes["t:l1:x"], "parent_uid", "t:l2:nope"), "unknown parent 't:l2:nope'"),
    (lambda t: setattr(t.nodes["t:l1:x"], "parent_uid", None), "at level 1 has no parent"),
    (lambda t: setattr(t.leaves[0], "parent_uid", "t:l2:a"), "is not under a level-1 node"),
    (lambda t: t.leaves.append(Leaf("v1", "t:l1:y", 1.0)), "'v1' appears twice"),
])
def test_check_structure_names_the_problem(breakage, message):
    tree = small_tree()
    breakage(tree)
    with pytest.raises(TaxoError, match=message):
        check_structure(tree)
    with pytest.raises(TaxoError, match=message):
        recompute_stats(tree)


def test_every_value_problem_is_found_in_leaf_order():
    tree = small_tree()
    tree.leaves += [Leaf("v3", "t:l1:x", 1.0), Leaf("lost", "t:l1:nope", 1.0), Leaf("v1", "t:l1:y", 1.0),
                    Leaf("high", "t:l2:b", 1.0), Leaf("v1", "t:l1:z", 1.0)]
    found = [(v.rule, v.message) for v in check_tree_integrity(tree, check_stats=False) if v.rule == "one-root-path"]
    assert found == [
        ("one-root-path", "value 'v1' is placed 3 times"),
        ("one-root-path", "value 'v3' is placed 2 times"),
        ("one-root-path", "value 'lost' has unknown parent 't:l1:nope'"),
        ("one-root-path", "value 'high' is under t:l2:b ('B') at level 2, not level 1"),
    ]
    assert check_tree_integrity(small_tree()) == []


def test_ancestor_of_a_broken_tree_is_an_error_not_an_assert():
    tree = small_tree()
    tree.nodes["t:l1:x"].parent_uid = None
    with pytest.raises(TaxoError, match="has no parent"):
        tree.ancestor(tree.leaves[0], 2)


def test_node_centroids_are_the_weighted_means():
    tree = small_tree()
    rng = np.random.default_rng(0)
    X = rng.normal(size=(len(tree.leaves), 8)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    w = np.array([lf.weight for lf in tree.leaves])
    uids, vecs = node_vectors(tree, X)
    assert uids == sorted(tree.nodes) and vecs.dtype == np.float32
    for u, v in zip(uids, vecs, strict=True):
        under = [i for i, lf in enumerate(tree.leaves) if lf.parent_uid == u or tree.nodes[lf.parent_uid].parent_uid == u]
        mean = (X[under] * (w[under] + 1e-12)[:, None]).sum(axis=0)
        np.testing.assert_allclose(v, mean / np.linalg.norm(mean), rtol=1e-6, atol=1e-6)
    # a node with nothing under it gets the zero vector
    tree.nodes["t:l2:c"] = Node("t:l2:c", 2, "C", "", None)
    uids, vecs = node_centroids(tree, *level1_sums(tree, X, np.ones(len(tree.leaves))))
    assert not vecs[uids.index("t:l2:c")].any()


def test_api_export_result(db, tmp_path):
    version = make_version(db, tmp_path)
    out = tmp_path / "tree.json"
    res = tx.export(version, format="json", out=str(out), db=db)
    from taxonomy.db.engine import session_scope

    with session_scope(db) as s:
        stored = get_version(s, version).checksum
    assert list(res.to_dict()) == ["version_id", "format", "path", "checksum", "n_nodes", "n_values", "privacy"]
    assert (res.version_id, res.format, res.path, res.checksum) == (version, "json", str(out), stored)
    assert (res.n_nodes, res.n_values, res.privacy) == (10, 15, None)
    assert res.rows == 25 and json.loads(out.read_text())["checksum"] == stored


# ---------------------------------------------------------------------------------------------------------------
# Checks that were asserts (they vanished under ``python -O``): now real errors
# ---------------------------------------------------------------------------------------------------------------


def test_split_without_k_or_groups_is_an_edit_error():
    from taxonomy.edits import EditContext, EditError, Split, apply_operations

    with pytest.raises(EditError, match="needs k .* or groups"):
        apply_operations(small_tree(), [Split(node="t:l1:x")], EditContext(base_version_id=4))


def test_split_of_an_upper_node_by_k_uses_the_embedder(embedder):
    from taxonomy.edits import EditContext, Split, apply_operations

    out = apply_operations(small_tree(), [Split(node="t:l2:a", k=2)],
                           EditContext(base_version_id=4, embed=embedder.embed))
    assert len(out.tree.nodes_at(2)) == 3 and check_tree_integrity(out.tree) == []


def test_suppression_needs_a_stored_version():
    from taxonomy.privacy import suppress_tree

    tree = small_tree()
    tree.version_id = None
    with pytest.raises(ValueError, match="stored version"):
        suppress_tree(None, tree, 2)  # type: ignore[arg-type]


def test_embedding_no_text_gives_an_empty_matrix(embedder):
    X = embedder.embed([])
    assert X.shape == (0, embedder.embed(["honesty"]).shape[1]) and X.dtype == np.float32
