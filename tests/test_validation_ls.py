"""Validation samples against a real Label Studio (the session's ``label_studio`` server, tests/labelstudio_server.py):
push a redacted sample with two validators per task, read the tasks back (the original excerpts never reached the
server), annotate through the API as two users with deliberate disagreements, a cannot-tell, a skipped task and an
unknown answer, pull (twice), and check the report against an independent computation with statsmodels."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from sqlalchemy import select
from statsmodels.stats.inter_rater import cohens_kappa as sm_cohens_kappa
from statsmodels.stats.proportion import proportion_confint

from review import validation as V
from review.validation import labelstudio as VLS
from taxonomy.api import ingest
from taxonomy.db.engine import session_scope
from taxonomy.db.models import ExtractionRecord, ValidationItem, ValidationJudgement
from tests.test_validation_db import PII, write_records

TOL = 1e-9
SECRETS = ("ana.lopez@example.com", "415 555 2671", "private.example.org", "192.168.10.20", "12345678", "2001:db8::42")


def _choice(answer: str, comment: str | None = None) -> list[dict]:
    result = [{"from_name": "answer", "to_name": "excerpt", "type": "choices", "value": {"choices": [answer]}}]
    if comment:
        result.append({"from_name": "comment", "to_name": "excerpt", "type": "textarea", "value": {"text": [comment]}})
    return result


def test_push_annotate_pull_report_on_a_real_server(label_studio, db, tmp_path, monkeypatch, capsys):
    # records where every 3rd excerpt carries personal data
    counts = {"honesty": 14, "transparency": 10, "empathy": 8, "efficiency": 6, "kindness": 4}
    path = write_records(tmp_path / "records.jsonl", counts=counts, seed=2)
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    for i, row in enumerate(lines):
        if i % 3 == 0:
            row["excerpt"] += " Reach me: " + PII[(i // 3) % len(PII)] + "."
    path.write_text("\n".join(json.dumps(r) for r in lines) + "\n")
    ingest(str(path), db=db, role_col="role", excerpt_col="excerpt")
    s = V.sample(n=24, stratify="role", seed=0, redact=True, db=db)
    assert s.n_redactions > 0

    client = label_studio.client()
    res = VLS.push(s.sample_id, url=label_studio.url, token=label_studio.token, annotators=2, db=db)
    assert res.n_created == 24 and res.annotators == 2
    project = client.get_project(res.project_id)
    assert project["maximum_annotations"] == 2
    assert int(project.get("overlap_cohort_percentage", 100)) == 100
    again = VLS.push(s.sample_id, url=label_studio.url, token=label_studio.token, annotators=2, db=db)
    assert again.already_pushed and again.n_created == 0 and again.project_id == res.project_id

    # ---- read the tasks back: exactly the stored (redacted) text, and no original excerpt with personal data
    with session_scope(db) as sess:
        rows = sess.execute(
            select(ValidationItem.id, ValidationItem.ls_task_id, ValidationItem.excerpt, ValidationItem.position,
                   ValidationItem.stratum, ExtractionRecord.excerpt)
            .join(ExtractionRecord, ExtractionRecord.id == ValidationItem.record_id)
            .where(ValidationItem.sample_id == s.sample_id).order_by(ValidationItem.position)
        ).all()
    tasks = client.list_tasks(res.project_id)
    assert len(tasks) == 24
    by_id = {int(t["id"]): t for t in tasks}
    exported = json.dumps(client.export(res.project_id, all_tasks=True), ensure_ascii=False)
    listed = json.dumps(tasks, ensure_ascii=False)
    n_changed = 0
    for item_id, tid, sent, position, stratum, original in rows:
        data = by_id[tid]["data"]
        assert data["excerpt"] == sent and data["taxo_item"] == item_id
        assert data["role"] in VLS.ROLE_TEXT.values() and data["value"]
        if sent != original:
            n_changed += 1
            assert original not in listed and original not in exported
    assert n_changed == s.n_items_redacted > 0
    for secret in SECRETS:
        assert secret not in listed and secret not in exported

    # ---- two validators: the admin (ana) and ben
    ana = client.whoami()["id"]
    ben = client.create_user("ben.validator@taxo.test", "ben-password-123")
    plan: dict[int, tuple[str, str]] = {}  # position -> (ana's answer, ben's answer)
    for item_id, tid, sent, position, stratum, original in rows:
        a = b = "expressed"
        if position in (2, 5):  # deliberate disagreements: a tie, disputed
            b = "not_expressed"
        if position == 7:  # both say not expressed
            a = b = "not_expressed"
        if position == 9:  # ben cannot tell: ana's answer decides
            b = "cannot_tell"
        if position == 11:  # both cannot tell: excluded
            a = b = "cannot_tell"
        plan[position] = (a, b)
        client.create_annotation(tid, _choice(a), completed_by=ana)
        client.create_annotation(tid, _choice(b, "not in the text" if b == "not_expressed" else None),
                                 completed_by=ben)
    tid_of = {position: tid for _, tid, _, position, _, _ in rows}
    # an unknown answer (reported, not counted) and a skipped task (not an answer)
    client.create_annotation(tid_of[0], _choice("maybe"), completed_by=ben)
    skipped = client._raw("POST", f"api/tasks/{tid_of[1]}/annotations/",  # noqa: SLF001
                          params={"was_cancelled": "1"}, body={"result": [], "completed_by": ben})
    assert skipped["id"]

    # ---- pull, twice
    monkeypatch.setenv("TAXO_LABEL_STUDIO_TOKEN", label_studio.token)
    p1 = VLS.pull(s.sample_id, db=db)
    assert p1.n_new == 49 and p1.n_unknown == 1 and p1.n_items_judged == 24
    assert any("unknown answer 'maybe'" in x for x in p1.problems)
    p2 = VLS.pull(s.sample_id, db=db)
    assert (p2.n_new, p2.n_updated, p2.n_removed, p2.n_unchanged) == (0, 0, 0, 49)
    with session_scope(db) as sess:
        js = sess.scalars(select(ValidationJudgement)).all()
    assert len(js) == 49
    assert Counter(j.annotator for j in js) == {"reviewer@taxo.test": 24, "ben.validator@taxo.test": 25}
    assert {j.comment for j in js if j.comment} == {"not in the text"}

    # ---- the report against an independent computation
    rep = V.report(s.sample_id, db=db)
    verdict = {}
    for pos, (a, b) in plan.items():
        valid = [x for x in (a, b) if x != "cannot_tell"]
        if not valid:
            verdict[pos] = "cannot_tell"
        elif valid.count("expressed") * 2 > len(valid):
            verdict[pos] = "expressed"
        elif valid.count("not_expressed") * 2 > len(valid):
            verdict[pos] = "not_expressed"
        else:
            verdict[pos] = "disputed"
    c = Counter(verdict.values())
    assert c == Counter({"expressed": 20, "disputed": 2, "not_expressed": 1, "cannot_tell": 1})
    assert rep.items == {"expressed": 20, "not_expressed": 1, "disputed": 2, "cannot_tell": 1, "unjudged": 0}
    yes, n = 20, 23
    assert (rep.overall.successes, rep.overall.n) == (yes, n) and rep.overall.estimate == yes / n
    low, high = proportion_confint(yes, n, alpha=0.05, method="wilson")
    assert abs(rep.overall.ci_low - low) < TOL and abs(rep.overall.ci_high - high) < TOL
    cp = V.report(s.sample_id, ci="clopper-pearson", db=db).overall
    low, high = proportion_confint(yes, n, alpha=0.05, method="beta")
    assert abs(cp.ci_low - low) < TOL and abs(cp.ci_high - high) < TOL
    # agreement between the two validators on all three answers
    pairs = [plan[p] for p in sorted(plan)]
    kappa = sm_cohens_kappa(V.contingency_table(pairs, V.ANSWERS)).kappa
    ag = rep.agreement
    assert ag["kappa_pair"] == ["ben.validator@taxo.test", "reviewer@taxo.test"]
    assert abs(ag["cohens_kappa"] - kappa) < TOL and ag["n_items"] == 24
    assert abs(ag["percent_agreement"] - sum(a == b for a, b in pairs) / 24) < 1e-12
    assert rep.answers == {
        "expressed": sum(p.count("expressed") for p in pairs),
        "not_expressed": sum(p.count("not_expressed") for p in pairs),
        "cannot_tell": sum(p.count("cannot_tell") for p in pairs),
    }
    assert [u["answer"] for u in rep.unknown_answers] == ["maybe"]
    # per stratum and stratified
    strata = {st.stratum: st for st in rep.strata}
    stratum_of = {position: stratum for _, _, _, position, stratum, _ in rows}
    for key, st in strata.items():
        ys = sum(1 for p, v in verdict.items() if stratum_of[p] == key and v == "expressed")
        js_ = sum(1 for p, v in verdict.items() if stratum_of[p] == key and v != "cannot_tell")
        assert (st.expressed, st.judged) == (ys, js_)
    assert rep.redactions["total"] == s.n_redactions
    # the validators' comments, with the value and verdict: the not-expressed ones with comments first
    wrong = sorted(p for p, v in verdict.items() if v in ("not_expressed", "disputed"))
    commented = sorted(p for p, (a, b) in plan.items() if b == "not_expressed")
    first = [c["position"] for c in rep.comments[: len(commented)]]
    assert first == commented and sorted(c["position"] for c in rep.comments) == sorted(set(wrong) | set(commented))
    c0 = rep.comments[0]
    assert c0["verdict"] in ("not_expressed", "disputed") and c0["value"]
    assert {"annotator": "ben.validator@taxo.test", "answer": "not_expressed", "comment": "not in the text"} \
        .items() <= next(j for j in c0["judgements"] if j["comment"]).items()

    # ---- the CLI, for one more (unredacted) sample: push, annotate, pull, report --json
    from taxonomy.cli import main

    s2 = V.sample(n=4, seed=5, db=db)
    assert main(["validate", "push", str(s2.sample_id), "--url", label_studio.url, "--annotators", "1", "--json",
                 "--db", db]) == 0
    with session_scope(db) as sess:
        tids = [t for (t,) in sess.execute(select(ValidationItem.ls_task_id).where(
            ValidationItem.sample_id == s2.sample_id))]
    for tid in tids:
        client.create_annotation(tid, _choice("expressed"), completed_by=ana)
    assert main(["validate", "pull", str(s2.sample_id), "--db", db]) == 0
    assert main(["validate", "report", str(s2.sample_id), "--json", "--db", db]) == 0
    capsys.readouterr()
    assert main(["validate", "report", str(s.sample_id), "--db", db]) == 0
    text = capsys.readouterr().out
    assert "Not expressed, and validators' comments" in text and "not in the text" in text
    assert main(["validate", "report", str(s.sample_id), "--json", "--db", db]) == 0
    assert json.loads(capsys.readouterr().out)["comments"][0]["judgements"]


@pytest.mark.parametrize("token", ["wrong-token"])
def test_push_with_a_bad_token_is_a_clear_error(label_studio, db, tmp_path, token):
    from review.labelstudio import LabelStudioAuthError

    ingest(str(write_records(tmp_path / "r.jsonl")), db=db, role_col="role", excerpt_col="excerpt")
    s = V.sample(n=3, db=db)
    with pytest.raises(LabelStudioAuthError, match="rejected the token"):
        VLS.push(s.sample_id, url=label_studio.url, token=token, db=db)
    with session_scope(db) as sess:  # nothing recorded
        assert sess.scalar(select(ValidationItem.ls_task_id).where(ValidationItem.ls_task_id.is_not(None))) is None
