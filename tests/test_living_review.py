"""The novelty queue in Label Studio: push the queue's groups as tasks to the real server, decide as a reviewer
would (place, new node, leave queued), pull one change-set."""

from __future__ import annotations

import pytest
from sqlalchemy import select

import taxonomy.api as tx
from review import api as review
from review import novelty as N
from taxonomy.cli import main
from taxonomy.db.engine import session_scope
from taxonomy.db.models import ChangeSet, ReviewTask

from .curation_fixtures import make_version
from .living_fixtures import n_versions, tree_of

NEW = ["sincerity", "teamwork", "eiffel tower", "spaghetti carbonara", "toaster", "tokyo", "screwdriver",
       "lasagna"]


@pytest.fixture
def queued(db, tmp_path, write, cache_dir):
    make_version(db, tmp_path)
    p = write("new.csv", "value,weight\n" + "".join(f"{v},{i + 1}\n" for i, v in enumerate(NEW)))
    tx.ingest(str(p), weight_col="weight", db=db)
    res = tx.assign(1, threshold=0.45, cache_dir=str(cache_dir), db=db)
    assert res.version_id == 2 and len(res.groups) >= 3, res.groups
    return db


def tasks(db, batch_id) -> dict[str, tuple[int, dict]]:
    with session_scope(db) as s:
        return {u: (t, p) for u, t, p in s.execute(
            select(ReviewTask.node_uid, ReviewTask.ls_task_id, ReviewTask.payload).where(ReviewTask.batch_id == batch_id))}


def answer(decision, *, place=None, name=None, parent=None):
    out = [{"from_name": N.DECISION, "to_name": "name", "type": "choices", "value": {"choices": [decision]}}]
    if place is not None:
        out.append({"from_name": N.PLACE_INTO, "to_name": "name", "type": "choices", "value": {"choices": [place]}})
    if name is not None:
        out.append({"from_name": N.NEW_NAME, "to_name": "name", "type": "textarea", "value": {"text": [name]}})
    if parent is not None:
        out.append({"from_name": N.NEW_PARENT, "to_name": "name", "type": "choices", "value": {"choices": [parent]}})
    return out


def test_novelty_round_trip_through_label_studio(queued, label_studio, cache_dir, capsys, monkeypatch):
    db = queued
    ls = label_studio.client()
    q = tx.novelty(2, db=db)
    res = N.push_novelty(2, db=db, client=ls)
    assert (res.version_id, res.n_tasks, res.created, res.existing) == (2, len(q.groups), len(q.groups), 0)
    again = N.push_novelty(2, db=db, client=ls)
    assert (again.batch_id, again.created, again.existing) == (res.batch_id, 0, len(q.groups))
    t = tasks(db, res.batch_id)
    assert set(t) == {g["id"] for g in q.groups}
    # what the reviewer sees: the group's values as plain text, options labelled by name
    exported = {x["id"]: x for x in ls.list_tasks(res.project_id)}
    g_place, g_new, g_leave = q.groups[0], q.groups[1], q.groups[2]
    tid, payload = t[g_place["id"]]
    assert g_place["members"][0]["value"] in exported[tid]["data"]["members"]
    place_label = payload["place_options"][0]["value"]  # the label, as Label Studio returns it
    ls.create_annotation(tid, answer(N.PLACE, place=place_label))
    tid2, payload2 = t[g_new["id"]]
    ls.create_annotation(tid2, answer(N.CREATE, name="Things and places", parent=payload2["parent_options"][0]["value"]))
    ls.create_annotation(t[g_leave["id"]][0], answer(N.LEAVE))

    st = review.status(res.batch_id, db=db, client=ls)
    assert (st.tasks, st.annotated, st.pending, st.applied) == (len(q.groups), 3, 3, 0)
    rep = review.pull(res.batch_id, message="novelty round 1", author="ana", db=db, client=ls)
    st = review.status(res.batch_id, db=db, client=ls)
    assert (st.applied, st.approved, st.pending, st.versions) == (2, 1, 0, [3])
    assert rep.version_id == 3 and rep.base_version_id == 2
    assert {i.node for i in rep.applied} == {g_place["id"], g_new["id"]}
    assert [i.node for i in rep.approved] == [g_leave["id"]]
    tr = tree_of(db, 3)
    into = payload["place_options"][0]["alias"]
    placed = {lf.text: lf.parent_uid for lf in tr.leaves}
    assert all(placed[m["value"]] == into for m in g_place["members"])
    [new_node] = [n for n in tr.nodes.values() if n.name == "Things and places"]
    assert new_node.level == 1 and new_node.parent_uid == payload2["parent_options"][0]["alias"]
    assert all(placed[m["value"]] == new_node.uid for m in g_new["members"])
    assert all(m["value"] not in placed for m in g_leave["members"]), "left queued"
    assert tx.check(3, db=db).ok
    with session_scope(db) as s:
        cs = s.scalar(select(ChangeSet).where(ChangeSet.version_id == 3))
        assert cs.source["kind"] == "label-studio" and cs.source["review"] == "novelty"
        assert cs.source["batch"] == res.batch_id and len(cs.source["annotations"]) == 2
    left = tx.novelty(3, db=db)
    assert {g["id"] for g in left.groups} == {g["id"] for g in q.groups} - {g_place["id"], g_new["id"]}
    # pulling again applies nothing twice
    n = n_versions(db)
    rep2 = review.pull(res.batch_id, db=db, client=ls)
    assert rep2.version_id is None and rep2.already_pulled == 3 and n_versions(db) == n
    # the command line: push --novelty of the new version (a new batch), with the server from the environment
    monkeypatch.setenv("TAXO_LABEL_STUDIO_URL", label_studio.url)
    monkeypatch.setenv("TAXO_LABEL_STUDIO_TOKEN", label_studio.token)
    capsys.readouterr()
    assert main(["review", "push", "3", "--novelty", "--db", db, "--quiet"]) == 0
    batch = int(capsys.readouterr().out.strip())
    assert batch != res.batch_id and set(tasks(db, batch)) == {g["id"] for g in left.groups}


def test_an_empty_queue_is_not_pushed(db, tmp_path, label_studio, capsys, monkeypatch):
    make_version(db, tmp_path)
    monkeypatch.setenv("TAXO_LABEL_STUDIO_URL", label_studio.url)
    monkeypatch.setenv("TAXO_LABEL_STUDIO_TOKEN", label_studio.token)
    assert main(["review", "push", "1", "--novelty", "--db", db]) == 2
    assert "empty novelty queue" in capsys.readouterr().err
