"""taxonomy.edits.plan: which steps of operations apply to a tree, each refusal with its reason (the review pull
uses it to report every annotation that cannot apply)."""

from __future__ import annotations

from taxonomy.domain import Leaf, Tree
from taxonomy.edits import EditContext, Merge, Move, Rename, Split, apply_operations, plan
from taxonomy.tree import recompute_stats

from .curation_fixtures import VALUES, nodes_only, uid

CTX = EditContext(base_version_id=1)


def small_tree() -> Tree:
    """The curation fixture's tree, in memory, with made-up weights."""
    tree = nodes_only()
    i = 0
    for key, values in VALUES.items():
        for v in values:
            i += 1
            tree.leaves.append(Leaf(text=v, parent_uid=uid(key), weight=float(i), count=1, value_id=i))
    return recompute_stats(tree)


def test_each_step_that_cannot_apply_is_refused_with_its_reason_and_the_others_apply():
    tree = small_tree()
    before = tree.copy()
    steps = [
        [Rename(uid("a1x"), name="Candor")],
        [Merge(uid("a1y"), "values:l1:nowhere")],
        [Merge(uid("a1y"), uid("a1x"))],
    ]
    applicable, refused = plan(tree, steps, CTX)
    assert [i for i, _ in applicable] == [0, 2] and applicable[1][1] == steps[2]
    assert [i for i, _ in refused] == [1] and "unknown target node id" in refused[0][1]
    assert tree == before  # the tree itself is not changed


def test_a_step_refused_halfway_leaves_the_working_copy_as_it_was():
    tree = small_tree()
    # the split is refused after it has moved values: its new part would be named like its sibling a1y
    split = Split(uid("a1x"), groups=[{"name": "Transparency", "members": ["honesty"]},
                                      {"members": ["truthfulness", "candor"], "keep": True}])

    def merge_all_three(work) -> list:
        assert sum(leaf.parent_uid == uid("a1x") for leaf in work.tree.leaves) == 3  # the split left nothing behind
        assert sorted(work.members(uid("a1x"))) == ["candor", "honesty", "truthfulness"]  # nor in the index
        return [Merge(uid("a1x"), uid("a1y"))]

    applicable, refused = plan(tree, [[split], merge_all_three], CTX)
    assert [i for i, _ in applicable] == [1]
    assert refused[0][0] == 0 and "sibling already has the name 'Transparency'" in refused[0][1]


def test_a_step_that_breaks_an_integrity_rule_is_refused_and_the_rest_applies():
    tree = small_tree()
    steps = [[Move(uid("B1"), uid("A"))], [Rename(uid("b1x"), name="Empathy")]]  # B would be left without children
    applicable, refused = plan(tree, steps, CTX)
    assert [i for i, _ in applicable] == [1]
    assert [i for i, _ in refused] == [0] and refused[0][1].startswith("[no-empty-clusters]")


def test_a_refused_split_that_retired_its_node_is_undone_and_later_steps_see_the_tree_as_before():
    tree = small_tree()
    # every member listed, so the node itself is retired; then the second part's name clashes with sibling a1y
    split = Split(uid("a1x"), groups=[{"name": "Honest speech", "members": ["honesty"]},
                                      {"name": "Transparency", "members": ["truthfulness", "candor"]}])
    seen = {}

    def look(work) -> list:
        seen["a1x"] = work.tree.nodes[uid("a1x")].name
        seen["tombstones"] = sorted(work.tree.tombstones)
        seen["kids of A1"] = [n.uid for n in work.children(uid("A1"))]
        seen["members"] = sorted(work.members(uid("a1x")))
        return [Rename(uid("a1x"), name="Candour")]

    applicable, refused = plan(tree, [[split], look], CTX)
    assert [i for i, _ in refused] == [0] and "'Transparency'" in refused[0][1]
    assert [i for i, _ in applicable] == [1]
    assert seen == {"a1x": "Honesty and candor", "tombstones": [], "kids of A1": [uid("a1x"), uid("a1y")],
                    "members": ["candor", "honesty", "truthfulness"]}


