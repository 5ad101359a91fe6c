"""Diff between two taxonomy versions' trees (taxonomy.diff)."""

from __future__ import annotations

import copy
import json

from taxonomy.diff import KINDS, NodeRef, TreeDiff, diff_trees, format_diff
from taxonomy.domain import Leaf, Node, Tombstone, Tree


def make_tree(nodes: list[tuple[str, str | None, str]], leaves: dict[str, str], version_id: int = 1,
              tombstones: list[tuple[str, str, list[str]]] = ()) -> Tree:
    """``nodes``: (uid, parent uid, name); the level is read from the uid (``l<level>:...``), the description is
    ``"about <uid>"`` (so that a rename leaves it unchanged). ``leaves``: value text -> level-1 uid.
    ``tombstones``: (uid, reason, replaced_by)."""
    def level(uid: str) -> int:
        return int(uid.split(":")[0][1:])

    return Tree(
        nodes={uid: Node(uid=uid, level=level(uid), name=name, description=f"about {uid}", parent_uid=parent)
               for uid, parent, name in nodes},
        leaves=[Leaf(text=t, parent_uid=p, weight=1.0) for t, p in leaves.items()],
        version_id=version_id,
        tombstones={uid: Tombstone(uid=uid, level=level(uid), name=uid, reason=reason, replaced_by=list(rb))
                    for uid, reason, rb in tombstones},
    )


BASE_NODES = [
    ("l2:animals", None, "Animals"),
    ("l2:plants", None, "Plants"),
    ("l1:cats", "l2:animals", "Cats"),
    ("l1:dogs", "l2:animals", "Dogs"),
    ("l1:birds", "l2:animals", "Birds"),
    ("l1:trees", "l2:plants", "Trees"),
    ("l1:flowers", "l2:plants", "Flowers"),
]
BASE_LEAVES = {
    "tabby": "l1:cats", "siamese": "l1:cats",
    "poodle": "l1:dogs", "beagle": "l1:dogs",
    "robin": "l1:birds", "crow": "l1:birds",
    "oak": "l1:trees", "pine": "l1:trees",
    "rose": "l1:flowers", "tulip": "l1:flowers",
}


def base() -> Tree:
    return make_tree(BASE_NODES, BASE_LEAVES, version_id=1)


def edited(**changes) -> Tree:
    """The base tree with nodes/leaves/tombstones replaced or extended, as version 2."""
    nodes = {uid: (uid, parent, name) for uid, parent, name in BASE_NODES}
    for uid in changes.get("drop_nodes", ()):
        del nodes[uid]
    for uid, parent, name in changes.get("nodes", ()):
        nodes[uid] = (uid, parent, name)
    leaves = dict(BASE_LEAVES)
    for text in changes.get("drop_leaves", ()):
        del leaves[text]
    leaves.update(changes.get("leaves", {}))
    return make_tree(list(nodes.values()), leaves, version_id=2, tombstones=changes.get("tombstones", ()))


def only(d: TreeDiff, *kinds: str) -> None:
    """Every kind outside ``kinds`` is empty."""
    for kind in KINDS:
        if kind not in kinds:
            assert not getattr(d, kind), (kind, getattr(d, kind))


# ----------------------------------------------------------------------------------------------------------------


def test_identity_is_empty():
    t = base()
    d = diff_trees(t, t)
    assert d.is_empty
    assert set(d.counts) == set(KINDS) and all(c == 0 for c in d.counts.values())
    assert diff_trees(t, copy.deepcopy(t)).is_empty
    assert "no differences" in format_diff(d)


def test_identity_ignores_tombstones_and_leaf_order():
    a = make_tree(BASE_NODES, BASE_LEAVES, tombstones=[("l1:old", "deleted", [])])
    b = make_tree(BASE_NODES, dict(reversed(list(BASE_LEAVES.items()))), tombstones=[("l1:old", "deleted", [])])
    assert diff_trees(a, b).is_empty


def test_rename():
    b = edited(nodes=[("l1:cats", "l2:animals", "Felines")])
    d = diff_trees(base(), b)
    only(d, "renamed")
    assert len(d.renamed) == 1
    r = d.renamed[0]
    assert (r.uid, r.level, r.old_name, r.new_name) == ("l1:cats", 1, "Cats", "Felines")


def test_redescribe():
    b = edited()
    b.nodes["l2:plants"].description = "green things"
    d = diff_trees(base(), b)
    only(d, "redescribed")
    r = d.redescribed[0]
    assert (r.uid, r.name, r.old_description, r.new_description) == ("l2:plants", "Plants", "about l2:plants",
                                                                     "green things")


