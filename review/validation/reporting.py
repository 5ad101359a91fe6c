"""`taxo validate report`: the accuracy of a sample's judged items, per stratum and stratified, agreement between
validators, the values judged wrong most often, and the validators' comments."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Engine, select

from review.validation.sampling import get_sample, item_rows
from review.validation.stats import (
    CI_METHODS,
    check_confidence,
    cohens_kappa,
    krippendorff_alpha_nominal,
    proportion_interval,
    stratified_estimate,
)
from taxonomy.errors import UsageError

ANSWERS = ("expressed", "not_expressed", "cannot_tell")
ANSWER_LABELS = {"expressed": "Expressed", "not_expressed": "Not expressed", "cannot_tell": "Cannot tell"}


@dataclass
class Interval:
    estimate: float | None
    successes: float
    n: float
    ci_low: float | None
    ci_high: float | None
    method: str


@dataclass
class StratumReport:
    stratum: str
    label: str
    population: int
    share: float  #: N_h / N
    n_items: int
    judged: int  #: items with a verdict other than cannot-tell
    expressed: int
    not_expressed: int
    disputed: int  #: ties, counted as wrong
    cannot_tell: int
    unjudged: int
    accuracy: Interval | None


@dataclass
class ValidationReport:
    sample_id: int
    stratify: str | None
    seed: int
    redact: bool
    confidence: float
    ci_method: str
    n_items: int
    population: int
    answers: dict[str, int]  #: judgements per answer (counted ones only)
    n_judgements: int
    unknown_answers: list[dict[str, Any]]
    items: dict[str, int]  #: verdicts: expressed, not_expressed, disputed, cannot_tell, unjudged
    overall: Interval | None
    strata: list[StratumReport]
    stratified: dict[str, Any] | None
    agreement: dict[str, Any]
    most_wrong: list[dict[str, Any]]
    redactions: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    #: the items judged not expressed (or disputed) and the items with a validator's comment: position, value,
    #: verdict, and each validator's answer and comment; not expressed with comments first, then not expressed
    #: without, then the rest with comments (each by position)
    comments: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def item_verdict(answers: Sequence[str]) -> str | None:
    """The verdict of one item from its validators' answers (unknown answers already removed); None when the
    item has no answer at all."""
    if not answers:
        return None
    c = Counter(answers)
    yes, no = c.get("expressed", 0), c.get("not_expressed", 0)
    if yes == 0 and no == 0:
        return "cannot_tell"
    if yes > no:
        return "expressed"
    if no > yes:
        return "not_expressed"
    return "disputed"


def report(
    sample_id: int,
    *,
    ci: str = "wilson",
    confidence: float = 0.95,
    top: int = 10,
    db: str | Engine | None = None,
) -> ValidationReport:
    """Accuracy of a sample's judged items, with intervals, per stratum, stratified, agreement, worst values."""
    from taxonomy.db.engine import session_scope
    from taxonomy.db.models import ExtractionRecord, ValidationItem, ValidationJudgement, Value

    if ci not in CI_METHODS:
        raise UsageError(f"unknown interval method {ci!r}; choose one of: {', '.join(CI_METHODS)}")
    check_confidence(confidence)
    with session_scope(db) as session:
        vs = get_sample(session, sample_id)
        items = item_rows(session, sample_id, ValidationItem.id, ValidationItem.position, ValidationItem.stratum,
                          ValidationItem.n_redactions, ValidationItem.record_id, Value.text, ExtractionRecord.role)
        judgements = session.execute(
            select(
                ValidationJudgement.item_id,
                ValidationJudgement.ls_annotation_id,
                ValidationJudgement.annotator,
                ValidationJudgement.answer,
                ValidationJudgement.comment,
            )
            .join(ValidationItem, ValidationItem.id == ValidationJudgement.item_id)
            .where(ValidationItem.sample_id == sample_id)
            .order_by(ValidationJudgement.item_id, ValidationJudgement.ls_annotation_id)
        ).all()
        population = dict(vs.population or {})
        params = dict(vs.params or {})
        stratify, seed, redacted = vs.stratify, vs.seed, bool(vs.redact)

    notes: list[str] = []
    item_by_id = {row.id: row for row in items}
    # one answer per (item, validator): the latest annotation; anonymous annotations each count once
    per_item: dict[int, dict[Any, str]] = defaultdict(dict)
    unknown: list[dict[str, Any]] = []
    answer_counts = {a: 0 for a in ANSWERS}
    n_counted = 0
    said: dict[int, list[dict[str, Any]]] = defaultdict(list)  # item -> each judgement's answer and comment
    for item_id, ann_id, annotator, answer, comment in judgements:
        said[item_id].append({"annotator": annotator, "answer": answer, "comment": (comment or "").strip() or None,
                              "ls_annotation_id": ann_id})
    for item_id, ann_id, annotator, answer, _comment in judgements:
        if answer not in ANSWERS:
            row = item_by_id[item_id]
            unknown.append(
                {"position": row.position, "record_id": row.record_id, "ls_annotation_id": ann_id,
                 "annotator": annotator, "answer": answer}
            )
            continue
        who = annotator if annotator is not None else ("anonymous", ann_id)
        per_item[item_id][who] = answer
    for answers in per_item.values():
        for a in answers.values():
            answer_counts[a] += 1
            n_counted += 1
    if unknown:
        notes.append(f"{len(unknown)} annotation(s) with an unknown answer were not counted")

    verdicts: dict[int, str | None] = {row.id: item_verdict(list(per_item.get(row.id, {}).values())) for row in items}
    tally = Counter(v if v is not None else "unjudged" for v in verdicts.values())
    items_summary = {k: tally.get(k, 0) for k in ("expressed", "not_expressed", "disputed", "cannot_tell", "unjudged")}

    def interval(yes: int, judged: int) -> Interval | None:
        if judged == 0:
            return None
        low, high = proportion_interval(yes, judged, confidence, ci)
        return Interval(yes / judged, yes, judged, low, high, ci)

    yes = items_summary["expressed"]
    judged = yes + items_summary["not_expressed"] + items_summary["disputed"]
    overall = interval(yes, judged)
    if overall is None:
        notes.append("no item has an expressed / not-expressed verdict yet: pull judgements first")

    # per stratum
    pop_strata: dict[str, dict[str, Any]] = population.get("strata") or {}
    N = int(population.get("records") or sum(s.get("records", 0) for s in pop_strata.values()) or len(items))
    by_stratum: dict[str, list] = defaultdict(list)
    for row in items:
        by_stratum[row.stratum].append(row)
    strata_reports: list[StratumReport] = []
    for key in sorted(set(pop_strata) | set(by_stratum), key=lambda k: (-(pop_strata.get(k, {}).get("records", 0)), k)):
        rows = by_stratum.get(key, [])
        c = Counter(verdicts[r.id] if verdicts[r.id] is not None else "unjudged" for r in rows)
        e, ne, d = c.get("expressed", 0), c.get("not_expressed", 0), c.get("disputed", 0)
        Nh = int(pop_strata.get(key, {}).get("records", 0))
        strata_reports.append(
            StratumReport(
                stratum=key,
                label=str(pop_strata.get(key, {}).get("label", key)),
                population=Nh,
                share=Nh / N if N else 0.0,
                n_items=len(rows),
                judged=e + ne + d,
                expressed=e,
                not_expressed=ne,
                disputed=d,
                cannot_tell=c.get("cannot_tell", 0),
                unjudged=c.get("unjudged", 0),
                accuracy=interval(e, e + ne + d),
            )
        )

    stratified = None
    if stratify is not None:
        usable = [(s.population, s.population, s.judged, s.expressed) for s in strata_reports if s.judged > 0]
        missing = [s.stratum for s in strata_reports if s.judged == 0]
        if usable:
            stratified = stratified_estimate(usable, confidence, ci)
            stratified["strata_without_verdicts"] = missing
            if missing:
                share = sum(s.share for s in strata_reports if s.judged == 0)
                notes.append(
                    f"{len(missing)} stratum/strata ({share:.1%} of the population) have no verdict yet; the "
                    "stratified estimate re-weights the others"
                )

    agreement = _agreement(per_item)

    # values judged wrong most often
    wrong: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in items:
        v = verdicts[row.id]
        if v in ("expressed", "not_expressed", "disputed"):
            wrong[row.text][1] += 1
            if v != "expressed":
                wrong[row.text][0] += 1
    most_wrong = [
        {"value": t, "wrong": w, "judged": j, "share_wrong": w / j}
        for t, (w, j) in sorted(wrong.items(), key=lambda kv: (-kv[1][0], -kv[1][0] / kv[1][1], kv[0]))
        if w > 0
    ][: max(0, top)]

    comments = _commented(items, verdicts, said)

    red_by_kind = params.get("redactions") or {}
    redactions = {
        "redacted": redacted,
        "total": sum(int(r.n_redactions or 0) for r in items),
        "items": sum(1 for r in items if r.n_redactions),
        "by_kind": red_by_kind,
    }
    return ValidationReport(
        sample_id=sample_id,
        stratify=stratify,
        seed=seed,
        redact=redacted,
        confidence=confidence,
        ci_method=ci,
        n_items=len(items),
        population=N,
        answers=answer_counts,
        n_judgements=n_counted,
        unknown_answers=unknown,
        items=items_summary,
        overall=overall,
        strata=strata_reports,
        stratified=stratified,
        agreement=agreement,
        most_wrong=most_wrong,
        redactions=redactions,
        notes=notes,
        comments=comments,
    )


