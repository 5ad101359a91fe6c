"""Push/pull of validation samples against an in-memory stand-in for the Label Studio client (fast; the real
server test is tests/test_validation_ls.py): what is sent, resumable push, idempotent pull, unknown answers."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import select

from review import validation as V
from review.validation import labelstudio as VLS
from taxonomy.api import ingest
from taxonomy.db.engine import session_scope
from taxonomy.db.models import ExtractionRecord, ValidationItem, ValidationJudgement, ValidationSample
from taxonomy.errors import UsageError
from tests.test_validation_db import write_records


class FakeLabelStudio:
    """The calls of review.labelstudio.LabelStudioClient that review.validation.labelstudio uses, in memory."""

    url = "http://ls.test"

    def __init__(self):
        self.projects: dict[int, dict] = {}
        self.tasks: dict[int, dict] = {}
        self.ids = itertools.count(1)
        self.fail_import_after: int | None = None  #: raise after this many import calls
        self.import_calls = 0

    # ---- client API
    def get_project(self, pid):
        return self.projects.get(pid)

    def find_projects(self, title):
        return [pid for pid, p in self.projects.items() if p["title"] == title]

    def create_project(self, title, description, label_config):
        pid = next(self.ids)
        self.projects[pid] = {"id": pid, "title": title, "description": description, "label_config": label_config,
                              "maximum_annotations": 1}
        return pid

    def views(self, pid):
        return [v for v in self.projects[pid].get("views", [])]

    def create_view(self, pid, data):
        self.projects[pid].setdefault("views", []).append({"id": 1, "data": data})
        return 1

    def update_project(self, pid, settings):
        self.projects[pid].update(settings)
        return self.projects[pid]

    def list_tasks(self, pid):
        return [{"id": tid, "data": t["data"]} for tid, t in self.tasks.items() if t["project"] == pid]

    def import_tasks(self, pid, tasks):
        self.import_calls += 1
        if self.fail_import_after is not None and self.import_calls > self.fail_import_after:
            raise RuntimeError("connection reset")
        out = []
        for t in tasks:
            tid = 1000 + next(self.ids)
            self.tasks[tid] = {"project": pid, "data": t["data"], "annotations": []}
            out.append(tid)
        return out

    def export(self, pid):
        return [{"id": tid, "data": t["data"], "annotations": t["annotations"]}
                for tid, t in self.tasks.items() if t["project"] == pid and t["annotations"]]

    def users(self):
        return {1: "ana@example.org", 2: "ben@example.org"}

    # ---- what a validator does
    def annotate(self, tid, answer, user, comment=None, cancelled=False):
        result = [{"from_name": "answer", "to_name": "excerpt", "type": "choices", "value": {"choices": [answer]}}]
        if comment:
            result.append({"from_name": "comment", "to_name": "excerpt", "type": "textarea",
                           "value": {"text": [comment]}})
        ann = {"id": next(self.ids) + 5000, "completed_by": user, "result": result, "was_cancelled": cancelled}
        self.tasks[tid]["annotations"].append(ann)
        return ann


@pytest.fixture
def sample_db(db, tmp_path):
    ingest(str(write_records(tmp_path / "r.jsonl")), db=db, role_col="role", excerpt_col="excerpt")
    return db


def test_push_sends_the_stored_excerpt_and_sets_the_overlap(sample_db):
    db = sample_db
    s = V.sample(n=60, stratify="role", redact=True, seed=1, db=db)
    ls = FakeLabelStudio()
    res = VLS.push(s.sample_id, annotators=2, db=db, client=ls)
    assert res.n_tasks == 60 and res.n_created == 60 and not res.already_pushed
    project = ls.projects[res.project_id]
    assert project["maximum_annotations"] == 2 and project["overlap_cohort_percentage"] == 100
    assert project["label_config"] == VLS.LABEL_CONFIG
    with session_scope(db) as sess:
        vs = sess.get(ValidationSample, s.sample_id)
        assert (vs.url, vs.project_id) == (ls.url, res.project_id)
        rows = sess.execute(
            select(ValidationItem.id, ValidationItem.ls_task_id, ValidationItem.excerpt, ExtractionRecord.excerpt,
                   ExtractionRecord.role)
            .join(ExtractionRecord, ExtractionRecord.id == ValidationItem.record_id)
            .where(ValidationItem.sample_id == s.sample_id)
        ).all()
    sent = {tid: t["data"] for tid, t in ls.tasks.items()}
    n_redacted = 0
    for item_id, tid, as_stored, original, role in rows:
        data = sent[tid]
        assert data["excerpt"] == as_stored and data["taxo_item"] == item_id
        assert data["role"] == VLS.ROLE_TEXT[role]
        if as_stored != original:
            n_redacted += 1
            assert original not in str(data)
    assert n_redacted == s.n_items_redacted > 0
    # pushing again creates nothing
    again = VLS.push(s.sample_id, annotators=2, db=db, client=ls)
    assert again.already_pushed and again.n_created == 0 and len(ls.tasks) == 60


def test_interrupted_push_resumes_without_duplicates(sample_db, monkeypatch):
    db = sample_db
    monkeypatch.setattr(VLS, "CHUNK", 25)
    s = V.sample(n=60, db=db)
    ls = FakeLabelStudio()
    ls.fail_import_after = 1  # the first chunk of 25 arrives, then the connection drops
    with pytest.raises(RuntimeError):
        VLS.push(s.sample_id, db=db, client=ls)
    assert len(ls.tasks) == 25
    ls.fail_import_after = None
    res = VLS.push(s.sample_id, db=db, client=ls)
    assert res.n_created == 35 and len(ls.tasks) == 60 and len(ls.projects) == 1
    with session_scope(db) as sess:
        tids = [t for (t,) in sess.execute(select(ValidationItem.ls_task_id).where(
            ValidationItem.sample_id == s.sample_id))]
    assert sorted(tids) == sorted(ls.tasks)


def test_push_finds_a_project_created_before_an_interruption(sample_db):
    db = sample_db
    s = V.sample(n=5, db=db)
    ls = FakeLabelStudio()
    with session_scope(db) as sess:
        created = sess.get(ValidationSample, s.sample_id).created_at
    title, key = VLS.project_title(s.sample_id, created), VLS.project_key(s.sample_id, created)
    other = ls.create_project(title, "from another database (taxo sample key 1-0)", VLS.LABEL_CONFIG)
    pid = ls.create_project(title, f"... ({key})", VLS.LABEL_CONFIG)  # created, but the id never reached the db
    res = VLS.push(s.sample_id, db=db, client=ls)
    assert res.project_id == pid and res.project_id != other and len(ls.projects) == 2


def test_pull_is_idempotent_and_reports_unknown_answers(sample_db):
    db = sample_db
    s = V.sample(n=10, db=db)
    ls = FakeLabelStudio()
    VLS.push(s.sample_id, annotators=2, db=db, client=ls)
    with pytest.raises(UsageError, match="not been pushed"):
        VLS.pull(V.sample(n=3, db=db).sample_id, db=db, client=ls)
    tids = sorted(ls.tasks)
    for i, tid in enumerate(tids):
        ls.annotate(tid, "expressed", 1)
        ls.annotate(tid, "Not expressed" if i == 0 else "expressed", 2, comment="quoted out of context" if i == 0 else None)
    ls.annotate(tids[1], "maybe", 1)
    ls.annotate(tids[2], "expressed", 2, cancelled=True)
    res = VLS.pull(s.sample_id, db=db, client=ls)
    assert (res.n_annotations, res.n_new, res.n_updated, res.n_unchanged) == (21, 21, 0, 0)
    assert res.n_skipped == 1 and res.n_unknown == 1 and res.n_items_judged == 10
    assert len(res.problems) == 1 and "unknown answer 'maybe'" in res.problems[0]
    again = VLS.pull(s.sample_id, db=db, client=ls)
    assert (again.n_new, again.n_updated, again.n_unchanged, again.n_removed) == (0, 0, 21, 0)
    with session_scope(db) as sess:
        js = sess.scalars(select(ValidationJudgement)).all()
    assert len(js) == 21
    first = [j for j in js if j.comment]
    assert len(first) == 1 and first[0].answer == "not_expressed" and first[0].annotator == "ben@example.org"
    # a changed answer is updated, a deleted annotation removed
    ls.tasks[tids[0]]["annotations"][1]["result"][0]["value"]["choices"] = ["expressed"]
    ls.tasks[tids[1]]["annotations"].pop()  # the "maybe"
    res = VLS.pull(s.sample_id, db=db, client=ls)
    assert (res.n_new, res.n_updated, res.n_removed, res.n_unknown) == (0, 1, 1, 0)
    rep = V.report(s.sample_id, db=db)
    assert rep.overall.estimate == 1.0 and rep.unknown_answers == []
    assert rep.agreement["kappa_pair"] == ["ana@example.org", "ben@example.org"]


def test_parse_annotation():
    def res(*choices, text=None):
        r = [{"from_name": "answer", "type": "choices", "value": {"choices": list(choices)}}]
        if text is not None:
            r.append({"from_name": "comment", "type": "textarea", "value": {"text": [text]}})
        return r

    assert VLS.parse_annotation(res("expressed")) == ("expressed", None)
    assert VLS.parse_annotation(res("Cannot tell", text="too short")) == ("cannot_tell", "too short")
    assert VLS.parse_annotation(res("NOT EXPRESSED")) == ("not_expressed", None)
    assert VLS.parse_annotation(res("perhaps")) == ("perhaps", None)
    assert VLS.parse_annotation([]) == ("", None)
    assert VLS.parse_annotation(None) == ("", None)
    assert VLS.parse_annotation(res("expressed", "not_expressed"))[0] not in V.ANSWERS


def test_push_errors(sample_db):
    db = sample_db
    s = V.sample(n=5, db=db)
    with pytest.raises(UsageError, match="at least 1"):
        VLS.push(s.sample_id, annotators=0, db=db, client=FakeLabelStudio())
    ls = FakeLabelStudio()
    VLS.push(s.sample_id, db=db, client=ls)
    with pytest.raises(UsageError, match="was pushed to http://ls.test"):
        VLS.push(s.sample_id, url="http://elsewhere:8080", db=db, client=ls)
    ls.projects.clear()
    with pytest.raises(UsageError, match="no longer exists"):
        VLS.push(s.sample_id, db=db, client=ls)
