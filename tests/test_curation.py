"""Curation: every edit operation as a change-set producing a new version; refusals write nothing."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

import taxonomy.api as tx
from taxonomy.db.engine import session_scope
from taxonomy.db.models import ChangeSet, Version
from taxonomy.errors import InputError, NotFoundError, UsageError
from taxonomy.store import read_tree
from taxonomy.tree import content_checksum

from .curation_fixtures import make_version, uid


@pytest.fixture
def v1(db, tmp_path):
    assert make_version(db, tmp_path) == 1
    return db


def n_versions(db) -> int:
    with session_scope(db) as s:
        return s.scalar(select(func.count()).select_from(Version))


def tree_of(db, version):
    with session_scope(db) as s:
        return read_tree(s, version)


def test_rename_keeps_the_id_and_the_base_version(v1):
    res = tx.rename(1, uid("a1x"), "Honesty and truthfulness", description="Being truthful.", db=v1, author="ana")
    assert (res.version_id, res.base_version_id) == (2, 1)
    new, old = tree_of(v1, 2), tree_of(v1, 1)
    assert new.nodes[uid("a1x")].name == "Honesty and truthfulness"
    assert new.nodes[uid("a1x")].description == "Being truthful."
    assert old.nodes[uid("a1x")].name == "Honesty and candor", "the base version must not change"
    with session_scope(v1) as s:
        v = s.get(Version, 2)
        cs = s.scalar(select(ChangeSet).where(ChangeSet.version_id == 2))
        assert v.parent_id == 1 and v.author == "ana" and v.kind == "edit"
        assert cs.operations == [
            {"op": "rename", "node": uid("a1x"), "name": "Honesty and truthfulness", "description": "Being truthful."}
        ]
        assert cs.source == {"kind": "api"} and cs.author == "ana"
        assert v.checksum == content_checksum(new), "the checksum computed while the memberships go in is stored"
    assert tx.check(2, db=v1).ok


def test_short_ids_are_accepted(v1):
    res = tx.rename(1, uid("a1x").rsplit(":", 1)[-1][:8], "Honesty", db=v1)
    assert tree_of(v1, res.version_id).nodes[uid("a1x")].name == "Honesty"


def test_merge_moves_everything_to_the_survivor_and_records_a_tombstone(v1):
    res = tx.merge(1, uid("a1y"), into=uid("a1x"), db=v1)
    t = tree_of(v1, res.version_id)
    assert uid("a1y") not in t.nodes
    under = sorted(lf.text for lf in t.leaves if lf.parent_uid == uid("a1x"))
    assert under == sorted(["honesty", "truthfulness", "candor", "transparency", "openness"])
    assert t.nodes[uid("a1x")].member_count == 5
    tomb = t.tombstones[uid("a1y")]
    assert (tomb.reason, tomb.replaced_by, tomb.version_id) == ("merged", [uid("a1x")], res.version_id)
    # the old id resolves in later versions, and editing it says where it went
    res2 = tx.rename(res.version_id, uid("a1x"), "Honesty and transparency", db=v1)
    t2 = tree_of(v1, res2.version_id)
    assert uid("a1y") in t2.tombstones, "tombstones are carried forward"
    with pytest.raises(NotFoundError, match=r"merged in version 2; now: " + uid("a1x")):
        tx.rename(res2.version_id, uid("a1y"), "x", db=v1)


def test_merge_of_upper_level_nodes_moves_children(v1):
    res = tx.merge(1, uid("A2"), into=uid("A1"), db=v1)
    t = tree_of(v1, res.version_id)
    assert t.nodes[uid("a2x")].parent_uid == uid("A1")
    assert tx.check(res.version_id, db=v1).ok


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda db: tx.merge(1, uid("a1x"), into=uid("a1x"), db=db), "into itself"),
        (lambda db: tx.merge(1, uid("a1x"), into=uid("A1"), db=db), "same level"),
        (lambda db: tx.move(1, uid("A"), to=uid("A1"), db=db), "its own descendant|parent must be at level"),
        (lambda db: tx.move(1, uid("A1"), to=uid("a1x"), db=db), "own descendant"),
        (lambda db: tx.move(1, uid("a1x"), to=uid("A"), db=db), "must be at level 2"),
        (lambda db: tx.rename(1, uid("a1x"), "transparency", db=db), "sibling already has the name 'Transparency'"),
        (lambda db: tx.rename(1, "ffffffff-nope", "x", db=db), "unknown node id"),
        (lambda db: tx.rename(9, uid("a1x"), "x", db=db), "version 9 does not exist"),
        (lambda db: tx.delete(1, uid("a1x"), reassign_to=uid("A1"), db=db), "same level|level 2"),
        (lambda db: tx.reassign(1, "no such value", to=uid("a1x"), db=db), "not in version 1"),
        (lambda db: tx.reassign(1, "honesty", to=uid("A1"), db=db), "level-1 nodes"),
        (lambda db: tx.create(1, level=2, name="Empty", parent=uid("A"), db=db), "no-empty-clusters"),
        (lambda db: tx.create(1, level=2, name="X", db=db), "needs --parent"),
    ],
)
def test_refused_edits_write_nothing(v1, call, message):
    with pytest.raises(UsageError, match=message):
        call(v1)
    assert n_versions(v1) == 1


def test_deleting_the_last_top_category_is_refused(v1):
    res = tx.delete(1, uid("B"), reassign_to=uid("A"), db=v1)
    t = tree_of(v1, res.version_id)
    assert [n.uid for n in t.nodes_at(3)] == [uid("A")]
    assert t.nodes[uid("B1")].parent_uid == uid("A") and t.tombstones[uid("B")].reason == "deleted"
    assert len(t.leaves) == 15, "nothing under a deleted node is lost"
    with pytest.raises(UsageError, match="last top category"):
        tx.delete(res.version_id, uid("A"), reassign_to=uid("A"), db=v1)
    assert n_versions(v1) == 2


def test_move_that_empties_a_parent_is_refused(v1):
    with pytest.raises(UsageError, match=r"no-empty-clusters.*Productive work"):
        tx.move(1, uid("a2x"), to=uid("B1"), db=v1)
    res = tx.move(1, uid("a1y"), to=uid("A2"), db=v1)
    t = tree_of(v1, res.version_id)
    assert t.nodes[uid("a1y")].parent_uid == uid("A2")
    res = tx.reassign(res.version_id, "Candor", to=uid("b1x"), db=v1)
    t = tree_of(v1, res.version_id)
    assert {lf.text: lf.parent_uid for lf in t.leaves}["candor"] == uid("b1x")
    assert t.nodes[uid("b1x")].member_count == 4 and tx.check(res.version_id, db=v1).ok


def test_create_with_children(v1):
    res = tx.create(1, level=2, name="Openness", parent=uid("A"), children=[uid("a1y")], db=v1)
    [new_uid] = res.created
    t = tree_of(v1, res.version_id)
    assert t.nodes[new_uid].level == 2 and t.nodes[new_uid].parent_uid == uid("A")
    assert t.nodes[uid("a1y")].parent_uid == new_uid and new_uid.startswith("values:l2:")


def test_split_into_given_groups(v1):
    groups = [
        {"name": "Community", "members": ["community", "belonging"]},
        {"name": "Cooperation", "description": "Working together.", "members": ["solidarity", "cooperation"]},
    ]
    res = tx.split(1, uid("b1y"), groups=groups, db=v1)
    t = tree_of(v1, res.version_id)
    parts = t.tombstones[uid("b1y")].replaced_by
    assert t.tombstones[uid("b1y")].reason == "split" and len(parts) == 2
    assert [t.nodes[p].name for p in parts] == ["Community", "Cooperation"]
    assert sorted(lf.text for lf in t.leaves if lf.parent_uid == parts[1]) == ["cooperation", "solidarity"]
    with pytest.raises(UsageError, match="in no group"):
        tx.split(1, uid("b1y"), groups=[{"members": ["community"]}, {"members": ["belonging"]}], db=v1)


def test_split_by_reclustering_names_the_parts(v1, cache_dir):
    res = tx.split(1, uid("b1y"), k=2, db=v1, cache_dir=cache_dir)
    t = tree_of(v1, res.version_id)
    parts = t.tombstones[uid("b1y")].replaced_by
    assert len(parts) == 2
    names = [t.nodes[p].name for p in parts]
    assert all(names) and len(set(names)) == 2 and "part" not in " ".join(names)
    assert sum(t.nodes[p].member_count for p in parts) == 4
    assert tx.check(res.version_id, db=v1).ok


def test_changeset_file_is_all_or_nothing(v1, write):
    good = write(
        "changes.yaml",
        f"""message: tidy up
