"""A living taxonomy: assign new batches into a curated version, the novelty queue, coverage, drift.

Real databases (SQLite and PostgreSQL), the real embedding model."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sqlalchemy import select

import taxonomy.api as tx
from taxonomy.cli import main
from taxonomy.db.engine import session_scope
from taxonomy.db.models import ChangeSet, Version
from taxonomy.errors import NotFoundError, UsageError

from .living_fixtures import NON_VALUES, n_versions, split_sample, tree_of, write_records

LEVELS = "16,5,2"


def manifest_of(db, v) -> dict:
    with session_scope(db) as s:
        return dict(s.get(Version, v).manifest)


@pytest.fixture
def curated(db, tmp_path, cache_dir):
    """Batch 1 built (kmeans), then curated: a rename, a merge and a split -> version 4. Batch 2 ingested (old
    values again, 40 new values, 10 non-values)."""
    base, new = split_sample()
    tx.ingest(str(write_records(tmp_path / "b1.jsonl", base, n_conversations=120, seed=1, prefix="a")),
              role_col="role", db=db)
    b = tx.build(db=db, levels=LEVELS, method="kmeans", seed=0, batches="1", cache_dir=cache_dir)
    assert b.version_id == 1
    t1 = tree_of(db, 1)
    l2 = sorted(tree_of(db, 1).nodes_at(2), key=lambda n: n.uid)
    l1 = sorted(t1.nodes_at(1), key=lambda n: (-n.member_count, n.uid))
    tx.rename(1, l2[0].uid, "Curated name", description="Written by a taxonomist.", db=db)
    # merge two level-1 siblings (same parent) so the parent keeps children
    by_parent: dict[str, list] = {}
    for n in l1:
        by_parent.setdefault(n.parent_uid, []).append(n)
    pair = next(v for v in by_parent.values() if len(v) >= 2)
    tx.merge(2, pair[1].uid, into=pair[0].uid, db=db)
    big = max(tree_of(db, 3).nodes_at(1), key=lambda n: (n.member_count, n.uid))
    tx.split(3, big.uid, k=2, db=db, cache_dir=cache_dir)
    mixed = base[:60] + new + NON_VALUES
    tx.ingest(str(write_records(tmp_path / "b2.jsonl", mixed, n_conversations=100, seed=2, prefix="b")),
              role_col="role", db=db)
    return {"db": db, "base": base, "new": new, "version": 4}


def test_assign_keeps_every_curated_name_id_and_parent(curated, cache_dir):
    db = curated["db"]
    before = tree_of(db, 4)
    res = tx.assign(4, message="June data", cache_dir=cache_dir, db=db)
    assert res.version_id == 5 and res.base_version_id == 4 and not res.dry_run
    after = tree_of(db, 5)
    # every node of the curated version: same id, name, description, level, parent
    for uid, n in before.nodes.items():
        m = after.nodes[uid]
        assert (m.name, m.description, m.level, m.parent_uid) == (n.name, n.description, n.level, n.parent_uid)
    assert set(after.nodes) == set(before.nodes), "assign creates and removes no node"
    assert after.tombstones.keys() == before.tombstones.keys()
    # every value already there keeps its place
    old_parent = {lf.text: lf.parent_uid for lf in before.leaves}
    new_parent = {lf.text: lf.parent_uid for lf in after.leaves}
    assert all(new_parent[t] == p for t, p in old_parent.items())
    added = set(new_parent) - set(old_parent)
    assert len(added) == res.n_placed and res.n_placed + res.n_queued == res.n_candidates == 50
    assert added <= set(curated["new"]) | set(NON_VALUES)
    # weights recomputed from both batches: a value of both batches counts the records of both
    both = curated["base"][0]
    w_before = next(lf for lf in before.leaves if lf.text == both)
    w_after = next(lf for lf in after.leaves if lf.text == both)
    assert w_after.count > w_before.count
    assert tx.check(5, db=db).ok
    d = tx.diff(4, 5, db=db)
    assert sorted(d.values_added) == sorted(added)
    assert not d.renamed and not d.moved and not d.merged and not d.split and not d.values_moved
    with session_scope(db) as s:
        v = s.get(Version, 5)
        cs = s.scalar(select(ChangeSet).where(ChangeSet.version_id == 5))
        assert v.kind == "assign" and v.parent_id == 4 and v.message == "June data"
        assert cs.source["kind"] == "assign" and cs.source["batches"] == [1, 2]
        assert cs.operations[0] == {"op": "reweigh", "batches": [1, 2]}
        assert {op["op"] for op in cs.operations[1:]} == {"place"}
    m = manifest_of(db, 5)
    assert m["coverage"] == {"batches": [1, 2], "role": None, "min_conversations": None}
    assert m["assign"]["method"]["name"] == "centroid"
    assert m["assign"]["method"]["threshold_source"] == "calibrated"
    assert 0 < m["assign"]["method"]["threshold"] < 1 and m["novelty"]["threshold"] == res.threshold
    assert [b["id"] for b in m["batches"]] == [1, 2] and m["n_values"] == len(after.leaves)
    assert [e.id for e in tx.log(5, db=db)] == [5, 4, 3, 2, 1]
    # the novelty queue holds most of the non-values and few genuine values
    queued = {mm["value"] for g in res.groups for mm in g["members"]}
    assert len(queued) == res.n_queued
    assert len(queued & set(NON_VALUES)) >= 6
    assert len(queued & set(curated["new"])) <= 8


def test_dry_run_writes_nothing_and_is_deterministic(curated, cache_dir):
    db = curated["db"]
    a = tx.assign(4, batches="2", dry_run=True, cache_dir=cache_dir, db=db)
    b = tx.assign(4, batches="2", dry_run=True, cache_dir=cache_dir, db=db)
    assert a.version_id is None and n_versions(db) == 4
    assert [p.to_dict() for p in a.placements] == [p.to_dict() for p in b.placements]
    assert a.groups == b.groups and a.threshold == b.threshold
    for p in a.placements:
        assert p.queued == (p.similarity < a.threshold)
        assert p.runner_up_similarity is None or p.runner_up_similarity <= p.similarity
    # a given threshold overrides the calibrated one and is recorded as such
    c = tx.assign(4, batches="2", dry_run=True, threshold=-1.0, cache_dir=cache_dir, db=db)
    assert c.n_queued == 0 and c.threshold_source == "given"


def test_assign_again_has_nothing_to_do(curated, cache_dir, capsys):
    db = curated["db"]
    res = tx.assign(4, threshold=-1.0, cache_dir=cache_dir, db=db)
    assert res.n_queued == 0
    again = tx.assign(res.version_id, cache_dir=cache_dir, db=db)
    assert again.version_id is None and again.n_candidates == 0 and "already holds every value" in again.note
    n = n_versions(db)
    assert main(["assign", str(res.version_id), "--db", db, "--cache-dir", str(cache_dir)]) == 0
    assert "nothing written" in capsys.readouterr().err and n_versions(db) == n


@pytest.mark.parametrize(
    "args, message",
    [
        (["assign", "99"], "version 99 does not exist"),
        (["assign", "4", "--batches", "7"], "unknown batch id 7"),
        (["assign", "4", "--batches", "x"], "--batches"),
        (["assign", "4", "--threshold", "3"], "--threshold"),
        (["novelty", "4", "accept", "gdeadbeef"], "no novelty group"),
        (["drift", "4", "--from-batches", "1", "--to-batches", "1"], "overlap"),
        (["drift", "4", "--from-batches", "", "--to-batches", "2"], "at least one batch"),
        (["drift", "4", "--from-batches", "1", "--to-batches", "9"], "unknown batch id 9"),
        (["drift", "4", "--from-batches", "1", "--to-batches", "2"], "not covered by version 4"),
        (["drift", "4", "--from-batches", "1", "--to-batches", "2", "--level", "4"], "--level 4"),
    ],
)
def test_bad_inputs_exit_2_with_one_line_and_write_nothing(curated, cache_dir, capsys, args, message):
    db = curated["db"]
    n = n_versions(db)
    assert main(args + ["--db", db]) == 2
    errtext = capsys.readouterr().err
    assert message in errtext and "Traceback" not in errtext
    assert len(errtext.strip().splitlines()) == 1, errtext
    assert n_versions(db) == n


def test_novelty_accept_and_place_are_change_sets(curated, cache_dir, capsys):
    db = curated["db"]
    res = tx.assign(4, cache_dir=cache_dir, db=db)
    v = res.version_id
    q = tx.novelty(v, db=db)
    assert q.n_values == res.n_queued and q.groups
    assert main(["novelty", str(v), "--db", db, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [g["id"] for g in listed["groups"]] == [g["id"] for g in q.groups]
    g = q.groups[0]
    assert g["name"] and g["nearest_parents"] and g["nearest_nodes"] and g["first_batch"] == 2
    level1 = next(iter(tree_of(db, v).nodes_at(1)))
    level2 = g["nearest_parents"][0]["node"]
    n = n_versions(db)
    # a parent at the wrong level, placing into a level-2 node: refused, exit 2, nothing written
    assert main(["novelty", str(v), "accept", g["id"], "--parent", level1.uid, "--db", db]) == 2
    assert "expected level 2" in capsys.readouterr().err
    assert main(["novelty", str(v), "place", g["id"], "--into", level2, "--db", db]) == 2
    assert "level-1 nodes" in capsys.readouterr().err
    assert main(["novelty", str(v), "place", "not queued at all", "--into", level1.uid, "--db", db]) == 2
    capsys.readouterr()
    assert n_versions(db) == n
    acc = tx.novelty_accept(v, g["id"], parent=level2, name="Newly seen things", db=db)
    t = tree_of(db, acc.version_id)
    (new_uid,) = acc.created
    node = t.nodes[new_uid]
    assert (node.level, node.name, node.parent_uid) == (1, "Newly seen things", level2)
    assert {lf.text for lf in t.leaves if lf.parent_uid == new_uid} == {m["value"] for m in g["members"]}
    assert tx.check(acc.version_id, db=db).ok
    with session_scope(db) as s:
        cs = s.scalar(select(ChangeSet).where(ChangeSet.version_id == acc.version_id))
        assert cs.source["kind"] == "novelty" and cs.source["action"] == "accept" and cs.source["group"] == g["id"]
    q2 = tx.novelty(acc.version_id, db=db)
    assert g["id"] not in [x["id"] for x in q2.groups] and q2.n_values == q.n_values - len(g["members"])
    if q2.groups:
        value = q2.groups[0]["members"][0]["value"]
        pl = tx.novelty_place(acc.version_id, value, into=level1.uid, db=db)
        t2 = tree_of(db, pl.version_id)
        assert next(lf.parent_uid for lf in t2.leaves if lf.text == value) == level1.uid
        assert tx.novelty(pl.version_id, db=db).n_values == q2.n_values - 1
        # curated names survive all of it
        base = tree_of(db, 4)
        assert all(t2.nodes[u].name == n.name for u, n in base.nodes.items())


def test_a_version_built_with_other_embeddings_is_refused(curated, cache_dir):
    db = curated["db"]
    with session_scope(db) as s:
        v = s.get(Version, 4)
        m = dict(v.manifest)
        m["model"] = {**m["model"], "weights_sha256": "0" * 64, "identity": "other-model@sha256:0000000000000000"}
        v.manifest = m
    with pytest.raises(UsageError, match="other-model@sha256:0000000000000000.*all-MiniLM-L6-v2@sha256:"):
        tx.assign(4, cache_dir=cache_dir, db=db)


def test_build_coverage_role_batches_min_conversations(db, tmp_path, cache_dir):
    base, new = split_sample(120, 20)
    tx.ingest(str(write_records(tmp_path / "b1.jsonl", base, n_conversations=90, seed=1, prefix="a")),
              role_col="role", db=db)
    tx.ingest(str(write_records(tmp_path / "b2.jsonl", new, n_conversations=20, seed=2, prefix="b")),
              role_col="role", db=db)
    res = tx.build(db=db, levels="6,2", method="kmeans", role="human", batches="1", min_conversations=2,
                   cache_dir=cache_dir)
    m = manifest_of(db, res.version_id)
    assert m["coverage"] == {"batches": [1], "role": "human", "min_conversations": 2}
    assert [b["id"] for b in m["batches"]] == [1]
    # independent count: values with >= 2 distinct human conversations in batch 1
    convs: dict[str, set] = {}
    for line in (tmp_path / "b1.jsonl").read_text().splitlines():
        r = json.loads(line)
        if r["role"] == "human":
            convs.setdefault(r["value"], set()).add(r["conversation_id"])
    expected = {v: len(c) for v, c in convs.items() if len(c) >= 2}
    t = tree_of(db, res.version_id)
    assert {lf.text: lf.weight for lf in t.leaves} == {v: float(n) for v, n in expected.items()}
    # assign keeps the role and the threshold on conversations
    a = tx.assign(res.version_id, batches="2", threshold=-1.0, cache_dir=cache_dir, db=db)
    m2 = manifest_of(db, a.version_id)
    assert m2["coverage"] == {"batches": [1, 2], "role": "human", "min_conversations": 2}
    with pytest.raises(UsageError, match="ai or human"):
        tx.build(db=db, levels="6,2", role="robot", cache_dir=cache_dir)


def test_role_and_min_conversations_need_record_batches(db, tmp_path, cache_dir, write, capsys):
    p = write("agg.csv", "value,weight\nhonesty,3\nkindness,2\n")
    tx.ingest(str(p), weight_col="weight", db=db)
    assert main(["build", "--role", "ai", "--db", db, "--cache-dir", str(cache_dir)]) == 2
    assert "aggregated shape" in capsys.readouterr().err
    assert main(["build", "--min-conversations", "2", "--db", db, "--cache-dir", str(cache_dir)]) == 2
    assert "aggregated shape" in capsys.readouterr().err
    assert n_versions(db) == 0


# --------------------------------------------------------------------------------------------------------- drift
def _drift_db(db, tmp_path, cache_dir):
    """Batches 1 and 2 with known, different mixes; version covering both."""
    base, _ = split_sample(80, 0)
    tx.ingest(str(write_records(tmp_path / "d1.jsonl", base, n_conversations=150, seed=3, prefix="a")),
              role_col="role", db=db)
    skewed = base[:20] * 3 + base[20:60]
    tx.ingest(str(write_records(tmp_path / "d2.jsonl", skewed, n_conversations=150, seed=4, prefix="b",
                                per_conversation=4)), role_col="role", db=db)
    return tx.build(db=db, levels="8,3", method="kmeans", cache_dir=cache_dir).version_id


def test_drift_matches_an_independent_scipy_computation(db, tmp_path, cache_dir, capsys):
    from scipy.stats import binomtest, chi2_contingency

    v = _drift_db(db, tmp_path, cache_dir)
    res = tx.drift(v, from_batches="1", to_batches="2", level=1, db=db)
    tree = tree_of(db, v)
    node_of = {lf.text: lf.parent_uid for lf in tree.leaves}
    # independent: straight from the files
    sides = []
    for name in ("d1.jsonl", "d2.jsonl"):
        convs, pairs, recs = set(), set(), {}
        for line in (tmp_path / name).read_text().splitlines():
            r = json.loads(line)
            u = node_of[r["value"]]
            convs.add(r["conversation_id"])
            pairs.add((r["conversation_id"], u))
            recs[u] = recs.get(u, 0) + 1
        x = {}
        for _, u in pairs:
            x[u] = x.get(u, 0) + 1
        sides.append((len(convs), x, recs))
    (n1, x1, r1), (n2, x2, r2) = sides
    assert (res.conversations_before, res.conversations_after) == (n1, n2)
    uids = sorted(n.uid for n in tree.nodes_at(1))
    table = np.array([[r1.get(u, 0) for u in uids], [r2.get(u, 0) for u in uids]])
    table = table[:, table.sum(axis=0) > 0]
    stat, p, dof, _ = chi2_contingency(table, correction=False)
    assert abs(res.chi_square["statistic"] - stat) < 1e-9 and abs(res.chi_square["p_value"] - p) < 1e-9
    assert res.chi_square["dof"] == dof
    for nd in res.nodes:
        a, b = x1.get(nd.node, 0), x2.get(nd.node, 0)
        assert abs(nd.before - a / n1) < 1e-12 and abs(nd.after - b / n2) < 1e-12
        w1 = binomtest(a, n1).proportion_ci(confidence_level=0.95, method="wilson")
        w2 = binomtest(b, n2).proportion_ci(confidence_level=0.95, method="wilson")
        p1, p2 = a / n1, b / n2
        lo = (p2 - p1) - np.sqrt((p2 - w2.low) ** 2 + (w1.high - p1) ** 2)
        hi = (p2 - p1) + np.sqrt((w2.high - p2) ** 2 + (p1 - w1.low) ** 2)
        assert abs(nd.ci_low - lo) < 1e-9 and abs(nd.ci_high - hi) < 1e-9
        assert nd.significant == (lo > 0 or hi < 0)
    diffs = [abs(nd.difference) for nd in res.nodes]
    assert diffs == sorted(diffs, reverse=True), "biggest movers first"
    vanished = {x["value"] for x in res.vanished_values}
    assert res.n_vanished_values == 20 and vanished <= set(split_sample(80, 0)[0][60:])
    assert main(["drift", str(v), "--from-batches", "1", "--to-batches", "2", "--level", "2", "--db", db]) == 0
    text = capsys.readouterr().out
    assert "Chi-square" in text and "Vanished values (20)" in text
    rows = [ln for ln in text.splitlines() if " pp [" in ln]
    assert len(rows) >= 2 and len({ln.index("→") for ln in rows}) == 1, "the figures line up, whatever the names"


def test_drift_refuses_aggregated_batches(db, tmp_path, cache_dir, write, capsys):
    v = _drift_db(db, tmp_path, cache_dir)
    tx.ingest(str(write("agg.csv", "value,weight\nhonesty,3\n")), weight_col="weight", db=db)
    with pytest.raises(UsageError, match="aggregated shape"):
        tx.drift(v, from_batches="1", to_batches="3", db=db)
    with pytest.raises(NotFoundError):
        tx.drift(v, from_batches="1", to_batches="8", db=db)


def test_a_placement_can_be_reverted_and_place_ops_respect_the_coverage(curated, cache_dir, write, capsys):
    db = curated["db"]
    res = tx.assign(4, cache_dir=cache_dir, db=db)
    placed = [p.value for p in res.placements if not p.queued]
    undo = tx.apply(res.version_id, [{"op": "unplace", "value": v} for v in placed], message="undo June", db=db)
    back, base = tree_of(db, undo.version_id), tree_of(db, 4)
    assert {lf.text: lf.parent_uid for lf in back.leaves} == {lf.text: lf.parent_uid for lf in base.leaves}
    assert tx.check(undo.version_id, db=db).ok
    assert tx.diff(res.version_id, undo.version_id, db=db).values_removed == sorted(placed)
    # unplaced values are considered again by the next assign
    again = tx.assign(undo.version_id, dry_run=True, cache_dir=cache_dir, db=db)
    assert {p.value for p in again.placements} >= set(placed)
    # a change-set file may place values, but only values the version covers (version 4 covers batch 1 only)
    n = n_versions(db)
    p = write("place.yaml", f"operations:\n  - op: place\n    value: {curated['new'][0]}\n    to: {base.leaves[0].parent_uid}\n")
    assert main(["apply", "4", str(p), "--db", db]) == 2
    assert "not stored in the batches the version covers" in capsys.readouterr().err and n_versions(db) == n
    p = write("place2.yaml", f"operations:\n  - op: place\n    value: {base.leaves[0].text}\n    to: {base.leaves[0].parent_uid}\n")
    assert main(["apply", "4", str(p), "--db", db]) == 2
    assert "already in the version" in capsys.readouterr().err and n_versions(db) == n
    p = write("reweigh.yaml", "operations:\n  - op: reweigh\n    batches: [1]\n")
    assert main(["apply", str(res.version_id), str(p), "--db", db]) == 2
    assert "differ from the batches version" in capsys.readouterr().err and n_versions(db) == n


def test_assign_again_with_only_queued_values_writes_nothing(curated, cache_dir, capsys):
    db = curated["db"]
    res = tx.assign(4, cache_dir=cache_dir, db=db)
    assert res.n_queued > 0
    n = n_versions(db)
    again = tx.assign(res.version_id, cache_dir=cache_dir, db=db)
    assert again.version_id is None and again.n_placed == 0 and again.n_queued == res.n_queued
    assert "stay in the novelty queue" in again.note and n_versions(db) == n
    assert main(["assign", str(res.version_id), "--db", db, "--cache-dir", str(cache_dir)]) == 0
    assert "nothing written" in capsys.readouterr().err and n_versions(db) == n


def test_a_role_version_refuses_aggregated_batches_naming_its_coverage(db, tmp_path, cache_dir, write):
    base, _ = split_sample(60, 0)
    tx.ingest(str(write_records(tmp_path / "b1.jsonl", base, n_conversations=40, seed=1, prefix="a")),
              role_col="role", db=db)
    v = tx.build(db=db, levels="4,2", method="kmeans", role="ai", cache_dir=cache_dir).version_id
    tx.ingest(str(write("agg.csv", "value,weight\ntoaster,1\n")), weight_col="weight", db=db)
    with pytest.raises(UsageError, match=f"version {v} covers only ai records: batch 2 .* aggregated shape"):
        tx.assign(v, cache_dir=cache_dir, db=db)
