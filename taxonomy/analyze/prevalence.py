"""Prevalence: each unit's share of occurrences (records) and of conversations, per slice, with intervals.

* share of occurrences = records of the unit / all records (of the slice, and role when filtered);
* share of conversations = distinct conversations with the unit / distinct conversations with any record;
* 95% intervals (``confidence``) from a bootstrap over conversations: B resamples of the slice's conversations with
  replacement (seeded), percentile intervals; and the Wilson score interval of the conversation share.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse
from sqlalchemy import select, func
from sqlalchemy.orm import Session

from taxonomy.analyze.common import AnalysisResult, Frame, Scope, counts, fetch, require, table, unit_word, wilson
from taxonomy.errors import UsageError

ALL = "(all)"


def bootstrap_shares(conv: np.ndarray, unit: np.ndarray, n_occ: np.ndarray, n_conv: int, n_units: int, *,
                     reps: int, seed: int | list[int], confidence: float, cols: np.ndarray | None = None,
                     chunk: int = 25):
    """Percentile intervals of the occurrence and conversation shares of the units ``cols`` (default: all) under a
    bootstrap over conversations. ``conv``/``unit``: codes of the (conversation, unit) cells, ``n_occ``: records
    in each cell; every cell counts in the denominators."""
    rng = np.random.default_rng(seed)
    # float32 holds every count and every weighted sum here exactly (all below 2**24); ratios are taken in float64
    m = sparse.csr_matrix((n_occ.astype(np.float32), (conv, unit)), shape=(n_conv, n_units))
    p = m.copy()
    p.data[:] = 1.0
    tot = np.asarray(m.sum(axis=1)).ravel().astype(np.float32)
    mt, pt = m.T.tocsr(), p.T.tocsr()
    if cols is not None:
        mt, pt = mt[cols], pt[cols]
    occ = np.empty((reps, mt.shape[0]), dtype=np.float64)
    cov = np.empty((reps, mt.shape[0]), dtype=np.float64)
    for start in range(0, reps, chunk):
        b = min(chunk, reps - start)
        # b multinomial resamples of the n_conv conversations: w[c, j] = times conversation c is drawn in j
        w = np.empty((n_conv, b), dtype=np.float32, order="F")
        for j in range(b):
            w[:, j] = np.bincount(rng.integers(0, n_conv, size=n_conv, dtype=np.uint32), minlength=n_conv)
        occ[start : start + b] = (mt @ w).T.astype(np.float64) / (tot @ w).astype(np.float64)[:, None]
        cov[start : start + b] = (pt @ w).T.astype(np.float64) / n_conv
    q = [(1 - confidence) / 2, 1 - (1 - confidence) / 2]
    return np.quantile(occ, q, axis=0), np.quantile(cov, q, axis=0)


def prevalence(session: Session, scope: Scope, *, by: str | None = None, bootstrap: int = 500, seed: int = 0,
               confidence: float = 0.95, top: int | None = None) -> AnalysisResult:
    if bootstrap < 0:
        raise UsageError(f"--bootstrap must be 0 (off) or a number of resamples, got {bootstrap}")
    if by is not None:
        require(scope, by)
    dims = (by,) if by else ()
    frame = Frame(scope)
    detail = None
    if bootstrap:
        # one grouped query: records per (slice, conversation, unit); every count below is derived from it
        detail = _detail(session, frame, by)
        cells, totals = _counts_from_detail(detail)
    else:
        cells = counts(session, frame, unit=True, dims=dims)
        totals = counts(session, frame, unit=False, dims=dims)
    if cells.empty:
        raise UsageError(f"{scope.describe()}: no records match")
    if detail is None and not by:
        cells.insert(0, "slice", ALL)
        totals.insert(0, "slice", ALL)
    elif detail is None:
        cells = cells.rename(columns={by: "slice"})
        totals = totals.rename(columns={by: "slice"})
    k = scope.k
    out, n_supp, slices_supp = [], 0, []
    for gi, (name, tot) in enumerate(totals.set_index("slice").iterrows()):
        g = cells[cells["slice"] == name].reset_index(drop=True)
        if tot.n_conversations < k:
            slices_supp.append(name)
            n_supp += len(g)
            continue
        keep = g["n_conversations"].to_numpy() >= k
        n_supp += int((~keep).sum())
        g = g[keep].reset_index(drop=True)
        g["share_of_occurrences"] = g["n_occurrences"] / tot.n_occurrences
        g["share_of_conversations"] = g["n_conversations"] / tot.n_conversations
        lo, hi = wilson(g["n_conversations"].to_numpy(), np.full(len(g), tot.n_conversations), confidence)
        g["wilson_low"], g["wilson_high"] = lo, hi
        if bootstrap and len(g):
            (olo, ohi), (clo, chi) = _bootstrap(detail[detail["slice"] == name], g["unit"].to_numpy(),
                                                reps=bootstrap, seed=[seed, gi], confidence=confidence)
            g["occ_ci_low"], g["occ_ci_high"], g["conv_ci_low"], g["conv_ci_high"] = olo, ohi, clo, chi
        g["slice_conversations"] = int(tot.n_conversations)
        g["slice_occurrences"] = int(tot.n_occurrences)
        out.append(g)
    df = pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=["slice", "unit"])
    df.insert(1, "id", [scope.labels[u][0] for u in df["unit"]])
    df.insert(2, "name", [scope.labels[u][1] for u in df["unit"]])
    df = df.drop(columns=["unit"]).sort_values(["slice", "share_of_conversations", "name"],
                                               ascending=[True, False, True], kind="stable")
    if top:
        df = df.groupby("slice", sort=False).head(top)
    cols = ["slice", "id", "name", "n_occurrences", "share_of_occurrences"]
    if bootstrap:
        cols += ["occ_ci_low", "occ_ci_high"]
    cols += ["n_conversations", "share_of_conversations"]
    if bootstrap:
        cols += ["conv_ci_low", "conv_ci_high"]
    cols += ["wilson_low", "wilson_high", "slice_conversations", "slice_occurrences"]
    df = df.reindex(columns=cols)
    title = (f"Prevalence of each {unit_word(scope.level)} ({scope.describe()}"
             + (f", by {by}" if by else "")
             + "): share of occurrences (records) and share of distinct conversations"
             + (f"; {int(confidence * 100)}% bootstrap intervals over conversations ({bootstrap} resamples, "
                f"seed {seed}) and Wilson intervals" if bootstrap else f"; {int(confidence * 100)}% Wilson intervals"))
    summary = {
        "slices": {str(n): {"n_conversations": int(t.n_conversations), "n_occurrences": int(t.n_occurrences)}
                   for n, t in totals.set_index("slice").iterrows() if n not in slices_supp},
        "suppressed_slices": len(slices_supp),
    }
    notes = []
    if slices_supp:
        notes.append(f"{len(slices_supp)} slice(s) with fewer than {k} conversations left out entirely")
    return AnalysisResult(
        "prevalence", scope.version_id, scope.level, k,
        {"level": scope.level, "role": scope.role, "by": by, "bootstrap": bootstrap, "seed": seed,
         "confidence": confidence, "top": top},
        summary, {"prevalence": table("prevalence", title, df, n_suppressed=n_supp, what=f"{unit_word(scope.level)}"
                                                                                           " cells")},
        notes,
    )


def _detail(session: Session, frame: Frame, by: str | None) -> pd.DataFrame:
    """Records per (slice, conversation, unit). The query streams the (slice, conversation, unit) of each record
    in the scope (no database sort); pandas groups them (vectorised)."""
    conds = frame.where()
    cols = [frame.conversation, frame.unit]
    if by:
        conds.append(frame.dim(by).is_not(None))
        cols.insert(0, frame.dim(by))
    stmt = select(*cols).select_from(frame.from_).where(*conds)
    df = fetch(session, stmt, (["slice"] if by else []) + ["conversation", "unit"])
    if not by:
        df.insert(0, "slice", ALL)
    df["unit"] = df["unit"].astype(np.int64)
    return df.groupby(["slice", "conversation", "unit"], sort=False).size().rename("n").reset_index()


def _counts_from_detail(detail: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cells (slice, unit: occurrences, distinct conversations) and slice totals, counted in pandas."""
    cells = (detail.groupby(["slice", "unit"], sort=False)["n"].agg(["sum", "size"]).reset_index()
             .rename(columns={"sum": "n_occurrences", "size": "n_conversations"}))
    totals = (detail.groupby("slice", sort=True).agg(n_occurrences=("n", "sum"),
                                                      n_conversations=("conversation", "nunique")).reset_index())
    return cells, totals


def _bootstrap(detail: pd.DataFrame, units: np.ndarray, *, reps: int, seed, confidence: float):
    """The bootstrap of one slice's (conversation, unit) record counts."""
    conv_codes, conv_uniques = pd.factorize(detail["conversation"])
    # every unit in the slice takes part in the denominators; only the kept ones get intervals
    unit_codes, unit_uniques = pd.factorize(detail["unit"])
    pos = pd.Index(unit_uniques).get_indexer(units)
    occ, cov = bootstrap_shares(conv_codes, unit_codes, detail["n"].to_numpy(), len(conv_uniques),
                                len(unit_uniques), reps=reps, seed=seed, confidence=confidence, cols=pos)
    return (occ[0], occ[1]), (cov[0], cov[1])
