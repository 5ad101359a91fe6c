"""The `taxo` command line. Every command is a thin layer over the function of the same name in
:mod:`taxonomy.api`; ``--json`` prints that function's result as JSON."""

from __future__ import annotations

import json
import sys
from contextlib import nullcontext
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from taxonomy.cli_common import AuthorOpt, CacheOpt, DbOpt, JsonOpt, QuietOpt, _emit_json, _esc  # noqa: F401
from taxonomy.errors import UsageError as TaxoUsage

app = typer.Typer(
    name="taxo",
    help="Build, curate, validate and export versioned taxonomies of value strings.\n\n"
    "Exit codes: 0 ok, 1 failure, 2 bad input or usage, 3 conflict.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

def _progress(quiet: bool, as_json: bool):
    if quiet or as_json or not sys.stderr.isatty():
        return nullcontext(None)
    from taxonomy.progress import RichProgress

    return RichProgress()


def _fmt_pct(x: float) -> str:
    return f"{x:.3f}%"


# ----------------------------------------------------------------------------------------------------------- init
@app.command()
def init(db: DbOpt = None, as_json: JsonOpt = False, quiet: QuietOpt = False) -> None:
    """Create the database schema, or upgrade it to the newest revision (safe to repeat)."""
    from taxonomy.api import init as _init

    res = _init(db)
    if as_json:
        return _emit_json(res)
    if not quiet:
        what = "created" if res.previous_revision is None else (
            "already up to date" if res.previous_revision == res.revision else f"upgraded from {res.previous_revision}"
        )
        out.print(f"Database {_esc(res.database)}: schema {what} (revision {res.revision}).")


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
    from taxonomy.api import ingest as _ingest

    res = _ingest(
        path,
        db=db,
        value_col=value_col,
        weight_col=weight_col,
        count_col=count_col,
        conversation_col=conversation_col,
        role_col=role_col,
        task_col=task_col,
        response_type_col=response_type_col,
        excerpt_col=excerpt_col,
        shape=shape,
        file_format=file_format,
        keep_case=keep_case,
        allow_duplicate=allow_duplicate,
        slice_cols=slice_col or (),
        explicit_col=explicit_col,
    )
    if as_json:
        return _emit_json(res)
    for warning in res.warnings:
        err.print(f"[yellow]Warning:[/yellow] {_esc(warning)}")
    if quiet:
        return
    if res.already_ingested:
        out.print(f"{_esc(path)} was already ingested as batch {res.batch_id}; nothing changed.")
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
    message: Annotated[str, typer.Option("--message", "-m", help="Version message")] = "",
    model: Annotated[
        Optional[str], typer.Option(help="sentence-transformers model name or path [default: all-MiniLM-L6-v2]")
    ] = None,
    summarizer: Annotated[Optional[str], typer.Option(help="Cluster summarizer [default: offline]")] = None,
    category_suffix: Annotated[
        Optional[str],
        typer.Option(help="Noun ending top-level category names, e.g. values ('' = none) [default: inferred]"),
    ] = None,
    top: Annotated[int, typer.Option(help="Top-level count for --levels auto")] = 5,
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
    cache_dir: CacheOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Embed all ingested values, cluster them into levels, name every cluster; prints the new version id."""
    from taxonomy.api import build as _build
    from taxonomy.cli_llm import llm_kwargs

    with _progress(quiet, as_json) as progress:
        res = _build(
            db=db,
            levels=levels,
            method=method,
            seed=seed,
            model=model,
            summarizer=summarizer,
            message=message,
            author=author,
            id_prefix=id_prefix,
            top=top,
            cache_dir=cache_dir,
            batch_size=batch_size,
            embed_backend=embed_backend,
            device=device,
            progress=progress,
            role=role,
            batches=batches,
            min_conversations=min_conversations,
            category_suffix=category_suffix,
            **llm_kwargs(hierarchy, count_tolerance, llm_model, llm_base_url, llm_api_key_env, llm_concurrency,
                         max_calls, max_cost, llm_price),
        )
    if as_json:
        return _emit_json(res)
    if not quiet and res.llm:
        from taxonomy.llm.service import format_stats

        err.print(_esc(format_stats(res.llm)))
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
    from taxonomy.cluster import DEFAULT_METHOD, METHODS
    from taxonomy.summarize import DEFAULT_SUMMARIZER, SUMMARIZERS

    data = {
        "methods": [{"name": n, "default": n == DEFAULT_METHOD, "doc": (c.__doc__ or "").strip().split("\n")[0]}
                    for n, c in METHODS.items()],
        "summarizers": [{"name": n, "default": n == DEFAULT_SUMMARIZER,
                         "doc": (c.__doc__ or "").strip().split("\n")[0]} for n, c in SUMMARIZERS.items()],
    }
    if as_json:
        return _emit_json(data)
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
    from taxonomy.api import versions as _versions

    rows = _versions(db=db)
    if as_json:
        return _emit_json([r.to_dict() for r in rows])
    if not rows:
        out.print("No versions yet: run `taxo build`.")
        return
    t = Table()
    for col in ("id", "parent", "created", "kind", "message", "values / per level"):
        t.add_column(col)
    for r in rows:
        counts = " / ".join(str(r.counts.get(lv, 0)) for lv in sorted(r.counts))
        t.add_row(str(r.id), str(r.parent_id or ""), r.created_at, r.kind, _esc(r.message), counts)
    out.print(t)


# ----------------------------------------------------------------------------------------------------------- show
@app.command()
def show(
    version: Annotated[int, typer.Argument(help="Version id")],
    level: Annotated[Optional[int], typer.Option(help="List the nodes of this level [default: the top level]")] = None,
    node: Annotated[Optional[str], typer.Option(help="Show one node (full id or the first 4+ characters of its uuid)")] = None,
    limit: Annotated[int, typer.Option(help="Member values to list for --node (0 = all)")] = 25,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a version's nodes at a level, or one node: path, description, children, member values."""
    from taxonomy.api import show as _show
    from taxonomy.cli_table import print_table
    from taxonomy.query import NodeDetail

    res = _show(version, level=level, node=node, limit=limit, db=db)
    if as_json:
        return _emit_json(res)
    if isinstance(res, NodeDetail):
        nd = res.node
        path = " › ".join(p.name for p in res.path + [nd])
        out.print(f"[bold]{_esc(nd.name)}[/bold]  (level {nd.level}, id {nd.id})")
        out.print(f"Path: {_esc(path)}")
        out.print(f"{nd.member_count} values, {_fmt_pct(nd.pct_total_occurrences)} of all occurrences")
        if nd.description:
            out.print(_esc(nd.description))
        if res.children:
            t = Table(title="Children")
            for col in ("id", "name", "values", "pct"):
                t.add_column(col)
            for c in res.children:
                t.add_row(c.short_id, _esc(c.name), str(c.member_count), _fmt_pct(c.pct_total_occurrences))
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
    out.print(f"Version {v.id}: {_esc(v.message) or '(no message)'}  [{v.created_at}]  level {res.level}")
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
    cache_dir: CacheOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The values and nodes nearest to a phrase (cosine similarity, faiss)."""
    from taxonomy.api import similar as _similar

    res = _similar(query, version=version, k=k, model=model, cache_dir=cache_dir, db=db)
    if as_json:
        return _emit_json(res)
    for title, hits in (("Nearest values", res.values), ("Nearest nodes", res.nodes)):
        t = Table(title=title)
        for col in ("score", "level", "name", "under"):
            t.add_column(col)
        for h in hits:
            t.add_row(f"{h.score:.3f}", str(h.level), _esc(h.name), _esc(" › ".join(h.path)))
        out.print(t)


# --------------------------------------------------------------------------------------------------------- export
@app.command()
def export(
    version: Annotated[int, typer.Argument(help="Version id")],
    file_format: Annotated[str, typer.Option("--format", "-f", help="values-tree-csv | json | parquet | skos-ttl | skos-jsonld")] = "values-tree-csv",
    output: Annotated[Optional[str], typer.Option("--output", "-o", help="Output file [default: stdout]")] = None,
    min_conversations: Annotated[Optional[int], typer.Option(
        "--min-conversations", help="Aggregate values backed by fewer distinct conversations into 'other' rows")] = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Write a version as the published values_tree.csv layout, nested JSON, Parquet (one row per value) or SKOS."""
    from taxonomy.api import export as _export

    res = _export(version, format=file_format, out=output, db=db, min_conversations=min_conversations)
    if as_json and output not in (None, "-"):
        return _emit_json(res)
    if not quiet and res.privacy:
        p = res.privacy
        err.print(f"Privacy threshold {p['min_conversations']} conversations: {p['suppressed_values']} values "
                  f"aggregated into {p['other_rows']} 'other' rows, {p['suppressed_nodes']} nodes unnamed.")
    if not quiet and output not in (None, "-"):
        err.print(f"Wrote version {version} ({res.n_nodes} nodes, {res.n_values} values) to {_esc(output)}.")


# -------------------------------------------------------------------------------------------------------- compare
@app.command()
def compare(
    version: Annotated[int, typer.Argument(help="Version id")],
    reference: Annotated[str, typer.Option(help="Reference tree in the values_tree.csv layout")],
    weights: Annotated[str, typer.Option(help="Weights for the weighted scores: ours | reference")] = "ours",
    names: Annotated[bool, typer.Option("--names/--no-names", help="Also score the names (name fidelity, MiniLM)")] = True,
    cache_dir: CacheOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Per-level NMI, name fidelity, ARI and purity of a version against a reference tree."""
    from taxonomy.api import compare as _compare
    from taxonomy.compare import format_comparison

    res = _compare(version, reference=reference, weights=weights, names=names, cache_dir=cache_dir, db=db)
    if as_json:
        return _emit_json(res)
    out.print(_esc(format_comparison(res)))


# ---------------------------------------------------------------------------------------------------- curation
edit_app = typer.Typer(
    help="Edit a version: each edit writes a new version (the base stays as it was). "
    "Usage: taxo edit VERSION OPERATION ...",
    no_args_is_help=True,
)
app.add_typer(edit_app, name="edit")

MessageOpt = Annotated[str, typer.Option("--message", "-m", help="Version message [default: a summary of the edit]")]
BranchOpt = Annotated[
    Optional[str], typer.Option(help="Advance this branch (it must point at the base version, or not exist yet)")
]
ResumOpt = Annotated[bool, typer.Option("--resummarize", help="Re-name and re-describe the nodes the edit changed")]


@edit_app.callback()
def _edit_version(ctx: typer.Context, version: Annotated[int, typer.Argument(help="Base version id")]) -> None:
    ctx.obj = {"version": version}


def _report_change(res, as_json: bool, quiet: bool) -> None:
    if as_json:
        return _emit_json(res)
    if not quiet:
        where = f" (branch {res.branch})" if res.branch else ""
        err.print(f"Version {res.version_id} from {res.base_version_id}{where}: {_esc(res.summary)}")
    print(res.version_id)


def _edit(ctx: typer.Context, fn_name: str, *args, db, as_json, quiet, cache_dir=None, **kwargs) -> None:
    import taxonomy.changesets as cs

    fn = getattr(cs, fn_name)
    res = fn(ctx.obj["version"], *args, db=db, cache_dir=cache_dir, source={"kind": "cli"}, **kwargs)
    _report_change(res, as_json, quiet)


@edit_app.command("rename")
def edit_rename(
    ctx: typer.Context,
    node: Annotated[str, typer.Argument(help="Node id (or its first 4+ characters)")],
    name: Annotated[Optional[str], typer.Argument(help="New name")] = None,
    description: Annotated[Optional[str], typer.Option(help="New description")] = None,
    message: MessageOpt = "", author: AuthorOpt = None, branch: BranchOpt = None,
    db: DbOpt = None, as_json: JsonOpt = False, quiet: QuietOpt = False,
) -> None:
    """Rename a node and/or rewrite its description (the node keeps its id)."""
    _edit(ctx, "rename", node, name, description=description, message=message, author=author, branch=branch,
          db=db, as_json=as_json, quiet=quiet)


@edit_app.command("merge")
def edit_merge(
    ctx: typer.Context,
    node: Annotated[str, typer.Argument(help="Node to merge away")],
    into: Annotated[str, typer.Option("--into", help="Surviving node (same level)")],
    resummarize: ResumOpt = False, message: MessageOpt = "", author: AuthorOpt = None, branch: BranchOpt = None,
    cache_dir: CacheOpt = None, db: DbOpt = None, as_json: JsonOpt = False, quiet: QuietOpt = False,
) -> None:
    """Merge a node into another: its children and values move to the survivor."""
    _edit(ctx, "merge", node, into=into, resummarize=resummarize, message=message, author=author, branch=branch,
          cache_dir=cache_dir, db=db, as_json=as_json, quiet=quiet)


@edit_app.command("move")
def edit_move(
    ctx: typer.Context,
    node: Annotated[str, typer.Argument(help="Node to move")],
    to: Annotated[str, typer.Option("--to", help="New parent (one level up)")],
    resummarize: ResumOpt = False, message: MessageOpt = "", author: AuthorOpt = None, branch: BranchOpt = None,
    cache_dir: CacheOpt = None, db: DbOpt = None, as_json: JsonOpt = False, quiet: QuietOpt = False,
) -> None:
    """Move a node under another parent."""
    _edit(ctx, "move", node, to=to, resummarize=resummarize, message=message, author=author, branch=branch,
          cache_dir=cache_dir, db=db, as_json=as_json, quiet=quiet)


@edit_app.command("split")
def edit_split(
    ctx: typer.Context,
    node: Annotated[str, typer.Argument(help="Node to split")],
    k: Annotated[Optional[int], typer.Option("--k", help="Re-cluster its members into k new siblings")] = None,
    groups: Annotated[Optional[str], typer.Option("--groups", help="JSON file: [{name, description, members}, ...]")] = None,
    seed: Annotated[int, typer.Option(help="Random seed for --k")] = 0,
    resummarize: ResumOpt = False, message: MessageOpt = "", author: AuthorOpt = None, branch: BranchOpt = None,
    cache_dir: CacheOpt = None, db: DbOpt = None, as_json: JsonOpt = False, quiet: QuietOpt = False,
) -> None:
    """Split a node into new siblings (named by the summarizer unless the groups file names them)."""
    group_list = _load_groups(groups) if groups else None
    _edit(ctx, "split", node, k=k, groups=group_list, seed=seed, resummarize=resummarize, message=message,
          author=author, branch=branch, cache_dir=cache_dir, db=db, as_json=as_json, quiet=quiet)


def _load_groups(path: str) -> list:
    from taxonomy.errors import InputError

    try:
        data = json.loads(open(path, encoding="utf-8").read())
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except json.JSONDecodeError as exc:
        raise InputError(path, f"invalid JSON: {exc.msg}", line=exc.lineno) from None
    if isinstance(data, dict):
        data = data.get("groups")
    if not isinstance(data, list):
        raise InputError(path, "expected a list of groups (or {\"groups\": [...]})")
    return data


@edit_app.command("create")
def edit_create(
    ctx: typer.Context,
    level: Annotated[int, typer.Option(help="Level of the new node")],
    name: Annotated[str, typer.Option(help="Name")],
    parent: Annotated[Optional[str], typer.Option(help="Parent node (one level up; none at the top level)")] = None,
    description: Annotated[Optional[str], typer.Option(help="Description")] = None,
    children: Annotated[Optional[str], typer.Option(help="Comma-separated child node ids (values at level 1)")] = None,
    message: MessageOpt = "", author: AuthorOpt = None, branch: BranchOpt = None,
    db: DbOpt = None, as_json: JsonOpt = False, quiet: QuietOpt = False,
) -> None:
    """Create a node and move children under it."""
    kids = [c.strip() for c in children.split(",") if c.strip()] if children else None
    _edit(ctx, "create", level=level, name=name, parent=parent, description=description, children=kids,
          message=message, author=author, branch=branch, db=db, as_json=as_json, quiet=quiet)


@edit_app.command("delete")
def edit_delete(
    ctx: typer.Context,
    node: Annotated[str, typer.Argument(help="Node to delete")],
    reassign_to: Annotated[str, typer.Option("--reassign-to", help="Node (same level) that receives its contents")],
    resummarize: ResumOpt = False, message: MessageOpt = "", author: AuthorOpt = None, branch: BranchOpt = None,
    cache_dir: CacheOpt = None, db: DbOpt = None, as_json: JsonOpt = False, quiet: QuietOpt = False,
) -> None:
    """Delete a node; everything under it moves to --reassign-to."""
    _edit(ctx, "delete", node, reassign_to=reassign_to, resummarize=resummarize, message=message, author=author,
          branch=branch, cache_dir=cache_dir, db=db, as_json=as_json, quiet=quiet)


@edit_app.command("reassign")
def edit_reassign(
    ctx: typer.Context,
    value: Annotated[str, typer.Argument(help="Value string")],
    to: Annotated[str, typer.Option("--to", help="Level-1 node")],
    message: MessageOpt = "", author: AuthorOpt = None, branch: BranchOpt = None,
    db: DbOpt = None, as_json: JsonOpt = False, quiet: QuietOpt = False,
) -> None:
    """Move a value to another level-1 node."""
    _edit(ctx, "reassign", value, to=to, message=message, author=author, branch=branch, db=db,
          as_json=as_json, quiet=quiet)


@app.command("apply")
def apply_cmd(
    version: Annotated[int, typer.Argument(help="Base version id")],
    changes: Annotated[str, typer.Argument(help="Change-set file (YAML or JSON)")],
    message: MessageOpt = "", author: AuthorOpt = None, branch: BranchOpt = None,
    resummarize: ResumOpt = False, seed: Annotated[int, typer.Option(help="Random seed for splits")] = 0,
    cache_dir: CacheOpt = None, db: DbOpt = None, as_json: JsonOpt = False, quiet: QuietOpt = False,
) -> None:
    """Apply a batch of edits from a file, all or nothing; prints the new version id."""
    from taxonomy.changesets import apply as _apply

    res = _apply(version, changes, message=message, author=author, branch=branch, resummarize=resummarize,
                 seed=seed, cache_dir=cache_dir, db=db)
    _report_change(res, as_json, quiet)


@app.command("check")
def check_cmd(version: Annotated[int, typer.Argument(help="Version id")], db: DbOpt = None,
              as_json: JsonOpt = False) -> None:
    """Verify a version against every integrity rule (exit 1 if any is broken)."""
    from taxonomy.changesets import check as _check

    rep = _check(version, db=db)
    if as_json:
        _emit_json(rep)
    elif rep.ok:
        out.print(f"Version {version}: OK ({rep.n_nodes} nodes, {rep.n_values} values; all integrity rules hold).")
    else:
        for v in rep.violations:
            out.print(_esc(f"[{v.rule}] {v.message}"))
    if not rep.ok:
        raise typer.Exit(1)


@app.command("log")
def log_cmd(version: Annotated[Optional[int], typer.Argument(help="Show this version's ancestry")] = None,
            db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """Version lineage: who, when, message and a summary of each change-set."""
    from taxonomy.changesets import log as _log

    rows = _log(version, db=db)
    if as_json:
        return _emit_json([r.to_dict() for r in rows])
    for r in rows:
        indent = "  " * r.depth if version is None else ""
        heads = f" ({', '.join(r.branches)})" if r.branches else ""
        parent = f" ← {r.parent_id}" if r.parent_id else ""
        out.print(f"{indent}[bold]{r.id}[/bold]{parent}{_esc(heads)}  {r.created_at}  {_esc(r.author or '-')}  "
                  f"{_esc(r.message)}")
        if r.summary and r.summary != r.message:
            out.print(f"{indent}    {_esc(r.summary)}")


@app.command("history")
def history_cmd(node: Annotated[str, typer.Argument(help="Node id (or its first 4+ characters)")],
                db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """One node across versions."""
    from taxonomy.changesets import history as _history

    rows = _history(node, db=db)
    if as_json:
        return _emit_json([r.to_dict() for r in rows])
    t = Table()
    for col in ("version", "status", "name", "level", "parent", "values", "change"):
        t.add_column(col)
    for r in rows:
        status = r.status if not r.replaced_by else f"{r.status} → {', '.join(x.rsplit(':', 1)[-1][:8] for x in r.replaced_by)}"
        t.add_row(str(r.version_id), status, _esc(r.name or ""), str(r.level or ""),
                  (r.parent or "").rsplit(":", 1)[-1][:8], str(r.member_count or ""), _esc(r.change))
    out.print(t)


@app.command("branch")
def branch_cmd(
    name: Annotated[Optional[str], typer.Argument(help="Branch to create or move")] = None,
    version: Annotated[Optional[int], typer.Argument(help="Version it points at")] = None,
    force: Annotated[bool, typer.Option("--force", help="Move an existing branch")] = False,
    db: DbOpt = None, as_json: JsonOpt = False,
) -> None:
    """List branches, or create one: taxo branch main 3."""
    from taxonomy.changesets import branch as _branch
    from taxonomy.changesets import branches as _branches

    if name is None:
        rows = _branches(db=db)
        if as_json:
            return _emit_json([r.to_dict() for r in rows])
        for r in rows:
            out.print(f"{_esc(r.name)}\t{r.head_version_id}\t{r.updated_at}")
        return
    if version is None:
        raise TaxoUsage("give the version the branch should point at: taxo branch NAME VERSION")
    res = _branch(name, version, force=force, db=db)
    if as_json:
        return _emit_json(res)
    out.print(f"Branch {_esc(res.name)} → version {res.head_version_id}")


@app.command("diff")
def diff_cmd(
    a: Annotated[int, typer.Argument(help="Old version")],
    b: Annotated[int, typer.Argument(help="New version")],
    limit: Annotated[int, typer.Option(help="Entries to list per kind")] = 20,
    db: DbOpt = None, as_json: JsonOpt = False,
) -> None:
    """What changed between two versions (any two, not only parent and child)."""
    from taxonomy.api import diff as _diff
    from taxonomy.diff import format_diff

    d = _diff(a, b, db=db)
    if as_json:
        return _emit_json(d)
    out.print(_esc(format_diff(d, limit=limit)))


# ----------------------------------------------------------------------------------------------------- quickstart
@app.command()
def quickstart(
    levels: Annotated[str, typer.Option(help="Clusters per level, or auto")] = "auto",
    seed: Annotated[int, typer.Option(help="Random seed")] = 0,
    cache_dir: CacheOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """init + ingest the bundled sample (552 published values) + build, then show the top level."""
    from taxonomy.api import quickstart as _quickstart
    from taxonomy.api import show as _show

    with _progress(quiet, as_json) as progress:
        res = _quickstart(db=db, levels=levels, seed=seed, cache_dir=cache_dir, progress=progress)
    if as_json:
        return _emit_json(res)
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


from taxonomy.cli_llm import register as _register_llm  # noqa: E402

_register_llm(app)



from taxonomy.cli_validate import validate_app  # noqa: E402
app.add_typer(validate_app, name="validate")

from taxonomy.cli_review import review_app  # noqa: E402
app.add_typer(review_app, name="review")

from taxonomy.cli_report import register as _register_report  # noqa: E402
_register_report(app)

from taxonomy.cli_living import register as _register_living  # noqa: E402
_register_living(app)
from taxonomy.cli_analyze import analyze_app  # noqa: E402
app.add_typer(analyze_app, name="analyze")


def run() -> None:  # console-script entry point
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
