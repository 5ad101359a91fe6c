"""Review in Label Studio against a real server (one per test session, see tests/labelstudio_server.py): push a
version, annotate through Label Studio's own API as a reviewer would, pull, check the new version."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

import taxonomy.api as tx
from review import api as review
from review import config as C
from review.labelstudio import LabelStudioAuthError, LabelStudioUnavailable, RetryPolicy
from taxonomy.db.engine import session_scope
from taxonomy.db.models import ChangeSet, ReviewAnnotation, ReviewBatch, ReviewTask, Version
from taxonomy.store import read_tree

from .curation_fixtures import make_version, uid


@pytest.fixture
def ls(label_studio):
    return label_studio.client()


@pytest.fixture
def v1(db, tmp_path):
    assert make_version(db, tmp_path) == 1
    return db


@pytest.fixture
def sqlite_v1(sqlite_url, tmp_path):
    tx.init(sqlite_url)
    assert make_version(sqlite_url, tmp_path) == 1
    return sqlite_url


def do_push(db, ls, cache_dir, version=1, **kw):
    return review.push(version, db=db, client=ls, cache_dir=str(cache_dir), **kw)


def task_ids(db, batch_id) -> dict[str, int]:
    with session_scope(db) as s:
        q = select(ReviewTask.node_uid, ReviewTask.ls_task_id).where(ReviewTask.batch_id == batch_id)
        return {a: b for a, b in s.execute(q)}


def payloads(db, batch_id) -> dict[str, dict]:
    with session_scope(db) as s:
        q = select(ReviewTask.node_uid, ReviewTask.payload).where(ReviewTask.batch_id == batch_id)
        return {a: b for a, b in s.execute(q)}


def tree_of(db, version):
    with session_scope(db) as s:
        return read_tree(s, version)


def n_versions(db) -> int:
    with session_scope(db) as s:
        return s.scalar(select(func.count()).select_from(Version))


def annotate(ls, db, batch_id, node, *, name=None, description=None, merge=None, move=None, split=None, flag=False,
             comment=None, completed_by=None, by_alias=False) -> int:
    """What a reviewer submits in the editor: the pre-filled answer (prediction) with one action chosen, and only
    that action's controls (Label Studio submits only the visible ones). ``split``: [(name or None, [numbers])]."""
    p = payloads(db, batch_id)[node]
    action = (C.FLAG if flag else C.MERGE if merge else C.MOVE if move else C.SPLIT_ACTION if split
              else C.RENAME if name is not None or description is not None else C.APPROVE)

    def option(key, target):
        [o] = [o for o in p["data"][key] if o["alias"] == target]
        return o["alias"] if by_alias else o["value"]

    keep_text = action in (C.RENAME, C.SPLIT_ACTION)
    groups = None
    if split is not None:
        groups = [(g, [str(n) for n in numbers]) for g, numbers in split]  # the options' aliases: the numbers
    result = C.annotation_result(
        action,
        name=(name if name is not None else p["name"]) if keep_text else None,
        description=(description if description is not None else p["description"] or None) if keep_text else None,
        target=option("merge_options", merge) if merge else option("move_options", move) if move else None,
        groups=groups,
        comment=comment,
    )
    return ls.create_annotation(task_ids(db, batch_id)[node], result, completed_by=completed_by)["id"]


def statuses(db, batch_id) -> dict[int, str]:
    with session_scope(db) as s:
        return {
            a: st
            for a, st in s.execute(
                select(ReviewAnnotation.ls_annotation_id, ReviewAnnotation.status)
                .join(ReviewTask, ReviewTask.id == ReviewAnnotation.task_id)
                .where(ReviewTask.batch_id == batch_id)
            )
        }


