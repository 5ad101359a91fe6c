"""Context: a unit x dimension (task, response type, any slice) contingency table of distinct conversations, the
chi-square test of independence, Pearson residuals (O - E) / sqrt(E) per cell, the units most over-represented in
each column and the column where each unit stands out most.

Cell (i, j) = distinct conversations in which unit i occurs among the records whose dimension is j. Rows are every
unit of the level in the version; columns every value of the dimension among the version's records. The test is
``scipy.stats.chi2_contingency(O, correction=False)`` computed in closed form on the whole table (suppressed cells
included: only aggregates of the table are published); cells backed by fewer than K conversations are not reported.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import chi2 as chi2_dist
from sqlalchemy.orm import Session

from taxonomy.analyze.common import (
    AnalysisResult,
    Frame,
    Scope,
    counts,
    require,
    table,
    unit_word,
)
from taxonomy.errors import UsageError

MAX_CELLS = 50_000_000


@dataclass
class Contingency:
    by: str
    keys: np.ndarray  #: unit keys (rows)
    columns: list[str]
    observed: np.ndarray  #: distinct conversations, rows x columns
    column_conversations: np.ndarray  #: distinct conversations per column (any unit)
    column_occurrences: np.ndarray  #: records per column
    dropped_rows: int = 0
    dropped_columns: int = 0


def contingency(session: Session, scope: Scope, by: str, *, drop_empty: bool = False,
                empty_ok: bool = False) -> Contingency:
    require(scope, by)
    frame = Frame(scope)
    # the columns are the dimension's values among all the version's records (any role), so that a column
    # without records of the chosen role shows up as empty
    everyone = counts(session, frame, unit=False, dims=(by,), role=False)
    cols = sorted(everyone[by].astype(str))
    if not cols:
        raise UsageError(f"--by {by}: none of the records of version {scope.version_id} has a {by}")
    keys = np.array(scope.unit_keys(), dtype=np.int64)
    if len(keys) * len(cols) > MAX_CELLS:
        raise UsageError(f"the {len(keys)} x {len(cols)} table is too large; choose a higher --level")
    cells = counts(session, frame, unit=True, dims=(by,), occurrences=False)
    tot = (counts(session, frame, unit=False, dims=(by,)) if scope.role else everyone).set_index(by)
    tot.index = tot.index.astype(str)
    row = pd.Index(keys).get_indexer(cells["unit"].to_numpy())
    col = pd.Index(cols).get_indexer(cells[by].astype(str).to_numpy())
    obs = np.zeros((len(keys), len(cols)), dtype=np.int64)
    obs[row, col] = cells["n_conversations"].to_numpy()
    colconv = tot["n_conversations"].reindex(cols).fillna(0).to_numpy(dtype=np.int64)
    colocc = tot["n_occurrences"].reindex(cols).fillna(0).to_numpy(dtype=np.int64)
    t = Contingency(by, keys, list(cols), obs, colconv, colocc)
    empty_r = obs.sum(axis=1) == 0
    empty_c = obs.sum(axis=0) == 0
    if (empty_r.any() or empty_c.any()) and not (drop_empty or empty_ok):
        if empty_r.any():
            names = [scope.labels[k][1] for k in keys[empty_r][:3]]
            what = (f"{int(empty_r.sum())} empty row(s): {unit_word(scope.level)}(s) "
                    f"{', '.join(repr(n) for n in names)}{' ...' if empty_r.sum() > 3 else ''} have no records")
        else:
            names = [cols[i] for i in np.flatnonzero(empty_c)[:3]]
            what = (f"{int(empty_c.sum())} empty column(s): {by} {', '.join(repr(n) for n in names)} "
                    f"{'has' if len(names) == 1 else 'have'} no records")
        role = f" with role {scope.role}" if scope.role else ""
        raise UsageError(
            f"the contingency table of {scope.describe()} by {by} has {what}{role}; the chi-square test needs "
            "every row and column non-empty: pass --drop-empty to leave them out, or choose another --level/--role"
        )
    if drop_empty or empty_ok:
        t.dropped_rows, t.dropped_columns = int(empty_r.sum()), int(empty_c.sum())
        t.keys, t.observed = keys[~empty_r], obs[~empty_r][:, ~empty_c]
        t.columns = [c for c, e in zip(cols, empty_c) if not e]
        t.column_conversations = colconv[~empty_c]
        t.column_occurrences = colocc[~empty_c]
    if t.observed.shape[0] < 2 or t.observed.shape[1] < 2:
        raise UsageError(
            f"the contingency table of {scope.describe()} by {by} is {t.observed.shape[0]} x "
            f"{t.observed.shape[1]}; a chi-square test needs at least 2 rows and 2 columns"
        )
    return t


def chi_square(obs: np.ndarray) -> dict:
    """Expected counts, statistic, degrees of freedom, p-value, Cramér's V and Pearson residuals."""
    o = obs.astype(np.float64)
    n = o.sum()
    expected = np.outer(o.sum(axis=1), o.sum(axis=0)) / n
    resid = (o - expected) / np.sqrt(expected)
    stat = float((resid**2).sum())
    dof = (o.shape[0] - 1) * (o.shape[1] - 1)
    return {
        "expected": expected,
        "residuals": resid,
        "chi2": stat,
        "dof": int(dof),
        "p_value": float(chi2_dist.sf(stat, dof)),
        "cramers_v": float(np.sqrt(stat / (n * (min(o.shape) - 1)))),
        "n": int(n),
    }


