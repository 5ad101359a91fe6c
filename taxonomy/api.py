"""The Python API: one function per `taxo` command, with the command's name and options.

``taxo NAME`` is ``NAME`` here (``init``, ``build``, ``show``, ``apply``, ``log``, ``resummarize``, ``assign``, ...);
a command of a group, ``taxo GROUP SUB``, is ``GROUP_SUB``: ``review_push``, ``review_status``, ``review_pull``,
``validate_plan``, ``validate_sample``, ``validate_push``, ``validate_pull``, ``validate_report``. Two groups take
the version first and name the function by what follows: ``taxo edit V OP`` is ``OP(V, ...)`` (``rename``,
``merge``, ``move``, ``split``, ``create``, ``delete``, ``reassign``) and ``taxo analyze V ANALYSIS`` is
``analyze(V, ANALYSIS, ...)``. Where one command does two things the second has its own function: ``branches``
(`taxo branch` without a name), ``review_batches`` (`taxo review status` without a batch), ``novelty_accept`` and
``novelty_place`` (`taxo novelty V accept|place`). The language-model options of ``build`` and ``resummarize`` are
one :class:`LLMOptions`. The review and validation functions (package :mod:`review`) are loaded on first use.

>>> import taxonomy.api as tx
>>> tx.init("my.db")
>>> tx.ingest("values.csv", value_col="value", weight_col="pct_convos", db="my.db")
>>> result = tx.build(levels="266,26,5", seed=0, message="first cut", db="my.db")
>>> tx.show(result.version_id, level=3, db="my.db")
"""

from __future__ import annotations

import importlib
from dataclasses import asdict, dataclass, replace
from importlib import resources
from pathlib import Path

from sqlalchemy import Engine

from taxonomy.db.engine import session_scope
from taxonomy.errors import TaxoError, UsageError
from taxonomy.store import get_version, read_tree

#: The functions and classes of the other modules, each imported on first use (``api.show`` does not load the
#: build pipeline, numpy or the language-model client): name -> (module, attribute).
_LAZY = {
    **{n: ("taxonomy.build", n) for n in ("BuildResult", "build")},
    **{n: ("taxonomy.changesets", n)
       for n in ("apply", "create", "delete", "load_groups", "merge", "move", "reassign", "rename", "split")},
    "check": ("taxonomy.integrity", "check"),
    "format_diff": ("taxonomy.diff", "format_diff"),
    "ExportResult": ("taxonomy.export.base", "ExportResult"),
    **{n: ("taxonomy.ingest", n) for n in ("IngestResult", "ingest")},
    "ReadOptions": ("taxonomy.readers", "ReadOptions"),
    **{n: ("taxonomy.init", n) for n in ("InitResult", "init")},
    **{n: ("taxonomy.lineage", n) for n in ("branch", "branches", "history", "log")},
    "LLMOptions": ("taxonomy.llm.options", "LLMOptions"),
    "format_stats": ("taxonomy.llm.service", "format_stats"),
    "Progress": ("taxonomy.progress", "Progress"),
    **{n: ("taxonomy.query", n) for n in ("NodeDetail", "short_id", "show", "similar", "versions")},
    "resummarize": ("taxonomy.resummarize", "resummarize"),
    **{n: ("taxonomy.assign", n) for n in ("AssignResult", "assign")},
    **{n: ("taxonomy.drift", n) for n in ("DriftResult", "drift")},
    **{n: ("taxonomy.novelty", n) for n in ("NoveltyQueue", "novelty", "novelty_accept", "novelty_place")},
}

__all__ = [
    "LLMOptions",
    "NodeDetail",
    "TaxoError",
    "UsageError",
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
    "format_comparison",
    "format_diff",
    "format_stats",
    "history",
    "ingest",
    "ReadOptions",
    "init",
    "load_groups",
    "log",
    "merge",
    "methods",
    "move",
    "quickstart",
    "reassign",
    "rename",
    "resummarize",
    "short_id",
    "show",
    "similar",
    "split",
    "versions",
]


def methods() -> dict:
    """The clustering methods and summarizers: ``{"methods": [...], "summarizers": [...]}``, each a list of
    ``{"name", "default", "doc"}`` (the first line of the class's docstring)."""
    from taxonomy.cluster import DEFAULT_METHOD, METHODS
    from taxonomy.summarize import DEFAULT_SUMMARIZER, SUMMARIZERS

    def rows(classes: dict, default: str) -> list[dict]:
        return [{"name": n, "default": n == default, "doc": (c.__doc__ or "").strip().split("\n")[0]}
                for n, c in classes.items()]

    return {"methods": rows(METHODS, DEFAULT_METHOD), "summarizers": rows(SUMMARIZERS, DEFAULT_SUMMARIZER)}


def diff(a: int, b: int, *, db: str | Engine | None = None):
    """What changed from version ``a`` to version ``b`` (any two versions)."""
    from taxonomy.diff import diff_trees

    with session_scope(db) as session:
        ta = read_tree(session, a)
        tb = read_tree(session, b)
    return diff_trees(ta, tb)


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
    written = export_tree(tree, format, out, manifest=manifest)
    return replace(written, version_id=version, checksum=checksum, privacy=privacy)


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
    from taxonomy.reference import load_values_tree_csv

    ref = load_values_tree_csv(reference)
    with session_scope(db) as session:
        tree = read_tree(session, version)
    embed = None
    if names:
        from embeddings import Embedder

        embed = Embedder(model=None, cache_dir=cache_dir).embed
    return compare_trees(tree, ref, weights=weights, embed=embed)


def format_comparison(result) -> str:
    """The text `taxo compare` prints for a :func:`compare` result."""
    from taxonomy.compare import format_comparison as text

    return text(result)


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
    from taxonomy.build import build
    from taxonomy.ingest import ingest
    from taxonomy.init import init

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
__all__ += ["assign", "drift", "novelty", "novelty_accept", "novelty_place"]  # (in _LAZY)
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


__all__ += ["analyze", "sample_path"]


# ------------------------------------------------------------------------------------- review and validation
def review_push(version: int, *, novelty: bool = False, **options):
    """Create a Label Studio project with one task per node of ``version``: :func:`review.api.push` with its
    ``options`` (level, nodes, limit, url, new_batch, annotators, members, suggestions, cache_dir, db). With
    ``novelty``, one task per group of the version's novelty queue (:func:`review.novelty.push_novelty`: url,
    annotators and db apply)."""
    if not novelty:
        from review.api import push

        return push(version, **options)
    if options.get("level") is not None or options.get("nodes") or options.get("limit") is not None or \
            options.get("new_batch"):
        raise UsageError("--novelty pushes the version's novelty queue; --level, --nodes, --limit and "
                         "--new-batch do not apply")
    from review.novelty import push_novelty

    return push_novelty(version, url=options.get("url"), annotators=options.get("annotators", 1),
                        db=options.get("db"))


#: The functions of package :mod:`review`, loaded when first used (it is not needed to build or curate).
_REVIEW = {
    "review_batches": ("review.api", "batches"),
    "review_status": ("review.api", "status"),
    "review_pull": ("review.api", "pull"),
    "validate_plan": ("review.validation", "plan"),
    "validate_sample": ("review.validation", "sample"),
    "validate_report": ("review.validation", "report"),
    "validate_push": ("review.validation.labelstudio", "push"),
    "validate_pull": ("review.validation.labelstudio", "pull"),
}
__all__ += ["review_push", *_REVIEW]


def __getattr__(name: str):
    where = _LAZY.get(name) or _REVIEW.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, attr = where
    value = globals()[name] = getattr(importlib.import_module(module), attr)
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | set(_REVIEW))