# ------------------------------------------------------------------------------------------------------------
def test_end_to_end_rename_merge_split_approve_then_pull_again(v1, ls, cache_dir):
    """Runs on SQLite and PostgreSQL."""
    res = do_push(v1, ls, cache_dir, level=1)
    assert (res.version_id, res.level, res.n_tasks, res.created, res.existing) == (1, 1, 5, 5, 0)
    assert res.project_url.endswith(f"/projects/{res.project_id}/data")
    b = res.batch_id
    a_rename = annotate(ls, v1, b, uid("a1x"), name="Honesty, truthfulness and candor",
                        description="Telling the truth.")
    a_merge = annotate(ls, v1, b, uid("a1y"), merge=uid("a1x"))
    # members of b1x, heaviest first: 1. kindness 2. compassion 3. empathy
    a_split = annotate(ls, v1, b, uid("b1x"), split=[("Compassion", [2])])
    a_ok = annotate(ls, v1, b, uid("b1y"))

    rep = review.pull(b, message="review round 1", author="ana", db=v1, client=ls)
    assert not rep.blocked and not rep.refused and not rep.conflicts, rep
    assert (rep.base_version_id, rep.version_id) == (1, 2)
    assert {i.node for i in rep.applied} == {uid("a1x"), uid("a1y"), uid("b1x")}
    assert [i.node for i in rep.approved] == [uid("b1y")]
    t = tree_of(v1, 2)
    a1x = t.nodes[uid("a1x")]
    assert (a1x.name, a1x.description) == ("Honesty, truthfulness and candor", "Telling the truth.")
    assert uid("a1y") not in t.nodes and t.tombstones[uid("a1y")].replaced_by == [uid("a1x")]
    assert sorted(lf.text for lf in t.leaves if lf.parent_uid == uid("a1x")) == sorted(
        ["honesty", "truthfulness", "candor", "transparency", "openness"])
    # the split: the members not ticked stay in the node (same id, name, description); the new part is described
    b1x = t.nodes[uid("b1x")]
    assert uid("b1x") not in t.tombstones and b1x.name == "Empathy and compassion"
    assert sorted(lf.text for lf in t.leaves if lf.parent_uid == uid("b1x")) == ["empathy", "kindness"]
    [part] = [n for n in t.nodes.values() if n.name == "Compassion"]
    assert [lf.text for lf in t.leaves if lf.parent_uid == part.uid] == ["compassion"]
    assert part.parent_uid == uid("B1") and part.description.strip()
    d12 = tx.diff(1, 2, db=v1)
    assert not d12.split and [a.uid for a in d12.added] == [part.uid]
    assert [m.text for m in d12.values_moved if m.old_parent_uid == uid("b1x")] == ["compassion"], \
        "only the value split off moved; the remainder's values stay where they were"
    assert tx.check(2, db=v1).ok
    with session_scope(v1) as s:
        cs = s.scalar(select(ChangeSet).where(ChangeSet.version_id == 2))
        v = s.get(Version, 2)
        assert (v.message, v.author, v.parent_id) == ("review round 1", "ana", 1)
        assert cs.source["kind"] == "label-studio" and cs.source["batch"] == b
        assert sorted(cs.source["annotations"]) == sorted([a_rename, a_merge, a_split])
        assert sorted(cs.source["tasks"]) == sorted(task_ids(v1, b)[u] for u in (uid("a1x"), uid("a1y"), uid("b1x")))
        assert [op["op"] for op in cs.operations] == ["rename", "merge", "split"]
    assert statuses(v1, b) == {a_rename: "applied", a_merge: "applied", a_split: "applied", a_ok: "approved"}

    # each task's outcome is written back to Label Studio (a data manager column)
    assert rep.outcomes_written == 4
    outcome = {t["data"]["node_id"]: t["data"][C.OUTCOME_KEY] for t in ls.list_tasks(res.project_id)}
    assert outcome[uid("a1x")].startswith("applied in version 2: rename to 'Honesty, truthfulness and candor'")
    assert outcome[uid("a1y")].startswith("applied in version 2: merge into")
    assert outcome[uid("b1y")].startswith("approved") and outcome[uid("a2x")] == ""
    assert all(i.link.endswith(f"/projects/{res.project_id}/data?task={i.task}") for i in rep.applied)

    # pulling again applies nothing twice
    again = review.pull(b, message="again", db=v1, client=ls)
    assert again.version_id is None and again.already_pulled == 4 and not again.applied
    assert again.outcomes_written == 0, "outcomes unchanged: nothing written again"
    assert n_versions(v1) == 2

    st = review.status(b, db=v1, client=ls)
    assert (st.tasks, st.annotated, st.applied, st.approved, st.conflicting, st.pending) == (5, 4, 3, 1, 0, 0)
    assert st.versions == [2]

    # pushing the same version and level again does not duplicate tasks
    res2 = do_push(v1, ls, cache_dir, level=1)
    assert (res2.batch_id, res2.project_id, res2.created, res2.existing) == (b, res.project_id, 0, 5)
    assert res2.reused_batch
    assert len(ls.list_tasks(res.project_id)) == 5


