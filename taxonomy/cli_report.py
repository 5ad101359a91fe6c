"""`taxo report` (a static HTML browser of a version) and `taxo serve` (the same pages live): thin layers over
:func:`taxonomy.api.report` and :func:`taxonomy.api.serve`."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from taxonomy.cli_common import CacheOpt, DbOpt, JsonOpt, QuietOpt, emit_json, err, esc, out, progress

AnalysesOpt = Annotated[
    Optional[str],
    typer.Option("--analyses", help="Folder of analysis plots (PNG/SVG) to show on the Analyses page"),
]
NeighboursOpt = Annotated[
    int, typer.Option("--neighbours", help="Nearest other nodes listed per node (0: none; needs the embeddings)")
]


def report(
    version: Annotated[int, typer.Argument(help="Version to show")],
    out_dir: Annotated[str, typer.Option("-o", "--out", help="Directory to write the site into")],
    diff: Annotated[Optional[int], typer.Option("--diff", help="Mark the changes from this version")] = None,
    analyses: AnalysesOpt = None,
    neighbours: NeighboursOpt = 5,
    open_: Annotated[bool, typer.Option("--open", help="Open the report in the default browser")] = False,
    cache_dir: CacheOpt = None, db: DbOpt = None, as_json: JsonOpt = False, quiet: QuietOpt = False,
) -> None:
    """Write a static HTML report of a version that opens from file:// with no network and no server.

    Pages: the tree, one per node, search, changes (--diff), analyses, the manifest."""
    from taxonomy import api

    with progress(quiet, as_json) as bar:
        res = api.report(version, out=out_dir, diff=diff, analyses=analyses, neighbours=neighbours,
                         cache_dir=cache_dir, db=db, progress=bar)
    opened = None
    if open_:
        import webbrowser

        opened = webbrowser.open(res.index)
        if not opened:
            err.print(f"Could not start a web browser here; open {esc(res.index)}")
    if as_json:
        return emit_json(res)
    if quiet:
        print(res.path)
        return
    what = f"version {res.version_id}" + (f", changes from version {res.diff}" if res.diff is not None else "")
    out.print(
        f"Report of {what}: {res.n_nodes} nodes, {res.n_values} values, {res.n_analyses} analysis plots -> "
        f"{esc(res.path)}"
    )
    for note in res.notes:
        out.print(f"Note: {esc(note)}")
    out.print(f"Open {esc(res.index)}")


def serve(
    port: Annotated[int, typer.Option("--port", help="Port on 127.0.0.1 (0: any free port)")] = 8765,
    analyses: AnalysesOpt = None,
    neighbours: NeighboursOpt = 5,
    cache_dir: CacheOpt = None, db: DbOpt = None, quiet: QuietOpt = False,
) -> None:
    """Serve the report pages of every version live from the database, read-only, on 127.0.0.1 (Ctrl-C stops)."""
    import sys

    from taxonomy import api

    def ready(url: str) -> None:
        # the URL goes to stdout, flushed, so that scripts can wait for it
        print(f"Serving {url} (read-only; Ctrl-C to stop)", flush=True)

    def log(line: str) -> None:
        if not quiet:
            err.print(esc(line))

    api.serve(port=port, analyses=analyses, neighbours=neighbours, cache_dir=cache_dir, db=db, on_ready=ready,
           log=log)
    print("Stopped.", flush=True)
    sys.stdout.flush()


def register(app: typer.Typer) -> None:
    app.command("report")(report)
    app.command("serve")(serve)