def test_the_indexes_follow_the_steps_before_moves_merges_and_renames():
    tree = small_tree()
    steps = [
        [Move(uid("a2x"), uid("A1"))],  # A2 loses its only child: refused at the end for no-empty-clusters
        [Move(uid("a1y"), uid("B1"))],  # now a sibling of b1x and b1y
        [Rename(uid("b1x"), name="Transparency")],  # clashes with a1y under B1, not under A1 any more
        [Rename(uid("a1x"), name="Transparency")],  # free under A1 once a1y has left
        [Merge(uid("b1y"), uid("a1y"))],
        [Split(uid("a1y"), groups=[{"name": "Openness", "members": ["openness"]},
                                   {"members": ["transparency", "community", "belonging", "solidarity",
                                                "cooperation"], "keep": True}])],
    ]
    applicable, refused = plan(tree, steps, CTX)
    assert [i for i, _ in refused] == [0, 2]
    assert refused[0][1].startswith("[no-empty-clusters]") and "sibling already has the name" in refused[1][1]
    assert [i for i, _ in applicable] == [1, 3, 4, 5]
    # the operations that plan let through apply together, as the pull then does it
    out = apply_operations(tree, [op for _, ops in applicable for op in ops], CTX).tree
    assert out.nodes[uid("a1y")].parent_uid == uid("B1") and uid("b1y") in out.tombstones
    assert sorted(lf.text for lf in out.leaves if lf.parent_uid == uid("a1y")) == [
        "belonging", "community", "cooperation", "solidarity", "transparency"]


def test_applied_edits_get_the_statistics_recompute_stats_gives_and_leave_the_base_alone():
    from taxonomy.edits import Reassign

    tree = small_tree()
    tree.leaves[0].weight = 0.1  # sums that depend on the order of addition
    tree.leaves[4].weight = 1e-17
    tree = recompute_stats(tree)
    before = tree.copy()
    out = apply_operations(tree, [Reassign("honesty", uid("b1x")), Rename(uid("a1y"), name="Open"),
                                  Merge(uid("a2x"), uid("a1x"))], CTX).tree
    assert tree == before
    assert out == recompute_stats(out)  # every node's member_count, weight and pct, bit for bit
    assert out.nodes[uid("b1x")].member_count == 4 and out.nodes[uid("a1x")].member_count == 5
    assert uid("a2x") not in out.nodes and out.nodes[uid("a1y")].name == "Open"


def test_subtree_totals_add_the_weights_one_by_one_in_leaf_order():
    tree = small_tree()
    for i, leaf in enumerate(tree.leaves):
        leaf.weight = [0.1, 0.2, 0.3, 1e16, 1.0, -0.0, 3][i % 7]
    counts, weights = tree.subtree_totals()
    want_c, want_w = {u: 0 for u in tree.nodes}, {u: 0.0 for u in tree.nodes}
    for leaf in tree.leaves:
        for level in range(1, tree.depth + 1):
            u = tree.ancestor(leaf, level)
            want_c[u] += 1
            want_w[u] += leaf.weight
    assert counts == want_c and list(counts) == list(tree.nodes)
    assert [w.hex() for w in weights.values()] == [w.hex() for w in want_w.values()]
    assert all(type(w) is float for w in weights.values()) and all(type(c) is int for c in counts.values())


def test_the_values_are_copied_only_when_an_edit_changes_them_and_the_base_never_changes():
    from dataclasses import replace

    from taxonomy.edits import Reassign
    from taxonomy.edits_values import Reweigh, Unplace

    tree = small_tree()
    before = tree.copy()
    out = apply_operations(tree, [Rename(uid("a1y"), name="Open")], CTX).tree
    assert all(a is b for a, b in zip(out.leaves, tree.leaves, strict=True))  # a rename copies no value
    assert out.nodes[uid("a1y")] is not tree.nodes[uid("a1y")] and tree == before
    out = apply_operations(tree, [Reassign("honesty", uid("b1x"))], CTX).tree
    moved = [i for i, lf in enumerate(out.leaves) if lf is not tree.leaves[i]]
    assert [out.leaves[i].text for i in moved] == ["honesty"] and out.leaves[moved[0]].parent_uid == uid("b1x")
    assert tree == before
    ctx = replace(CTX, lookup_value=lambda text: (0, 7.5, 3))
    out = apply_operations(tree, [Reweigh([1]), Unplace("candor")], ctx).tree
    assert {lf.weight for lf in out.leaves} == {7.5} and len(out.leaves) == len(tree.leaves) - 1
    assert tree == before and out == recompute_stats(out)