def test_tasks_show_what_a_reviewer_needs_and_text_stays_text(sqlite_v1, ls, cache_dir, label_studio):
    db = sqlite_v1
    evil = "<script>alert(1)</script>"
    v2 = tx.rename(1, uid("a1y"), evil, description='<img src=x onerror="alert(2)"> & more', db=db).version_id
    res = do_push(db, ls, cache_dir, version=v2, nodes=[uid("a1y")[len("values:l1:"):][:8], uid("a1x")])
    assert res.level == 1 and res.n_tasks == 2
    tasks = {t["data"]["node_id"]: t for t in ls.list_tasks(res.project_id)}
    d = tasks[uid("a1y")]["data"]
    # stored literally (not escaped twice, not stripped), shown by <Text> tags only
    assert d["name"] == evil and d["description"] == '<img src=x onerror="alert(2)"> & more'
    assert d["path"] == f"Practical values › Truthful communication › {evil}"
    assert d["members"].splitlines() == ["1. openness — weight 5 (4.167%)", "2. transparency — weight 4 (3.333%)"]
    assert [o["alias"] for o in d["split_members"]] == ["1", "2"]
    assert d["split_members"][0]["value"] == "1. openness — weight 5 (4.167%)"
    assert d["size"].startswith("2 values, ") and d["size"].endswith("% of all occurrences")
    assert d["siblings"].startswith("Honesty and candor (id ")
    assert [o["alias"] for o in d["merge_options"]] and uid("a1y") not in [o["alias"] for o in d["merge_options"]]
    assert all(set(o) == {"value", "alias"} for o in d["merge_options"] + d["move_options"] + d["split_members"])
    assert {o["alias"] for o in d["move_options"]} == {uid("A2"), uid("B1")}
    other = tasks[uid("a1x")]["data"]
    assert f"{evil} (id" in other["siblings"]
    # the label config renders no HTML; the prediction pre-fills the current name and description
    project = ls._raw("GET", f"api/projects/{res.project_id}/")
    assert "HyperText" not in project["label_config"] and "html" not in project["label_config"].lower()
    assert project["model_version"] == C.MODEL_VERSION and project["show_collab_predictions"]
    assert "one action" in project["expert_instruction"] and project["show_instruction"]
    [view] = ls.views(res.project_id)
    assert view["data"]["title"] == "Review"
    hidden = view["data"]["hiddenColumns"]["explore"]
    assert {"tasks:data.merge_options", "tasks:data.move_options", "tasks:data.split_members"} <= set(hidden)
    assert "tasks:data.name" not in hidden and f"tasks:data.{C.OUTCOME_KEY}" not in hidden
    [pred] = ls._raw("GET", "api/predictions/", params={"task": tasks[uid("a1y")]["id"]})
    assert pred["result"] == C.prediction_result(evil, '<img src=x onerror="alert(2)"> & more')
    # the token is stored nowhere
    with session_scope(db) as s:
        batch = s.get(ReviewBatch, res.batch_id)
        assert label_studio.token not in repr(batch.options) + batch.url
        assert all(label_studio.token not in repr(p) for p in s.scalars(select(ReviewTask.payload)))


def test_conflicts_are_reported_and_resolved_on_request(sqlite_v1, ls, cache_dir):
    db = sqlite_v1
    second = ls.create_user("second@taxo.test", "second-password-1")
    third = ls.create_user("third@taxo.test", "third-password-1")
    b = do_push(db, ls, cache_dir, level=1, annotators=2).batch_id
    x1 = annotate(ls, db, b, uid("a2x"), name="Efficiency and productivity")
    x2 = annotate(ls, db, b, uid("a2x"), completed_by=second)  # approves
    ok = annotate(ls, db, b, uid("b1y"), description="Belonging to a community.")

    rep = review.pull(b, db=db, client=ls)
    assert [c.node for c in rep.conflicts] == [uid("a2x")] and "disagree" in rep.conflicts[0].reason
    assert "second@taxo.test" in rep.conflicts[0].reason
    assert [a.node for a in rep.applied] == [uid("b1y")] and rep.version_id == 2
    assert statuses(db, b) == {x1: "conflict", x2: "conflict", ok: "applied"}
    assert review.status(b, db=db, client=ls).conflicting == 1

    # a tie stays a conflict under --resolve majority; a third reviewer makes a majority
    rep = review.pull(b, resolve="majority", db=db, client=ls)
    assert rep.version_id is None and "no majority" in rep.conflicts[0].reason
    x3 = annotate(ls, db, b, uid("a2x"), name="Efficiency and productivity", completed_by=third)
    rep = review.pull(b, resolve="majority", message="majority", db=db, client=ls)
    assert rep.version_id == 3 and rep.base_version_id == 2 and [a.node for a in rep.applied] == [uid("a2x")]
    assert tree_of(db, 3).nodes[uid("a2x")].name == "Efficiency and productivity"
    assert tree_of(db, 3).nodes[uid("b1y")].description == "Belonging to a community."
    assert statuses(db, b) == {x1: "applied", x2: "superseded", x3: "applied", ok: "applied"}