def _commented(items, verdicts: Mapping[int, str | None], said: Mapping[int, list[dict[str, Any]]]) -> list[dict]:
    """The items judged wrong and the items with comments, for :attr:`ValidationReport.comments`."""
    out = []
    for row in items:
        judgements = said.get(row.id, [])
        wrong = verdicts[row.id] in ("not_expressed", "disputed")
        has_comment = any(j["comment"] for j in judgements)
        if wrong or has_comment:
            out.append({"position": row.position, "record_id": row.record_id, "value": row.text,
                        "role": row.role, "verdict": verdicts[row.id] or "unjudged", "judgements": judgements,
                        "_rank": 0 if wrong and has_comment else 1 if wrong else 2})
    out.sort(key=lambda c: (c["_rank"], c["position"]))
    for c in out:
        del c["_rank"]
    return out


def _agreement(per_item: Mapping[int, Mapping[Any, str]]) -> dict[str, Any]:
    """Inter-annotator agreement over the items with two or more (counted) answers, on the three answers."""
    multi = {i: a for i, a in per_item.items() if len(a) >= 2}
    validators = sorted({w for a in multi.values() for w in a if not isinstance(w, tuple)}, key=str)
    out: dict[str, Any] = {
        "n_items": len(multi),
        "validators": validators,
        "percent_agreement": None,
        "cohens_kappa": None,
        "kappa_pair": None,
        "kappa_items": 0,
        "krippendorff_alpha": None,
        "measure": None,
    }
    if not multi:
        return out
    out["percent_agreement"] = sum(1 for a in multi.values() if len(set(a.values())) == 1) / len(multi)
    out["krippendorff_alpha"] = krippendorff_alpha_nominal([list(a.values()) for a in multi.values()])
    anonymous = any(isinstance(w, tuple) for a in multi.values() for w in a)
    if len(validators) == 2 and not anonymous:
        a, b = validators
        pairs = [(ans[a], ans[b]) for ans in multi.values() if a in ans and b in ans]
        out["kappa_pair"] = [a, b]
        out["kappa_items"] = len(pairs)
        out["cohens_kappa"] = cohens_kappa(pairs, ANSWERS)
        out["measure"] = "cohens_kappa"
    else:
        out["measure"] = "krippendorff_alpha"
    return out
