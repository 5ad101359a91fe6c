"""`taxo validate …`: extraction-accuracy spot-checks (thin layers over :func:`taxonomy.api.validate_plan`,
``validate_sample``, ``validate_push``, ``validate_pull`` and ``validate_report``)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.table import Table

from taxonomy.cli_common import DbOpt, JsonOpt, QuietOpt, command_group, emit_json, err, esc, esc_url, out

validate_app = command_group(
    "Validation spot-checks: is each extracted value really expressed in its excerpt? "
    "plan → sample → push → pull → report."
)

StratifyOpt = Annotated[
    Optional[str],
    typer.Option("--stratify", help="role | frequency | level3 (top-level category of --version; any levelK)"),
]
VersionOpt = Annotated[Optional[int], typer.Option("--version", help="Taxonomy version (for --stratify levelK)")]
ValuesOpt = Annotated[
    Optional[str], typer.Option("--values", help="Only these values (comma-separated)")
]


def _split(values: str | None) -> list[str] | None:
    if values is None:
        return None
    return [v.strip() for v in values.split(",") if v.strip()]


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.2f}%"


# ----------------------------------------------------------------------------------------------------------- plan
@validate_app.command("plan")
def plan_cmd(
    margin: Annotated[float, typer.Option(help="Margin of error, e.g. 0.01 for ±1 percentage point")] = 0.01,
    confidence: Annotated[float, typer.Option(help="Confidence level")] = 0.95,
    expected: Annotated[float, typer.Option(help="Expected accuracy (0.5 is the most conservative)")] = 0.98,
    stratify: StratifyOpt = None,
    version: VersionOpt = None,
    values: ValuesOpt = None, db: DbOpt = None, as_json: JsonOpt = False,
) -> None:
    """How many records to check for a margin of error at a confidence level (per stratum when stratified)."""
    from taxonomy import api

    res = api.validate_plan(margin=margin, confidence=confidence, expected=expected, stratify=stratify, version=version,
               values=_split(values), db=db)
    if as_json:
        return emit_json(res)
    pop = f"{res.population} records with an excerpt" if res.population is not None else "no records yet"
    out.print(
        f"Sample {res.n} records to estimate an accuracy near {_pct(res.expected)} within ±{_pct(res.margin)} "
        f"at {res.confidence:.0%} confidence ({pop}; n0 = z²p(1−p)/m² = {res.n_infinite:.1f}"
        + (", with the finite-population correction)." if res.population else ").")
    )
    if res.strata:
        t = Table(title=f"Proportional allocation by {res.stratify}")
        for col in ("stratum", "records", "share", "sample", "± margin in stratum"):
            t.add_column(col)
        for s in res.strata:
            t.add_row(esc(s.label), str(s.records), _pct(s.share), str(s.n), _pct(s.margin))
        out.print(t)
    for note in res.notes:
        out.print(f"Note: {esc(note)}")
    out.print(
        f"Next: taxo validate sample --n {res.n}" + (f" --stratify {res.stratify}" if res.stratify else "")
        + (f" --version {version}" if version is not None else "")
    )


# --------------------------------------------------------------------------------------------------------- sample
@validate_app.command("sample")
def sample_cmd(
    n: Annotated[Optional[int], typer.Option("--n", help="Records to sample")] = None,
    stratify: StratifyOpt = None,
    seed: Annotated[int, typer.Option(help="Random seed: same records + seed = same sample")] = 0,
    redact: Annotated[
        bool, typer.Option("--redact", help="Remove e-mails, phones, URLs, IPs, long digit runs from excerpts")
    ] = False,
    version: VersionOpt = None,
    values: ValuesOpt = None,
    all_records: Annotated[
        bool, typer.Option("--all", help="Take every record (also when --n exceeds the population)")
    ] = False,
    db: DbOpt = None, as_json: JsonOpt = False, quiet: QuietOpt = False,
) -> None:
    """Draw and store a sample of extraction records; prints the sample id (a stored sample never changes)."""
    from taxonomy import api

    res = api.validate_sample(n=n, stratify=stratify, seed=seed, redact=redact, version=version,
                              values=_split(values), all=all_records, db=db)
    if as_json:
        return emit_json(res)
    if not quiet:
        how = f"stratified by {res.stratify}" if res.stratify else "simple random sample"
        err.print(f"Sample {res.sample_id}: {res.n} of {res.population} records ({how}, seed {res.seed}).")
        if res.stratify:
            for s in res.strata:
                err.print(f"  {esc(s['label'])}: {s['n']} of {s['records']}")
        if res.redact:
            kinds = ", ".join(f"{k} {v}" for k, v in res.redactions_by_kind.items() if v) or "none found"
            err.print(f"Redacted {res.n_redactions} piece(s) of personal data in {res.n_items_redacted} excerpt(s) "
                      f"({kinds}); the redacted text is what will be sent.")
        if res.n_without_excerpt:
            err.print(f"{res.n_without_excerpt} records have no excerpt and were not eligible.")
        if res.same_as is not None:
            err.print(f"Same records as sample {res.same_as}.")
        for note in res.notes:
            err.print(f"Note: {esc(note)}")
    print(res.sample_id)


# ----------------------------------------------------------------------------------------------------------- push
@validate_app.command("push")
def push_cmd(
    sample_id: Annotated[int, typer.Argument(metavar="SAMPLE", help="Sample id")],
    url: Annotated[
        Optional[str],
        typer.Option(help="Label Studio URL [env TAXO_LABEL_STUDIO_URL]; the token is read from TAXO_LABEL_STUDIO_TOKEN"),
    ] = None,
    annotators: Annotated[int, typer.Option(help="Validators per task (the project's overlap)")] = 1,
    title: Annotated[Optional[str], typer.Option(help="Project title [default: Validation #N · <month day hh:mm drawn>]")] = None,
    db: DbOpt = None, as_json: JsonOpt = False, quiet: QuietOpt = False,
) -> None:
    """Create the Label Studio project of a sample: one task per item (value, role, excerpt as stored). Running
    it again completes an interrupted push and creates nothing twice."""
    from taxonomy import api

    res = api.validate_push(sample_id, url=url, annotators=annotators, title=title, db=db)
    if as_json:
        return emit_json(res)
    if not quiet:
        if res.already_pushed:
            err.print(f"Sample {sample_id} is already in project {res.project_id} at {esc_url(res.url)} ({res.n_tasks} tasks, "
                      f"{res.annotators} validator(s) per task).")
        else:
            err.print(f"Sample {sample_id}: {res.n_created} task(s) created in project {res.project_id} at {esc_url(res.url)} "
                      f"({res.n_tasks} in all; {res.annotators} validator(s) per task).")
    print(res.project_id)


# ----------------------------------------------------------------------------------------------------------- pull
@validate_app.command("pull")
def pull_cmd(
    sample_id: Annotated[int, typer.Argument(metavar="SAMPLE", help="Sample id")],
    url: Annotated[Optional[str], typer.Option(help="Label Studio URL [default: where the sample was pushed]")] = None,
    db: DbOpt = None, as_json: JsonOpt = False, quiet: QuietOpt = False,
) -> None:
    """Store the validators' answers from Label Studio (repeatable: nothing is stored twice)."""
    from taxonomy import api

    res = api.validate_pull(sample_id, url=url, db=db)
    if as_json:
        return emit_json(res)
    if not quiet:
        out.print(f"Sample {sample_id}: {res.n_annotations} annotation(s) read; {res.n_new} new, {res.n_updated} "
                  f"updated, {res.n_unchanged} unchanged, {res.n_removed} removed; {res.n_skipped} skipped task(s); "
                  f"{res.n_items_judged} of {res.n_items} items answered.")
        for p in res.problems:
            out.print(f"Not counted: {esc(p)}")


