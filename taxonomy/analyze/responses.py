"""Responses: the distribution of response types (share of distinct conversations, Wilson intervals), the units
over-represented in each response type (Pearson residuals of the unit x response-type table, as in ``context``),
and, when an explicitness column was ingested, the share of explicitly stated values per response type (counted
by occurrence: records whose explicitness is known)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy import case, distinct, func, select
from sqlalchemy.orm import Session

from taxonomy.analyze.common import AnalysisResult, Frame, Scope, fetch, require, table, unit_word, wilson
from taxonomy.analyze.context import chi_square, contingency, over_represented

BY = "response_type"


def responses(session: Session, scope: Scope, *, top: int = 10, confidence: float = 0.95,
              drop_empty: bool = False) -> AnalysisResult:
    require(scope, BY, option="responses: the column")
    k = scope.k
    frame = Frame(scope)
    t = contingency(session, scope, BY, drop_empty=drop_empty)
    dist = pd.DataFrame({BY: t.columns, "n_occurrences": t.column_occurrences,
                         "n_conversations": t.column_conversations})
    total_conv = int(dist["n_conversations"].sum())
    ok = dist["n_conversations"] >= k
    dist = dist[ok].copy()
    dist["share_of_conversations"] = dist["n_conversations"] / total_conv
    dist["wilson_low"], dist["wilson_high"] = wilson(dist["n_conversations"], np.full(len(dist), total_conv),
                                                     confidence)
    dist = dist.sort_values("n_conversations", ascending=False, kind="stable")
    test = chi_square(t.observed)
    _, tops, _, n_cell_supp = over_represented(scope, t, test, top=top)
    unit = unit_word(scope.level)
    tables = {
        "distribution": table("distribution", f"Response types ({scope.describe()}): share of distinct "
                              f"conversations, {int(confidence * 100)}% Wilson intervals", dist,
                              n_suppressed=int((~ok).sum()), what="response types"),
        "over_represented": table("over_represented", f"The {top} {unit}s most over-represented in each response "
                                  "type (Pearson residuals; cells: distinct conversations)", tops,
                                  n_suppressed=n_cell_supp),
    }
    notes = []
    if "explicit" in scope.dimensions:
        r = frame.r
        conds = frame.where() + [r.c.explicit.is_not(None), r.c[BY].is_not(None)]
        stmt = (select(r.c[BY], func.count(), func.sum(case((r.c.explicit.is_(True), 1), else_=0)),
                       func.count(distinct(frame.conversation)))
                .select_from(frame.from_).where(*conds).group_by(r.c[BY]))
        ex = fetch(session, stmt, [BY, "n_records", "n_explicit", "n_conversations"])
        ex[["n_records", "n_explicit", "n_conversations"]] = ex[["n_records", "n_explicit",
                                                                 "n_conversations"]].astype(np.int64)
        keep = ex["n_conversations"] >= k
        ex = ex[keep].copy()
        ex["share_explicit"] = ex["n_explicit"] / ex["n_records"]
        ex["wilson_low"], ex["wilson_high"] = wilson(ex["n_explicit"], ex["n_records"], confidence)
        ex = ex.sort_values("share_explicit", ascending=False, kind="stable")
        tables["explicit"] = table("explicit", "Share of explicitly stated values per response type (counted by "
                                   f"occurrence: records with a known explicitness; {int(confidence * 100)}% Wilson "
                                   "intervals)", ex, n_suppressed=int((~keep).sum()), what="response types")
    else:
        notes.append("no explicitness column was ingested: ingest the records with --explicit-col COLUMN for the "
                     "share of explicitly stated values")
    summary = {"n_conversations_with_response_type": total_conv,
               **{x: test[x] for x in ("chi2", "dof", "p_value")}}  # the same keys as context's test
    return AnalysisResult("responses", scope.version_id, scope.level, k,
                          {"level": scope.level, "role": scope.role, "top": top, "confidence": confidence},
                          summary, tables, notes)
