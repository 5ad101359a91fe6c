"""Export of a taxonomy version to files: one writer per format, each a module of this package that reads the
domain (:mod:`taxonomy.domain`, :mod:`taxonomy.tree`) and nothing else.

Formats (:data:`EXPORT_FORMATS`), each written by one small function registered in :data:`FORMATS`:

``values-tree-csv``
    The published Values-in-the-Wild ``values_tree.csv`` layout (:mod:`taxonomy.export.values_csv`; it reads back
    with :func:`taxonomy.reference.load_values_tree_csv`).
``json``
    One nested document with version, checksum and manifest (:mod:`taxonomy.export.json_doc`).
``parquet``
    One row per value with its ancestors' ids and names; version and checksum in the schema metadata
    (:mod:`taxonomy.export.parquet`).
``skos-ttl``, ``skos-jsonld``
    A SKOS concept scheme in Turtle or JSON-LD (:mod:`taxonomy.export.skos`, streamed by
    :mod:`taxonomy.export.skos_turtle` and :mod:`taxonomy.export.skos_jsonld`; read back by
    :func:`taxonomy.export.skos_reader.read_skos`).

Files are written to a temporary file in the target directory and renamed into place, so a failed export
never leaves a half-written file. ``out=None`` or ``"-"`` writes text formats to standard output.
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from taxonomy.domain import Tree
from taxonomy.errors import TaxoError, UsageError
from taxonomy.export.base import ExportContext, ExportFormat, ExportResult
from taxonomy.export.json_doc import write_json
from taxonomy.export.parquet import write_parquet
from taxonomy.export.skos_jsonld import write_skos_jsonld
from taxonomy.export.skos_turtle import write_skos_turtle
from taxonomy.export.values_csv import write_values_tree_csv
from taxonomy.gcpause import without_gc
from taxonomy.integrity import check_structure
from taxonomy.tree import content_checksum

__all__ = ["EXPORT_FORMATS", "FORMATS", "ExportContext", "ExportFormat", "ExportResult", "export_tree"]

#: Registry of export formats; add a writer function and an entry here for a new format.
FORMATS: dict[str, ExportFormat] = {
    "values-tree-csv": ExportFormat("values-tree-csv", write_values_tree_csv, False, ".csv",
                                    "the published Values-in-the-Wild values_tree.csv layout"),
    "json": ExportFormat("json", write_json, False, ".json", "nested JSON with version, checksum and manifest"),
    "parquet": ExportFormat("parquet", write_parquet, True, ".parquet",
                            "one row per value with its ancestors; version and checksum in the schema metadata"),
    "skos-ttl": ExportFormat("skos-ttl", write_skos_turtle, False, ".ttl",
                             "SKOS concept scheme in Turtle (nodes, values and retired nodes as concepts)"),
    "skos-jsonld": ExportFormat("skos-jsonld", write_skos_jsonld, False, ".jsonld",
                                "SKOS concept scheme in JSON-LD (same graph as skos-ttl)"),
}

#: Names of the export formats.
EXPORT_FORMATS: tuple[str, ...] = tuple(FORMATS)


def _result(tree: Tree, fmt: str, path: str | None, rows: int, ctx: ExportContext) -> ExportResult:
    return ExportResult(version_id=ctx.version, format=fmt, path=path, checksum=ctx.checksum,
                        n_nodes=len(tree.nodes), n_values=len(tree.leaves), rows=rows)


def _default_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@without_gc  # the writers make ~10^6 short-lived objects without cycles: no collector passes over the tree
def export_tree(
    tree: Tree, fmt: str, out: str | Path | None, *, manifest: dict[str, Any] | None = None
) -> ExportResult:
    """Write ``tree`` in format ``fmt`` (one of :data:`EXPORT_FORMATS`) to ``out``.

    ``out`` None or ``"-"``: standard output (text formats only; Parquet there is a :class:`UsageError`).
    Otherwise the file is written to a temporary file in the same directory and renamed over ``out``, so an
    error leaves no partial file. The version id is ``tree.version_id``; the checksum is
    :func:`~taxonomy.tree.content_checksum`; ``manifest`` is included where the format allows (JSON, Parquet,
    SKOS). The result's ``rows`` is what the writer reports (rows, records or concepts).
    """
    spec = FORMATS.get(fmt)
    if spec is None:
        raise UsageError(f"unknown export format {fmt!r}; choose one of: {', '.join(EXPORT_FORMATS)}")
    check_structure(tree)
    ctx = ExportContext(version=tree.version_id, checksum=content_checksum(tree), manifest=dict(manifest or {}))
    to_stdout = out is None or str(out) == "-"
    if to_stdout:
        if spec.binary:
            raise UsageError(f"the {fmt} format is binary and cannot be written to standard output: give a file")
        buf = io.BytesIO()
        rows = spec.writer(tree, buf, ctx)
        data = buf.getvalue()
        sys.stdout.flush()
        stream = getattr(sys.stdout, "buffer", None)
        if stream is not None:
            stream.write(data)
            stream.flush()
        else:
            sys.stdout.write(data.decode("utf-8"))
            sys.stdout.flush()
        return _result(tree, fmt, None, rows, ctx)

    target = Path(out)  # type: ignore[arg-type]
    if target.is_dir():
        raise UsageError(f"{target} is a directory: give a file name")
    directory = target.parent if str(target.parent) else Path(".")
    if not directory.is_dir():
        raise UsageError(f"directory {directory} does not exist")
    if target.exists() and not os.access(target, os.W_OK):
        raise TaxoError(f"cannot write {target}: permission denied (nothing was written)")
    try:
        fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        raise TaxoError(
            f"cannot write {target}: cannot create a file in {directory} ({exc.strerror or exc}); nothing was written"
        ) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            rows = spec.writer(tree, fh, ctx)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp_name, _default_mode())
        os.replace(tmp_name, target)
    except BaseException as exc:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError):
            raise TaxoError(f"cannot write {target}: {exc.strerror or exc} (nothing was written)") from None
        raise
    return _result(tree, fmt, str(out), rows, ctx)