# --------------------------------------------------------------------------------------------------------- report
@validate_app.command("report")
def report_cmd(
    sample_id: Annotated[int, typer.Argument(metavar="SAMPLE", help="Sample id")],
    ci: Annotated[str, typer.Option("--ci", help="Interval: wilson | clopper-pearson")] = "wilson",
    confidence: Annotated[float, typer.Option(help="Confidence level of the intervals")] = 0.95,
    top: Annotated[int, typer.Option(help="Values judged wrong most often to list")] = 10,
    comments: Annotated[int, typer.Option("--comments", help="Commented / not-expressed items to list (--json: all)")] = 20,
    db: DbOpt = None, as_json: JsonOpt = False,
) -> None:
    """Accuracy with a confidence interval, per stratum, weighted to the population; agreement; worst values."""
    from taxonomy import api

    rep = api.validate_report(sample_id, ci=ci, confidence=confidence, top=top, db=db)
    if as_json:
        return emit_json(rep)
    ci_name = {"wilson": "Wilson", "clopper-pearson": "Clopper–Pearson"}[rep.ci_method]
    conf = f"{rep.confidence:.0%}"
    how = f"stratified by {rep.stratify}" if rep.stratify else "simple random sample"
    out.print(f"[bold]Sample {rep.sample_id}[/bold]: {rep.n_items} items of {rep.population} records ({how}, "
              f"seed {rep.seed}).")
    a = rep.answers
    out.print(f"Judgements counted: {rep.n_judgements} (expressed {a['expressed']}, not expressed "
              f"{a['not_expressed']}, cannot tell {a['cannot_tell']}).")
    if rep.unknown_answers:
        out.print(f"Unknown answers (not counted): {len(rep.unknown_answers)}")
        for u in rep.unknown_answers[:10]:
            out.print(f"  item {u['position']}: {esc(repr(u['answer']))} by {esc(str(u['annotator']))} "
                      f"(annotation {u['ls_annotation_id']})")
    it = rep.items
    out.print(f"Items: expressed {it['expressed']}, not expressed {it['not_expressed']}, disputed (tie, counted as "
              f"not expressed) {it['disputed']}; cannot tell {it['cannot_tell']} (excluded); not yet judged "
              f"{it['unjudged']}.")
    o = rep.overall
    if o is not None:
        out.print(f"[bold]Accuracy: {_pct(o.estimate)}[/bold] ({int(o.successes)}/{int(o.n)}), {conf} {ci_name} "
                  f"interval {_pct(o.ci_low)} – {_pct(o.ci_high)}")
    st = rep.stratified
    if st is not None:
        out.print(f"Stratified estimate (weighted by population share): {_pct(st['estimate'])}, SE "
                  f"{_pct(st['se'])}, {conf} {ci_name} interval {_pct(st['ci_low'])} – {_pct(st['ci_high'])} "
                  f"(effective n {st['n_eff']:.1f})")
    if rep.stratify is not None:
        t = Table(title="Per stratum")
        for col in ("stratum", "population share", "items", "judged", "not expressed", "disputed", "cannot tell",
                    "accuracy", f"{conf} interval"):
            t.add_column(col)
        for s in rep.strata:
            acc = s.accuracy
            t.add_row(esc(s.label), _pct(s.share), str(s.n_items), str(s.judged), str(s.not_expressed),
                      str(s.disputed), str(s.cannot_tell), _pct(acc.estimate) if acc else "—",
                      f"{_pct(acc.ci_low)} – {_pct(acc.ci_high)}" if acc else "—")
        out.print(t)
    ag = rep.agreement
    if ag["n_items"]:
        parts = [f"{ag['n_items']} items with 2+ validators, raw agreement {_pct(ag['percent_agreement'])}"]
        if ag["kappa_pair"]:
            k = ag["cohens_kappa"]
            parts.append(f"Cohen's kappa {k:.3f}" if k is not None else "Cohen's kappa undefined (no variation)")
        alpha = ag["krippendorff_alpha"]
        parts.append(f"Krippendorff's alpha (nominal) {alpha:.3f}" if alpha is not None
                     else "Krippendorff's alpha undefined (no variation)")
        out.print("Agreement: " + "; ".join(parts) + ".")
    if rep.most_wrong:
        t = Table(title="Values judged wrong most often")
        for col in ("value", "wrong", "judged"):
            t.add_column(col)
        for w in rep.most_wrong:
            t.add_row(esc(w["value"]), str(w["wrong"]), str(w["judged"]))
        out.print(t)
    if rep.comments:
        shown = rep.comments[: max(comments, 0)]
        out.print(f"[bold]Not expressed, and validators' comments[/bold] ({len(rep.comments)} items"
                  + (f"; the first {len(shown)}, --comments N for more, --json for all" if len(shown) < len(rep.comments)
                     else "") + "):")
        for c in shown:
            verdict = c["verdict"].replace("_", " ")
            out.print(f"  item {c['position']} " + esc(f"[{verdict}] {c['value']!r}"))
            for j in c["judgements"]:
                said = f"{esc(str(j['annotator'] or 'anonymous'))}: {esc(j['answer'].replace('_', ' '))}"
                out.print(f"    {said}" + (f" — {esc(j['comment'])}" if j["comment"] else ""))
    r = rep.redactions
    if r["redacted"]:
        out.print(f"Redactions: {r['total']} in {r['items']} excerpts before they left the database.")
    else:
        out.print("Redactions: none (the sample was drawn without --redact).")
    for note in rep.notes:
        out.print(f"Note: {esc(note)}")
