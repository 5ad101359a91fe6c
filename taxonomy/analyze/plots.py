"""Figures of the analyses, as PNG and SVG (matplotlib, no display needed: figures are drawn off-screen with the
Agg canvas). Only reported (unsuppressed) figures are drawn; each figure's footer states the privacy threshold and
how many cells were suppressed."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from taxonomy.analyze.common import AnalysisResult
from taxonomy.analyze.output import output_dir

MAX_BARS = 25
MAX_HEAT_ROWS = 30


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _short(text: str, n: int = 40) -> str:
    text = str(text)
    return text if len(text) <= n else text[: n - 1] + "…"


def _footer(fig, result: AnalysisResult, table: str) -> None:
    t = result.tables[table]
    fig.supxlabel(f"version {result.version_id}, level {result.level}; privacy threshold K = "
                  f"{result.min_conversations} conversations; {t.n_suppressed} {t.suppressed_what} suppressed",
                  fontsize=7, color="#555555")


def _dodge(ys: list[float], gap: float) -> list[float]:
    """Label positions at least ``gap`` apart, as close as possible to ``ys`` (in the same order)."""
    order = sorted(range(len(ys)), key=lambda i: ys[i])
    out = [0.0] * len(ys)
    last = -np.inf
    for i in order:
        out[i] = max(ys[i], last + gap)
        last = out[i]
    return out


def _save(fig, directory: Path, stem: str) -> list[str]:
    out = []
    for ext in ("png", "svg"):
        p = directory / f"{stem}.{ext}"
        fig.savefig(p, dpi=130 if ext == "png" else None)
        out.append(str(p))
    return out


def _df(result: AnalysisResult, name: str) -> pd.DataFrame:
    t = result.tables[name]
    return pd.DataFrame(t.rows, columns=t.columns)


def _bars(ax, labels, values, lo=None, hi=None, color="#4C72B0") -> None:
    y = np.arange(len(labels))[::-1]
    xerr = None
    if lo is not None and hi is not None:
        xerr = np.vstack([np.clip(values - lo, 0, None), np.clip(hi - values, 0, None)])
    ax.barh(y, values, xerr=xerr, color=color, ecolor="#333333", capsize=2)
    ax.set_yticks(y, [_short(s) for s in labels], fontsize=8)
    ax.xaxis.set_major_formatter(_pct())


def _pct():
    from matplotlib.ticker import PercentFormatter

    return PercentFormatter(1.0)


def _heatmap(fig, ax, matrix: np.ndarray, rows: list[str], cols: list[str], title: str, label: str) -> None:
    m = np.ma.masked_invalid(matrix)
    lim = float(np.nanmax(np.abs(matrix))) if np.isfinite(matrix).any() else 1.0
    cmap = __import__("matplotlib").colormaps["RdBu_r"].with_extremes(bad="#dddddd")
    im = ax.imshow(m, cmap=cmap, vmin=-lim, vmax=lim, aspect="auto")
    ax.set_xticks(range(len(cols)), [_short(c, 25) for c in cols], rotation=40, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)), [_short(r) for r in rows], fontsize=8)
    ax.set_title(title, fontsize=10)
    fig.colorbar(im, ax=ax, label=label + " (grey: suppressed or empty)")


def plot(result: AnalysisResult, directory: str | os.PathLike) -> list[str]:
    d = output_dir(directory, "--plot")
    d.mkdir(exist_ok=True)
    return _PLOTS[result.analysis](result, d)


def _prevalence(result: AnalysisResult, d: Path) -> list[str]:
    df = _df(result, "prevalence")
    slices = list(dict.fromkeys(df["slice"]))
    per = max((int((df["slice"] == s).sum()) for s in slices), default=1)
    fig = _figure(max(7.0, 3.4 * len(slices)), 1.5 + 0.28 * min(MAX_BARS, max(per, 1)))
    axes = fig.subplots(1, max(1, len(slices)), squeeze=False)[0]
    for ax, s in zip(axes, slices or ["(none)"]):
        g = df[df["slice"] == s].head(MAX_BARS)
        lo = g["conv_ci_low"].to_numpy() if "conv_ci_low" in g else g["wilson_low"].to_numpy()
        hi = g["conv_ci_high"].to_numpy() if "conv_ci_high" in g else g["wilson_high"].to_numpy()
        _bars(ax, g["name"].tolist(), g["share_of_conversations"].to_numpy(), lo, hi)
        ax.set_title(_short(s, 30), fontsize=10)
        ax.set_xlabel("share of conversations", fontsize=8)
    fig.suptitle("Prevalence (95% intervals)", fontsize=11)
    _footer(fig, result, "prevalence")
    return _save(fig, d, "prevalence")


def _residual_heatmap(result: AnalysisResult, d: Path, table: str, by: str, stem: str, title: str) -> list[str]:
    cells = _df(result, table)
    if cells.empty:
        return []
    order = cells.groupby("name")["residual"].max().sort_values(ascending=False).index[:MAX_HEAT_ROWS]
    sub = cells[cells["name"].isin(order)]
    mat = sub.pivot_table(index="name", columns=by, values="residual", aggfunc="first").reindex(order)
    fig = _figure(8, 1.5 + 0.3 * len(order))
    ax = fig.subplots()
    _heatmap(fig, ax, mat.to_numpy(dtype=float), list(mat.index), list(mat.columns), title, "Pearson residual")
    _footer(fig, result, table)
    return _save(fig, d, stem)


def _context(result: AnalysisResult, d: Path) -> list[str]:
    by = result.params["by"]
    return _residual_heatmap(result, d, "cells", by, "context_residuals",
                             f"Pearson residuals by {by} (most over-represented rows)")


def _consistency(result: AnalysisResult, d: Path) -> list[str]:
    most, least = _df(result, "most_context_bound"), _df(result, "least_context_bound")
    fig = _figure(9, 1.2 + 0.3 * max(len(most), len(least), 1))
    a1, a2 = fig.subplots(1, 2)
    for ax, g, title, color in ((a1, most, "most context-bound", "#C44E52"), (a2, least, "most trans-situational",
                                                                              "#55A868")):
        y = np.arange(len(g))[::-1]
        ax.barh(y, g["cv"].to_numpy(), color=color)
        ax.set_yticks(y, [_short(s) for s in g["name"]], fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("coefficient of variation across " + result.params["by"], fontsize=8)
    _footer(fig, result, "values")
    return _save(fig, d, "consistency_cv")


def _responses(result: AnalysisResult, d: Path) -> list[str]:
    dist = _df(result, "distribution")
    fig = _figure(7, 1.2 + 0.35 * max(len(dist), 1))
    ax = fig.subplots()
    _bars(ax, dist["response_type"].tolist(), dist["share_of_conversations"].to_numpy(),
          dist["wilson_low"].to_numpy(), dist["wilson_high"].to_numpy())
    ax.set_title("Response types (share of conversations, 95% Wilson intervals)", fontsize=10)
    _footer(fig, result, "distribution")
    files = _save(fig, d, "responses_distribution")
    tops = _df(result, "over_represented")
    if not tops.empty:
        files += _residual_heatmap(result, d, "over_represented", "response_type", "responses_residuals",
                                   "Values over-represented per response type (Pearson residuals)")
    return files


def _pairs(result: AnalysisResult, d: Path) -> list[str]:
    cond = _df(result, "conditional")
    if cond.empty:
        return []
    hs = cond.groupby("human")["human_conversations"].max().sort_values(ascending=False).index[:MAX_HEAT_ROWS]
    sub = cond[cond["human"].isin(hs)]
    mat = sub.pivot_table(index="human", columns="ai", values="p_ai_given_human", aggfunc="first").reindex(hs)
    fig = _figure(9, 2 + 0.3 * len(hs))
    ax = fig.subplots()
    m = np.ma.masked_invalid(mat.to_numpy(dtype=float))
    cmap = __import__("matplotlib").colormaps["viridis"].with_extremes(bad="#eeeeee")
    im = ax.imshow(m, cmap=cmap, vmin=0, aspect="auto")
    ax.set_xticks(range(mat.shape[1]), [_short(c, 25) for c in mat.columns], rotation=40, ha="right", fontsize=7)
    ax.set_yticks(range(mat.shape[0]), [_short(r) for r in mat.index], fontsize=8)
    ax.set_xlabel("AI value")
    ax.set_ylabel("human value")
    rate = result.summary.get("mirroring_rate")
    ax.set_title("P(AI value | human value), top 3 per human value"
                 + (f"; mirroring rate {rate:.1%}" if rate is not None else ""), fontsize=10)
    fig.colorbar(im, ax=ax, label="probability")
    _footer(fig, result, "conditional")
    return _save(fig, d, "pairs_conditional")


def _compare(result: AnalysisResult, d: Path) -> list[str]:
    df = _df(result, "differences")
    a, b = result.params["a"], result.params["b"]
    g = df.reindex(df["difference"].abs().sort_values(ascending=False).index).head(12)
    fig = _figure(7, 6)
    ax = fig.subplots()
    top = float(max(g["share_a"].max(), g["share_b"].max(), 0.01)) if len(g) else 1.0
    gap = top * 0.035
    left = _dodge(g["share_a"].tolist(), gap)
    right = _dodge(g["share_b"].tolist(), gap)
    for (_, r), yl, yr in zip(g.iterrows(), left, right):
        color = "#C44E52" if r["significant"] else "#999999"
        ax.plot([0, 1], [r["share_a"], r["share_b"]], marker="o", color=color, lw=1.5 if r["significant"] else 1)
        ax.text(-0.03, yl, f"{_short(r['name'], 28)} {r['share_a']:.1%}", ha="right", va="center", fontsize=7)
        ax.text(1.03, yr, f"{r['share_b']:.1%}", ha="left", va="center", fontsize=7)
    ax.set_xlim(-0.9, 1.3)
    ax.set_xticks([0, 1], [_short(a, 25), _short(b, 25)])
    ax.yaxis.set_major_formatter(_pct())
    ax.set_ylabel("share of conversations")
    ax.set_title(f"Largest differences ({result.params['correction']}-adjusted significant in red)", fontsize=10)
    _footer(fig, result, "differences")
    return _save(fig, d, "compare_slope")


_PLOTS = {"prevalence": _prevalence, "context": _context, "consistency": _consistency, "responses": _responses,
          "pairs": _pairs, "compare": _compare}
