"""The Python API: one function per CLI command, with the same name and the same options.

>>> import taxonomy.api as tx
>>> tx.init("my.db")
>>> tx.ingest("values.csv", value_col="value", weight_col="pct_convos", db="my.db")
>>> result = tx.build(levels="266,26,5", seed=0, message="first cut", db="my.db")
>>> tx.show(result.version_id, level=3, db="my.db")
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

from sqlalchemy import Engine

from taxonomy.build import BuildResult, build
from taxonomy.db.engine import session_scope
from taxonomy.ingest import IngestResult, ingest
from taxonomy.readers import ReadOptions
from taxonomy.init import InitResult, init
from taxonomy.progress import Progress
from taxonomy.query import show, similar, versions
from taxonomy.store import get_version, read_tree

from taxonomy.changesets import (  # noqa: E402  (curation API, re-exported)
    apply,
    branch,
    branches,
    check,
    create,
    delete,
    history,
    log,
    merge,
    move,
    reassign,
    rename,
    split,
)

__all__ = [
    "apply",
    "branch",
    "branches",
    "build",
    "check",
    "compare",
    "create",
    "delete",
    "diff",
    "export",
    "history",
    "ingest",
    "ReadOptions",
    "init",
    "log",
    "merge",
    "move",
    "quickstart",
    "reassign",
    "rename",
    "show",
    "similar",
    "split",
    "versions",
]


def diff(a: int, b: int, *, db: str | Engine | None = None):
    """What changed from version ``a`` to version ``b`` (any two versions)."""
    from taxonomy.diff import diff_trees

    with session_scope(db) as session:
        ta = read_tree(session, a)
        tb = read_tree(session, b)
    return diff_trees(ta, tb)


@dataclass
class ExportResult:
    version_id: int
    format: str
    path: str | None  #: None when written to stdout
    checksum: str
    n_nodes: int
    n_values: int
    privacy: dict | None = None  #: with ``min_conversations``: the threshold and what was suppressed

    def to_dict(self) -> dict:
        return asdict(self)


def export(
    version: int,
    *,
    format: str = "values-tree-csv",  # noqa: A002 - the CLI option is --format
    out: str | Path | None = None,
    db: str | Engine | None = None,
    min_conversations: int | None = None,
) -> ExportResult:
    """Write a version to ``out`` (None or "-" = stdout) as values-tree-csv, json, parquet, skos-ttl or
    skos-jsonld. JSON, Parquet and SKOS state the version id and the content checksum. With ``min_conversations``
    K, values backed by fewer than K distinct conversations are aggregated into an "other" value per level-1 node
    (see :mod:`taxonomy.privacy`); the threshold is recorded in the manifest."""
    from taxonomy.errors import UsageError
    from taxonomy.export import EXPORT_FORMATS, export_tree
    from taxonomy.integrity import refuse_unsound

    if format not in EXPORT_FORMATS:
        raise UsageError(f"unknown export format {format!r}; choose one of: {', '.join(EXPORT_FORMATS)}")
    with session_scope(db) as session:
        v = get_version(session, version)
        tree = read_tree(session, version, aliases=format.startswith("skos"))
        refuse_unsound(session, version, tree)
        privacy = None
        if min_conversations is not None:
            from taxonomy.config import min_conversations as threshold
            from taxonomy.privacy import suppress_tree

            tree, privacy = suppress_tree(session, tree, threshold(min_conversations))
        manifest = dict(v.manifest)
        checksum = v.checksum
        created = v.created_at.isoformat() if v.created_at else None
    manifest.update({"version_id": version, "checksum": checksum, "created_at": created})
    if privacy is not None:
        manifest["privacy"] = privacy
    export_tree(tree, format, out, manifest=manifest)
    return ExportResult(
        version_id=version,
        format=format,
        path=None if out in (None, "-") else str(out),
        checksum=checksum,
        n_nodes=len(tree.nodes),
        n_values=len(tree.leaves),
        privacy=privacy,
    )


def compare(
    version: int,
    *,
    reference: str | Path,
    weights: str = "ours",
    names: bool = True,
    cache_dir: str | None = None,
    db: str | Engine | None = None,
):
    """Score a version against a reference tree in the published values_tree.csv layout: per level NMI, ARI and
    purity of each value's ancestor, unweighted and weighted; with ``names``, also the name fidelity (names
    embedded with the bundled all-MiniLM-L6-v2, through the embedding cache in ``cache_dir``)."""
    from taxonomy.compare import compare_trees
    from taxonomy.export import load_values_tree_csv

    ref = load_values_tree_csv(reference)
    with session_scope(db) as session:
        tree = read_tree(session, version)
    embed = None
    if names:
        from embeddings import Embedder

        embed = Embedder(model=None, cache_dir=cache_dir).embed
    return compare_trees(tree, ref, weights=weights, embed=embed)


def sample_path() -> Path:
    """The bundled sample: 552 values of the published Values-in-the-Wild list (CC BY 4.0; see NOTICE.md)."""
    return Path(str(resources.files("taxonomy") / "data" / "sample_values.csv"))


@dataclass
class QuickstartResult:
    init: InitResult
    ingest: IngestResult
    build: BuildResult

    def to_dict(self) -> dict:
        return {"init": self.init.to_dict(), "ingest": self.ingest.to_dict(), "build": self.build.to_dict()}


def quickstart(
    *,
    db: str | Engine | None = None,
    levels: str = "auto",
    seed: int = 0,
    cache_dir: str | None = None,
    progress: Progress | None = None,
) -> QuickstartResult:
    """init + ingest the bundled sample + build: a real taxonomy in one call.

    Running it again on the same database ingests nothing new (ingest is idempotent) and builds one more version.
    """
    i = init(db)
    g = ingest(str(sample_path()), value_col="value", weight_col="pct_convos", db=db)
    b = build(
        db=db,
        levels=levels,
        seed=seed,
        message="quickstart: bundled sample of the Values-in-the-Wild values",
        cache_dir=cache_dir,
        progress=progress,
    )
    return QuickstartResult(init=i, ingest=g, build=b)


# ------------------------------------------------------------------------------------------- report and serve
@dataclass
class ReportResult:
    version_id: int
    diff: int | None  #: the version the changes are from
    path: str  #: the report directory (open index.html)
    index: str  #: file:// URL of index.html
    n_nodes: int
    n_values: int
    n_chunks: int  #: member-list data files, loaded per node
    n_analyses: int
    data_bytes: int  #: size of data/taxo.js, loaded once
    notes: list[str]

    def to_dict(self) -> dict:
        return asdict(self)


def report(
    version: int,
    *,
    out: str | Path,
    diff: int | None = None,
    analyses: str | Path | None = None,
    neighbours: int = 5,
    model: str | None = None,
    cache_dir: str | None = None,
    db: str | Engine | None = None,
    progress: Progress | None = None,
) -> ReportResult:
    """Write a static HTML report of ``version`` into directory ``out``: the tree (sunburst and outline), node
    pages, search, the changes from version ``diff``, analyses (prevalence per level, and the PNG/SVG plots of
    directory ``analyses``) and the manifest. It opens from file:// with no network and no server."""
    from taxonomy.report.data import ReportOptions, collect
    from taxonomy.report.site import write_site

    if neighbours < 0:
        from taxonomy.errors import UsageError

        raise UsageError(f"--neighbours must be 0 or more, got {neighbours}")
    opts = ReportOptions(neighbours=neighbours, model=model, cache_dir=cache_dir)
    data = collect(version, diff=diff, analyses=analyses, options=opts, db=db, progress=progress)
    path = write_site(data, out).resolve()
    return ReportResult(
        version_id=version,
        diff=diff,
        path=str(path),
        index=(path / "index.html").as_uri(),
        n_nodes=len(data.main["nodes"]["uid"]),
        n_values=len(data.main["values"]["text"]),
        n_chunks=len(data.chunks),
        n_analyses=len(data.analyses),
        data_bytes=(path / "data" / "taxo.js").stat().st_size,
        notes=list(data.notes),
    )


