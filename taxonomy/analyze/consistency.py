"""Consistency: how trans-situational each unit is. For unit i and column j (a task, say) the frequency
f_ij = conversations of column j in which i occurs / conversations of column j; the coefficient of variation of
f_i. across the columns, CV_i = sd / mean (population sd, ``scipy.stats.variation``), is low for a value expressed
alike everywhere and high for a context-bound one. Only units backed by at least K conversations are reported, and
per-column frequencies only where the cell is."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from taxonomy.analyze.common import AnalysisResult, Scope, table, unit_word
from taxonomy.analyze.context import contingency


def consistency(session: Session, scope: Scope, *, by: str, top: int = 10) -> AnalysisResult:
    t = contingency(session, scope, by, empty_ok=True)
    k = scope.k
    obs = t.observed
    freq = obs / t.column_conversations[None, :]
    mean = freq.mean(axis=1)
    sd = freq.std(axis=1, ddof=0)
    cv = sd / mean
    total = obs.sum(axis=1)
    ok = total >= k
    ids = [scope.labels[x][0] for x in t.keys]
    names = [scope.labels[x][1] for x in t.keys]
    home = np.array(t.columns, dtype=object)[freq.argmax(axis=1)]
    df = pd.DataFrame({"id": ids, "name": names, "n_conversations_summed": total,
                       "n_columns_present": (obs > 0).sum(axis=1), "mean_frequency": mean, "sd_frequency": sd,
                       "cv": cv, f"top_{by}": home})[ok]
    df = df.sort_values(["cv", "name"], ascending=[False, True], kind="stable")
    n_supp = int((~ok).sum())
    r, c = np.nonzero((obs >= k) & ok[:, None])
    cells = pd.DataFrame({"id": np.array(ids, dtype=object)[r], "name": np.array(names, dtype=object)[r],
                          by: np.array(t.columns, dtype=object)[c], "n_conversations": obs[r, c],
                          "column_conversations": t.column_conversations[c], "frequency": freq[r, c]})
    n_cell_supp = int(((obs > 0) & (obs < k) & ok[:, None]).sum())
    unit = unit_word(scope.level)
    head = (f"{scope.describe()} across {len(t.columns)} {by} values; frequency = share of the {by}'s distinct "
            "conversations")
    tables = {
        "values": table("values", f"Coefficient of variation of each {unit}'s frequency ({head})", df,
                        n_suppressed=n_supp, what=f"{unit}s"),
        "most_context_bound": table("most_context_bound", f"The {top} most context-bound {unit}s (highest CV; {head})",
                                    df.head(top), n_suppressed=n_supp, what=f"{unit}s"),
        "least_context_bound": table("least_context_bound",
                                     f"The {top} most trans-situational {unit}s (lowest CV; {head})",
                                     df.iloc[::-1].head(top), n_suppressed=n_supp, what=f"{unit}s"),
        "frequencies": table("frequencies", f"Frequency of each {unit} in each {by} ({head})", cells,
                             n_suppressed=n_cell_supp),
    }
    summary = {"columns": t.columns, "column_conversations": dict(zip(t.columns, map(int, t.column_conversations))),
               "n_reported": int(ok.sum()), "median_cv": float(np.median(cv[ok])) if ok.any() else None}
    return AnalysisResult("consistency", scope.version_id, scope.level, k,
                          {"level": scope.level, "role": scope.role, "by": by, "top": top}, summary, tables)
