"""Curation commands: `taxo edit VERSION OPERATION`, `apply`, `check`, `log`, `history`, `branch`, `diff`. Thin layers
over the functions of the same names in :mod:`taxonomy.api` (``taxo edit V rename`` is ``api.rename(V, ...)``)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.table import Table

from taxonomy.cli_common import (
    AuthorOpt, BranchOpt, CacheOpt, DbOpt, JsonOpt, QuietOpt, command_group, emit_json, err, esc, out,
)

edit_app = command_group(
    "Edit a version: each edit writes a new version (the base stays as it was). "
    "Usage: taxo edit VERSION OPERATION ..."
)

MessageOpt = Annotated[str, typer.Option("--message", "-m", help="Version message [default: a summary of the edit]")]
ResumOpt = Annotated[bool, typer.Option("--resummarize", help="Re-name and re-describe the nodes the edit changed")]
NodeArg = Annotated[str, typer.Argument(help="Node id (or its first 4+ characters)")]


@edit_app.callback()
def _edit_version(ctx: typer.Context, version: Annotated[int, typer.Argument(help="Base version id")]) -> None:
    ctx.obj = {"version": version}


#: The options every edit command passes on to its function unchanged.
EDIT_OPTIONS = ("message", "author", "branch", "resummarize", "cache_dir", "db")


def _edit(ctx: typer.Context) -> tuple[int, dict]:
    """The base version (`taxo edit VERSION ...`) and the shared options the edit command was given."""
    given = {k: ctx.params[k] for k in EDIT_OPTIONS if k in ctx.params}
    return ctx.obj["version"], {"source": {"kind": "cli"}, **given}


def _report_change(res, as_json: bool, quiet: bool) -> None:
    if as_json:
        return emit_json(res)
    if not quiet:
        where = f" (branch {res.branch})" if res.branch else ""
        err.print(f"Version {res.version_id} from {res.base_version_id}{where}: {esc(res.summary)}")
    print(res.version_id)


@edit_app.command("rename")
def edit_rename(
    ctx: typer.Context, node: NodeArg, name: Annotated[Optional[str], typer.Argument(help="New name")] = None,
    description: Annotated[Optional[str], typer.Option(help="New description")] = None,
    message: MessageOpt = "", author: AuthorOpt = None, branch: BranchOpt = None,
    db: DbOpt = None, as_json: JsonOpt = False, quiet: QuietOpt = False,
) -> None:
    """Rename a node and/or rewrite its description (the node keeps its id)."""
    from taxonomy import api

    version, opts = _edit(ctx)
    _report_change(api.rename(version, node, name, description=description, **opts), as_json, quiet)


@edit_app.command("merge")
def edit_merge(
    ctx: typer.Context, node: Annotated[str, typer.Argument(help="Node to merge away")],
    into: Annotated[str, typer.Option("--into", help="Surviving node (same level)")],
    resummarize: ResumOpt = False, message: MessageOpt = "", author: AuthorOpt = None, branch: BranchOpt = None,
    cache_dir: CacheOpt = None, db: DbOpt = None, as_json: JsonOpt = False, quiet: QuietOpt = False,
) -> None:
    """Merge a node into another: its children and values move to the survivor."""
    from taxonomy import api

    version, opts = _edit(ctx)
    _report_change(api.merge(version, node, into=into, **opts), as_json, quiet)


@edit_app.command("move")
def edit_move(
    ctx: typer.Context, node: Annotated[str, typer.Argument(help="Node to move")],
    to: Annotated[str, typer.Option("--to", help="New parent (one level up)")],
    resummarize: ResumOpt = False, message: MessageOpt = "", author: AuthorOpt = None, branch: BranchOpt = None,
    cache_dir: CacheOpt = None, db: DbOpt = None, as_json: JsonOpt = False, quiet: QuietOpt = False,
) -> None:
    """Move a node under another parent."""
    from taxonomy import api

    version, opts = _edit(ctx)
    _report_change(api.move(version, node, to=to, **opts), as_json, quiet)


@edit_app.command("split")
def edit_split(
    ctx: typer.Context, node: Annotated[str, typer.Argument(help="Node to split")],
    k: Annotated[Optional[int], typer.Option("--k", help="Re-cluster its members into k new siblings")] = None,
    groups: Annotated[Optional[str], typer.Option("--groups", help="JSON file: [{name, description, members}, ...]")] = None,
    seed: Annotated[int, typer.Option(help="Random seed for --k")] = 0,
    resummarize: ResumOpt = False, message: MessageOpt = "", author: AuthorOpt = None, branch: BranchOpt = None,
    cache_dir: CacheOpt = None, db: DbOpt = None, as_json: JsonOpt = False, quiet: QuietOpt = False,
) -> None:
    """Split a node into new siblings (named by the summarizer unless the groups file names them)."""
    from taxonomy import api

    version, opts = _edit(ctx)
    group_list = api.load_groups(groups) if groups else None
    _report_change(api.split(version, node, k=k, groups=group_list, seed=seed, **opts), as_json, quiet)


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
    from taxonomy import api

    version, opts = _edit(ctx)
    kids = [c.strip() for c in children.split(",") if c.strip()] if children else None
    res = api.create(version, level=level, name=name, parent=parent, description=description, children=kids, **opts)
    _report_change(res, as_json, quiet)


@edit_app.command("delete")
def edit_delete(
    ctx: typer.Context, node: Annotated[str, typer.Argument(help="Node to delete")],
    reassign_to: Annotated[str, typer.Option("--reassign-to", help="Node (same level) that receives its contents")],
    resummarize: ResumOpt = False, message: MessageOpt = "", author: AuthorOpt = None, branch: BranchOpt = None,
    cache_dir: CacheOpt = None, db: DbOpt = None, as_json: JsonOpt = False, quiet: QuietOpt = False,
) -> None:
    """Delete a node; everything under it moves to --reassign-to."""
    from taxonomy import api

    version, opts = _edit(ctx)
    _report_change(api.delete(version, node, reassign_to=reassign_to, **opts), as_json, quiet)


@edit_app.command("reassign")
def edit_reassign(
    ctx: typer.Context, value: Annotated[str, typer.Argument(help="Value string")],
    to: Annotated[str, typer.Option("--to", help="Level-1 node")],
    message: MessageOpt = "", author: AuthorOpt = None, branch: BranchOpt = None,
    db: DbOpt = None, as_json: JsonOpt = False, quiet: QuietOpt = False,
) -> None:
    """Move a value to another level-1 node."""
    from taxonomy import api

    version, opts = _edit(ctx)
    _report_change(api.reassign(version, value, to=to, **opts), as_json, quiet)


def apply(
    version: Annotated[int, typer.Argument(help="Base version id")],
    changes: Annotated[str, typer.Argument(help="Change-set file (YAML or JSON)")],
    message: MessageOpt = "", author: AuthorOpt = None, branch: BranchOpt = None,
    resummarize: ResumOpt = False, seed: Annotated[int, typer.Option(help="Random seed for splits")] = 0,
    cache_dir: CacheOpt = None, db: DbOpt = None, as_json: JsonOpt = False, quiet: QuietOpt = False,
) -> None:
    """Apply a batch of edits from a file, all or nothing; prints the new version id."""
    from taxonomy import api

    res = api.apply(version, changes, message=message, author=author, branch=branch, resummarize=resummarize,
                    seed=seed, cache_dir=cache_dir, db=db)
    _report_change(res, as_json, quiet)


def check(version: Annotated[int, typer.Argument(help="Version id")], db: DbOpt = None,
          as_json: JsonOpt = False) -> None:
    """Verify a version against every integrity rule (exit 1 if any is broken)."""
    from taxonomy import api

    rep = api.check(version, db=db)
    if as_json:
        emit_json(rep)
    elif rep.ok:
        out.print(f"Version {version}: OK ({rep.n_nodes} nodes, {rep.n_values} values; all integrity rules hold).")
    else:
        for v in rep.violations:
            out.print(esc(f"[{v.rule}] {v.message}"))
    if not rep.ok:
        raise typer.Exit(1)


def log(version: Annotated[Optional[int], typer.Argument(help="Show this version's ancestry")] = None,
        db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """Version lineage: who, when, message and a summary of each change-set."""
    from taxonomy import api

    rows = api.log(version, db=db)
    if as_json:
        return emit_json([r.to_dict() for r in rows])
    for r in rows:
        indent = "  " * r.depth if version is None else ""
        heads = f" ({', '.join(r.branches)})" if r.branches else ""
        parent = f" ← {r.parent_id}" if r.parent_id else ""
        out.print(f"{indent}[bold]{r.id}[/bold]{parent}{esc(heads)}  {r.created_at}  {esc(r.author or '-')}  "
                  f"{esc(r.message)}")
        if r.summary and r.summary != r.message:
            out.print(f"{indent}    {esc(r.summary)}")


def history(node: NodeArg, db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """One node across versions."""
    from taxonomy import api

    rows = api.history(node, db=db)
    if as_json:
        return emit_json([r.to_dict() for r in rows])
    t = Table()
    for col in ("version", "status", "name", "level", "parent", "values", "change"):
        t.add_column(col)
    for r in rows:
        status = r.status if not r.replaced_by else f"{r.status} → {', '.join(api.short_id(x) for x in r.replaced_by)}"
        t.add_row(str(r.version_id), status, esc(r.name or ""), str(r.level or ""),
                  api.short_id(r.parent or ""), str(r.member_count or ""), esc(r.change))
    out.print(t)


def branch(
    name: Annotated[Optional[str], typer.Argument(help="Branch to create or move")] = None,
    version: Annotated[Optional[int], typer.Argument(help="Version it points at")] = None,
    force: Annotated[bool, typer.Option("--force", help="Move an existing branch")] = False,
    db: DbOpt = None, as_json: JsonOpt = False,
) -> None:
    """List branches, or create one: taxo branch main 3."""
    from taxonomy import api

    if name is None:
        rows = api.branches(db=db)
        if as_json:
            return emit_json([r.to_dict() for r in rows])
        for r in rows:
            out.print(f"{esc(r.name)}\t{r.head_version_id}\t{r.updated_at}")
        return
    if version is None:
        raise api.UsageError("give the version the branch should point at: taxo branch NAME VERSION")
    res = api.branch(name, version, force=force, db=db)
    if as_json:
        return emit_json(res)
    out.print(f"Branch {esc(res.name)} → version {res.head_version_id}")


def diff(
    a: Annotated[int, typer.Argument(help="Old version")],
    b: Annotated[int, typer.Argument(help="New version")],
    limit: Annotated[int, typer.Option(help="Entries to list per kind")] = 20,
    db: DbOpt = None, as_json: JsonOpt = False,
) -> None:
    """What changed between two versions (any two, not only parent and child)."""
    from taxonomy import api

    d = api.diff(a, b, db=db)
    if as_json:
        return emit_json(d)
    out.print(esc(api.format_diff(d, limit=limit)))


def register(app: typer.Typer) -> None:
    """Add ``edit`` and the other curation commands to the main app."""
    app.add_typer(edit_app, name="edit")
    for command in (apply, check, log, history, branch, diff):
        app.command(command.__name__)(command)
