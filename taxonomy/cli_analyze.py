"""`taxo analyze VERSION prevalence|context|consistency|responses|pairs|compare`: thin layer over
:func:`taxonomy.api.analyze`."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.table import Table as RichTable

from taxonomy.cli_common import DbOpt, JsonOpt, QuietOpt, command_group, emit_json, err, esc, out

analyze_app = command_group(
    "The study's analyses on a version's extraction records, with a privacy threshold."
)

LevelOpt = Annotated[Optional[int], typer.Option("--level", help="0 = values, 1.. = node levels [default: top level]")]
RoleOpt = Annotated[Optional[str], typer.Option("--role", help="Only records of this role: ai | human")]
TopOpt = Annotated[int, typer.Option("--top", help="Rows per list")]
KOpt = Annotated[
    Optional[int],
    typer.Option("--min-conversations", help="Privacy threshold K: nothing backed by fewer distinct conversations "
                 "is reported [default: 10, or TAXO_MIN_CONVERSATIONS]", show_default=False),
]
CsvOpt = Annotated[Optional[str], typer.Option("--csv", help="Write one tidy CSV per table into this directory")]
PlotOpt = Annotated[Optional[str], typer.Option("--plot", help="Write the figures (PNG and SVG) into this directory")]
ConfOpt = Annotated[float, typer.Option("--confidence", help="Interval confidence level")]
DropOpt = Annotated[bool, typer.Option("--drop-empty", help="Leave empty rows/columns out of the contingency table")]


@analyze_app.callback()
def _version(ctx: typer.Context, version: Annotated[int, typer.Argument(help="Version id")]) -> None:
    ctx.obj = version


#: Options of the analyze commands that shape the terminal output, not the analysis.
OUTPUT_OPTIONS = ("rows", "as_json", "quiet", "csv", "plot")


def _options(ctx: typer.Context) -> dict:
    """The analysis options a command was given, under the names of :func:`taxonomy.api.analyze`."""
    kw = {k: v for k, v in ctx.params.items() if k not in OUTPUT_OPTIONS}
    return {**kw, "csv_dir": ctx.params["csv"], "plot_dir": ctx.params["plot"]}


def _show(ctx: typer.Context, res) -> None:
    if ctx.params["as_json"]:
        return emit_json(res)
    if not ctx.params["quiet"]:
        render(res, ctx.params["rows"])


def _fmt(v) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if v == 0 or abs(v) >= 1:
            return f"{v:.4g}"
        return f"{v:.4f}" if abs(v) >= 1e-3 else f"{v:.3g}"
    return str(v)


#: Columns left out of the terminal tables (they are in --json and --csv).
TERMINAL_HIDDEN = {"human_id", "ai_id", "slice_conversations", "slice_occurrences",
                   "share_of_column_conversations", "z", "column_conversations", "human_conversations"}
#: Wilson bounds are shown unless the table has bootstrap intervals too (a table titled with intervals shows some).
WILSON = {"wilson_low", "wilson_high"}


def _terminal_columns(t) -> list[str]:
    hidden = TERMINAL_HIDDEN | (WILSON if "conv_ci_low" in t.columns else set())
    return [c for c in t.columns if c not in hidden and not (c == "id" and "name" in t.columns)
            and not (c == "slice" and all(r.get(c) == "(all)" for r in t.rows))]


def render(res, rows: int) -> None:
    out.print(f"[bold]{res.analysis}[/bold] of version {res.version_id}, level {res.level}; privacy threshold "
              f"K = {res.min_conversations} distinct conversations")
    for key, value in res.summary.items():
        if isinstance(value, (dict, list)):
            continue
        out.print(f"  {key}: {esc(_fmt(value))}")
    for note in res.notes:
        out.print(f"  note: {esc(note)}")
    for t in res.tables.values():
        shown = _terminal_columns(t)
        tab = RichTable(title=esc(t.title), title_justify="left", show_lines=False)
        for c in shown:
            tab.add_column(esc(c), overflow="fold")
        for r in t.rows[:rows]:
            tab.add_row(*[esc(_fmt(r.get(c))) for c in shown])
        out.print(tab)
        more = f"{len(t.rows) - rows} more rows (--json or --csv for all); " if len(t.rows) > rows else ""
        out.print(f"  {more}{t.n_suppressed} {esc(t.suppressed_what)} suppressed (fewer than "
                  f"{res.min_conversations} conversations)")
    for f in res.files:
        err.print(f"Wrote {esc(f)}")


RowsOpt = Annotated[int, typer.Option("--rows", help="Rows shown per table in the terminal")]
ByOpt = Annotated[str, typer.Option("--by", help="Column: task, response_type or a --slice-col")]


@analyze_app.command()
def prevalence(
    ctx: typer.Context, level: LevelOpt = None, role: RoleOpt = None,
    by: Annotated[Optional[str], typer.Option("--by", help="Per slice: task, response_type or a --slice-col")] = None,
    bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples over conversations (0 = off)")] = 500,
    seed: Annotated[int, typer.Option(help="Bootstrap seed")] = 0, confidence: ConfOpt = 0.95,
    min_conversations: KOpt = None, csv: CsvOpt = None, plot: PlotOpt = None, rows: RowsOpt = 15,
    db: DbOpt = None, as_json: JsonOpt = False, quiet: QuietOpt = False,
) -> None:
    """Share of occurrences and of conversations per unit (per role, per slice) with bootstrap intervals."""
    from taxonomy import api

    _show(ctx, api.analyze(ctx.obj, "prevalence", **_options(ctx)))


@analyze_app.command()
def context(
    ctx: typer.Context, by: ByOpt, level: LevelOpt = None, role: RoleOpt = None, top: TopOpt = 10,
    drop_empty: DropOpt = False, min_conversations: KOpt = None, csv: CsvOpt = None, plot: PlotOpt = None,
    rows: RowsOpt = 15, db: DbOpt = None, as_json: JsonOpt = False, quiet: QuietOpt = False,
) -> None:
    """Unit x column contingency table: chi-square test, Pearson residuals, most over-represented units."""
    from taxonomy import api

    _show(ctx, api.analyze(ctx.obj, "context", **_options(ctx)))


@analyze_app.command()
def consistency(
    ctx: typer.Context, by: ByOpt, level: LevelOpt = None, role: RoleOpt = None, top: TopOpt = 10,
    min_conversations: KOpt = None, csv: CsvOpt = None, plot: PlotOpt = None, rows: RowsOpt = 15,
    db: DbOpt = None, as_json: JsonOpt = False, quiet: QuietOpt = False,
) -> None:
    """Coefficient of variation of each unit's frequency across the column's values (trans-situational values)."""
    from taxonomy import api

    _show(ctx, api.analyze(ctx.obj, "consistency", **_options(ctx)))


@analyze_app.command()
def responses(
    ctx: typer.Context, level: LevelOpt = None, role: RoleOpt = None, top: TopOpt = 10, confidence: ConfOpt = 0.95,
    drop_empty: DropOpt = False, min_conversations: KOpt = None, csv: CsvOpt = None, plot: PlotOpt = None,
    rows: RowsOpt = 15, db: DbOpt = None, as_json: JsonOpt = False, quiet: QuietOpt = False,
) -> None:
    """Response types, the units over-represented in each, and the share of explicit values per type."""
    from taxonomy import api

    _show(ctx, api.analyze(ctx.obj, "responses", **_options(ctx)))


@analyze_app.command()
def pairs(
    ctx: typer.Context, level: LevelOpt = None, top: TopOpt = 10, min_conversations: KOpt = None,
    csv: CsvOpt = None, plot: PlotOpt = None, rows: RowsOpt = 15,
    db: DbOpt = None, as_json: JsonOpt = False, quiet: QuietOpt = False,
) -> None:
    """Human value -> AI value in the same conversation: mirroring rate, frequent pairs, P(AI | human)."""
    from taxonomy import api

    _show(ctx, api.analyze(ctx.obj, "pairs", **_options(ctx)))


@analyze_app.command()
def compare(
    ctx: typer.Context, by: Annotated[str, typer.Option("--by", help="Slice column, e.g. model")],
    a: Annotated[str, typer.Option("--a", help="First slice value")],
    b: Annotated[str, typer.Option("--b", help="Second slice value")],
    level: LevelOpt = None, role: RoleOpt = None, top: TopOpt = 10,
    alpha: Annotated[float, typer.Option(help="Significance level after correction")] = 0.05,
    correction: Annotated[str, typer.Option(help="fdr_bh | holm | bonferroni | none")] = "fdr_bh",
    confidence: ConfOpt = 0.95, min_conversations: KOpt = None, csv: CsvOpt = None, plot: PlotOpt = None,
    rows: RowsOpt = 15, db: DbOpt = None, as_json: JsonOpt = False, quiet: QuietOpt = False,
) -> None:
    """Per-unit shares in two slices: difference with CI, two-proportion test, corrected; top overlap."""
    from taxonomy import api

    _show(ctx, api.analyze(ctx.obj, "compare", **_options(ctx)))
