"""Compare two slices (e.g. two models): per unit, the share of each slice's distinct conversations in which it
occurs, the difference with a Wald interval (``statsmodels confint_proportions_2indep(method="wald")``), the pooled
two-proportion z-test (``proportions_ztest``) with a multiple-testing correction over every unit tested
(``multipletests``: fdr_bh by default, holm, bonferroni or none), the overlap of the two slices' top units, and
the units found in one slice only."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm
from sqlalchemy.orm import Session

from taxonomy.analyze.common import (
    AnalysisResult,
    Frame,
    Scope,
    check_slice_value,
    counts,
    require,
    table,
    unit_word,
    z_value,
)
from taxonomy.errors import UsageError

CORRECTIONS = ("fdr_bh", "holm", "bonferroni", "none")


def adjust(p: np.ndarray, method: str) -> np.ndarray:
    """Adjusted p-values, as ``statsmodels.stats.multitest.multipletests(p, method=...)[1]``."""
    p = np.asarray(p, dtype=float)
    m = len(p)
    if m == 0 or method == "none":
        return p.copy()
    if method == "bonferroni":
        return np.minimum(p * m, 1.0)
    order = np.argsort(p, kind="mergesort")
    ps = p[order]
    if method == "holm":
        adj = np.minimum(np.maximum.accumulate(ps * (m - np.arange(m))), 1.0)
    elif method == "fdr_bh":
        adj = np.minimum(np.minimum.accumulate((ps * m / np.arange(1, m + 1))[::-1])[::-1], 1.0)
    else:
        raise UsageError(f"--correction {method!r}: expected one of {', '.join(CORRECTIONS)}")
    out = np.empty(m)
    out[order] = adj
    return out


def compare(session: Session, scope: Scope, *, by: str, a: str, b: str, top: int = 10, alpha: float = 0.05,
            correction: str = "fdr_bh", confidence: float = 0.95) -> AnalysisResult:
    if correction not in CORRECTIONS:
        raise UsageError(f"--correction {correction!r}: expected one of {', '.join(CORRECTIONS)}")
    require(scope, by)
    if a == b:
        raise UsageError(f"--a and --b are the same {by} ({a!r}); compare two different ones")
    frame = Frame(scope)
    everyone = counts(session, frame, unit=False, dims=(by,), role=False, occurrences=False)
    known = sorted(everyone[by].astype(str))
    check_slice_value(known, by, a, "--a")
    check_slice_value(known, by, b, "--b")
    k = scope.k
    cells = counts(session, frame, unit=True, dims=(by,), occurrences=False)
    tot = (counts(session, frame, unit=False, dims=(by,), occurrences=False) if scope.role else everyone)
    tot = tot.set_index(by)["n_conversations"]
    n_a, n_b = int(tot.get(a, 0)), int(tot.get(b, 0))
    for name, n in ((a, n_a), (b, n_b)):
        if n < k:
            raise UsageError(f"{by} {name!r} has {n} conversation(s){' with role ' + scope.role if scope.role else ''}"
                             f", fewer than the privacy threshold {k}; nothing about it can be reported")
    wide = cells[cells[by].isin([a, b])].pivot_table(index="unit", columns=by, values="n_conversations",
                                                     aggfunc="sum", fill_value=0)
    x_a = wide[a].to_numpy(np.int64) if a in wide else np.zeros(len(wide), np.int64)
    x_b = wide[b].to_numpy(np.int64) if b in wide else np.zeros(len(wide), np.int64)
    p_a, p_b = x_a / n_a, x_b / n_b
    diff = p_a - p_b
    z = z_value(confidence)
    se = np.sqrt(p_a * (1 - p_a) / n_a + p_b * (1 - p_b) / n_b)
    pool = (x_a + x_b) / (n_a + n_b)
    se0 = np.sqrt(pool * (1 - pool) * (1 / n_a + 1 / n_b))
    with np.errstate(divide="ignore", invalid="ignore"):
        zstat = np.where(se0 > 0, diff / se0, 0.0)
    pval = 2 * norm.sf(np.abs(zstat))
    padj = adjust(pval, correction)
    keys = wide.index.to_numpy()
    df = pd.DataFrame({
        "id": [scope.labels[u][0] for u in keys], "name": [scope.labels[u][1] for u in keys],
        "n_a": x_a, "share_a": p_a, "n_b": x_b, "share_b": p_b, "difference": diff,
        "ci_low": diff - z * se, "ci_high": diff + z * se, "z": zstat, "p_value": pval, "p_adjusted": padj,
        "significant": padj < alpha,
    })
    bad = ((x_a > 0) & (x_a < k)) | ((x_b > 0) & (x_b < k))
    n_supp = int(bad.sum())
    shown = df[~bad].sort_values(["p_adjusted", "name"], kind="stable")
    top_a = df[x_a >= k].sort_values(["share_a", "name"], ascending=[False, True], kind="stable").head(top)
    top_b = df[x_b >= k].sort_values(["share_b", "name"], ascending=[False, True], kind="stable").head(top)
    both = sorted(set(top_a["id"]) & set(top_b["id"]))
    union = set(top_a["id"]) | set(top_b["id"])
    only_a = df[(x_a >= k) & (x_b == 0)].sort_values("share_a", ascending=False, kind="stable")
    only_b = df[(x_b >= k) & (x_a == 0)].sort_values("share_b", ascending=False, kind="stable")
    unit = unit_word(scope.level)
    head = f"{scope.describe()}; {by} {a!r} (a, {n_a} conversations) vs {b!r} (b, {n_b}); shares of distinct conversations"
    only = pd.concat([only_a.assign(only_in=a), only_b.assign(only_in=b)])[["only_in", "id", "name", "n_a", "share_a",
                                                                             "n_b", "share_b"]]
    tables = {
        "differences": table("differences", f"Share of each {unit} in a and b, difference a - b with its "
                             f"{int(confidence * 100)}% Wald interval, pooled two-proportion z-test, p adjusted "
                             f"({correction}) ({head})", shown, n_suppressed=n_supp, what=f"{unit}s"),
        "only_one_slice": table("only_one_slice", f"{unit.capitalize()}s found in one slice only ({head})", only,
                                n_suppressed=n_supp, what=f"{unit}s"),
        "top_overlap": table("top_overlap", f"The top {top} {unit}s of each slice ({head})",
                             pd.concat([top_a.assign(slice=a, rank=range(1, len(top_a) + 1)),
                                        top_b.assign(slice=b, rank=range(1, len(top_b) + 1))])[
                                 ["slice", "rank", "id", "name", "share_a", "share_b"]], n_suppressed=n_supp,
                             what=f"{unit}s"),
    }
    summary = {"by": by, "a": a, "b": b, "n_conversations_a": n_a, "n_conversations_b": n_b,
               "n_tested": int(len(df)), "n_significant": int(shown["significant"].sum()), "alpha": alpha,
               "correction": correction, "top_overlap": len(both), "top_overlap_ids": both,
               "top_jaccard": len(both) / len(union) if union else None,
               "only_in_a": int(len(only_a)), "only_in_b": int(len(only_b))}
    return AnalysisResult("compare", scope.version_id, scope.level, k,
                          {"level": scope.level, "role": scope.role, "by": by, "a": a, "b": b, "top": top,
                           "alpha": alpha, "correction": correction, "confidence": confidence}, summary, tables)
