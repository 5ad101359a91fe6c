"""The statistics of validation spot-checks: intervals for a proportion (Wilson, Clopper–Pearson), sample sizes,
proportional allocation, the stratified estimate, and inter-annotator agreement (Cohen's kappa, Krippendorff's
alpha). Pure functions, no database."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from taxonomy.errors import UsageError

CI_METHODS = ("wilson", "clopper-pearson")


def z_value(confidence: float) -> float:
    from scipy.stats import norm

    return float(norm.isf((1.0 - confidence) / 2.0))


def check_confidence(confidence: float) -> None:
    if not (0.0 < confidence < 1.0):
        raise UsageError(f"confidence must be between 0 and 1 (exclusive), got {confidence}")


def wilson_interval(successes: float, n: float, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (as ``statsmodels`` ``proportion_confint(method="wilson")``).

    ``successes`` may be fractional (an effective count, for the stratified estimate)."""
    check_confidence(confidence)
    if n <= 0:
        raise ValueError("the interval needs at least one observation")
    p = successes / n
    z = z_value(confidence)
    z2 = z * z
    denom = 1.0 + z2 / n
    center = (p + z2 / (2.0 * n)) / denom
    dist = z * math.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n)) / denom
    # the bounds are exactly 0 (no successes) and 1 (no failures); say so rather than 1 − 1e-16
    low = 0.0 if successes <= 0 else max(0.0, center - dist)
    high = 1.0 if successes >= n else min(1.0, center + dist)
    return low, high


def clopper_pearson_interval(successes: float, n: float, confidence: float = 0.95) -> tuple[float, float]:
    """Clopper–Pearson ("exact", beta) interval (as ``proportion_confint(method="beta")``)."""
    from scipy.stats import beta

    check_confidence(confidence)
    if n <= 0:
        raise ValueError("the interval needs at least one observation")
    a = (1.0 - confidence) / 2.0
    low = 0.0 if successes <= 0 else float(beta.ppf(a, successes, n - successes + 1))
    high = 1.0 if successes >= n else float(beta.isf(a, successes + 1, n - successes))
    return low, high


def proportion_interval(successes: float, n: float, confidence: float = 0.95, method: str = "wilson"):
    if method == "wilson":
        return wilson_interval(successes, n, confidence)
    if method in ("clopper-pearson", "beta", "exact"):
        return clopper_pearson_interval(successes, n, confidence)
    raise UsageError(f"unknown interval method {method!r}; choose one of: {', '.join(CI_METHODS)}")


def sample_size(margin: float, confidence: float = 0.95, expected: float = 0.5, population: int | None = None) -> int:
    """Records needed to estimate a proportion near ``expected`` within ± ``margin`` at ``confidence``.

    n0 = z² p(1−p) / m² (normal approximation); with a finite population of N records, Cochran's correction
    n = n0 / (1 + (n0 − 1)/N); rounded up, and never more than N."""
    if not (0.0 < margin < 1.0):
        raise UsageError(f"margin must be between 0 and 1 (exclusive), e.g. 0.01 for ±1 point; got {margin}")
    check_confidence(confidence)
    if not (0.0 < expected < 1.0):
        raise UsageError(
            f"expected accuracy must be between 0 and 1 (exclusive), e.g. 0.98; got {expected} "
            "(at 0 or 1 the normal approximation gives no sample at all)"
        )
    z = z_value(confidence)
    n0 = z * z * expected * (1.0 - expected) / (margin * margin)
    if population is not None and population > 0:
        n = n0 / (1.0 + (n0 - 1.0) / population)
        return max(1, min(population, math.ceil(n - 1e-9)))
    return max(1, math.ceil(n0 - 1e-9))