def serve(
    *,
    port: int = 8765,
    host: str = "127.0.0.1",
    analyses: str | Path | None = None,
    neighbours: int = 5,
    cache_dir: str | None = None,
    db: str | Engine | None = None,
    on_ready=None,
    log=None,
) -> None:
    """Serve the report pages of every version live from the database, read-only, until Ctrl-C or SIGTERM:
    ``/v/<V>/`` (and ``/v/<V>/diff/<A>/``). ``on_ready(url)`` is called once the socket listens."""
    from taxonomy.report.data import ReportOptions, analyses_files
    from taxonomy.report.server import make_server, serve_forever

    analyses_files(analyses)  # a missing directory is refused before listening
    server = make_server(port=port, host=host, analyses=analyses, db=db, log=log,
                         options=ReportOptions(neighbours=neighbours, cache_dir=cache_dir))
    if on_ready is not None:
        on_ready(f"http://{host}:{server.server_address[1]}/")
    serve_forever(server)


__all__ += ["report", "serve"]

# --------------------------------------------------------------------------------- a living taxonomy (new data)
from taxonomy.assign import AssignResult, assign  # noqa: E402,F401
from taxonomy.drift import DriftResult, drift  # noqa: E402,F401
from taxonomy.novelty import NoveltyQueue, novelty, novelty_accept, novelty_place  # noqa: E402,F401

