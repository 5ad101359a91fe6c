"""Export of a taxonomy version to files, and the loader for the published ``values_tree.csv`` layout.

Formats (:data:`EXPORT_FORMATS`), each written by one small function registered in :data:`FORMATS`:

``values-tree-csv``
    Exactly the columns of the published Values-in-the-Wild file, in its order:
    ``cluster_id,description,name,level,parent_cluster_id,pct_total_occurrences``.

    * Level-0 rows are the values: ``cluster_id`` = ``name`` = the value text, empty description, parent = the
      level-1 node. Their ``pct_total_occurrences`` is ``100 * weight / total leaf weight``.
    * Rows at levels >= 1 are the cluster nodes, with their stored ``pct_total_occurrences``; the top level
      has an empty ``parent_cluster_id``.
    * Row order (stable, as in the published file): level-0 rows sorted by (parent id, value text), then the
      nodes of level 1, 2, ... each sorted by (parent id, node id).
    * ``pct_total_occurrences`` is rounded to 3 decimals and written in the shortest form (``0.01``,
      ``4.319``), like the published file. Round-tripping therefore keeps percentages to 3 decimals, not the
      raw weights.
    * CRLF line endings (the csv module's default, as published) but, unlike the published file, with a final
      line ending. The version id and checksum are *not* written: the published columns stay exact.

``json``
    One nested document: ``{"version", "checksum", "manifest", "levels", "roots": [node, ...]}``. A node is
    ``{id, name, description, level, member_count, weight, pct_total_occurrences}`` plus ``children`` (nodes
    of the level below) or, at level 1, ``values``: ``[{value, weight, pct_total_occurrences}]``. Children are
    sorted by id, values by text; numbers are written at full precision; the manifest's keys are sorted.

``parquet``
    One row per value: ``value, weight, pct_total_occurrences, l1_id, l1_name, ..., lN_id, lN_name`` (N = the
    tree's depth), rows sorted by value text. The Parquet schema metadata key ``b"taxo"`` holds a JSON object
    ``{"format", "version", "checksum", "levels", "manifest"}``.

Files are written to a temporary file in the target directory and renamed into place, so a failed export
never leaves a half-written file. ``out=None`` or ``"-"`` writes text formats to standard output.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO

from taxonomy.domain import Leaf, Node, Tree
from taxonomy.errors import InputError, TaxoError, UsageError
from taxonomy.skos import write_skos_jsonld, write_skos_turtle

#: Columns of the published ``values_tree.csv``, in order.
VALUES_TREE_COLUMNS: tuple[str, ...] = (
    "cluster_id",
    "description",
    "name",
    "level",
    "parent_cluster_id",
    "pct_total_occurrences",
)

#: Decimals of ``pct_total_occurrences`` in the values-tree CSV (as published).
CSV_PCT_DECIMALS = 3

#: Key of the Parquet schema metadata entry that carries version id, checksum and manifest.
PARQUET_METADATA_KEY = b"taxo"

_CHECKSUM_SCHEME = "taxo-tree-v1"


# --------------------------------------------------------------------------------------------------------------
# Checksum and small helpers
# --------------------------------------------------------------------------------------------------------------


def _float_key(x: float) -> str:
    """Canonical text of a float: shortest round-trip repr, with -0.0 folded into 0.0."""
    return repr(float(x) + 0.0)


def content_checksum(tree: Tree) -> str:
    """SHA-256 (hex) of a canonical serialisation of the tree's content, independent of row/list order.

    Covered: every node's ``uid, level, name, description, parent_uid`` and every leaf's
    ``text, parent_uid, weight, count``. Not covered: the version id, ``value_id`` (database ids) and the
    node statistics ``member_count, weight, pct_total_occurrences``, which are derived from the leaves (and
    whose last bits depend on summation order).
    """
    nodes = sorted(
        [n.uid, int(n.level), n.name, n.description, n.parent_uid or ""] for n in tree.nodes.values()
    )
    leaves = sorted([lf.text, lf.parent_uid, _float_key(lf.weight), int(lf.count)] for lf in tree.leaves)
    payload = json.dumps(
        {"scheme": _CHECKSUM_SCHEME, "nodes": nodes, "leaves": leaves},
        ensure_ascii=False,
        separators=(",", ":"),
        allow_nan=True,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def total_leaf_weight(tree: Tree) -> float:
    return math.fsum(lf.weight for lf in tree.leaves)


def leaf_pct(weight: float, total: float) -> float:
    """``100 * weight / total`` (0 when the total is 0)."""
    return 100.0 * weight / total if total > 0 else 0.0


def recompute_stats(tree: Tree) -> Tree:
    """A copy of ``tree`` whose nodes' ``member_count``, ``weight`` and ``pct_total_occurrences`` are computed
    from the leaves (values under the node; weight sum; 100 * weight / total leaf weight). Pure."""
    check_tree(tree)
    counts = {uid: 0 for uid in tree.nodes}
    weights = {uid: 0.0 for uid in tree.nodes}
    for leaf in tree.leaves:
        uid: str | None = leaf.parent_uid
        while uid is not None:
            counts[uid] += 1
            weights[uid] += leaf.weight
            uid = tree.nodes[uid].parent_uid
    total = total_leaf_weight(tree)
    nodes = {
        uid: replace(n, member_count=counts[uid], weight=weights[uid], pct_total_occurrences=leaf_pct(weights[uid], total))
        for uid, n in tree.nodes.items()
    }
    return Tree(
        nodes=nodes,
        leaves=[replace(lf) for lf in tree.leaves],
        version_id=tree.version_id,
        tombstones=dict(tree.tombstones),
    )


def check_tree(tree: Tree) -> None:
    """Raise :class:`TaxoError` unless the tree is consistent: every node's parent exists one level up (none at
    the top level), every leaf hangs under a level-1 node, leaf texts are unique."""
    depth = tree.depth
    for uid, n in tree.nodes.items():
        if n.uid != uid:
            raise TaxoError(f"tree is inconsistent: node keyed {uid!r} has uid {n.uid!r}")
        if n.level < 1:
            raise TaxoError(f"tree is inconsistent: node {uid!r} has level {n.level} (cluster levels start at 1)")
        if n.parent_uid is None:
            if n.level != depth:
                raise TaxoError(f"tree is inconsistent: node {uid!r} at level {n.level} has no parent")
            continue
        parent = tree.nodes.get(n.parent_uid)
        if parent is None:
            raise TaxoError(f"tree is inconsistent: node {uid!r} has unknown parent {n.parent_uid!r}")
        if parent.level != n.level + 1:
            raise TaxoError(
                f"tree is inconsistent: node {uid!r} (level {n.level}) has parent {parent.uid!r} at level "
                f"{parent.level}, expected level {n.level + 1}"
            )
    seen: set[str] = set()
    for leaf in tree.leaves:
        parent = tree.nodes.get(leaf.parent_uid)
        if parent is None or parent.level != 1:
            raise TaxoError(f"tree is inconsistent: value {leaf.text!r} is not under a level-1 node ({leaf.parent_uid!r})")
        if leaf.text in seen:
            raise TaxoError(f"tree is inconsistent: value {leaf.text!r} appears twice")
        seen.add(leaf.text)


def _json_safe(obj: Any) -> Any:
    """``obj`` as plain JSON data with sorted keys (non-JSON values become strings)."""
    return json.loads(json.dumps(obj, sort_keys=True, default=str, ensure_ascii=False))


def _fmt_pct(x: float) -> str:
    return repr(round(float(x), CSV_PCT_DECIMALS) + 0.0)


# --------------------------------------------------------------------------------------------------------------
# Loader for the published layout
# --------------------------------------------------------------------------------------------------------------


@dataclass
class _Row:
    line: int
    cluster_id: str
    description: str
    name: str
    level: int
    parent: str
    pct: float


def load_values_tree_csv(path: str | Path) -> Tree:
    """Load a ``values_tree.csv`` (the published Values-in-the-Wild layout, or our ``values-tree-csv`` export).

    The header must hold exactly :data:`VALUES_TREE_COLUMNS` (any order). Checks, each reported as an
    :class:`InputError` naming the file and the line (1-based, as an editor shows it; for a quoted field that
    spans lines, the line where the record starts): integer level >= 0, numeric ``pct_total_occurrences``, no
    duplicate ``cluster_id`` (among values, and among cluster nodes of any level), every parent exists and is
    exactly one level up (which also rules out cycles), every level-0 row has a level-1 parent, only the top
    level has an empty parent.

    Leaves: ``text`` = the level-0 ``cluster_id`` (as written, not normalised), ``weight`` = its
    ``pct_total_occurrences``, ``count`` = 0. Nodes: ``pct_total_occurrences`` as in the file;
    ``member_count`` and ``weight`` computed from the leaves under them. ``version_id`` is None.
    """
    p = Path(path)
    try:
        fh = open(p, encoding="utf-8-sig", newline="")
    except FileNotFoundError:
        raise InputError(str(p), "file not found") from None
    except OSError as exc:
        raise InputError(str(p), f"cannot read the file: {exc.strerror or exc}") from None
    with fh:
        try:
            rows = _read_rows(p, fh)
        except UnicodeDecodeError as exc:
            raise InputError(str(p), f"not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
        except csv.Error as exc:
            raise InputError(str(p), f"malformed CSV: {exc}") from None
    return _build_tree(p, rows)


def _read_rows(p: Path, fh: io.TextIOBase) -> list[_Row]:
    reader = csv.reader(fh)
    try:
        header = next(reader)
    except StopIteration:
        raise InputError(str(p), "the file is empty (expected a header: " + ",".join(VALUES_TREE_COLUMNS) + ")") from None
    header = [h.strip() for h in header]
    missing = [c for c in VALUES_TREE_COLUMNS if c not in header]
    extra = [h for h in header if h not in VALUES_TREE_COLUMNS]
    dup = sorted({h for h in header if header.count(h) > 1})
    if missing or extra or dup:
        parts = []
        if missing:
            parts.append("missing column(s) " + ", ".join(missing))
        if extra:
            parts.append("unexpected column(s) " + ", ".join(repr(e) for e in extra))
        if dup:
            parts.append("repeated column(s) " + ", ".join(dup))
        raise InputError(
            str(p), "; ".join(parts) + " (expected exactly: " + ",".join(VALUES_TREE_COLUMNS) + ")", line=1
        )
    idx = {c: header.index(c) for c in VALUES_TREE_COLUMNS}
    rows: list[_Row] = []
    prev_end = reader.line_num
    for rec in reader:
        line = prev_end + 1
        prev_end = reader.line_num
        if not rec or (len(rec) == 1 and not rec[0].strip()):
            continue  # blank line
        if len(rec) != len(header):
            raise InputError(str(p), f"expected {len(header)} fields, found {len(rec)}", line=line)
        cid = rec[idx["cluster_id"]]
        if not cid.strip():
            raise InputError(str(p), "empty cluster_id", line=line, field="cluster_id")
        level_s = rec[idx["level"]].strip()
        try:
            level = int(level_s)
        except ValueError:
            raise InputError(str(p), f"level must be an integer, found {level_s!r}", line=line, field="level") from None
        if level < 0:
            raise InputError(str(p), f"level must be >= 0, found {level}", line=line, field="level")
        pct_s = rec[idx["pct_total_occurrences"]].strip()
        try:
            pct = float(pct_s)
        except ValueError:
            raise InputError(
                str(p), f"pct_total_occurrences must be a number, found {pct_s!r}", line=line,
                field="pct_total_occurrences",
            ) from None
        if not math.isfinite(pct) or pct < 0:
            raise InputError(
                str(p), f"pct_total_occurrences must be a finite number >= 0, found {pct_s!r}", line=line,
                field="pct_total_occurrences",
            )
        rows.append(
            _Row(line, cid, rec[idx["description"]], rec[idx["name"]], level, rec[idx["parent_cluster_id"]].strip(), pct)
        )
    return rows


def _build_tree(p: Path, rows: list[_Row]) -> Tree:
    values = [r for r in rows if r.level == 0]
    clusters = [r for r in rows if r.level > 0]
    if not values:
        raise InputError(str(p), "no level-0 rows (values)")
    if not clusters:
        raise InputError(str(p), "no cluster rows (level >= 1)")
    depth = max(r.level for r in clusters)
    present = {r.level for r in clusters}
    gaps = [lv for lv in range(1, depth + 1) if lv not in present]
    if gaps:
        raise InputError(str(p), f"no rows at level(s) {', '.join(map(str, gaps))} (levels must run 0..{depth})")

    by_id: dict[str, _Row] = {}
    for r in clusters:
        first = by_id.get(r.cluster_id)
        if first is not None:
            same = "at the same level" if first.level == r.level else f"first at level {first.level}"
            raise InputError(
                str(p), f"duplicate cluster_id {r.cluster_id!r} ({same}; first on line {first.line})",
                line=r.line, field="cluster_id",
            )
        by_id[r.cluster_id] = r
    seen_values: dict[str, _Row] = {}
    for r in values:
        first = seen_values.get(r.cluster_id)
        if first is not None:
            raise InputError(
                str(p), f"duplicate cluster_id {r.cluster_id!r} at level 0 (first on line {first.line})",
                line=r.line, field="cluster_id",
            )
        seen_values[r.cluster_id] = r

    for r in rows:
        if not r.parent:
            if r.level == 0:
                raise InputError(str(p), f"value {r.cluster_id!r} (level 0) has no level-1 parent", line=r.line,
                                 field="parent_cluster_id")
            if r.level != depth:
                raise InputError(
                    str(p), f"cluster {r.cluster_id!r} at level {r.level} has no parent (only the top level, "
                    f"{depth}, may have an empty parent_cluster_id)", line=r.line, field="parent_cluster_id",
                )
            continue
        parent = by_id.get(r.parent)
        if parent is None:
            raise InputError(str(p), f"unknown parent {r.parent!r} of {r.cluster_id!r}", line=r.line,
                             field="parent_cluster_id")
        if parent.level != r.level + 1:
            raise InputError(
                str(p), f"parent {r.parent!r} of {r.cluster_id!r} (level {r.level}) is at level {parent.level} "
                f"(line {parent.line}); expected level {r.level + 1}", line=r.line, field="parent_cluster_id",
            )

    leaves = [Leaf(text=r.cluster_id, parent_uid=r.parent, weight=r.pct) for r in values]
    nodes = {
        r.cluster_id: Node(
            uid=r.cluster_id, level=r.level, name=r.name, description=r.description,
            parent_uid=r.parent or None, pct_total_occurrences=r.pct,
        )
        for r in clusters
    }
    counts = {uid: 0 for uid in nodes}
    sums = {uid: 0.0 for uid in nodes}
    for leaf in leaves:
        uid: str | None = leaf.parent_uid
        while uid is not None:
            counts[uid] += 1
            sums[uid] += leaf.weight
            uid = nodes[uid].parent_uid
    for uid, n in nodes.items():
        n.member_count = counts[uid]
        n.weight = sums[uid]
    return Tree(nodes=nodes, leaves=leaves, version_id=None)


# --------------------------------------------------------------------------------------------------------------
# Format writers (one function each) and registry
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportContext:
    """What every writer may state besides the tree itself."""

    version: int | None
    checksum: str
    manifest: dict[str, Any] = field(default_factory=dict)


Writer = Callable[[Tree, BinaryIO, ExportContext], int]


@dataclass(frozen=True)
class ExportFormat:
    name: str
    writer: Writer  #: writes the tree to a binary stream, returns the number of rows/records written
    binary: bool  #: binary formats cannot go to standard output
    suffix: str
    description: str


def _sorted_nodes(tree: Tree, level: int) -> list[Node]:
    return sorted(tree.nodes_at(level), key=lambda n: (n.parent_uid or "", n.uid))


def write_values_tree_csv(tree: Tree, fh: BinaryIO, ctx: ExportContext) -> int:
    """The published ``values_tree.csv`` layout (see the module docstring for order and rounding)."""
    text = io.TextIOWrapper(fh, encoding="utf-8", newline="", write_through=True)
    try:
        w = csv.writer(text, lineterminator="\r\n")
        w.writerow(VALUES_TREE_COLUMNS)
        total = total_leaf_weight(tree)
        n = 0
        for leaf in sorted(tree.leaves, key=lambda lf: (lf.parent_uid, lf.text)):
            w.writerow([leaf.text, "", leaf.text, 0, leaf.parent_uid, _fmt_pct(leaf_pct(leaf.weight, total))])
            n += 1
        for level in range(1, tree.depth + 1):
            for node in _sorted_nodes(tree, level):
                w.writerow([node.uid, node.description, node.name, level, node.parent_uid or "",
                            _fmt_pct(node.pct_total_occurrences)])
                n += 1
        text.flush()
    finally:
        text.detach()  # leave ``fh`` open for the caller
    return n


def tree_to_json_dict(tree: Tree, ctx: ExportContext) -> dict[str, Any]:
    """The nested document written by the ``json`` format."""
    total = total_leaf_weight(tree)
    children: dict[str | None, list[Node]] = {}
    for node in sorted(tree.nodes.values(), key=lambda n: n.uid):
        children.setdefault(node.parent_uid, []).append(node)
    values: dict[str, list[Leaf]] = {}
    for leaf in sorted(tree.leaves, key=lambda lf: lf.text):
        values.setdefault(leaf.parent_uid, []).append(leaf)

    def node_dict(node: Node) -> dict[str, Any]:
        d: dict[str, Any] = {
            "id": node.uid,
            "name": node.name,
            "description": node.description,
            "level": node.level,
            "member_count": node.member_count,
            "weight": node.weight,
            "pct_total_occurrences": node.pct_total_occurrences,
        }
        if node.level == 1:
            d["values"] = [
                {"value": lf.text, "weight": lf.weight, "pct_total_occurrences": leaf_pct(lf.weight, total)}
                for lf in values.get(node.uid, [])
            ]
        else:
            d["children"] = [node_dict(c) for c in children.get(node.uid, [])]
        return d

    return {
        "version": ctx.version,
        "checksum": ctx.checksum,
        "manifest": _json_safe(ctx.manifest),
        "levels": tree.depth,
        "roots": [node_dict(n) for n in children.get(None, [])],
    }


def write_json(tree: Tree, fh: BinaryIO, ctx: ExportContext) -> int:
    """Nested JSON (see the module docstring)."""
    doc = tree_to_json_dict(tree, ctx)
    try:
        data = json.dumps(doc, ensure_ascii=False, indent=2, allow_nan=False)
    except ValueError as exc:  # NaN / infinite weight
        raise TaxoError(f"cannot export to JSON: {exc}") from None
    fh.write((data + "\n").encode("utf-8"))
    return len(tree.nodes) + len(tree.leaves)


def parquet_metadata(ctx: ExportContext, levels: int) -> dict[str, Any]:
    return {"format": "taxo-values-parquet", "version": ctx.version, "checksum": ctx.checksum, "levels": levels,
            "manifest": _json_safe(ctx.manifest)}


def write_parquet(tree: Tree, fh: BinaryIO, ctx: ExportContext) -> int:
    """One row per value with its ancestors' ids and names (see the module docstring)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    depth = tree.depth
    total = total_leaf_weight(tree)
    order = sorted(range(len(tree.leaves)), key=lambda i: tree.leaves[i].text)
    anc = tree.ancestors_by_level() if tree.leaves else {lv: [] for lv in range(1, depth + 1)}
    cols: dict[str, pa.Array] = {
        "value": pa.array([tree.leaves[i].text for i in order], type=pa.string()),
        "weight": pa.array([float(tree.leaves[i].weight) for i in order], type=pa.float64()),
        "pct_total_occurrences": pa.array([leaf_pct(tree.leaves[i].weight, total) for i in order], type=pa.float64()),
    }
    for lv in range(1, depth + 1):
        ids = [anc[lv][i] for i in order]
        cols[f"l{lv}_id"] = pa.array(ids, type=pa.string())
        cols[f"l{lv}_name"] = pa.array([tree.nodes[u].name for u in ids], type=pa.string())
    table = pa.table(cols)
    meta = json.dumps(parquet_metadata(ctx, depth), ensure_ascii=False, sort_keys=True).encode("utf-8")
    table = table.replace_schema_metadata({PARQUET_METADATA_KEY: meta})
    pq.write_table(table, fh)
    return len(order)


