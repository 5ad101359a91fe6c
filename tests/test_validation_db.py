"""Validation spot-checks against a database (SQLite and PostgreSQL): plan, stored and reproducible samples,
strata, redaction before anything leaves the database, errors, and the report's figures checked against
statsmodels and an independent computation (judgements inserted directly: no Label Studio here)."""

from __future__ import annotations

import json
import math
import random
from collections import Counter, defaultdict

import pytest
from sqlalchemy import select
from statsmodels.stats.inter_rater import cohens_kappa as sm_cohens_kappa
from statsmodels.stats.proportion import proportion_confint

from review import validation as V
from taxonomy.api import ingest
from taxonomy.db.engine import session_scope
from taxonomy.db.models import ExtractionRecord, ValidationItem, ValidationJudgement, ValidationSample, Value
from taxonomy.errors import NotFoundError, UsageError
from tests.curation_fixtures import VALUES as TREE_VALUES
from tests.curation_fixtures import make_version

TOL = 1e-9

#: value -> number of extraction records (a skewed distribution, so that frequency bands differ)
RECORD_COUNTS = {
    "honesty": 60, "transparency": 40, "empathy": 30, "efficiency": 20, "community": 15, "candor": 10,
    "openness": 8, "kindness": 6, "cooperation": 4, "belonging": 3, "curiosity": 2, "playfulness": 2,
}
PII = [
    "write to ana.lopez@example.com",
    "call +1 415 555 2671",
    "see https://private.example.org/u/ana",
    "from 192.168.10.20",
    "account 12345678",
    "host 2001:db8::42",
]