def test_move():
    b = edited(nodes=[("l1:birds", "l2:plants", "Birds")])
    d = diff_trees(base(), b)
    only(d, "moved")
    m = d.moved[0]
    assert (m.uid, m.old_parent_uid, m.old_parent_name, m.new_parent_uid, m.new_parent_name, m.cause) == (
        "l1:birds", "l2:animals", "Animals", "l2:plants", "Plants", "move")


def test_merge_with_survivor_and_values_moved_by_merge():
    b = edited(drop_nodes=["l1:dogs"], leaves={"poodle": "l1:cats", "beagle": "l1:cats"},
               tombstones=[("l1:dogs", "merged", ["l1:cats"])])
    d = diff_trees(base(), b)
    only(d, "merged", "values_moved")
    m = d.merged[0]
    assert (m.uid, m.level, m.name, m.survivor_uid, m.survivor_name) == ("l1:dogs", 1, "Dogs", "l1:cats", "Cats")
    assert m.merged_into == ["l1:cats"] and m.survivors == [NodeRef("l1:cats", "Cats")]
    assert [(v.text, v.old_parent_uid, v.new_parent_uid, v.new_parent_name, v.cause) for v in d.values_moved] == [
        ("beagle", "l1:dogs", "l1:cats", "Cats", "merge"),
        ("poodle", "l1:dogs", "l1:cats", "Cats", "merge"),
    ]
    assert d.counts["merged"] == 1 and d.counts["values_moved"] == 2


def test_merge_chain_resolves_to_final_survivor():
    # Version 2: dogs merged into cats; version 3: cats merged into birds. Diff v1 -> v3.
    b = edited(drop_nodes=["l1:dogs", "l1:cats"],
               leaves={"poodle": "l1:birds", "beagle": "l1:birds", "tabby": "l1:birds", "siamese": "l1:birds"},
               tombstones=[("l1:dogs", "merged", ["l1:cats"]), ("l1:cats", "merged", ["l1:birds"])])
    d = diff_trees(base(), b)
    only(d, "merged", "values_moved")
    by_uid = {m.uid: m for m in d.merged}
    assert by_uid["l1:dogs"].survivor_uid == "l1:birds" and by_uid["l1:dogs"].survivor_name == "Birds"
    assert by_uid["l1:dogs"].merged_into == ["l1:cats"]
    assert by_uid["l1:cats"].survivor_uid == "l1:birds"
    assert {v.text: v.cause for v in d.values_moved} == dict.fromkeys(["poodle", "beagle", "tabby", "siamese"],
                                                                      "merge")


def test_merge_chain_cycle_and_dead_end_do_not_hang():
    b = edited(drop_nodes=["l1:dogs", "l1:cats"],
               tombstones=[("l1:dogs", "merged", ["l1:x"]), ("l1:x", "merged", ["l1:dogs"]),
                           ("l1:cats", "merged", ["l1:gone"]), ("l1:gone", "deleted", [])])
    b.leaves = [lf for lf in b.leaves if lf.parent_uid not in ("l1:dogs", "l1:cats")]
    d = diff_trees(base(), b)
    assert {m.uid: m.survivor_uid for m in d.merged} == {"l1:dogs": None, "l1:cats": None}
    assert set(d.values_removed) == {"poodle", "beagle", "tabby", "siamese"}
    assert "survivor gone" in format_diff(d)


def test_merge_into_node_later_split_lists_every_part():
    b = edited(drop_nodes=["l1:dogs", "l1:cats"],
               nodes=[("l1:cats-a", "l2:animals", "Big cats"), ("l1:cats-b", "l2:animals", "Small cats")],
               leaves={"poodle": "l1:cats-a", "beagle": "l1:cats-b", "tabby": "l1:cats-a", "siamese": "l1:cats-b"},
               tombstones=[("l1:dogs", "merged", ["l1:cats"]), ("l1:cats", "split", ["l1:cats-a", "l1:cats-b"])])
    d = diff_trees(base(), b)
    only(d, "merged", "split", "values_moved")
    m = d.merged[0]
    assert m.survivor_uid == "l1:cats-a"
    assert [s.uid for s in m.survivors] == ["l1:cats-a", "l1:cats-b"]
    assert {v.text: v.cause for v in d.values_moved} == {"poodle": "merge", "beagle": "merge",
                                                         "tabby": "split", "siamese": "split"}