def read_parquet_metadata(path: str | Path) -> dict[str, Any]:
    """The ``b"taxo"`` metadata object of a Parquet export."""
    import pyarrow.parquet as pq

    md = pq.read_schema(path).metadata or {}
    raw = md.get(PARQUET_METADATA_KEY)
    if raw is None:
        raise InputError(str(path), "no taxo metadata in the Parquet schema")
    return json.loads(raw.decode("utf-8"))


#: Registry of export formats; add a writer function and an entry here for a new format (e.g. SKOS).
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


# --------------------------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportResult:
    format: str
    path: Path | None  #: None when written to standard output
    rows: int  #: rows (CSV, Parquet) or nodes + values (JSON) written
    checksum: str
    version: int | None


def _default_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def export_tree(
    tree: Tree, fmt: str, out: str | Path | None, *, manifest: dict[str, Any] | None = None
) -> ExportResult:
    """Write ``tree`` in format ``fmt`` (one of :data:`EXPORT_FORMATS`) to ``out``.

    ``out`` None or ``"-"``: standard output (text formats only; Parquet there is a :class:`UsageError`).
    Otherwise the file is written to a temporary file in the same directory and renamed over ``out``, so an
    error leaves no partial file. The version id is ``tree.version_id``; the checksum is
    :func:`content_checksum`; ``manifest`` is included where the format allows (JSON, Parquet).
    """
    spec = FORMATS.get(fmt)
    if spec is None:
        raise UsageError(f"unknown export format {fmt!r}; choose one of: {', '.join(EXPORT_FORMATS)}")
    check_tree(tree)
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
        return ExportResult(fmt, None, rows, ctx.checksum, ctx.version)

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
    return ExportResult(fmt, target, rows, ctx.checksum, ctx.version)
