"""The `taxo` command line. Every command is a thin layer over the function of the same name in
:mod:`taxonomy.api`; ``--json`` prints that function's result as JSON."""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer
from rich.table import Table

from taxonomy.cli_common import CacheOpt, DbOpt, JsonOpt, MessageOpt, QuietOpt, emit_json, err, esc, out, progress
from taxonomy.cli_table import print_table

app = typer.Typer(
    name="taxo",
    help="Build, curate, validate and export versioned taxonomies of value strings.\n\n"
    "Exit codes: 0 ok, 1 failure, 2 bad input or usage, 3 conflict.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _fmt_pct(x: float) -> str:
    return f"{x:.3f}%"


# ----------------------------------------------------------------------------------------------------------- init
@app.command()
def init(db: DbOpt = None, as_json: JsonOpt = False, quiet: QuietOpt = False) -> None:
    """Create the database schema, or upgrade it to the newest revision (safe to repeat)."""
    from taxonomy import api

    res = api.init(db)
    if as_json:
        return emit_json(res)
    if not quiet:
        what = "created" if res.previous_revision is None else (
            "already up to date" if res.previous_revision == res.revision else f"upgraded from {res.previous_revision}"
        )
        out.print(f"Database {esc(res.database)}: schema {what} (revision {res.revision}).")


# --------------------------------------------------------------------------------------------------------- ingest
@app.command()
def ingest(
    path: Annotated[str, typer.Argument(help="CSV, JSONL or Parquet file")],
    value_col: Annotated[str, typer.Option(help="Column holding the value string")] = "value",
    weight_col: Annotated[Optional[str], typer.Option(help="Numeric weight column (e.g. pct_convos)")] = None,
    count_col: Annotated[Optional[str], typer.Option(help="Integer count column")] = None,
    conversation_col: Annotated[
        Optional[str], typer.Option(help="Conversation id column: the file holds extraction records")
    ] = None,
    role_col: Annotated[Optional[str], typer.Option(help="Role column (ai/human) of extraction records")] = None,
    task_col: Annotated[Optional[str], typer.Option(help="Task/context column of extraction records")] = None,
    response_type_col: Annotated[Optional[str], typer.Option(help="Response-type column")] = None,
    excerpt_col: Annotated[Optional[str], typer.Option(help="Evidence-excerpt column")] = None,
    slice_col: Annotated[
        Optional[list[str]], typer.Option("--slice-col", help="A free slice column (e.g. model); repeatable")
    ] = None,
    explicit_col: Annotated[Optional[str], typer.Option(help="Explicitness column (true/false, explicit/implicit)")] = None,
    shape: Annotated[str, typer.Option(help="aggregated | records | auto")] = "auto",
    file_format: Annotated[str, typer.Option("--format", help="csv | jsonl | parquet | auto (from extension)")] = "auto",
    keep_case: Annotated[bool, typer.Option("--keep-case", help="Do not case-fold values")] = False,
    allow_duplicate: Annotated[
        bool, typer.Option("--allow-duplicate", help="Ingest even if the rows equal an earlier batch's")
    ] = False,
    db: DbOpt = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Add a file of values (one row per value) or extraction records (one row per conversation and value)."""
    from taxonomy import api

    options = api.ReadOptions(
        value_col=value_col, weight_col=weight_col, count_col=count_col, conversation_col=conversation_col,
        role_col=role_col, task_col=task_col, response_type_col=response_type_col, excerpt_col=excerpt_col,
        shape=shape, file_format=file_format, keep_case=keep_case, slice_cols=tuple(slice_col or ()),
        explicit_col=explicit_col,
    )
    res = api.ingest(path, options, db=db, allow_duplicate=allow_duplicate)
    if as_json:
        return emit_json(res)
    for warning in res.warnings:
        err.print(f"[yellow]Warning:[/yellow] {esc(warning)}")
    if quiet:
        return
    if res.already_ingested:
        out.print(f"{esc(path)} was already ingested as batch {res.batch_id}; nothing changed.")
    else:
        extra = f", {res.n_records} extraction records" if res.n_records else ""
        out.print(
            f"Batch {res.batch_id}: {res.n_rows} rows, {res.n_values} distinct values "
            f"({res.n_new_values} new){extra}."
        )


# ---------------------------------------------------------------------------------------------------------- build
@app.command()
def build(
    levels: Annotated[str, typer.Option(help="Clusters per level, e.g. 266,26,5; or auto")] = "auto",
    method: Annotated[Optional[str], typer.Option(help="Clustering method (see `taxo methods`)")] = None,
    seed: Annotated[int, typer.Option(help="Random seed: same input + seed = same tree")] = 0,
    message: MessageOpt = "",
    model: Annotated[
        Optional[str], typer.Option(help="sentence-transformers model name or path [default: all-MiniLM-L6-v2]")
    ] = None,
    summarizer: Annotated[Optional[str], typer.Option(help="Cluster summarizer [default: offline]")] = None,
    category_suffix: Annotated[
        Optional[str],
        typer.Option(help="Noun ending top-level category names, e.g. values ('' = none) [default: inferred]"),
    ] = None,
    category_words: Annotated[
        Optional[str],
        typer.Option(help="Where top-level categories' adjectives come from: vocabulary (the embedding model's, "
                          "and the members') or members (theirs only) [default: vocabulary]"),
    ] = None,
    top: Annotated[int, typer.Option(help="Top-level count for --levels auto")] = 5,
    contrast: Annotated[
        Optional[float],
        typer.Option(help="Split level-1 nodes grouped by a shared word only, up to this share of the level-1 count "
                          "(e.g. 0.07), and merge back to the count [default: off]"),
    ] = None,
    id_prefix: Annotated[str, typer.Option(help="Prefix of node ids (<prefix>:l<level>:<uuid>)")] = "values",
    author: Annotated[Optional[str], typer.Option(help="Author recorded with the version")] = None,
    batch_size: Annotated[int, typer.Option(help="Embedding batch size")] = 64,
    embed_backend: Annotated[
        str, typer.Option(help="Embedding backend: torch (fp32), onnx, onnx-int8 (faster, CPU) or auto")
    ] = "auto",
    device: Annotated[str, typer.Option(help="Embedding device: cpu, cuda, cuda:N or auto (cuda when present)")] = "auto",
    hierarchy: Annotated[
        str, typer.Option(help="Upper levels: embedding (clustering method) or clio (built by the language model)")
    ] = "embedding",
    count_tolerance: Annotated[int, typer.Option(help="--hierarchy clio: allowed deviation from --levels")] = 0,
    llm_model: Annotated[Optional[str], typer.Option(help="Language model for --summarizer anthropic/openai")] = None,
    llm_base_url: Annotated[Optional[str], typer.Option(help="Model server URL (e.g. http://localhost:8000/v1)")] = None,
    llm_api_key_env: Annotated[
        Optional[str], typer.Option(help="Environment variable with the API key (default: ANTHROPIC_API_KEY / OPENAI_API_KEY)")
    ] = None,
    llm_concurrency: Annotated[Optional[int], typer.Option(help="Model calls in flight at once (default: 4)")] = None,
    max_calls: Annotated[Optional[int], typer.Option(help="Stop before making more model calls than this")] = None,
    max_cost: Annotated[Optional[float], typer.Option(help="Stop before the estimated cost (USD) would exceed this")] = None,
    llm_price: Annotated[
        Optional[str], typer.Option(help="USD per million input,output tokens for --max-cost (e.g. 3,15)")
    ] = None,
    role: Annotated[Optional[str], typer.Option(help="Only values expressed by this role: ai | human (record batches)")] = None,
    batches: Annotated[Optional[str], typer.Option(help="Only these batches, e.g. 1,2 [default: all]")] = None,
    min_conversations: Annotated[
        Optional[int], typer.Option(help="Only values seen in at least K distinct conversations (record batches)")
    ] = None,
    cache_dir: CacheOpt = None, db: DbOpt = None, as_json: JsonOpt = False, quiet: QuietOpt = False,
) -> None:
    """Embed all ingested values, cluster them into levels, name every cluster; prints the new version id."""
    from taxonomy import api

    llm = api.LLMOptions.from_cli(llm_model, llm_base_url, llm_api_key_env, llm_concurrency, max_calls, max_cost,
                                  llm_price)
    with progress(quiet, as_json) as bar:
        res = api.build(db=db, levels=levels, method=method, seed=seed, model=model, summarizer=summarizer,
                        message=message, author=author, id_prefix=id_prefix, top=top, cache_dir=cache_dir,
                        batch_size=batch_size, embed_backend=embed_backend,
                        device=device, progress=bar, role=role, batches=batches,
                        min_conversations=min_conversations, category_suffix=category_suffix, category_words=category_words,
                        contrast=contrast, hierarchy=hierarchy,
                        count_tolerance=count_tolerance, llm=llm)
    if as_json:
        return emit_json(res)
    if not quiet and res.llm:
        err.print(esc(api.format_stats(res.llm)))
    if not quiet:
        err.print(
            f"Built {res.n_values} values into levels {','.join(map(str, res.levels))} with {res.method} "
            f"(seed {res.seed}) in {res.timings.get('total', 0):.1f}s; embedded {res.embedded}, "
            f"{res.cached} from cache. Version:"
        )
    print(res.version_id)


@app.command()
def methods(as_json: JsonOpt = False) -> None:
    """List the clustering methods and summarizers."""
    from taxonomy import api

    data = api.methods()
    if as_json:
        return emit_json(data)
    for key in ("methods", "summarizers"):
        t = Table(title=key.capitalize(), show_lines=False)
        t.add_column("name")
        t.add_column("")
        t.add_column("description")
        for row in data[key]:
            t.add_row(row["name"], "default" if row["default"] else "", row["doc"])
        out.print(t)


# ------------------------------------------------------------------------------------------------------- versions
@app.command()
def versions(db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """List versions: id, parent, created, message, node counts per level."""
    from taxonomy import api

    rows = api.versions(db=db)
    if as_json:
        return emit_json([r.to_dict() for r in rows])
    if not rows:
        out.print("No versions yet: run `taxo build`.")
        return
    t = Table()
    for col in ("id", "parent", "created", "kind", "message", "values / per level"):
        t.add_column(col)
    for r in rows:
        counts = " / ".join(str(r.counts.get(lv, 0)) for lv in sorted(r.counts))
        t.add_row(str(r.id), str(r.parent_id or ""), r.created_at, r.kind, esc(r.message), counts)
    out.print(t)


# ----------------------------------------------------------------------------------------------------------- show
@app.command()
def show(
    version: Annotated[int, typer.Argument(help="Version id")],
    level: Annotated[Optional[int], typer.Option(help="List the nodes of this level [default: the top level]")] = None,
    node: Annotated[Optional[str], typer.Option(help="Show one node (full id or the first 4+ characters of its uuid)")] = None,
    limit: Annotated[int, typer.Option(help="Member values to list for --node (0 = all)")] = 25,
    db: DbOpt = None, as_json: JsonOpt = False,
) -> None:
    """Show a version's nodes at a level, or one node: path, description, children, member values."""
    from taxonomy import api

    res = api.show(version, level=level, node=node, limit=limit, db=db)
    if as_json:
        return emit_json(res)
    if isinstance(res, api.NodeDetail):
        nd = res.node
        path = " › ".join(p.name for p in res.path + [nd])
        out.print(f"[bold]{esc(nd.name)}[/bold]  (level {nd.level}, id {nd.id})")
        out.print(f"Path: {esc(path)}")
        out.print(f"{nd.member_count} values, {_fmt_pct(nd.pct_total_occurrences)} of all occurrences")
        if nd.description:
            out.print(esc(nd.description))
        if res.children:
            t = Table(title="Children")
            for col in ("id", "name", "values", "pct"):
                t.add_column(col)
            for c in res.children:
                t.add_row(c.short_id, esc(c.name), str(c.member_count), _fmt_pct(c.pct_total_occurrences))
            out.print(t)
        print_table(out, ("value", "weight", "count", "pct", "aliases"),
                    [(v.value, f"{v.weight:g}", str(v.count), _fmt_pct(v.pct_total_occurrences),
                      ", ".join(v.aliases[:3])) for v in res.values],
                    numeric=("weight", "count", "pct"),
                    title=f"Values ({res.n_values_shown} of {res.n_values_total}, heaviest first)")
        if res.n_values_total > res.n_values_shown:
            out.print(f"… and {res.n_values_total - res.n_values_shown} more (--limit 0 shows all)")
        return
    v = res.version
    out.print(f"Version {v.id}: {esc(v.message) or '(no message)'}  [{v.created_at}]  level {res.level}")
    print_table(out, ("id", "name", "description", "children", "values", "pct"),
                [(n.short_id, n.name, n.description, str(n.n_children), str(n.member_count),
                  _fmt_pct(n.pct_total_occurrences)) for n in res.nodes],
                numeric=("children", "values", "pct"))


# -------------------------------------------------------------------------------------------------------- similar
@app.command()
def similar(
    query: Annotated[str, typer.Argument(help="A value or phrase")],
    version: Annotated[int, typer.Option(help="Version id")],
    k: Annotated[int, typer.Option("-k", help="Number of values and of nodes")] = 10,
    model: Annotated[Optional[str], typer.Option(help="Embedding model [default: the version's]")] = None,
    cache_dir: CacheOpt = None, db: DbOpt = None, as_json: JsonOpt = False,
) -> None:
    """The values and nodes nearest to a phrase (cosine similarity, faiss)."""
    from taxonomy import api

    with progress(False, as_json) as bar:  # (a bar only while values the cache lacks are embedded)
        res = api.similar(query, version=version, k=k, model=model, cache_dir=cache_dir, db=db, progress=bar)
    if as_json:
        return emit_json(res)
    for title, hits in (("Nearest values", res.values), ("Nearest nodes", res.nodes)):
        t = Table(title=title)
        for col in ("score", "level", "name", "under"):
            t.add_column(col)
        for h in hits:
            t.add_row(f"{h.score:.3f}", str(h.level), esc(h.name), esc(" › ".join(h.path)))
        out.print(t)


# --------------------------------------------------------------------------------------------------------- export
@app.command()
def export(
    version: Annotated[int, typer.Argument(help="Version id")],
    file_format: Annotated[str, typer.Option("--format", "-f", help="values-tree-csv | json | parquet | skos-ttl | skos-jsonld")] = "values-tree-csv",
    output: Annotated[Optional[str], typer.Option("--output", "-o", help="Output file [default: stdout]")] = None,
    min_conversations: Annotated[Optional[int], typer.Option(
        "--min-conversations", help="Aggregate values backed by fewer distinct conversations into 'other' rows")] = None,
    db: DbOpt = None, as_json: JsonOpt = False, quiet: QuietOpt = False,
) -> None:
    """Write a version as the published values_tree.csv layout, nested JSON, Parquet (one row per value) or SKOS."""
    from taxonomy import api

    res = api.export(version, format=file_format, out=output, db=db, min_conversations=min_conversations)
    if as_json and output not in (None, "-"):
        return emit_json(res)
    if not quiet and res.privacy:
        p = res.privacy
        err.print(f"Privacy threshold {p['min_conversations']} conversations: {p['suppressed_values']} values "
                  f"aggregated into {p['other_rows']} 'other' rows, {p['suppressed_nodes']} nodes unnamed.")
    if not quiet and output not in (None, "-"):
        err.print(f"Wrote version {version} ({res.n_nodes} nodes, {res.n_values} values) to {esc(output)}.")


# -------------------------------------------------------------------------------------------------------- compare
@app.command()
def compare(
    version: Annotated[int, typer.Argument(help="Version id")],
    reference: Annotated[str, typer.Option(help="Reference tree in the values_tree.csv layout")],
    weights: Annotated[str, typer.Option(help="Weights for the weighted scores: ours | reference")] = "ours",
    names: Annotated[bool, typer.Option("--names/--no-names", help="Also score the names (name fidelity, MiniLM)")] = True,
    cache_dir: CacheOpt = None, db: DbOpt = None, as_json: JsonOpt = False,
) -> None:
    """Per-level NMI, name fidelity, ARI and purity of a version against a reference tree."""
    from taxonomy import api

    res = api.compare(version, reference=reference, weights=weights, names=names, cache_dir=cache_dir, db=db)
    if as_json:
        return emit_json(res)
    out.print(esc(api.format_comparison(res)))


# ---------------------------------------------------------------------------------------------------- curation
from taxonomy import cli_curate  # noqa: E402  (edit, apply, check, log, history, branch, diff: after compare)

cli_curate.register(app)


# ----------------------------------------------------------------------------------------------------- quickstart
@app.command()
def quickstart(
    levels: Annotated[str, typer.Option(help="Clusters per level, or auto")] = "auto",
    seed: Annotated[int, typer.Option(help="Random seed")] = 0,
    cache_dir: CacheOpt = None, db: DbOpt = None, as_json: JsonOpt = False, quiet: QuietOpt = False,
) -> None:
    """init + ingest the bundled sample (552 published values) + build, then show the top level."""
    from taxonomy import api

    with progress(quiet, as_json) as bar:
        res = api.quickstart(db=db, levels=levels, seed=seed, cache_dir=cache_dir, progress=bar)
    if as_json:
        return emit_json(res)
    if quiet:
        print(res.build.version_id)
        return
    b = res.build
    out.print(
        f"Built version {b.version_id}: {b.n_values} values into levels {','.join(map(str, b.levels))} "
        f"({b.method}, seed {b.seed})."
    )
    show(b.version_id, level=None, node=None, limit=25, db=db, as_json=False)
    out.print(f"Next: taxo show {b.version_id} --level 1 | taxo show {b.version_id} --node <id> | "
              f"taxo similar \"honesty\" --version {b.version_id}")


def _version_callback(value: bool) -> None:
    if value:
        from taxonomy import __version__

        print(f"taxo {__version__}")
        raise typer.Exit(0)


@app.callback()
def _main_options(
    version: Annotated[
        bool, typer.Option("--version", callback=_version_callback, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Options before any command."""


def main(argv: list[str] | None = None) -> int:
    """Entry point: runs the app and returns the exit code for the shell (see :func:`taxonomy.cli_common.run_cli`)."""
    from taxonomy.cli_common import run_cli

    return run_cli(app, argv)


from taxonomy import cli_analyze, cli_living, cli_llm, cli_report, cli_review, cli_validate  # noqa: E402

cli_llm.register(app)
app.add_typer(cli_validate.validate_app, name="validate")
app.add_typer(cli_review.review_app, name="review")
cli_report.register(app)
cli_living.register(app)
app.add_typer(cli_analyze.analyze_app, name="analyze")


def run() -> None:  # console-script entry point
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