def test_split_with_parts_not_reported_as_added():
    b = edited(drop_nodes=["l1:trees"],
               nodes=[("l1:conifers", "l2:plants", "Conifers"), ("l1:broadleaf", "l2:plants", "Broadleaf")],
               leaves={"pine": "l1:conifers", "oak": "l1:broadleaf"},
               tombstones=[("l1:trees", "split", ["l1:conifers", "l1:broadleaf"])])
    d = diff_trees(base(), b)
    only(d, "split", "values_moved")
    s = d.split[0]
    assert (s.uid, s.level, s.name) == ("l1:trees", 1, "Trees")
    assert s.parts == [NodeRef("l1:conifers", "Conifers"), NodeRef("l1:broadleaf", "Broadleaf")]
    assert {(v.text, v.new_parent_uid, v.cause) for v in d.values_moved} == {
        ("pine", "l1:conifers", "split"), ("oak", "l1:broadleaf", "split")}


def test_split_part_since_merged_resolves_to_survivor():
    b = edited(drop_nodes=["l1:trees"], nodes=[("l1:conifers", "l2:plants", "Conifers")],
               leaves={"pine": "l1:conifers", "oak": "l1:flowers"},
               tombstones=[("l1:trees", "split", ["l1:conifers", "l1:broadleaf"]),
                           ("l1:broadleaf", "merged", ["l1:flowers"])])
    d = diff_trees(base(), b)
    only(d, "split", "values_moved")
    assert [p.uid for p in d.split[0].parts] == ["l1:conifers", "l1:flowers"]
    assert {v.text: v.cause for v in d.values_moved} == {"pine": "split", "oak": "split"}


def test_delete_and_remove_without_tombstone():
    b = edited(drop_nodes=["l1:birds", "l1:flowers"], drop_leaves=["robin", "crow"],
               leaves={"rose": "l1:trees", "tulip": "l1:trees"},
               tombstones=[("l1:birds", "deleted", [])])
    d = diff_trees(base(), b)
    only(d, "removed", "values_moved", "values_removed")
    assert {(r.uid, r.name, r.reason, r.parent_uid, r.parent_name) for r in d.removed} == {
        ("l1:birds", "Birds", "deleted", "l2:animals", "Animals"),
        ("l1:flowers", "Flowers", "removed", "l2:plants", "Plants"),
    }
    assert d.values_removed == ["crow", "robin"]
    assert {v.text: v.cause for v in d.values_moved} == {"rose": "reassign", "tulip": "reassign"}


def test_delete_with_reassignment_target():
    # As the editor records it: the tombstone names the node the contents were reassigned to.
    b = edited(drop_nodes=["l1:birds", "l2:plants"],
               nodes=[("l1:trees", "l2:animals", "Trees"), ("l1:flowers", "l2:animals", "Flowers")],
               leaves={"robin": "l1:cats", "crow": "l1:dogs"},
               tombstones=[("l1:birds", "deleted", ["l1:cats"]), ("l2:plants", "deleted", ["l2:animals"])])
    d = diff_trees(base(), b)
    only(d, "removed", "moved", "values_moved")
    by_uid = {r.uid: r for r in d.removed}
    assert by_uid["l1:birds"].reason == "deleted"
    assert by_uid["l1:birds"].reassigned_to == [NodeRef("l1:cats", "Cats")]
    assert {v.text: v.cause for v in d.values_moved} == {"robin": "delete", "crow": "reassign"}
    assert {m.uid: m.cause for m in d.moved} == {"l1:trees": "delete", "l1:flowers": "delete"}
    assert "contents -> 'Cats'" in format_diff(d)


def test_add_node_and_children_moved_into_it():
    b = edited(nodes=[("l2:pets", None, "Pets"), ("l1:cats", "l2:pets", "Cats"), ("l1:dogs", "l2:pets", "Dogs")])
    d = diff_trees(base(), b)
    only(d, "added", "moved")
    assert [(x.uid, x.level, x.name, x.parent_uid) for x in d.added] == [("l2:pets", 2, "Pets", None)]
    assert [(m.uid, m.new_parent_uid, m.new_parent_name, m.cause) for m in d.moved] == [
        ("l1:cats", "l2:pets", "Pets", "move"), ("l1:dogs", "l2:pets", "Pets", "move")]


def test_children_of_merged_node_move_with_cause_merge():
    b = edited(drop_nodes=["l2:plants"], nodes=[("l1:trees", "l2:animals", "Trees"),
                                                ("l1:flowers", "l2:animals", "Flowers")],
               tombstones=[("l2:plants", "merged", ["l2:animals"])])
    d = diff_trees(base(), b)
    only(d, "merged", "moved")
    assert {m.uid: m.cause for m in d.moved} == {"l1:trees": "merge", "l1:flowers": "merge"}
    assert d.merged[0].survivor_name == "Animals"