operations:
  - op: rename
    node: {uid("a1x")}
    name: Honesty
  - op: merge
    node: {uid("a1y")}
    into: {uid("a1x")}
  - reassign: {{value: kindness, to: {uid("b1y")}}}
""",
    )
    res = tx.apply(1, str(good), db=v1, author="bo")
    assert res.summary.startswith("1 rename, 1 merge, 1 reassign")
    with session_scope(v1) as s:
        assert s.get(Version, res.version_id).message == "tidy up"
    bad = write(
        "bad.yaml",
        f"""operations:
  - {{op: rename, node: {uid("a1x")}, name: Honesty}}
  - {{op: merge, node: {uid("a1x")}, into: {uid("a1x")}}}
""",
    )
    with pytest.raises(UsageError, match=r"operation 2 \(merge .*into itself"):
        tx.apply(1, str(bad), db=v1)
    assert n_versions(v1) == 2
    broken = write("broken.yaml", "operations:\n  - op: rename\n    node: [unclosed\n")
    with pytest.raises(InputError, match=r"broken.yaml, line 4: not valid YAML"):
        tx.apply(1, str(broken), db=v1)
    unknown = write("unknown.yaml", "- op: explode\n  node: x\n")
    with pytest.raises(InputError, match=r"unknown.yaml, field 'operations\[1\]': unknown operation 'explode'"):
        tx.apply(1, str(unknown), db=v1)


def test_log_history_and_branches(v1):
    a = tx.rename(1, uid("a1x"), "Honesty", db=v1, author="ana")
    b = tx.rename(a.version_id, uid("a1x"), "Honesty first", db=v1)
    c = tx.rename(1, uid("b1x"), "Kindness", db=v1)  # editing an old version makes a branch
    entries = tx.log(db=v1)
    assert [(e.id, e.parent_id, e.depth) for e in entries] == [(1, None, 0), (2, 1, 1), (3, 2, 2), (4, 1, 1)]
    assert entries[1].author == "ana" and "rename" in entries[1].summary
    assert [e.id for e in tx.log(b.version_id, db=v1)] == [3, 2, 1]
    hist = tx.history(uid("a1x"), db=v1)
    assert [(h.version_id, h.name) for h in hist] == [
        (1, "Honesty and candor"), (2, "Honesty"), (3, "Honesty first"), (4, "Honesty and candor")]
    assert "renamed" in hist[1].change
    m = tx.merge(c.version_id, uid("a1y"), into=uid("a1x"), db=v1)
    hist = tx.history(uid("a1y"), db=v1)
    assert hist[-1].status == "merged" and hist[-1].version_id == m.version_id


def test_branch_head_advances_by_compare_and_swap(v1):
    from taxonomy.changesets import BranchConflictError

    first = tx.rename(1, uid("a1x"), "Honesty", branch="main", db=v1)
    assert [(b.name, b.head_version_id) for b in tx.branches(db=v1)] == [("main", first.version_id)]
    with pytest.raises(BranchConflictError, match="rebase"):
        tx.rename(1, uid("b1x"), "Kindness", branch="main", db=v1)
    second = tx.rename(first.version_id, uid("b1x"), "Kindness", branch="main", db=v1)
    assert tx.branches(db=v1)[0].head_version_id == second.version_id
    assert n_versions(v1) == 3


def test_cli_edit_commands(v1, capsys, write):
    from taxonomy.cli import main

    def taxo(*args):
        code = main([str(a) for a in args])
        cap = capsys.readouterr()
        return code, cap.out, cap.err

    code, out, err = taxo("edit", "1", "rename", uid("a1x"), "Honesty", "--db", v1, "-m", "shorter")
    assert code == 0 and out.strip() == "2"
    code, out, err = taxo("edit", "2", "merge", uid("a1y"), "--into", uid("a1x"), "--db", v1, "--json")
    assert code == 0 and json.loads(out)["version_id"] == 3
    code, out, err = taxo("edit", "3", "merge", uid("a1x"), "--into", uid("a1x"), "--db", v1)
    assert code == 2 and "into itself" in err
    code, out, _ = taxo("log", "--db", v1)
    assert code == 0 and "shorter" in out
    code, out, _ = taxo("history", uid("a1x"), "--db", v1, "--json")
    assert [h["name"] for h in json.loads(out)] == ["Honesty and candor", "Honesty", "Honesty"]
    code, out, _ = taxo("check", "3", "--db", v1)
    assert code == 0 and "OK" in out
    code, out, _ = taxo("edit", "3", "reassign", "kindness", "--to", uid("b1y"), "--db", v1, "--branch", "main")
    assert code == 0 and out.strip() == "4"
    code, out, err = taxo("edit", "3", "reassign", "empathy", "--to", uid("b1y"), "--db", v1, "--branch", "main")
    assert code == 3 and "rebase" in err