__all__ += ["assign", "drift", "novelty", "novelty_accept", "novelty_place"]
# ------------------------------------------------------------------------------------------------------- analyze
def analyze(
    version: int,
    analysis: str,
    *,
    db: str | Engine | None = None,
    level: int | None = None,
    role: str | None = None,
    by: str | None = None,
    a: str | None = None,
    b: str | None = None,
    top: int = 10,
    min_conversations: int | None = None,
    bootstrap: int = 500,
    seed: int = 0,
    confidence: float = 0.95,
    alpha: float = 0.05,
    correction: str = "fdr_bh",
    drop_empty: bool = False,
    csv_dir: str | Path | None = None,
    plot_dir: str | Path | None = None,
):
    """Run one of the study's analyses (``prevalence``, ``context``, ``consistency``, ``responses``, ``pairs``,
    ``compare``) on a version's extraction records; see the README section "Analyze". Nothing backed by fewer than
    ``min_conversations`` distinct conversations (default: :func:`taxonomy.config.min_conversations`) is reported.
    ``level`` defaults to the top level; ``by`` is required by context, consistency and compare (``a``, ``b``: the
    two slice values). Writes tidy CSVs to ``csv_dir`` and PNG/SVG figures to ``plot_dir`` when given."""
    from taxonomy.analyze import ANALYSES
    from taxonomy.analyze.common import open_scope
    from taxonomy.config import min_conversations as threshold
    from taxonomy.errors import UsageError

    if analysis not in ANALYSES:
        raise UsageError(f"unknown analysis {analysis!r}; choose one of: {', '.join(ANALYSES)}")
    k = threshold(min_conversations)
    if top < 1:
        raise UsageError(f"--top must be at least 1, got {top}")
    if analysis in ("context", "consistency", "compare") and not by:
        raise UsageError(f"{analysis} needs --by COLUMN (e.g. --by task)")
    if analysis == "compare" and (a is None or b is None):
        raise UsageError("compare needs --a VALUE and --b VALUE: the two slices to compare")
    from taxonomy.analyze.output import output_dir

    for path, opt in ((csv_dir, "--csv"), (plot_dir, "--plot")):
        if path is not None:
            output_dir(path, opt)
    with session_scope(db) as session:
        scope = open_scope(session, version, level=level, role=role, k=k)
        if analysis == "prevalence":
            from taxonomy.analyze.prevalence import prevalence as run

            res = run(session, scope, by=by, bootstrap=bootstrap, seed=seed, confidence=confidence)
        elif analysis == "context":
            from taxonomy.analyze.context import context as run

            res = run(session, scope, by=by, top=top, drop_empty=drop_empty)
        elif analysis == "consistency":
            from taxonomy.analyze.consistency import consistency as run

            res = run(session, scope, by=by, top=top)
        elif analysis == "responses":
            from taxonomy.analyze.responses import responses as run

            res = run(session, scope, top=top, confidence=confidence, drop_empty=drop_empty)
        elif analysis == "pairs":
            from taxonomy.analyze.pairs import pairs as run

            res = run(session, scope, top=top)
        else:
            from taxonomy.analyze.compare import compare as run

            res = run(session, scope, by=by, a=a, b=b, top=top, alpha=alpha, correction=correction,
                      confidence=confidence)
    if csv_dir is not None:
        from taxonomy.analyze.output import write_csv

        res.files += write_csv(res, csv_dir)
    if plot_dir is not None:
        from taxonomy.analyze.plots import plot

        res.files += plot(res, plot_dir)
    return res
