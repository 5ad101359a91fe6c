"""The one node-id rule (taxonomy.lineage.resolve_node_id) in each place a node is named: a tree being edited, a
stored version (`taxo show --node`), any version (`taxo history`)."""

from __future__ import annotations

import pytest

import taxonomy.api as tx
from taxonomy.domain import Node, Tombstone, Tree
from taxonomy.errors import NotFoundError, UsageError
from taxonomy.lineage import resolve_node_id, tree_pools

A = "v:l1:abcd1234-0000"
B = "v:l1:abce5678-0000"
GONE = "v:l1:dead0000-0000"


def small_tree() -> Tree:
    tree = Tree(nodes={u: Node(u, 1, u[-14:], "", None) for u in (A, B)})
    tree.tombstones[GONE] = Tombstone(GONE, 1, "Gone", "merged", [A], 2)
    return tree


def test_full_id_uuid_part_and_prefix_resolve_in_a_tree():
    pools = tree_pools(small_tree())
    assert resolve_node_id(A, *pools) == A
    assert resolve_node_id(f"  {A}  ", *pools) == A
    assert resolve_node_id("abcd1234-0000", *pools) == A
    assert resolve_node_id("ABCD", *pools) == A  # the uuid part is matched case-insensitively
    assert resolve_node_id("abce", *pools) == B
    assert resolve_node_id("dead", *pools) == GONE  # live nodes first, then the tombstones
    assert resolve_node_id("ffff", *pools) is None


def test_short_and_ambiguous_references_are_refused():
    pools = tree_pools(small_tree())
    with pytest.raises(UsageError, match="node id 'abc' is too short: give at least 4 characters"):
        resolve_node_id("abc", *pools)
    with pytest.raises(UsageError, match=r"target node id 'v:l1:abc' is too short"):
        resolve_node_id("v:l1:abc", *pools, what="target node")
    tree = small_tree()
    tree.nodes["v:l1:abcd9999-0000"] = Node("v:l1:abcd9999-0000", 1, "x", "", None)
    with pytest.raises(UsageError, match=rf"node id 'abcd' is ambiguous in version 3: {A}, v:l1:abcd9999-0000; give"):
        resolve_node_id("abcd", *tree_pools(tree), scope=" in version 3")


def test_the_rule_is_the_same_in_an_edit_in_show_and_in_history(sqlite_url, cache_dir):
    tx.quickstart(db=sqlite_url, levels="40,8,3", cache_dir=cache_dir)
    top = tx.show(1, level=3, db=sqlite_url).nodes
    a, b = top[0], top[1]
    prefix = a.short_id[:6]
    assert tx.show(1, node=prefix, db=sqlite_url).node.id == a.id
    merged = tx.merge(1, b.short_id, into=prefix, db=sqlite_url)
    assert merged.version_id == 2
    # the merged node: gone from version 2, still found by `history` and named by the edit
    with pytest.raises(NotFoundError, match="no longer exists: it was merged"):
        tx.rename(2, b.short_id, "again", db=sqlite_url)
    with pytest.raises(NotFoundError, match=f"version 2 has no node '{b.short_id}'"):
        tx.show(2, node=b.short_id, db=sqlite_url)
    hist = tx.history(b.short_id, db=sqlite_url)
    assert [(h.version_id, h.status) for h in hist] == [(1, "present"), (2, "merged")]
    with pytest.raises(UsageError, match="too short"):
        tx.history(b.short_id[:3], db=sqlite_url)
    with pytest.raises(NotFoundError, match="no version has a node 'ffffffff'"):
        tx.history("ffffffff", db=sqlite_url)
