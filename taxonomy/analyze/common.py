"""What every analysis shares: the records of a version mapped to the units of a level, the dimensions (task,
response type, role, slice columns) as SQL expressions, aggregate queries, the privacy threshold, and the result
objects.

Counting happens in the database with SQLAlchemy Core aggregate queries (``COUNT(*)``,
``COUNT(DISTINCT conversation_id)``, ``GROUP BY``) that run the same on SQLite and PostgreSQL; only the grouped
counts come back to Python, where numpy does the statistics. The records of a version are the extraction records
whose value is a member of the version; a record is mapped to its level-L unit (level 0: the value, level L >= 1:
the value's ancestor at level L) by joining ``memberships`` and then ``nodes`` L-1 times along ``parent_id``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import and_, distinct, func, select
from sqlalchemy.orm import Session

from taxonomy.db.models import Batch, ExtractionRecord, Membership, Node
from taxonomy.domain import Tree
from taxonomy.errors import UsageError
from taxonomy.store import get_version, read_tree

#: Built-in record columns usable with ``--by``, and the ingest option that fills each.
BUILTIN_DIMENSIONS = {"task": "--task-col", "response_type": "--response-type-col", "role": "--role-col"}
ROLES = ("ai", "human")


def unit_word(level: int) -> str:
    return "value" if level == 0 else f"level-{level} node"


@dataclass
class Scope:
    """One analysis's view of a version: level, role filter, privacy threshold and the tree's labels."""

    version_id: int
    level: int
    role: str | None
    k: int  #: privacy threshold (distinct conversations)
    tree: Tree
    labels: dict[int, tuple[str, str]]  #: unit key (value id or node row id) -> (id, name)
    dimensions: dict[str, bool]  #: ingested dimensions: name -> is a slice column

    @property
    def depth(self) -> int:
        return self.tree.depth

    def unit_keys(self) -> list[int]:
        """Every unit of the level in the version (level 0: its values), in a stable order."""
        return sorted(self.labels, key=lambda key: self.labels[key][1])

    def describe(self) -> str:
        role = f", {self.role} records" if self.role else ""
        return f"version {self.version_id}, level {self.level} ({unit_word(self.level)}s){role}"


def open_scope(session: Session, version: int, *, level: int | None, role: str | None, k: int) -> Scope:
    """Validate the version, level and role and read the tree; raises UsageError for anything that cannot work."""
    get_version(session, version)
    tree = read_tree(session, version)
    depth = tree.depth
    if level is None:
        level = depth
    if not 0 <= level <= depth:
        raise UsageError(f"--level {level}: version {version} has levels 0 (values) to {depth}")
    if role is not None and role not in ROLES:
        raise UsageError(f"--role {role!r}: expected one of {', '.join(ROLES)}")
    has_records = session.scalar(
        select(ExtractionRecord.id)
        .join(Membership, and_(Membership.value_id == ExtractionRecord.value_id, Membership.version_id == version))
        .limit(1)
    )
    if has_records is None:
        raise UsageError(
            f"version {version} has no extraction records (its values were ingested as aggregated counts); "
            "ingest one row per conversation and value with `taxo ingest FILE --conversation-col ...`"
        )
    dims = _dimensions(session)
    if role is not None and "role" not in dims:
        raise UsageError("--role: no records were ingested with a role column; ingest them with --role-col")
    if level == 0:
        labels = {leaf.value_id: (leaf.text, leaf.text) for leaf in tree.leaves}
    else:
        rows = session.execute(select(Node.id, Node.uid).where(Node.version_id == version, Node.level == level))
        labels = {nid: (uid, tree.nodes[uid].name) for nid, uid in rows}
    return Scope(version, level, role, k, tree, labels, dims)


def _dimensions(session: Session) -> dict[str, bool]:
    out: dict[str, bool] = {}
    for (options,) in session.execute(select(Batch.options).where(Batch.shape == "records")):
        options = options or {}
        for name in BUILTIN_DIMENSIONS:
            if options.get(f"{name}_col"):
                out[name] = False
        for name in options.get("slice_cols") or []:
            out[name] = True
        if options.get("explicit_col"):
            out["explicit"] = False
    return out


def require(scope: Scope, name: str, option: str = "--by") -> None:
    """Raise unless ``name`` was ingested (a built-in record column or a ``--slice-col``)."""
    if name == "explicit" or name not in scope.dimensions:
        have = sorted(n for n in scope.dimensions if n != "explicit")
        how = (f"ingest the records with `taxo ingest FILE {BUILTIN_DIMENSIONS[name]} COLUMN`"
               if name in BUILTIN_DIMENSIONS else f"ingest the records with `taxo ingest FILE --slice-col {name}`")
        raise UsageError(
            f"{option} {name}: no records were ingested with a {name!r} column "
            f"(ingested: {', '.join(have) if have else 'none'}); {how}"
        )


# ----------------------------------------------------------------------------------------------- SQL building
class Frame:
    """``extraction_records`` joined to the version's memberships (and nodes up to the level), with filters."""

    def __init__(self, scope: Scope, *, name: str = "r"):
        self.scope = scope
        self.r = ExtractionRecord.__table__.alias(name)
        m = Membership.__table__.alias(f"{name}_m")
        frm = self.r.join(m, and_(m.c.value_id == self.r.c.value_id, m.c.version_id == scope.version_id))
        key = self.r.c.value_id if scope.level == 0 else m.c.node_id
        for lv in range(2, scope.level + 1):
            n = Node.__table__.alias(f"{name}_n{lv}")
            frm = frm.join(n, n.c.id == key)
            key = n.c.parent_id
        self.from_ = frm
        self.unit = key
        self.conversation = self.r.c.conversation_id

    def dim(self, name: str):
        if name in BUILTIN_DIMENSIONS:
            return self.r.c[name]
        return self.r.c.slices[name].as_string()

    def where(self, *, role: bool = True) -> list:
        out = []
        if role and self.scope.role is not None:
            out.append(self.r.c.role == self.scope.role)
        return out