def write_records(path, *, counts=RECORD_COUNTS, seed=0, excerpt=True, pii=True):
    """A JSONL file of extraction records: role alternates by a seeded coin, every 7th excerpt carries PII."""
    rng = random.Random(seed)
    lines = []
    i = 0
    for value, n in counts.items():
        for k in range(n):
            i += 1
            row = {"value": value, "conversation_id": f"conv-{i // 2}", "role": rng.choice(["ai", "ai", "human"])}
            if excerpt:
                text = f"In conversation {i} the speaker showed {value} (record {k})."
                if pii and i % 7 == 0:
                    text += " Also: " + PII[(i // 7) % len(PII)] + "."
                row["excerpt"] = text
            lines.append(json.dumps(row))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def records_db(db, tmp_path):
    ingest(str(write_records(tmp_path / "records.jsonl")), db=db, conversation_col="conversation_id",
           role_col="role", excerpt_col="excerpt")
    return db


def _items(db, sample_id):
    with session_scope(db) as s:
        return s.execute(
            select(ValidationItem.record_id, ValidationItem.stratum, ValidationItem.excerpt,
                   ValidationItem.n_redactions, ValidationItem.position, ValidationItem.id)
            .where(ValidationItem.sample_id == sample_id).order_by(ValidationItem.position)
        ).all()


# ------------------------------------------------------------------------------------------- errors
def test_no_records_is_a_clear_error(db, tmp_path):
    with pytest.raises(UsageError, match="no extraction records.*ingest"):
        V.sample(n=10, db=db)
    # an aggregated file gives values but no records
    (tmp_path / "agg.csv").write_text("value,weight\nhonesty,3\n")
    ingest(str(tmp_path / "agg.csv"), db=db, weight_col="weight")
    with pytest.raises(UsageError, match="no extraction records.*taxo ingest"):
        V.sample(n=10, db=db)
    with pytest.raises(UsageError, match="no extraction records"):
        V.plan(stratify="role", db=db)
    # planning without records works, without the finite-population correction
    res = V.plan(margin=0.01, confidence=0.95, expected=0.98, db=db)
    assert res.n == 753 and res.population is None and res.notes


def test_records_without_excerpts_are_not_eligible(db, tmp_path):
    ingest(str(write_records(tmp_path / "bare.jsonl", excerpt=False)), db=db, role_col="role")
    with pytest.raises(UsageError, match="excerpt"):
        V.sample(n=5, db=db)


def test_sample_errors(records_db, tmp_path):
    db = records_db
    N = sum(RECORD_COUNTS.values())
    with pytest.raises(UsageError, match=f"asked for {N + 1} records but the population has only {N}.*--all"):
        V.sample(n=N + 1, db=db)
    with pytest.raises(UsageError, match="--n N"):
        V.sample(db=db)
    with pytest.raises(UsageError, match="positive"):
        V.sample(n=0, db=db)
    with pytest.raises(UsageError, match="unknown stratification"):
        V.sample(n=5, stratify="colour", db=db)
    with pytest.raises(UsageError, match="--version"):
        V.sample(n=5, stratify="level3", db=db)
    with pytest.raises(NotFoundError, match="'no such value' is not in the database"):
        V.sample(n=1, values=["no such value"], db=db)
    # a value that exists only as an aggregated value has no records
    (tmp_path / "agg.csv").write_text("value,weight\nstoicism,3\n")
    ingest(str(tmp_path / "agg.csv"), db=db, weight_col="weight")
    with pytest.raises(UsageError, match="'stoicism' has no extraction records.*cannot be sampled"):
        V.sample(n=2, values=["honesty", "stoicism"], db=db)
    with pytest.raises(UsageError, match="at least 2"):
        V.sample(n=1, stratify="role", db=db)
    with pytest.raises(NotFoundError, match="validation sample 99 does not exist"):
        V.report(99, db=db)
    with pytest.raises(UsageError, match="unknown interval"):
        V.report(1, ci="wald", db=db)
    # nothing was written by any refused call
    with session_scope(db) as s:
        assert s.scalar(select(ValidationSample.id)) is None


# ------------------------------------------------------------------------------------------- samples
def test_same_seed_same_sample_new_id_every_time(records_db):
    db = records_db
    a = V.sample(n=40, seed=0, db=db)
    b = V.sample(n=40, seed=0, db=db)
    c = V.sample(n=40, seed=1, db=db)
    assert (a.sample_id, b.sample_id, c.sample_id) == (1, 2, 3)
    ia, ib, ic = _items(db, 1), _items(db, 2), _items(db, 3)
    assert [r.record_id for r in ia] == [r.record_id for r in ib]
    assert len({r.record_id for r in ia}) == 40
    assert {r.record_id for r in ia} != {r.record_id for r in ic}
    assert a.same_as is None and b.same_as == 1 and c.same_as is None
    # the stored sample does not change when more records arrive; a new draw is a new sample
    with session_scope(db) as s:
        vs = s.get(ValidationSample, 1)
        assert vs.n == 40 and vs.seed == 0 and vs.stratify is None and vs.redact is False
        assert vs.population["records"] == sum(RECORD_COUNTS.values())
        assert vs.params["selection_sha256"]


def test_sample_all_and_values(records_db):
    db = records_db
    N = sum(RECORD_COUNTS.values())
    res = V.sample(all=True, db=db)
    assert res.n == N and len(_items(db, res.sample_id)) == N
    res = V.sample(n=N + 50, all=True, db=db)
    assert res.n == N and res.notes
    res = V.sample(n=5, values=["Honesty", "curiosity"], db=db)  # case-folded like ingest
    with session_scope(db) as s:
        texts = {
            t for (t,) in s.execute(
                select(Value.text).join(ExtractionRecord, ExtractionRecord.value_id == Value.id)
                .join(ValidationItem, ValidationItem.record_id == ExtractionRecord.id)
                .where(ValidationItem.sample_id == res.sample_id)
            )
        }
    assert texts <= {"honesty", "curiosity"} and res.population == 62


def test_role_strata_proportional_allocation(records_db):
    db = records_db
    res = V.sample(n=50, stratify="role", seed=4, db=db)
    with session_scope(db) as s:
        roles = Counter(r for (r,) in s.execute(select(ExtractionRecord.role)))
        vs = s.get(ValidationSample, res.sample_id)
        assert vs.stratify == "role"
        assert {k: v["records"] for k, v in vs.population["strata"].items()} == dict(roles)
    expected = V.allocate(dict(roles), 50)
    got = Counter(r.stratum for r in _items(db, res.sample_id))
    assert dict(got) == {k: v for k, v in expected.items() if v}
    assert {s["stratum"]: s["n"] for s in res.strata} == expected
    # each item's stratum is its record's role
    with session_scope(db) as s:
        role_of = dict(s.execute(select(ExtractionRecord.id, ExtractionRecord.role)).all())
    assert all(role_of[r.record_id] == r.stratum for r in _items(db, res.sample_id))


def test_frequency_strata_are_terciles_of_value_record_counts(records_db):
    db = records_db
    res = V.sample(n=60, stratify="frequency", db=db)
    counts = sorted(RECORD_COUNTS.values())  # 12 values: cuts at ranks 4 and 8
    c1, c2 = counts[3], counts[7]
    band = {v: "low" if n <= c1 else "mid" if n <= c2 else "high" for v, n in RECORD_COUNTS.items()}
    sizes = Counter()
    for v, n in RECORD_COUNTS.items():
        sizes[band[v]] += n
    with session_scope(db) as s:
        vs = s.get(ValidationSample, res.sample_id)
        assert vs.population["frequency_cuts"] == [c1, c2]
        assert {k: v["records"] for k, v in vs.population["strata"].items()} == dict(sizes)
        value_of = dict(s.execute(
            select(ExtractionRecord.id, Value.text).join(Value, Value.id == ExtractionRecord.value_id)).all())
    items = _items(db, res.sample_id)
    assert all(band[value_of[r.record_id]] == r.stratum for r in items)
    assert Counter(r.stratum for r in items) == Counter(V.allocate(dict(sizes), 60))


def test_level3_strata_need_a_version(db, tmp_path):
    make_version(db, tmp_path)  # version 1: 15 values under two top categories (A, B)
    counts = {v: 3 + i for i, v in enumerate(sorted(x for xs in TREE_VALUES.values() for x in xs))}
    counts["unlisted value"] = 4  # not in version 1
    ingest(str(write_records(tmp_path / "r.jsonl", counts=counts)), db=db, role_col="role", excerpt_col="excerpt")
    with pytest.raises(UsageError, match="--version"):
        V.plan(stratify="level3", db=db)
    with pytest.raises(UsageError, match="no level 4"):
        V.sample(n=10, stratify="level4", version=1, db=db)
    with pytest.raises(NotFoundError, match="version 7 does not exist"):
        V.sample(n=10, stratify="level3", version=7, db=db)
    res = V.sample(n=30, stratify="level3", version=1, db=db)
    labels = {s["label"]: s["n"] for s in res.strata}
    assert set(labels) == {"Practical values", "Social values", "values not in version 1"}
    top_of = {}
    for key, vals in TREE_VALUES.items():
        for v in vals:
            top_of[v] = "Practical values" if key.startswith("a") else "Social values"
    sizes = Counter()
    for v, n in counts.items():
        sizes[top_of.get(v, "values not in version 1")] += n
    assert labels == V.allocate(dict(sizes), 30)
    plan = V.plan(margin=0.05, expected=0.9, stratify="level3", version=1, db=db)
    assert sum(s.n for s in plan.strata) == plan.n
    assert {s.label: s.records for s in plan.strata} == dict(sizes)


def test_redaction_happens_before_anything_leaves_the_database(records_db):
    db = records_db
    res = V.sample(all=True, redact=True, db=db)
    items = _items(db, res.sample_id)
    with session_scope(db) as s:
        originals = dict(s.execute(select(ExtractionRecord.id, ExtractionRecord.excerpt)).all())
    n_pii = sum(1 for e in originals.values() if "Also:" in e)
    assert res.n_redactions == n_pii and res.n_items_redacted == n_pii
    assert sum(r.n_redactions for r in items) == n_pii
    for r in items:
        sent = r.excerpt
        assert V.redact(originals[r.record_id]).text == sent
        for secret in ("ana.lopez@", "555 2671", "private.example.org", "192.168.10.20", "12345678", "2001:db8"):
            assert secret not in sent
        # the records themselves are untouched
    assert any("ana.lopez@example.com" in e for e in originals.values())
    rep = V.report(res.sample_id, db=db)
    assert rep.redactions["total"] == n_pii and rep.redactions["items"] == n_pii
    assert sum(rep.redactions["by_kind"].values()) == n_pii
    # without --redact the excerpt is sent as it is
    plain = V.sample(n=20, db=db)
    assert all(r.n_redactions == 0 and r.excerpt == originals[r.record_id] for r in _items(db, plain.sample_id))
    assert V.report(plain.sample_id, db=db).redactions["total"] == 0


def test_plan_with_population(records_db):
    db = records_db
    N = sum(RECORD_COUNTS.values())
    res = V.plan(margin=0.05, confidence=0.95, expected=0.9, db=db)
    assert res.population == N and res.n == V.sample_size(0.05, 0.95, 0.9, N)
    res = V.plan(margin=0.01, confidence=0.95, expected=0.98, stratify="role", db=db)
    assert res.n == V.sample_size(0.01, 0.95, 0.98, N)
    assert sum(s.n for s in res.strata) == res.n
    with session_scope(db) as s:
        roles = Counter(r for (r,) in s.execute(select(ExtractionRecord.role)))
    assert {s.stratum: s.n for s in res.strata} == V.allocate(dict(roles), res.n)


# ------------------------------------------------------------------------------------------- report
def _judge(db, sample_id, answers_for, *, start=1000):
    """Insert judgements: answers_for(position, stratum, value) -> list of (annotator, answer)."""
    with session_scope(db) as s:
        rows = s.execute(
            select(ValidationItem.id, ValidationItem.position, ValidationItem.stratum, Value.text)
            .join(ExtractionRecord, ExtractionRecord.id == ValidationItem.record_id)
            .join(Value, Value.id == ExtractionRecord.value_id)
            .where(ValidationItem.sample_id == sample_id)
        ).all()
        ann = start
        for item_id, pos, stratum, value in rows:
            for who, answer in answers_for(pos, stratum, value):
                ann += 1
                s.add(ValidationJudgement(item_id=item_id, ls_annotation_id=ann, annotator=who, answer=answer))


def test_report_single_annotator_matches_statsmodels(records_db):
    db = records_db
    res = V.sample(n=80, stratify="role", seed=2, db=db)
    rng = random.Random(5)
    truth = {}

    def answers(pos, stratum, value):
        a = "not_expressed" if value in ("kindness", "openness") or rng.random() < 0.05 else "expressed"
        if pos % 17 == 3:
            a = "cannot_tell"
        if pos == 11:
            return [("ana", "maybe")]  # unknown answer: reported, not counted
        if pos == 12:
            return []  # not judged yet
        truth[pos] = (stratum, value, a)
        return [("ana", a)]

    _judge(db, res.sample_id, answers)
    rep = V.report(res.sample_id, db=db)
    yes = sum(1 for _, _, a in truth.values() if a == "expressed")
    no = sum(1 for _, _, a in truth.values() if a == "not_expressed")
    ct = sum(1 for _, _, a in truth.values() if a == "cannot_tell")
    assert rep.items == {"expressed": yes, "not_expressed": no, "disputed": 0, "cannot_tell": ct, "unjudged": 2}
    assert rep.answers == {"expressed": yes, "not_expressed": no, "cannot_tell": ct}
    assert [u["answer"] for u in rep.unknown_answers] == ["maybe"] and rep.unknown_answers[0]["position"] == 11
    o = rep.overall
    assert o.successes == yes and o.n == yes + no and o.estimate == yes / (yes + no)
    low, high = proportion_confint(yes, yes + no, alpha=0.05, method="wilson")
    assert abs(o.ci_low - low) < TOL and abs(o.ci_high - high) < TOL
    cp = V.report(res.sample_id, ci="clopper-pearson", db=db).overall
    low, high = proportion_confint(yes, yes + no, alpha=0.05, method="beta")
    assert abs(cp.ci_low - low) < TOL and abs(cp.ci_high - high) < TOL
    c99 = V.report(res.sample_id, confidence=0.99, db=db).overall
    low, high = proportion_confint(yes, yes + no, alpha=0.01, method="wilson")
    assert abs(c99.ci_low - low) < TOL and abs(c99.ci_high - high) < TOL

    # per stratum, and the stratified estimate from an independent computation
    with session_scope(db) as s:
        pop = s.get(ValidationSample, res.sample_id).population["strata"]
    N = sum(v["records"] for v in pop.values())
    p_st, var, n_tot = 0.0, 0.0, 0
    for st in rep.strata:
        ys = sum(1 for k, _, a in truth.values() if k == st.stratum and a == "expressed")
        ns = sum(1 for k, _, a in truth.values() if k == st.stratum and a == "not_expressed")
        assert (st.expressed, st.not_expressed, st.judged) == (ys, ns, ys + ns)
        low, high = proportion_confint(ys, ys + ns, alpha=0.05, method="wilson")
        assert abs(st.accuracy.ci_low - low) < TOL and abs(st.accuracy.ci_high - high) < TOL
        Nh, nh = pop[st.stratum]["records"], ys + ns
        assert st.population == Nh and abs(st.share - Nh / N) < 1e-12
        ph = ys / nh
        p_st += Nh / N * ph
        var += (Nh / N) ** 2 * (1 - nh / Nh) * ph * (1 - ph) / (nh - 1)
        n_tot += nh
    assert abs(rep.stratified["estimate"] - p_st) < 1e-12
    assert abs(rep.stratified["se"] - math.sqrt(var)) < 1e-12
    n_eff = min(n_tot, p_st * (1 - p_st) / var)
    low, high = proportion_confint(p_st * n_eff, n_eff, alpha=0.05, method="wilson")
    assert abs(rep.stratified["ci_low"] - low) < TOL and abs(rep.stratified["ci_high"] - high) < TOL

    # the values judged wrong most often: most wrong first, then the larger share wrong, then by name
    wrong = Counter(v for _, v, a in truth.values() if a == "not_expressed")
    judged = Counter(v for _, v, a in truth.values() if a != "cannot_tell")
    expected = sorted(wrong, key=lambda v: (-wrong[v], -wrong[v] / judged[v], v))[:10]
    assert [w["value"] for w in rep.most_wrong] == expected
    assert all(w["wrong"] == wrong[w["value"]] and w["judged"] == judged[w["value"]] for w in rep.most_wrong)
    assert {"kindness", "openness"} <= set(expected)
    assert rep.agreement["n_items"] == 0 and rep.agreement["cohens_kappa"] is None
    json.dumps(rep.to_dict())  # serialisable


def test_report_two_annotators_kappa_and_majority(records_db):
    db = records_db
    res = V.sample(n=60, seed=9, db=db)
    rng = random.Random(1)
    pairs = {}

    def answers(pos, stratum, value):
        a = rng.choices(V.ANSWERS, weights=[85, 10, 5])[0]
        b = a if rng.random() < 0.85 else rng.choice(V.ANSWERS)
        pairs[pos] = (a, b)
        out = [("ana", a), ("ben", b)]
        if pos == 0:
            out.append(("ana", "expressed"))  # a second annotation by ana: the latest one counts
            pairs[pos] = ("expressed", b)
        return out

    _judge(db, res.sample_id, answers)
    rep = V.report(res.sample_id, db=db)
    ag = rep.agreement
    assert ag["n_items"] == 60 and ag["kappa_pair"] == ["ana", "ben"] and ag["kappa_items"] == 60
    table = V.contingency_table(list(pairs.values()), V.ANSWERS)
    assert abs(ag["cohens_kappa"] - sm_cohens_kappa(table).kappa) < TOL
    assert ag["measure"] == "cohens_kappa"
    assert abs(ag["percent_agreement"] - sum(a == b for a, b in pairs.values()) / 60) < 1e-12
    alpha = V.krippendorff_alpha_nominal([list(p) for p in pairs.values()])
    assert abs(ag["krippendorff_alpha"] - alpha) < 1e-12
    # verdicts by majority; a tie between expressed and not expressed is disputed and counts as wrong
    verdicts = Counter(V.item_verdict(list(p)) for p in pairs.values())
    assert rep.items["disputed"] == verdicts["disputed"]
    yes = verdicts["expressed"]
    n = yes + verdicts["not_expressed"] + verdicts["disputed"]
    assert (rep.overall.successes, rep.overall.n) == (yes, n)
    assert rep.answers["expressed"] == sum(p.count("expressed") for p in pairs.values())


def test_report_three_annotators_uses_krippendorff(records_db):
    db = records_db
    res = V.sample(n=12, seed=3, db=db)
    trios = [("ana", "ben", "cleo"), ("ben", "cleo", "dev"), ("ana", "cleo", "dev"), ("ana", "ben", "dev")]

    def base(pos):
        if pos % 4 == 0:
            return ["expressed", "expressed", "not_expressed"]
        if pos % 5 == 0:
            return ["cannot_tell", "not_expressed", "not_expressed"]
        return ["expressed"] * 3

    _judge(db, res.sample_id, lambda pos, st, v: list(zip(trios[pos % 4], base(pos))))
    rep = V.report(res.sample_id, db=db)
    ag = rep.agreement
    assert ag["validators"] == ["ana", "ben", "cleo", "dev"] and ag["cohens_kappa"] is None
    assert ag["measure"] == "krippendorff_alpha" and ag["n_items"] == 12
    alpha = V.krippendorff_alpha_nominal([base(pos) for pos in range(12)])
    assert alpha is not None and abs(ag["krippendorff_alpha"] - alpha) < 1e-12
    # majority of three: 2 expressed vs 1 not -> expressed
    assert rep.items["disputed"] == 0
    assert rep.items["not_expressed"] == sum(1 for pos in range(12) if pos % 4 and pos % 5 == 0)


def test_report_without_judgements_and_cli(records_db, capsys):
    from taxonomy.cli import main

    import taxonomy.cli as cli

    cli.out.width = 300
    db = records_db
    assert main(["validate", "plan", "--margin", "0.05", "--expected", "0.9", "--stratify", "role", "--db", db]) == 0
    out = capsys.readouterr().out
    assert "Proportional allocation by role" in out and "taxo validate sample --n" in out
    assert main(["validate", "plan", "--json", "--db", db]) == 0
    assert json.loads(capsys.readouterr().out)["n"] == V.sample_size(0.01, 0.95, 0.98, sum(RECORD_COUNTS.values()))
    assert main(["validate", "sample", "--n", "30", "--stratify", "role", "--redact", "--db", db]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == "1" and "Redacted" in captured.err
    assert main(["validate", "sample", "--n", "30", "--stratify", "role", "--redact", "--json", "--db", db]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["sample_id"] == 2 and data["same_as"] == 1
    assert main(["validate", "sample", "--n", "100000", "--db", db]) == 2
    assert "--all" in capsys.readouterr().err
    assert main(["validate", "sample", "--n", "5", "--stratify", "level3", "--db", db]) == 2
    assert "--version" in capsys.readouterr().err
    assert main(["validate", "report", "1", "--db", db]) == 0
    out = capsys.readouterr().out
    assert "not yet judged 30" in out and "Redactions:" in out
    _judge(db, 1, lambda pos, st, v: [("ana", "expressed" if pos % 10 else "not_expressed"),
                                      ("ben", "expressed" if pos % 15 else "cannot_tell")])
    assert main(["validate", "report", "1", "--ci", "clopper-pearson", "--db", db]) == 0
    out = capsys.readouterr().out
    assert "Clopper–Pearson" in out and "Cohen's kappa" in out and "Values judged wrong most often" in out
    assert main(["validate", "report", "1", "--json", "--db", db]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["overall"]["successes"] == 27 and rep["overall"]["n"] == 30
    assert main(["validate", "report", "1", "--ci", "wald", "--db", db]) == 2
    assert main(["validate", "report", "42", "--db", db]) == 2
    assert "does not exist" in capsys.readouterr().err