def over_represented(scope: Scope, t: Contingency, test: dict, *, top: int) -> tuple[pd.DataFrame, pd.DataFrame,
                                                                                    pd.DataFrame, int]:
    """(cells, top units per column, column where each unit stands out, number of suppressed cells)."""
    k = scope.k
    obs, exp, res = t.observed, test["expected"], test["residuals"]
    ok = obs >= k
    n_supp = int(((obs > 0) & ~ok).sum())
    r, c = np.nonzero(ok)
    ids = np.array([scope.labels[x][0] for x in t.keys], dtype=object)
    names = np.array([scope.labels[x][1] for x in t.keys], dtype=object)
    colnames = np.array(t.columns, dtype=object)
    cells = pd.DataFrame({
        t.by: colnames[c], "id": ids[r], "name": names[r], "n_conversations": obs[r, c],
        "expected": exp[r, c], "residual": res[r, c],
        "share_of_column_conversations": obs[r, c] / t.column_conversations[c],
    })
    pos = cells[cells["residual"] > 0].sort_values([t.by, "residual", "name"], ascending=[True, False, True],
                                                     kind="stable")
    tops = pos.groupby(t.by, sort=False).head(top).copy()
    tops.insert(1, "rank", tops.groupby(t.by, sort=False).cumcount() + 1)
    stands = pos.sort_values(["id", "residual"], ascending=[True, False], kind="stable").drop_duplicates("id")
    stands = stands.sort_values(["residual", "name"], ascending=[False, True], kind="stable")
    stands = stands[["id", "name", t.by, "n_conversations", "expected", "residual", "share_of_column_conversations"]]
    return cells.sort_values([t.by, "residual"], ascending=[True, False], kind="stable"), tops, stands, n_supp


def context(session: Session, scope: Scope, *, by: str, top: int = 10, drop_empty: bool = False) -> AnalysisResult:
    t = contingency(session, scope, by, drop_empty=drop_empty)
    test = chi_square(t.observed)
    cells, tops, stands, n_supp = over_represented(scope, t, test, top=top)
    unit = unit_word(scope.level)
    head = f"{scope.describe()} by {by}; cells: distinct conversations"
    tables = {
        "over_represented": table("over_represented",
                                  f"The {top} {unit}s most over-represented in each {by} (Pearson residual "
                                  f"(O - E) / sqrt(E); {head})", tops, n_suppressed=n_supp),
        "stands_out": table("stands_out", f"The {by} where each {unit} stands out most ({head})", stands,
                            n_suppressed=n_supp),
        "cells": table("cells", f"Contingency table, expected counts and residuals ({head})", cells,
                       n_suppressed=n_supp),
    }
    summary = {k: test[k] for k in ("chi2", "dof", "p_value", "cramers_v", "n")}
    summary.update({"rows": len(t.keys), "columns": len(t.columns), "dropped_empty_rows": t.dropped_rows,
                    "dropped_empty_columns": t.dropped_columns, "test": "chi-square test of independence "
                    "(no continuity correction)"})
    notes = []
    if t.dropped_rows or t.dropped_columns:
        notes.append(f"--drop-empty: {t.dropped_rows} empty row(s) and {t.dropped_columns} empty column(s) left out")
    return AnalysisResult("context", scope.version_id, scope.level, scope.k,
                          {"level": scope.level, "role": scope.role, "by": by, "top": top, "drop_empty": drop_empty},
                          summary, tables, notes)