def fetch(session: Session, stmt, columns: list[str]) -> pd.DataFrame:
    """The rows of an aggregate query as a DataFrame, built column by column. The rows are read from the DBAPI
    cursor as plain tuples (aggregates are numbers and text: no result processing is needed)."""
    result = session.execute(stmt)
    cursor = getattr(result, "cursor", None)
    rows = cursor.fetchall() if cursor is not None else result.all()
    result.close()
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    cols = list(zip(*rows))
    return pd.DataFrame({name: np.asarray(col, dtype=object if isinstance(col[0], str) or col[0] is None else None)
                         for name, col in zip(columns, cols)})


def counts(session: Session, frame: Frame, *, unit: bool, dims: tuple[str, ...] = (), role: bool = True,
           occurrences: bool = True) -> pd.DataFrame:
    """Grouped counts: columns ``[unit], *dims, n_occurrences, n_conversations`` (records with a null dimension
    left out)."""
    groups = ([frame.unit] if unit else []) + [frame.dim(d) for d in dims]
    aggs = [func.count(distinct(frame.conversation))]
    if occurrences:
        aggs.insert(0, func.count())
    conds = frame.where(role=role) + [frame.dim(d).is_not(None) for d in dims]
    stmt = select(*groups, *aggs).select_from(frame.from_).where(*conds)
    if groups:
        stmt = stmt.group_by(*groups)
    names = (["unit"] if unit else []) + list(dims) + (["n_occurrences"] if occurrences else []) + ["n_conversations"]
    df = fetch(session, stmt, names)
    for col in ("n_occurrences", "n_conversations"):
        if col in df:
            df[col] = df[col].astype(np.int64)
    return df


def dimension_values(session: Session, frame: Frame, name: str, *, role: bool = False) -> list[str]:
    """The distinct non-null values of a dimension among the version's records, sorted."""
    d = frame.dim(name)
    stmt = select(d).distinct().select_from(frame.from_).where(d.is_not(None), *frame.where(role=role))
    return sorted(str(v) for (v,) in session.execute(stmt))


def check_slice_value(values: list[str], name: str, value: str, option: str) -> None:
    if value not in values:
        shown = ", ".join(repr(v) for v in values[:20]) + (" ..." if len(values) > 20 else "")
        raise UsageError(f"{option} {value!r}: no records have {name} = {value!r}; known values: {shown}")


# ----------------------------------------------------------------------------------------------- statistics
def z_value(confidence: float) -> float:
    from scipy.stats import norm

    if not 0 < confidence < 1:
        raise UsageError(f"--confidence must be between 0 and 1, got {confidence}")
    return float(norm.ppf(1 - (1 - confidence) / 2))


def wilson(x: np.ndarray, n: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for x successes out of n (as statsmodels ``proportion_confint(method="wilson")``)."""
    z = z_value(confidence)
    x = np.asarray(x, dtype=float)
    n = np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = x / n
        denom = 1 + z * z / n
        center = (p + z * z / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return center - half, center + half


# ----------------------------------------------------------------------------------------------- results
@dataclass
class Table:
    """One tidy output table. ``title`` says what is counted (occurrences or distinct conversations)."""

    name: str
    title: str
    columns: list[str]
    rows: list[dict[str, Any]]
    n_suppressed: int = 0  #: cells/rows backed by fewer than K conversations, left out
    suppressed_what: str = "cells"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "columns": self.columns, "rows": self.rows,
                "n_suppressed": self.n_suppressed, "suppressed_what": self.suppressed_what}


@dataclass
class AnalysisResult:
    analysis: str
    version_id: int
    level: int
    min_conversations: int
    params: dict[str, Any]
    summary: dict[str, Any]
    tables: dict[str, Table]
    notes: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  #: CSV and plot files written

    @property
    def suppressed(self) -> dict[str, int]:
        """Per table: cells (or rows) backed by fewer than K conversations and left out."""
        return {k: t.n_suppressed for k, t in self.tables.items()}

    def to_dict(self) -> dict[str, Any]:
        return {
            "analysis": self.analysis,
            "version": self.version_id,
            "level": self.level,
            "min_conversations": self.min_conversations,
            "suppressed": self.suppressed,
            "params": self.params,
            "summary": self.summary,
            "notes": self.notes,
            "tables": {k: t.to_dict() for k, t in self.tables.items()},
            "files": self.files,
        }


def _plain(v: Any) -> Any:
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        f = float(v)
        return None if math.isnan(f) else f
    if isinstance(v, np.bool_):
        return bool(v)
    if v is pd.NA or v is pd.NaT:
        return None
    return v


def table(name: str, title: str, df: pd.DataFrame, *, n_suppressed: int = 0, what: str = "cells") -> Table:
    rows = [{k: _plain(v) for k, v in rec.items()} for rec in df.to_dict("records")]
    return Table(name, title, list(df.columns), rows, int(n_suppressed), what)


def suppression_note(k: int, n: int, what: str) -> str:
    return f"{n} {what} backed by fewer than {k} conversations suppressed" if n else f"none suppressed (K = {k})"
