"""taxonomy.edits.plan: which steps of operations apply to a tree, each refusal with its reason (the review pull
uses it to report every annotation that cannot apply)."""

from __future__ import annotations

from taxonomy.domain import Leaf, Tree
from taxonomy.edits import EditContext, Merge, Move, Rename, Split, plan
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

    def merge_all_three(work: Tree) -> list:
        assert sum(leaf.parent_uid == uid("a1x") for leaf in work.leaves) == 3  # the split left nothing behind
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