def allocate(sizes: Mapping[str, int], n: int) -> dict[str, int]:
    """Proportional allocation of ``n`` draws over strata of the given sizes.

    n_h = ⌊n·N_h/N⌋, at least 1 per non-empty stratum, never more than N_h; the remaining draws go to the
    largest remainders (ties: larger stratum, then key). Exact integer arithmetic: deterministic. Empty strata
    get 0. Raises when n > N or n is smaller than the number of non-empty strata."""
    keys = sorted(k for k, v in sizes.items() if v > 0)
    total = sum(sizes[k] for k in keys)
    if n > total:
        raise UsageError(f"cannot draw {n} from {total} records")
    if n < len(keys):
        raise UsageError(
            f"a sample of {n} cannot cover the {len(keys)} non-empty strata (at least 1 each); "
            f"ask for at least {len(keys)}"
        )
    out = {k: 0 for k in sizes}
    if n == 0:
        return out
    # quota_h = n * N_h / total, kept as the exact fraction (n * N_h) / total
    for k in keys:
        out[k] = max(1, (n * sizes[k]) // total)
    given = sum(out[k] for k in keys)
    # surplus from the "at least 1" rule: take back from the strata furthest above their quota
    while given > n:
        k = min((k for k in keys if out[k] > 1), key=lambda k: (n * sizes[k] - out[k] * total, sizes[k], k))
        out[k] -= 1
        given -= 1
    # the rest to the largest remainders n·N_h − n_h·N (ties: the larger stratum, then the smaller key)
    while given < n:
        k = min((k for k in keys if out[k] < sizes[k]), key=lambda k: (out[k] * total - n * sizes[k], -sizes[k], k))
        out[k] += 1
        given += 1
    return out


def cohens_kappa(pairs: Sequence[tuple[Any, Any]], categories: Sequence[Any] | None = None) -> float | None:
    """Cohen's kappa of two raters from their paired answers; None when undefined (chance agreement is 1)."""
    if not pairs:
        return None
    cats = list(categories) if categories is not None else sorted({a for p in pairs for a in p}, key=str)
    table = contingency_table(pairs, cats)
    n = float(sum(sum(r) for r in table))
    po = sum(table[i][i] for i in range(len(cats))) / n
    rows = [sum(r) / n for r in table]
    cols = [sum(table[i][j] for i in range(len(cats))) / n for j in range(len(cats))]
    pe = sum(r * c for r, c in zip(rows, cols))
    if pe >= 1.0:
        return None
    return (po - pe) / (1.0 - pe)


def contingency_table(pairs: Sequence[tuple[Any, Any]], categories: Sequence[Any]) -> list[list[int]]:
    idx = {c: i for i, c in enumerate(categories)}
    table = [[0] * len(categories) for _ in categories]
    for a, b in pairs:
        table[idx[a]][idx[b]] += 1
    return table


def krippendorff_alpha_nominal(units: Iterable[Sequence[Any]]) -> float | None:
    """Krippendorff's alpha for nominal data: one sequence of values per unit (missing values left out; units
    with fewer than two values are not pairable and ignored). None when undefined (no pairable values, or no
    variation at all). Coincidence-matrix form (Krippendorff 2011, "Computing Krippendorff's alpha-reliability")."""
    coinc: dict[tuple[Any, Any], float] = defaultdict(float)
    for vals in units:
        vals = list(vals)
        m = len(vals)
        if m < 2:
            continue
        counts = Counter(vals)
        for c, nc in counts.items():
            for k, nk in counts.items():
                pairs = nc * (nc - 1) if c == k else nc * nk
                if pairs:
                    coinc[(c, k)] += pairs / (m - 1)
    marg: dict[Any, float] = defaultdict(float)
    for (c, _k), v in coinc.items():
        marg[c] += v
    n = sum(marg.values())
    if n <= 1:
        return None
    d_o = sum(v for (c, k), v in coinc.items() if c != k)
    d_e = sum(marg[c] * marg[k] for c in marg for k in marg if c != k) / (n - 1.0)
    if d_e <= 0:
        return None
    return 1.0 - d_o / d_e


def stratified_estimate(
    strata: Sequence[tuple[float, int, int, int]], confidence: float = 0.95, method: str = "wilson"
) -> dict[str, Any]:
    """The stratified accuracy from (W_h, N_h, n_h, successes_h) per stratum with n_h > 0.

    p_st = Σ W_h p_h with W_h = N_h/N renormalised over the strata given; variance
    Σ W_h² (1 − n_h/N_h) p_h(1 − p_h)/(n_h − 1) (Cochran 1977, 5.3; n_h − 1 replaced by 1 when n_h = 1).
    The interval is the chosen method at the effective sample size n_eff = p(1 − p)/var (Korn & Graubard 1998),
    capped at Σ n_h, and Σ n_h when the variance is 0 (e.g. every judged item correct)."""
    wsum = sum(w for w, *_ in strata)
    p = 0.0
    var = 0.0
    n_tot = 0
    for w, N_h, n_h, s_h in strata:
        W = w / wsum
        p_h = s_h / n_h
        p += W * p_h
        f = n_h / N_h if N_h else 0.0
        var += W * W * max(0.0, 1.0 - f) * p_h * (1.0 - p_h) / max(1, n_h - 1)
        n_tot += n_h
    se = math.sqrt(var)
    if var > 0 and 0 < p < 1:
        n_eff = min(float(n_tot), p * (1.0 - p) / var)
    else:
        n_eff = float(n_tot)
    low, high = proportion_interval(p * n_eff, n_eff, confidence, method)
    z = z_value(confidence)
    return {
        "estimate": p,
        "se": se,
        "ci_low": low,
        "ci_high": high,
        "method": method,
        "n_eff": n_eff,
        "normal_ci": [max(0.0, p - z * se), min(1.0, p + z * se)],
    }