def test_resolve_latest(sqlite_v1, ls, cache_dir):
    db = sqlite_v1
    second = ls.create_user("second@taxo.test", "second-password-1")
    b = do_push(db, ls, cache_dir, nodes=[uid("b1x")]).batch_id
    annotate(ls, db, b, uid("b1x"), name="Empathy")
    annotate(ls, db, b, uid("b1x"), name="Compassion", completed_by=second)  # later
    rep = review.pull(b, resolve="latest", db=db, client=ls)
    assert rep.version_id == 2 and tree_of(db, 2).nodes[uid("b1x")].name == "Compassion"


def test_refusals_are_reported_one_by_one_and_block_unless_partial(sqlite_v1, ls, cache_dir):
    db = sqlite_v1
    b = do_push(db, ls, cache_dir, level=1).batch_id
    clash = annotate(ls, db, b, uid("b1x"), name="community and belonging")  # a sibling's name
    empty = annotate(ls, db, b, uid("a2x"), move=uid("B1"), by_alias=True)  # leaves "Productive work" empty
    gone = annotate(ls, db, b, uid("a1x"), merge=uid("a1y"))  # a1y is merged away meanwhile (below)
    fine = annotate(ls, db, b, uid("b1y"), description="Belonging to a community.")
    tx.merge(1, uid("a1y"), into=uid("b1y"), db=db, message="meanwhile")  # version 2

    rep = review.pull(b, message="round 1", db=db, client=ls)
    assert rep.blocked and rep.version_id is None and rep.base_version_id == 2
    reasons = {i.node: i.reason for i in rep.refused}
    assert set(reasons) == {uid("b1x"), uid("a2x"), uid("a1x")}
    assert "sibling already has the name" in reasons[uid("b1x")]
    assert "no-empty-clusters" in reasons[uid("a2x")] and "Productive work" in reasons[uid("a2x")]
    assert "no longer exists" in reasons[uid("a1x")] and "merged" in reasons[uid("a1x")]
    assert n_versions(db) == 2, "nothing applied"
    assert statuses(db, b)[fine] == "refused" and statuses(db, b)[clash] == "refused"
    project = review.status(b, db=db, client=ls).project_id
    outcome = {t["data"]["node_id"]: t["data"][C.OUTCOME_KEY] for t in ls.list_tasks(project)}
    assert outcome[uid("b1x")].startswith("refused: ") and "sibling already has the name" in outcome[uid("b1x")]
    assert "other annotations of this pull were refused" in outcome[uid("b1y")]
    assert all(i.link == f"{ls.url}/projects/{project}/data?task={i.task}" for i in rep.refused)

    rep = review.pull(b, message="round 1, the rest", partial=True, db=db, client=ls)
    assert rep.version_id == 3 and [a.node for a in rep.applied] == [uid("b1y")] and len(rep.refused) == 3
    assert tree_of(db, 3).nodes[uid("b1y")].description == "Belonging to a community."
    assert statuses(db, b) == {clash: "refused", empty: "refused", gone: "refused", fine: "applied"}
    # the reviewer fixes the clash in Label Studio; the next pull applies it and nothing twice
    ls.update_annotation(clash, C.annotation_result(C.RENAME, name="Empathy and kindness"))
    rep = review.pull(b, partial=True, db=db, client=ls)
    assert rep.version_id == 4 and [a.node for a in rep.applied] == [uid("b1x")]
    assert tree_of(db, 4).nodes[uid("b1x")].name == "Empathy and kindness"
    assert tree_of(db, 4).nodes[uid("b1y")].description == "Belonging to a community."