def test_values_added_removed_and_reassigned():
    b = edited(drop_leaves=["oak"], leaves={"lily": "l1:flowers", "orchid": "l1:flowers", "robin": "l1:cats"})
    d = diff_trees(base(), b)
    only(d, "values_added", "values_removed", "values_moved")
    assert d.values_added == ["lily", "orchid"]
    assert d.values_removed == ["oak"]
    v = d.values_moved[0]
    assert (v.text, v.old_parent_uid, v.old_parent_name, v.new_parent_uid, v.new_parent_name, v.cause) == (
        "robin", "l1:birds", "Birds", "l1:cats", "Cats", "reassign")


def test_reassign_away_from_merged_node_is_not_a_merge():
    b = edited(drop_nodes=["l1:dogs"], leaves={"poodle": "l1:cats", "beagle": "l1:birds"},
               tombstones=[("l1:dogs", "merged", ["l1:cats"])])
    d = diff_trees(base(), b)
    assert {v.text: v.cause for v in d.values_moved} == {"poodle": "merge", "beagle": "reassign"}


def test_older_b_reports_added_and_removed_honestly():
    newer = edited(drop_nodes=["l1:dogs"], leaves={"poodle": "l1:cats", "beagle": "l1:cats"},
                   tombstones=[("l1:dogs", "merged", ["l1:cats"])])
    d = diff_trees(newer, base())
    only(d, "added", "values_moved")
    assert [x.uid for x in d.added] == ["l1:dogs"]
    assert {v.cause for v in d.values_moved} == {"reassign"}


def test_counts_and_everything_at_once():
    b = edited(
        drop_nodes=["l1:dogs", "l1:trees", "l1:birds"],
        nodes=[("l1:cats", "l2:animals", "Felines"), ("l1:flowers", "l2:animals", "Flowers"),
               ("l1:conifers", "l2:plants", "Conifers"), ("l1:broadleaf", "l2:plants", "Broadleaf"),
               ("l1:fungi", "l2:plants", "Fungi")],
        drop_leaves=["robin", "crow"],
        leaves={"poodle": "l1:cats", "beagle": "l1:cats", "pine": "l1:conifers", "oak": "l1:broadleaf",
                "rose": "l1:cats", "morel": "l1:fungi"},
        tombstones=[("l1:dogs", "merged", ["l1:cats"]), ("l1:trees", "split", ["l1:conifers", "l1:broadleaf"]),
                    ("l1:birds", "deleted", [])],
    )
    b.nodes["l2:animals"].description = "creatures"
    d = diff_trees(base(), b)
    assert d.counts == {
        "added": 1, "removed": 1, "renamed": 1, "redescribed": 1, "moved": 1, "merged": 1, "split": 1,
        "values_moved": 5, "values_added": 1, "values_removed": 2,
    }
    assert not d.is_empty
    assert {v.text: v.cause for v in d.values_moved} == {"poodle": "merge", "beagle": "merge", "pine": "split",
                                                         "oak": "split", "rose": "reassign"}

    payload = d.to_dict()
    text = json.dumps(payload)
    back = json.loads(text)
    assert back["counts"] == d.counts and back["from_version"] == 1 and back["to_version"] == 2
    assert back["merged"][0]["survivor_uid"] == "l1:cats" and back["merged"][0]["survivor_name"] == "Felines"
    assert back["split"][0]["parts"] == [{"uid": "l1:conifers", "name": "Conifers"},
                                         {"uid": "l1:broadleaf", "name": "Broadleaf"}]
    assert back["values_added"] == ["morel"]

    report = format_diff(d)
    for kind in KINDS:
        assert f"{kind} (" in report, kind
    for needle in ("Felines", "Conifers", "morel", "crow", "creatures", "deleted", "(merge)", "(split)",
                   "(reassign)"):
        assert needle in report, needle


def test_format_diff_limit():
    leaves = dict(BASE_LEAVES)
    leaves.update({f"new value {i:02d}": "l1:cats" for i in range(30)})
    b = edited(leaves=leaves)
    d = diff_trees(base(), b)
    report = format_diff(d, limit=5)
    assert "values_added (30):" in report
    assert "new value 04" in report and "new value 05" not in report
    assert "... and 25 more" in report


def test_repeated_text_uses_first_leaf():
    a = base()
    b = base()
    b.leaves.append(Leaf(text="tabby", parent_uid="l1:dogs", weight=1.0))  # a later duplicate: ignored
    assert diff_trees(a, b).is_empty
