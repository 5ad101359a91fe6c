"""Pairs: a human's value and the AI's value in the same conversation.

The human and AI records of the version are joined on the conversation (a vectorised hash join of the distinct
(conversation, unit) pairs of each side, streamed from the database), counted by distinct conversation: n(h, a) = conversations where the human expressed h and the AI a; n(h) = conversations where the
human expressed h. P(AI a | human h) = n(h, a) / n(h). The mirroring rate is the share of (conversation, human
unit) occurrences in which the AI expressed the same unit: sum_h n(h, h) / sum_h n(h); per response type from the
human record's response type.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from taxonomy.analyze.common import AnalysisResult, Frame, Scope, fetch, require, table, unit_word
from taxonomy.errors import UsageError


def pairs(session: Session, scope: Scope, *, top: int = 10) -> AnalysisResult:
    require(scope, "role", option="pairs: the column")
    if scope.role is not None:
        raise UsageError("pairs: --role does not apply (pairs always join human to AI records)")
    k = scope.k
    f = Frame(scope)
    by_type = "response_type" in scope.dimensions
    # Two streamed selections (no database sort): the distinct (conversation, unit[, response type]) of the human
    # records and the distinct (conversation, unit) of the AI records; the join on the conversation and the
    # counting are vectorised (pandas hash join and group-by).
    rt = [f.r.c.response_type] if by_type else []
    hum = fetch(session, select(f.conversation, f.unit, *rt).select_from(f.from_).where(f.r.c.role == "human"),
                ["c", "h"] + (["response_type"] if by_type else []))
    if hum.empty:
        raise UsageError(f"{scope.describe()}: no records with role human; pairs need human and AI records")
    ai = fetch(session, select(f.conversation, f.unit).select_from(f.from_).where(f.r.c.role == "ai"), ["c", "a"])
    hum["h"] = hum["h"].astype(np.int64)
    ai["a"] = ai["a"].astype(np.int64)
    hpairs = hum.drop_duplicates(["c", "h"])
    ai = ai.drop_duplicates()
    joined = hpairs[["c", "h"]].merge(ai, on="c", how="inner")
    pc = joined.groupby(["h", "a"], sort=False).size().rename("n").reset_index()
    hc = hpairs.groupby("h", sort=False).size().rename("n").reset_index()
    n_h = hc.set_index("h")["n"]
    pc["p_ai_given_human"] = pc["n"].to_numpy() / n_h.reindex(pc["h"]).to_numpy()
    mirrored = int(pc.loc[pc["h"] == pc["a"], "n"].sum())
    denom = int(hc["n"].sum())
    summary = {"human_occurrences": denom if denom >= k else None, "mirrored": mirrored if mirrored >= k else None,
               "mirroring_rate": mirrored / denom if mirrored >= k else None,
               "mirroring_suppressed": mirrored < k}
    lab = scope.labels

    def named(df: pd.DataFrame) -> pd.DataFrame:
        return df.assign(human_id=[lab[x][0] for x in df["h"]], human=[lab[x][1] for x in df["h"]],
                         ai_id=[lab[x][0] for x in df["a"]], ai=[lab[x][1] for x in df["a"]])

    keep = (pc["n"] >= k) & (n_h.reindex(pc["h"]).to_numpy() >= k)
    n_supp = int((~keep).sum())
    shown = named(pc[keep]).assign(human_conversations=lambda d: n_h.reindex(d["h"]).to_numpy(),
                                   mirror=lambda d: d["h"] == d["a"])
    cols = ["human_id", "human", "ai_id", "ai", "n", "human_conversations", "p_ai_given_human", "mirror"]
    top_pairs = shown.sort_values(["n", "human", "ai"], ascending=[False, True, True], kind="stable")[cols]
    cond = (shown.sort_values(["human", "p_ai_given_human", "ai"], ascending=[True, False, True], kind="stable")
            .groupby("h", sort=False).head(3))[cols]
    tables = {
        "top_pairs": table("top_pairs", f"The most frequent human -> AI {unit_word(scope.level)} pairs ({scope.describe()}; "
                           "n = distinct conversations)", top_pairs.head(top).rename(columns={"n": "n_conversations"}),
                           n_suppressed=n_supp, what="pairs"),
        "conditional": table("conditional", "P(AI unit | human unit): for each human unit, the three most likely AI "
                             "units (distinct conversations)", cond.rename(columns={"n": "n_conversations"}),
                             n_suppressed=n_supp, what="pairs"),
    }
    if by_type:
        typed = hum.dropna(subset=["response_type"]).drop_duplicates(["c", "h", "response_type"])
        td = typed.groupby("response_type").size().rename("human_occurrences").reset_index()
        same = typed.merge(ai, left_on=["c", "h"], right_on=["c", "a"], how="inner")
        tm = same.groupby("response_type").size().rename("mirrored").reset_index()
        per = td.merge(tm, on="response_type", how="left").fillna({"mirrored": 0})
        per["mirrored"] = per["mirrored"].astype(np.int64)
        per["human_occurrences"] = per["human_occurrences"].astype(np.int64)
        ok = per["mirrored"] >= k
        per["mirroring_rate"] = per["mirrored"] / per["human_occurrences"]
        per = per[ok].sort_values("mirroring_rate", ascending=False, kind="stable")
        tables["mirroring_by_response_type"] = table(
            "mirroring_by_response_type", "Mirroring rate per response type (occurrences: distinct (conversation, "
            "human unit); response type of the human record)", per, n_suppressed=int((~ok).sum()),
            what="response types")
    return AnalysisResult("pairs", scope.version_id, scope.level, k, {"level": scope.level, "top": top}, summary,
                          tables)