def test_flags_are_reported_and_apply_nothing(sqlite_v1, ls, cache_dir):
    db = sqlite_v1
    b = do_push(db, ls, cache_dir, nodes=[uid("a1x")]).batch_id
    annotate(ls, db, b, uid("a1x"), name="Something else", flag=True, comment="Overlaps with transparency?")
    rep = review.pull(b, db=db, client=ls, outcomes=False)
    assert rep.version_id is None and [f.comment for f in rep.flagged] == ["Overlaps with transparency?"]
    assert review.status(b, db=db, client=ls).flagged == 1
    project = review.status(b, db=db, client=ls).project_id
    [task] = ls.list_tasks(project)
    assert task["data"][C.OUTCOME_KEY] == "" and rep.outcomes_written == 0
    rep = review.pull(b, db=db, client=ls)  # the next pull writes the missing outcome
    [task] = ls.list_tasks(project)
    assert rep.outcomes_written == 1
    assert task["data"][C.OUTCOME_KEY] == "flagged for discussion: Overlaps with transparency?"


def test_wrong_token_is_an_authentication_error_and_writes_nothing(sqlite_v1, label_studio, cache_dir):
    bad = label_studio.client(token="not-the-right-token-123")
    with pytest.raises(LabelStudioAuthError, match="rejected the token") as exc:
        do_push(sqlite_v1, bad, cache_dir)
    assert "not-the-right-token-123" not in str(exc.value)
    with session_scope(sqlite_v1) as s:
        assert s.scalar(select(func.count()).select_from(ReviewBatch)) == 0


def test_unreachable_label_studio_fails_clearly_after_retries(sqlite_v1, cache_dir, monkeypatch):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("TAXO_LABEL_STUDIO_TOKEN", "some-token-123")
    with pytest.raises(LabelStudioUnavailable, match=r"after 3 attempt\(s\)"):
        review.push(1, url=f"http://127.0.0.1:{port}", db=sqlite_v1, cache_dir=str(cache_dir),
                    retry=RetryPolicy(attempts=3, backoff=0.05))
    with session_scope(sqlite_v1) as s:
        assert s.scalar(select(func.count()).select_from(ReviewBatch)) == 0


