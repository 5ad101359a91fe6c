"""The loader of a reference tree: the published Values-in-the-Wild ``values_tree.csv`` layout (which is also the
``values-tree-csv`` export, :mod:`taxonomy.export.values_csv`). `taxo compare` and the quality benchmarks score a
version against a tree read here.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

from taxonomy.domain import Leaf, Node, Tree
from taxonomy.errors import InputError
from taxonomy.export.values_csv import VALUES_TREE_COLUMNS


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
    tree = Tree(nodes=nodes, leaves=leaves, version_id=None)
    counts, sums = tree.subtree_totals()
    for uid, n in nodes.items():
        n.member_count = counts[uid]
        n.weight = sums[uid]
    return tree