def test_cli_push_status_pull(sqlite_v1, label_studio, cache_dir, monkeypatch, capsys):
    import json

    from taxonomy.cli import main

    db = ["--db", sqlite_v1]
    monkeypatch.setenv("TAXO_LABEL_STUDIO_URL", label_studio.url)
    monkeypatch.setenv("TAXO_LABEL_STUDIO_TOKEN", label_studio.token)
    assert main(["review", "push", "1", "--level", "2", "--cache-dir", str(cache_dir), *db]) == 0
    cap = capsys.readouterr()
    batch = int(cap.out.strip())
    assert "3 tasks" in cap.err and label_studio.token not in cap.out + cap.err
    assert main(["review", "status", "--json", *db]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert (row["batch_id"], row["version_id"], row["level"], row["tasks"]) == (batch, 1, 2, 3)
    ls = label_studio.client()
    annotate(ls, sqlite_v1, batch, uid("A2"), name="Work and productivity")
    assert main(["review", "status", str(batch), "--json", *db]) == 0
    st = json.loads(capsys.readouterr().out)
    assert (st["tasks"], st["annotated"], st["pending"]) == (3, 1, 1)
    assert main(["review", "pull", str(batch), "-m", "review round 1", *db]) == 0
    cap = capsys.readouterr()
    assert cap.out.strip() == "2" and "Work and productivity" in cap.err
    assert tree_of(sqlite_v1, 2).nodes[uid("A2")].name == "Work and productivity"
    monkeypatch.setenv("TAXO_LABEL_STUDIO_TOKEN", "wrong-token-456789")
    assert main(["review", "status", str(batch), *db]) == 1
    assert "rejected the token" in capsys.readouterr().err


def test_an_interrupted_push_is_completed_without_duplicates(sqlite_v1, label_studio, cache_dir):
    from review.labelstudio import LabelStudioClient

    db = sqlite_v1

    class LostAnswer(LabelStudioClient):
        """The server creates the tasks, but the answer never arrives."""

        def import_tasks(self, project_id, tasks):
            super().import_tasks(project_id, tasks)
            raise LabelStudioUnavailable("connection reset while reading the answer")

    class NoPredictions(LabelStudioClient):
        def import_predictions(self, project_id, predictions):
            raise LabelStudioUnavailable("Label Studio went away")

    retry = RetryPolicy(attempts=2, backoff=0.05)
    with pytest.raises(LabelStudioUnavailable):
        do_push(db, LostAnswer(label_studio.url, label_studio.token, retry=retry), cache_dir,
                nodes=[uid("a1x"), uid("a1y")])
    with pytest.raises(LabelStudioUnavailable):
        do_push(db, NoPredictions(label_studio.url, label_studio.token, retry=retry), cache_dir,
                nodes=[uid("a1x"), uid("a1y")])
    ls = label_studio.client()
    res = do_push(db, ls, cache_dir, nodes=[uid("a1x"), uid("a1y"), uid("a2x")])
    assert (res.n_tasks, res.created, res.existing) == (3, 1, 2)
    tasks = ls.list_tasks(res.project_id)
    assert sorted(t["data"]["node_id"] for t in tasks) == sorted([uid("a1x"), uid("a1y"), uid("a2x")])
    assert all(t["total_predictions"] == 1 for t in tasks)
    with session_scope(db) as s:
        assert s.scalar(select(func.count()).select_from(ReviewBatch)) == 1
        assert s.get(ReviewBatch, res.batch_id).status == "pushed"
    assert sorted(task_ids(db, res.batch_id).values()) == sorted(t["id"] for t in tasks)


def test_a_later_annotation_on_a_decided_node_agrees_or_conflicts(sqlite_v1, ls, cache_dir):
    db = sqlite_v1
    second = ls.create_user("second@taxo.test", "second-password-1")
    third = ls.create_user("third@taxo.test", "third-password-1")
    b = do_push(db, ls, cache_dir, nodes=[uid("b1y")]).batch_id
    first = annotate(ls, db, b, uid("b1y"), name="Community")
    assert review.pull(b, db=db, client=ls).version_id == 2
    late = annotate(ls, db, b, uid("b1y"), name="Belonging", completed_by=second)
    same = annotate(ls, db, b, uid("b1y"), name="Community", completed_by=third)
    rep = review.pull(b, db=db, client=ls)
    assert rep.version_id is None and [c.node for c in rep.conflicts] == [uid("b1y")]
    assert "already decided" in rep.conflicts[0].reason
    assert statuses(db, b) == {first: "applied", late: "conflict", same: "applied"}
    assert n_versions(db) == 2


def test_two_pulls_of_one_batch_cannot_run_at_once(sqlite_v1, ls, cache_dir):
    from datetime import datetime, timezone

    db = sqlite_v1
    b = do_push(db, ls, cache_dir, nodes=[uid("a1x")]).batch_id
    annotate(ls, db, b, uid("a1x"), name="Candor")
    busy = f"pulling {datetime.now(timezone.utc).strftime('%Y-%m-%dT%H:%M:%S')}"
    with session_scope(db) as s:
        s.get(ReviewBatch, b).status = busy
    with pytest.raises(review.ReviewBusyError, match="being pulled"):
        review.pull(b, db=db, client=ls)
    with session_scope(db) as s:
        s.get(ReviewBatch, b).status = "pulling 2000-01-01T00:00:00"  # a crashed pull long ago: stale
    assert review.pull(b, db=db, client=ls).version_id == 2
    with session_scope(db) as s:
        assert s.get(ReviewBatch, b).status == "pulled"


def test_a_refused_split_stays_refused_on_the_next_pull(sqlite_v1, ls, cache_dir, label_studio, monkeypatch,
                                                        capsys):
    db = sqlite_v1
    b = do_push(db, ls, cache_dir, nodes=[uid("b1x"), uid("b1y")]).batch_id
    bad = annotate(ls, db, b, uid("b1x"), split=[("Empathy and compassion", [1])])  # the name the rest keeps
    ok = annotate(ls, db, b, uid("b1y"), name="Community")
    for _ in range(2):
        rep = review.pull(b, db=db, client=ls)
        assert rep.blocked and rep.version_id is None and [i.node for i in rep.refused] == [uid("b1x")], rep
        assert "sibling already has the name" in rep.refused[0].reason
        assert statuses(db, b) == {bad: "refused", ok: "refused"}
    # the CLI: exit code 1, the refused task listed with its link
    from taxonomy.cli import main

    monkeypatch.setenv("TAXO_LABEL_STUDIO_TOKEN", label_studio.token)
    capsys.readouterr()
    assert main(["review", "pull", str(b), "--db", db]) == 1
    cap = capsys.readouterr()
    assert cap.out == "" and f"{label_studio.url}/projects/" in cap.err and "Nothing was applied" in cap.err
