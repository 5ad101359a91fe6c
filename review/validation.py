"""Validation spot-checks: is an extracted value really expressed in the excerpt it was extracted from?

Three steps, each a function here and a ``taxo validate`` command:

:func:`plan`
    How many records to check for a given margin of error, confidence and expected accuracy (normal
    approximation with a finite-population correction; per stratum with proportional allocation).
:func:`sample`
    Draw a stored, reproducible sample of extraction records (optionally stratified by role, value frequency or
    top-level category of a taxonomy version; optionally with personal data redacted from the excerpts).
:func:`report`
    Accuracy with a Wilson (or Clopper–Pearson) interval, per stratum, the stratified estimate weighted back to
    the population, inter-annotator agreement (Cohen's kappa, Krippendorff's alpha) and the values judged wrong
    most often.

Label Studio push/pull lives in :mod:`review.validation_ls`; the judgements it pulls are
:class:`~taxonomy.db.models.ValidationJudgement` rows.

Definitions (also in the README)
--------------------------------
*Population*: the extraction records that have an evidence excerpt (a record without one cannot be checked),
optionally restricted to some values. Records without an excerpt are counted and reported, never sampled.

*Strata*: ``role`` (``ai``, ``human``, ``unknown`` when the file had no role); ``frequency`` (terciles of the
values' record counts: the values are ranked by their number of extraction records and cut at the counts of the
values at ranks ⌈V/3⌉ and ⌈2V/3⌉, so ``low`` = count ≤ c1, ``mid`` = c1 < count ≤ c2, ``high`` = count > c2; ties
stay together, so a band can be empty); ``levelK`` (e.g. ``level3``: the value's ancestor at level K of a taxonomy
version — the top-level category of a three-level tree; values not placed in that version form the stratum
``unplaced``).

*Allocation*: proportional, n_h = n·N_h/N, rounded down, at least 1 per non-empty stratum, the remaining units
to the largest remainders (ties: the larger stratum, then the stratum key) — exact integer arithmetic, so it is
deterministic. Within a stratum, records are drawn without replacement with a generator seeded by
(seed, stratum key); the items are then shuffled (seeded) so that strata interleave.

*Verdict of an item*: each validator's answer is ``expressed``, ``not_expressed`` or ``cannot_tell`` (one answer
per validator and item: the latest). The item's verdict is the majority of its expressed / not-expressed answers;
a tie is ``disputed`` and counts as not expressed (conservative); an item with only cannot-tell answers is
``cannot_tell``. Accuracy = expressed / (expressed + not expressed + disputed): cannot-tell items are excluded
and reported separately. Answers that are none of the three are listed as unknown and not counted.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from taxonomy.errors import NotFoundError, UsageError

ANSWERS = ("expressed", "not_expressed", "cannot_tell")
ANSWER_LABELS = {"expressed": "Expressed", "not_expressed": "Not expressed", "cannot_tell": "Cannot tell"}
CI_METHODS = ("wilson", "clopper-pearson")
FREQUENCY_BANDS = ("low", "mid", "high")
ROLE_LABELS = {"ai": "AI value", "human": "human value", "unknown": "role not given"}
UNPLACED = "unplaced"
_LEVEL_RE = re.compile(r"^level(\d+)$")


# ================================================================================================ statistics
def _z(confidence: float) -> float:
    from scipy.stats import norm

    return float(norm.isf((1.0 - confidence) / 2.0))


def _check_confidence(confidence: float) -> None:
    if not (0.0 < confidence < 1.0):
        raise UsageError(f"confidence must be between 0 and 1 (exclusive), got {confidence}")


def wilson_interval(successes: float, n: float, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (as ``statsmodels`` ``proportion_confint(method="wilson")``).

    ``successes`` may be fractional (an effective count, for the stratified estimate)."""
    _check_confidence(confidence)
    if n <= 0:
        raise ValueError("the interval needs at least one observation")
    p = successes / n
    z = _z(confidence)
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

    _check_confidence(confidence)
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
    _check_confidence(confidence)
    if not (0.0 < expected < 1.0):
        raise UsageError(
            f"expected accuracy must be between 0 and 1 (exclusive), e.g. 0.98; got {expected} "
            "(at 0 or 1 the normal approximation gives no sample at all)"
        )
    z = _z(confidence)
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


# ================================================================================================ redaction
@dataclass(frozen=True)
class _Rule:
    kind: str
    placeholder: str
    pattern: re.Pattern
    check: Any = None  #: optional predicate on the matched text


def _ipv6_ok(text: str) -> bool:
    addr = text.split("%", 1)[0]
    # "a::b" (C++ scopes) and "cafe::beef" are valid addresses but rarely meant as one: ask for a decimal digit
    if not re.search(r"[0-9]", addr):
        return False
    try:
        ipaddress.IPv6Address(addr)
    except ValueError:
        return False
    return True


def _ipv4_ok(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


_DATE_LIKE = re.compile(
    r"^(?:\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4}|\d{4}\s?[-–]\s?\d{4})$"
)


def _phone_ok(text: str) -> bool:
    digits = sum(ch.isdigit() for ch in text)
    if not (7 <= digits <= 15):
        return False
    return not _DATE_LIKE.match(text.strip())


_URL_TAIL = ".,;:!?'\")]}>"
#: top-level domains recognised in a bare ``host.tld/path`` (without a scheme or www.): the common ones, and none
#: that is also a common file extension (``Node.js/React``, ``setup.py/…`` stay)
_BARE_TLDS = (
    "com|net|org|edu|gov|mil|int|io|co|ai|app|dev|info|biz|me|tv|us|uk|de|fr|es|it|nl|be|ch|at|se|no|dk|fi|ie|"
    "pt|pl|ru|cn|jp|kr|in|au|nz|ca|br|mx|ar|za|eu"
)

#: The redaction rules, applied in this order (URLs first: they can contain e-mail addresses, IPs and digits).
REDACTION_RULES: tuple[_Rule, ...] = (
    _Rule(
        "url",
        "[URL]",
        re.compile(
            r"(?i)(?<![\w@.])(?:(?:https?|ftps?|sftp|file)://|www\.)[^\s<>\"'`]+"
            r"|(?<![\w@./-])(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?:" + _BARE_TLDS + r")/[^\s<>\"'`]*"
        ),
    ),
    _Rule(
        "email",
        "[EMAIL]",
        re.compile(r"(?<![\w.+-])\w[\w.!#$%&'*+/=?^`{|}~-]*@(?:\w(?:[\w-]{0,61}\w)?\.)+[^\W\d_]{2,}(?![\w-])"),
    ),
    _Rule(
        "ip",
        "[IP]",
        re.compile(
            r"(?<![\w:.])(?:(?:[0-9A-Fa-f]{1,4}:){1,7}:?|::)(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,6}"
            r"(?::(?:\d{1,3}\.){3}\d{1,3})?|(?:\d{1,3}\.){3}\d{1,3})?(?:%[0-9A-Za-z_]+(?:[.\-][0-9A-Za-z_]+)*)?(?![\w:]|\.\d)"
        ),
        _ipv6_ok,
    ),
    _Rule(
        "ip",
        "[IP]",
        re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)"),
        _ipv4_ok,
    ),
    _Rule(
        "phone",
        "[PHONE]",
        re.compile(
            # international: +CC then 2-6 groups of digits separated by space, dot, dash or parentheses
            r"(?<![\w+])\+\d{1,3}(?:[ .\-]?(?:\(\d{1,4}\)|\d{1,4})){2,6}(?![\w])"
            # (area code) 555-2671
            r"|(?<!\w)\(\d{2,5}\)[ .\-]?\d{2,4}(?:[ .\-]\d{2,4}){0,2}(?!\w)"
            # 415-555-2671, 415.555.2671, 415 555 2671
            r"|(?<![\w.\-])(?:1[ .\-])?\d{3}([ .\-])\d{3}\1\d{4}(?![\w]|[.\-]\d)"
            # national numbers with a trunk 0: 020 7946 0958, 06-12345678, 0171 1234567
            r"|(?<![\w.\-])0\d{1,4}[ .\-/]\d{3,8}(?:[ .\-]\d{2,4}){0,2}(?![\w]|[.\-]\d)"
        ),
        _phone_ok,
    ),
    _Rule(
        "digits",
        "[NUMBER]",
        # card-like groups (4111 1111 1111 1111) and any run of 6 or more digits (not the decimals of a number)
        re.compile(r"(?<!\d)\d{4}(?:[ \-]\d{4}){2,}(?:[ \-]\d{1,4})?(?!\d)|(?<!\d[.,])(?<!\d)\d{6,}(?!\d)"),
    ),
)
REDACTION_KINDS = ("url", "email", "ip", "phone", "digits")


def _trim_url(s: str) -> tuple[str, str]:
    """Split trailing sentence punctuation off a URL; a closing bracket that closes one opened inside the URL
    (``wiki/Foo_(bar)``) stays."""
    end = len(s)
    while end > 0 and s[end - 1] in _URL_TAIL:
        ch = s[end - 1]
        opener = {")": "(", "]": "[", "}": "{"}.get(ch)
        if opener and s[:end].count(opener) >= s[:end].count(ch):
            break
        end -= 1
    return s[:end], s[end:]


@dataclass
class Redaction:
    text: str
    n: int
    by_kind: dict[str, int]


def redact(text: str | None) -> Redaction:
    """Remove e-mail addresses, phone numbers, URLs, IP addresses (v4 and v6) and runs of 6 or more digits
    from ``text``; each is replaced by a placeholder such as ``[EMAIL]``. Returns the text and the counts."""
    by_kind = {k: 0 for k in REDACTION_KINDS}
    if not text:
        return Redaction(text, 0, by_kind)  # type: ignore[arg-type]
    for rule in REDACTION_RULES:

        def sub(m: re.Match, rule: _Rule = rule) -> str:
            s, tail = m.group(0), ""
            if rule.kind == "url":
                s, tail = _trim_url(s)
                if len(s) <= 4 or s.lower().endswith("://"):
                    return m.group(0)
            if rule.check is not None and not rule.check(s):
                return m.group(0)
            by_kind[rule.kind] += 1
            return rule.placeholder + tail

        text = rule.pattern.sub(sub, text)
    return Redaction(text, sum(by_kind.values()), by_kind)


# ================================================================================================ population
@dataclass
class _Population:
    records: list[tuple[int, int, str]]  #: (record id, value id, stratum key), ordered by record id
    strata: dict[str, dict[str, Any]]  #: key -> {"records", "values", "label", ...}
    n_without_excerpt: int
    n_records_total: int
    scope: dict[str, Any]

    @property
    def size(self) -> int:
        return len(self.records)

    def fingerprint(self) -> str:
        h = hashlib.sha256()
        for rid, _vid, key in self.records:
            h.update(f"{rid}:{key}\n".encode())
        return h.hexdigest()


def _check_stratify(stratify: str | None) -> str | None:
    if stratify in (None, "", "none"):
        return None
    if stratify in ("role", "frequency") or _LEVEL_RE.match(stratify):
        return stratify
    raise UsageError(f"unknown stratification {stratify!r}; choose one of: role, frequency, level3 (any levelK)")


def _resolve_values(session: Session, values: Sequence[str]) -> dict[int, str]:
    from taxonomy.db.models import Value
    from taxonomy.normalize import normalize_value

    wanted = [v for v in (s.strip() for s in values) if v]
    if not wanted:
        raise UsageError("--values names no value")
    out: dict[int, str] = {}
    for raw in wanted:
        row = session.execute(select(Value.id, Value.text).where(Value.text == raw)).first()
        if row is None:
            row = session.execute(select(Value.id, Value.text).where(Value.text == normalize_value(raw))).first()
        if row is None:
            raise NotFoundError(f"value {raw!r} is not in the database")
        out[int(row[0])] = row[1]
    return out


def _load_population(
    session: Session,
    *,
    stratify: str | None,
    version: int | None,
    values: Sequence[str] | None,
) -> _Population:
    from taxonomy.db.models import ExtractionRecord, Value

    stratify = _check_stratify(stratify)
    n_total = session.scalar(select(func.count()).select_from(ExtractionRecord)) or 0
    if n_total == 0:
        raise UsageError(
            "no extraction records in the database: ingest a records file first, e.g. "
            "`taxo ingest extractions.jsonl --conversation-col conversation_id --role-col role --excerpt-col excerpt`"
        )
    has_excerpt = ExtractionRecord.excerpt.is_not(None) & (ExtractionRecord.excerpt != "")
    q = select(ExtractionRecord.id, ExtractionRecord.value_id, ExtractionRecord.role).where(has_excerpt)
    q_missing = select(func.count()).select_from(ExtractionRecord).where(~has_excerpt)
    scope: dict[str, Any] = {"values": None}
    chosen: dict[int, str] | None = None
    if values:
        chosen = _resolve_values(session, values)
        scope["values"] = sorted(chosen.values())
        ids = list(chosen)
        q = q.where(ExtractionRecord.value_id.in_(ids))
        q_missing = q_missing.where(ExtractionRecord.value_id.in_(ids))
        counts = dict(
            session.execute(
                select(ExtractionRecord.value_id, func.count())
                .where(ExtractionRecord.value_id.in_(ids), has_excerpt)
                .group_by(ExtractionRecord.value_id)
            ).all()
        )
        any_counts = dict(
            session.execute(
                select(ExtractionRecord.value_id, func.count())
                .where(ExtractionRecord.value_id.in_(ids))
                .group_by(ExtractionRecord.value_id)
            ).all()
        )
        for vid, text in sorted(chosen.items(), key=lambda kv: kv[1]):
            if not any_counts.get(vid):
                raise UsageError(
                    f"value {text!r} has no extraction records (it was ingested only as an aggregated value), "
                    "so it cannot be sampled"
                )
            if not counts.get(vid):
                raise UsageError(
                    f"value {text!r} has {any_counts[vid]} extraction record(s) but none with an excerpt, "
                    "so it cannot be validated; ingest its records with --excerpt-col"
                )
    rows = session.execute(q.order_by(ExtractionRecord.id)).all()
    n_missing = int(session.scalar(q_missing) or 0)
    if not rows:
        raise UsageError(
            f"none of the {n_total} extraction records has an evidence excerpt, and validators need one: "
            "ingest the records with --excerpt-col"
        )

    strata: dict[str, dict[str, Any]] = {}
    keyed: list[tuple[int, int, str]] = []
    if stratify is None:
        keyed = [(int(r), int(v), "all") for r, v, _ in rows]
        strata["all"] = {"label": "all records"}
    elif stratify == "role":
        keyed = [(int(r), int(v), role or "unknown") for r, v, role in rows]
        for key in sorted({k for _, _, k in keyed}):
            strata[key] = {"label": ROLE_LABELS.get(key, key)}
    elif stratify == "frequency":
        vids = sorted({int(v) for _, v, _ in rows})
        freq: dict[int, int] = {}
        for part in _chunks(vids):
            freq.update(
                {
                    int(v): int(c)
                    for v, c in session.execute(
                        select(ExtractionRecord.value_id, func.count())
                        .where(ExtractionRecord.value_id.in_(part))
                        .group_by(ExtractionRecord.value_id)
                    )
                }
            )
        counts_sorted = sorted(freq[v] for v in vids)
        nv = len(counts_sorted)
        c1 = counts_sorted[math.ceil(nv / 3) - 1]
        c2 = counts_sorted[math.ceil(2 * nv / 3) - 1]

        def band(c: int) -> str:
            return "low" if c <= c1 else ("mid" if c <= c2 else "high")

        keyed = [(int(r), int(v), band(freq[int(v)])) for r, v, _ in rows]
        for key in FREQUENCY_BANDS:
            in_band = [freq[v] for v in vids if band(freq[v]) == key]
            if not in_band:
                continue
            lo, hi = min(in_band), max(in_band)
            span = f"{lo}" if lo == hi else f"{lo}–{hi}"
            strata[key] = {"label": f"{key} frequency ({span} records per value)", "min_count": lo, "max_count": hi}
        scope["frequency_cuts"] = [c1, c2]
    else:
        level = int(_LEVEL_RE.match(stratify).group(1))  # type: ignore[union-attr]
        if version is None:
            raise UsageError(
                f"--stratify {stratify} needs a taxonomy version (--version V): the strata are the values' "
                f"level-{level} categories in that version"
            )
        from taxonomy.store import read_tree

        tree = read_tree(session, version)
        if not (1 <= level <= tree.depth):
            raise UsageError(f"version {version} has levels 1..{tree.depth}; there is no level {level}")
        anc = tree.ancestors_by_level()[level]
        placed = {leaf.value_id: uid for leaf, uid in zip(tree.leaves, anc)}
        keyed = [(int(r), int(v), placed.get(int(v), UNPLACED)) for r, v, _ in rows]
        for key in sorted({k for _, _, k in keyed}):
            if key == UNPLACED:
                strata[key] = {"label": f"values not in version {version}"}
            else:
                node = tree.nodes[key]
                strata[key] = {"label": node.name, "node": key}
        scope["version"] = version
        scope["level"] = level

    rec_counts = Counter(k for _, _, k in keyed)
    val_sets: dict[str, set[int]] = defaultdict(set)
    for _, v, k in keyed:
        val_sets[k].add(v)
    for key in list(strata):
        if rec_counts.get(key, 0) == 0:
            del strata[key]
            continue
        strata[key]["records"] = rec_counts[key]
        strata[key]["values"] = len(val_sets[key])
    return _Population(keyed, strata, n_missing, int(n_total), scope)


def _chunks(items: Sequence, size: int = 500):
    for i in range(0, len(items), size):
        yield items[i : i + size]


# ================================================================================================ plan
@dataclass
class PlanStratum:
    stratum: str
    label: str
    records: int
    share: float
    n: int
    margin: float  #: the expected ± margin of this stratum's own estimate at this allocation


@dataclass
class PlanResult:
    margin: float
    confidence: float
    expected: float
    z: float
    n_infinite: float  #: z² p(1−p)/m², before rounding and correction
    population: int | None  #: records with an excerpt (None: no records yet, no correction)
    n: int  #: records to sample
    stratify: str | None
    strata: list[PlanStratum] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def plan(
    *,
    margin: float = 0.01,
    confidence: float = 0.95,
    expected: float = 0.98,
    stratify: str | None = None,
    version: int | None = None,
    values: Sequence[str] | None = None,
    db: str | Engine | None = None,
) -> PlanResult:
    """How many records a sample needs so that the accuracy estimate is within ± ``margin`` at ``confidence``
    when the accuracy is about ``expected``; per stratum (proportional allocation) when ``stratify`` is given."""
    from taxonomy.db.engine import session_scope

    stratify = _check_stratify(stratify)
    sample_size(margin, confidence, expected)  # validates the arguments
    z = _z(confidence)
    n_inf = z * z * expected * (1 - expected) / (margin * margin)
    notes: list[str] = []
    with session_scope(db) as session:
        try:
            pop = _load_population(session, stratify=stratify, version=version, values=values)
        except UsageError as exc:
            if stratify is None and not values and "no extraction records" in str(exc):
                pop = None
            else:
                raise
    if pop is None:
        n = sample_size(margin, confidence, expected)
        notes.append("no extraction records ingested yet: no finite-population correction applied")
        return PlanResult(margin, confidence, expected, z, n_inf, None, n, None, [], notes)
    N = pop.size
    n = sample_size(margin, confidence, expected, N)
    if pop.n_without_excerpt:
        notes.append(f"{pop.n_without_excerpt} records have no excerpt and are not part of the population")
    if n >= N:
        notes.append(f"the population has only {N} records: check them all (`taxo validate sample --all`)")
    strata: list[PlanStratum] = []
    sizes = {k: s["records"] for k, s in pop.strata.items()}
    if stratify is not None:
        if n < len(sizes):
            notes.append(f"raised to {len(sizes)} so that every stratum gets at least one record")
            n = len(sizes)
        alloc = allocate(sizes, n)
        for key, info in pop.strata.items():
            nh, Nh = alloc[key], info["records"]
            fpc = (Nh - nh) / (Nh - 1) if Nh > 1 else 0.0
            m_h = z * math.sqrt(expected * (1 - expected) / nh * fpc) if nh else float("nan")
            strata.append(PlanStratum(key, info["label"], Nh, Nh / N, nh, m_h))
        strata.sort(key=lambda s: (-s.records, s.stratum))
    return PlanResult(margin, confidence, expected, z, n_inf, N, n, stratify, strata, notes)


# ================================================================================================ sample
@dataclass
class SampleResult:
    sample_id: int
    n: int
    seed: int
    stratify: str | None
    redact: bool
    population: int
    n_without_excerpt: int
    strata: list[dict[str, Any]]
    n_redactions: int
    redactions_by_kind: dict[str, int]
    n_items_redacted: int
    same_as: int | None  #: an earlier sample with exactly the same records, if any
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def _stratum_seed(seed: int, key: str) -> list[int]:
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return [int(seed) & 0xFFFFFFFF, int.from_bytes(digest[:8], "big")]


def draw(population: Sequence[tuple[int, int, str]], alloc: Mapping[str, int], seed: int) -> list[tuple[int, int, str]]:
    """Draw the allocated number of records from each stratum (without replacement, seeded by (seed, key)), then
    shuffle them (seeded) into the order they are shown. Deterministic for a given population order and seed."""
    import numpy as np

    by_stratum: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
    for row in population:
        by_stratum[row[2]].append(row)
    chosen: list[tuple[int, int, str]] = []
    for key in sorted(by_stratum):
        rows = by_stratum[key]
        k = alloc.get(key, 0)
        if k <= 0:
            continue
        if k >= len(rows):
            chosen.extend(rows)
            continue
        rng = np.random.default_rng(_stratum_seed(seed, key))
        idx = np.sort(rng.choice(len(rows), size=k, replace=False))
        chosen.extend(rows[int(i)] for i in idx)
    chosen.sort(key=lambda r: r[0])
    order = np.random.default_rng(_stratum_seed(seed, "\x00order")).permutation(len(chosen))
    return [chosen[int(i)] for i in order]


def sample(
    *,
    n: int | None = None,
    stratify: str | None = None,
    seed: int = 0,
    redact: bool = False,  # noqa: A002 - the CLI option is --redact
    version: int | None = None,
    values: Sequence[str] | None = None,
    all: bool = False,  # noqa: A002 - the CLI option is --all
    db: str | Engine | None = None,
) -> SampleResult:
    """Draw and store a sample of extraction records; returns its id. Every call stores a new sample (a stored
    sample never changes); the same population, options and seed give the same records in the same order."""
    from taxonomy.db.engine import session_scope
    from taxonomy.db.models import ExtractionRecord, ValidationItem, ValidationSample

    stratify = _check_stratify(stratify)
    if n is None and not all:
        raise UsageError("say how many records to sample (--n N), or --all for every record")
    if n is not None and n <= 0:
        raise UsageError(f"--n must be positive, got {n}")
    if isinstance(seed, bool) or not isinstance(seed, int) or not (0 <= seed < 2**31):
        raise UsageError(f"--seed must be an integer between 0 and 2^31-1, got {seed!r}")
    notes: list[str] = []
    with session_scope(db) as session:
        pop = _load_population(session, stratify=stratify, version=version, values=values)
        N = pop.size
        if n is None or n >= N:
            if n is not None and n > N and not all:
                raise UsageError(
                    f"asked for {n} records but the population has only {N} (extraction records with an excerpt"
                    + (f"; {pop.n_without_excerpt} more have none" if pop.n_without_excerpt else "")
                    + "); ask for fewer, or pass --all to check every record"
                )
            if n is not None and n > N:
                notes.append(f"asked for {n}, the population has {N}: every record is in the sample (--all)")
            n_eff = N
        else:
            n_eff = n
        sizes = {k: s["records"] for k, s in pop.strata.items()}
        alloc = allocate(sizes, n_eff)
        chosen = draw(pop.records, alloc, seed)

        excerpts: dict[int, str | None] = {}
        ids = [r for r, _, _ in chosen]
        for part in _chunks(ids):
            excerpts.update(
                {
                    int(i): e
                    for i, e in session.execute(
                        select(ExtractionRecord.id, ExtractionRecord.excerpt).where(ExtractionRecord.id.in_(part))
                    )
                }
            )
        h = hashlib.sha256()
        for rid, _, key in chosen:
            h.update(f"{rid}:{key}\n".encode())
        selection = h.hexdigest()
        params = {
            "n_requested": n,
            "all": bool(all),
            "version": version,
            "values": pop.scope.get("values"),
            "selection_sha256": selection,
            "allocation": {k: alloc[k] for k in sorted(alloc)},
        }
        by_kind = {k: 0 for k in REDACTION_KINDS}
        rows = []
        for pos, (rid, _vid, key) in enumerate(chosen):
            text = excerpts[rid]
            n_red = 0
            if redact:
                r = redact_fn(text)
                text, n_red = r.text, r.n
                for k, v in r.by_kind.items():
                    by_kind[k] += v
            rows.append({"record_id": rid, "position": pos, "stratum": key, "excerpt": text, "n_redactions": n_red})
        params["redactions"] = by_kind if redact else None
        population = {
            "records": N,
            "records_total": pop.n_records_total,
            "records_without_excerpt": pop.n_without_excerpt,
            "fingerprint": pop.fingerprint(),
            "strata": {k: dict(v) for k, v in sorted(pop.strata.items())},
            **{k: v for k, v in pop.scope.items() if k not in ("values",)},
        }
        same_as = None
        for sid, prm in session.execute(
            select(ValidationSample.id, ValidationSample.params).order_by(ValidationSample.id)
        ):
            if (prm or {}).get("selection_sha256") == selection:
                same_as = int(sid)
                break
        vs = ValidationSample(
            seed=seed,
            n=len(rows),
            stratify=stratify,
            redact=bool(redact),
            params=params,
            population=population,
        )
        session.add(vs)
        session.flush()
        for part in _chunks(rows, 2000):
            session.execute(
                ValidationItem.__table__.insert(), [dict(r, sample_id=vs.id) for r in part]
            )
        sample_id = int(vs.id)
    strata = [
        {"stratum": k, "label": pop.strata[k]["label"], "records": pop.strata[k]["records"], "n": alloc[k]}
        for k in sorted(pop.strata, key=lambda k: (-pop.strata[k]["records"], k))
    ]
    n_red_items = sum(1 for r in rows if r["n_redactions"])
    return SampleResult(
        sample_id=sample_id,
        n=len(rows),
        seed=seed,
        stratify=stratify,
        redact=bool(redact),
        population=N,
        n_without_excerpt=pop.n_without_excerpt,
        strata=strata,
        n_redactions=sum(by_kind.values()),
        redactions_by_kind=by_kind if redact else {},
        n_items_redacted=n_red_items,
        same_as=same_as,
        notes=notes,
    )


redact_fn = redact  # ``sample`` has a parameter named ``redact``


# ================================================================================================ report
@dataclass
class Interval:
    estimate: float | None
    successes: float
    n: float
    ci_low: float | None
    ci_high: float | None
    method: str


@dataclass
class StratumReport:
    stratum: str
    label: str
    population: int
    share: float  #: N_h / N
    n_items: int
    judged: int  #: items with a verdict other than cannot-tell
    expressed: int
    not_expressed: int
    disputed: int  #: ties, counted as wrong
    cannot_tell: int
    unjudged: int
    accuracy: Interval | None


@dataclass
class ValidationReport:
    sample_id: int
    stratify: str | None
    seed: int
    redact: bool
    confidence: float
    ci_method: str
    n_items: int
    population: int
    answers: dict[str, int]  #: judgements per answer (counted ones only)
    n_judgements: int
    unknown_answers: list[dict[str, Any]]
    items: dict[str, int]  #: verdicts: expressed, not_expressed, disputed, cannot_tell, unjudged
    overall: Interval | None
    strata: list[StratumReport]
    stratified: dict[str, Any] | None
    agreement: dict[str, Any]
    most_wrong: list[dict[str, Any]]
    redactions: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    #: the items judged not expressed (or disputed) and the items with a validator's comment: position, value,
    #: verdict, and each validator's answer and comment; not expressed with comments first, then not expressed
    #: without, then the rest with comments (each by position)
    comments: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def item_verdict(answers: Sequence[str]) -> str | None:
    """The verdict of one item from its validators' answers (unknown answers already removed); None when the
    item has no answer at all."""
    if not answers:
        return None
    c = Counter(answers)
    yes, no = c.get("expressed", 0), c.get("not_expressed", 0)
    if yes == 0 and no == 0:
        return "cannot_tell"
    if yes > no:
        return "expressed"
    if no > yes:
        return "not_expressed"
    return "disputed"


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
    z = _z(confidence)
    return {
        "estimate": p,
        "se": se,
        "ci_low": low,
        "ci_high": high,
        "method": method,
        "n_eff": n_eff,
        "normal_ci": [max(0.0, p - z * se), min(1.0, p + z * se)],
    }


def report(
    sample_id: int,
    *,
    ci: str = "wilson",
    confidence: float = 0.95,
    top: int = 10,
    db: str | Engine | None = None,
) -> ValidationReport:
    """Accuracy of a sample's judged items, with intervals, per stratum, stratified, agreement, worst values."""
    from taxonomy.db.engine import session_scope
    from taxonomy.db.models import ExtractionRecord, ValidationItem, ValidationJudgement, ValidationSample, Value

    if ci not in CI_METHODS:
        raise UsageError(f"unknown interval method {ci!r}; choose one of: {', '.join(CI_METHODS)}")
    _check_confidence(confidence)
    with session_scope(db) as session:
        vs = get_sample(session, sample_id)
        items = session.execute(
            select(
                ValidationItem.id,
                ValidationItem.position,
                ValidationItem.stratum,
                ValidationItem.n_redactions,
                ValidationItem.record_id,
                Value.text,
                ExtractionRecord.role,
            )
            .join(ExtractionRecord, ExtractionRecord.id == ValidationItem.record_id)
            .join(Value, Value.id == ExtractionRecord.value_id)
            .where(ValidationItem.sample_id == sample_id)
            .order_by(ValidationItem.position)
        ).all()
        judgements = session.execute(
            select(
                ValidationJudgement.item_id,
                ValidationJudgement.ls_annotation_id,
                ValidationJudgement.annotator,
                ValidationJudgement.answer,
                ValidationJudgement.comment,
            )
            .join(ValidationItem, ValidationItem.id == ValidationJudgement.item_id)
            .where(ValidationItem.sample_id == sample_id)
            .order_by(ValidationJudgement.item_id, ValidationJudgement.ls_annotation_id)
        ).all()
        population = dict(vs.population or {})
        params = dict(vs.params or {})
        stratify, seed, redacted = vs.stratify, vs.seed, bool(vs.redact)

    notes: list[str] = []
    item_by_id = {row.id: row for row in items}
    # one answer per (item, validator): the latest annotation; anonymous annotations each count once
    per_item: dict[int, dict[Any, str]] = defaultdict(dict)
    unknown: list[dict[str, Any]] = []
    answer_counts = {a: 0 for a in ANSWERS}
    n_counted = 0
    said: dict[int, list[dict[str, Any]]] = defaultdict(list)  # item -> each judgement's answer and comment
    for item_id, ann_id, annotator, answer, comment in judgements:
        said[item_id].append({"annotator": annotator, "answer": answer, "comment": (comment or "").strip() or None,
                              "ls_annotation_id": ann_id})
    for item_id, ann_id, annotator, answer, _comment in judgements:
        if answer not in ANSWERS:
            row = item_by_id[item_id]
            unknown.append(
                {"position": row.position, "record_id": row.record_id, "ls_annotation_id": ann_id,
                 "annotator": annotator, "answer": answer}
            )
            continue
        who = annotator if annotator is not None else ("anonymous", ann_id)
        per_item[item_id][who] = answer
    for answers in per_item.values():
        for a in answers.values():
            answer_counts[a] += 1
            n_counted += 1
    if unknown:
        notes.append(f"{len(unknown)} annotation(s) with an unknown answer were not counted")

    verdicts: dict[int, str | None] = {row.id: item_verdict(list(per_item.get(row.id, {}).values())) for row in items}
    tally = Counter(v if v is not None else "unjudged" for v in verdicts.values())
    items_summary = {k: tally.get(k, 0) for k in ("expressed", "not_expressed", "disputed", "cannot_tell", "unjudged")}

    def interval(yes: int, judged: int) -> Interval | None:
        if judged == 0:
            return None
        low, high = proportion_interval(yes, judged, confidence, ci)
        return Interval(yes / judged, yes, judged, low, high, ci)

    yes = items_summary["expressed"]
    judged = yes + items_summary["not_expressed"] + items_summary["disputed"]
    overall = interval(yes, judged)
    if overall is None:
        notes.append("no item has an expressed / not-expressed verdict yet: pull judgements first")

    # per stratum
    pop_strata: dict[str, dict[str, Any]] = population.get("strata") or {}
    N = int(population.get("records") or sum(s.get("records", 0) for s in pop_strata.values()) or len(items))
    by_stratum: dict[str, list] = defaultdict(list)
    for row in items:
        by_stratum[row.stratum].append(row)
    strata_reports: list[StratumReport] = []
    for key in sorted(set(pop_strata) | set(by_stratum), key=lambda k: (-(pop_strata.get(k, {}).get("records", 0)), k)):
        rows = by_stratum.get(key, [])
        c = Counter(verdicts[r.id] if verdicts[r.id] is not None else "unjudged" for r in rows)
        e, ne, d = c.get("expressed", 0), c.get("not_expressed", 0), c.get("disputed", 0)
        Nh = int(pop_strata.get(key, {}).get("records", 0))
        strata_reports.append(
            StratumReport(
                stratum=key,
                label=str(pop_strata.get(key, {}).get("label", key)),
                population=Nh,
                share=Nh / N if N else 0.0,
                n_items=len(rows),
                judged=e + ne + d,
                expressed=e,
                not_expressed=ne,
                disputed=d,
                cannot_tell=c.get("cannot_tell", 0),
                unjudged=c.get("unjudged", 0),
                accuracy=interval(e, e + ne + d),
            )
        )

    stratified = None
    if stratify is not None:
        usable = [(s.population, s.population, s.judged, s.expressed) for s in strata_reports if s.judged > 0]
        missing = [s.stratum for s in strata_reports if s.judged == 0]
        if usable:
            stratified = stratified_estimate(usable, confidence, ci)
            stratified["strata_without_verdicts"] = missing
            if missing:
                share = sum(s.share for s in strata_reports if s.judged == 0)
                notes.append(
                    f"{len(missing)} stratum/strata ({share:.1%} of the population) have no verdict yet; the "
                    "stratified estimate re-weights the others"
                )

    agreement = _agreement(per_item)

    # values judged wrong most often
    wrong: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in items:
        v = verdicts[row.id]
        if v in ("expressed", "not_expressed", "disputed"):
            wrong[row.text][1] += 1
            if v != "expressed":
                wrong[row.text][0] += 1
    most_wrong = [
        {"value": t, "wrong": w, "judged": j, "share_wrong": w / j}
        for t, (w, j) in sorted(wrong.items(), key=lambda kv: (-kv[1][0], -kv[1][0] / kv[1][1], kv[0]))
        if w > 0
    ][: max(0, top)]

    comments = _commented(items, verdicts, said)

    red_by_kind = params.get("redactions") or {}
    redactions = {
        "redacted": redacted,
        "total": sum(int(r.n_redactions or 0) for r in items),
        "items": sum(1 for r in items if r.n_redactions),
        "by_kind": red_by_kind,
    }
    return ValidationReport(
        sample_id=sample_id,
        stratify=stratify,
        seed=seed,
        redact=redacted,
        confidence=confidence,
        ci_method=ci,
        n_items=len(items),
        population=N,
        answers=answer_counts,
        n_judgements=n_counted,
        unknown_answers=unknown,
        items=items_summary,
        overall=overall,
        strata=strata_reports,
        stratified=stratified,
        agreement=agreement,
        most_wrong=most_wrong,
        redactions=redactions,
        notes=notes,
        comments=comments,
    )


def _commented(items, verdicts: Mapping[int, str | None], said: Mapping[int, list[dict[str, Any]]]) -> list[dict]:
    """The items judged wrong and the items with comments, for :attr:`ValidationReport.comments`."""
    out = []
    for row in items:
        judgements = said.get(row.id, [])
        wrong = verdicts[row.id] in ("not_expressed", "disputed")
        has_comment = any(j["comment"] for j in judgements)
        if wrong or has_comment:
            out.append({"position": row.position, "record_id": row.record_id, "value": row.text,
                        "role": row.role, "verdict": verdicts[row.id] or "unjudged", "judgements": judgements,
                        "_rank": 0 if wrong and has_comment else 1 if wrong else 2})
    out.sort(key=lambda c: (c["_rank"], c["position"]))
    for c in out:
        del c["_rank"]
    return out


def _agreement(per_item: Mapping[int, Mapping[Any, str]]) -> dict[str, Any]:
    """Inter-annotator agreement over the items with two or more (counted) answers, on the three answers."""
    multi = {i: a for i, a in per_item.items() if len(a) >= 2}
    validators = sorted({w for a in multi.values() for w in a if not isinstance(w, tuple)}, key=str)
    out: dict[str, Any] = {
        "n_items": len(multi),
        "validators": validators,
        "percent_agreement": None,
        "cohens_kappa": None,
        "kappa_pair": None,
        "kappa_items": 0,
        "krippendorff_alpha": None,
        "measure": None,
    }
    if not multi:
        return out
    out["percent_agreement"] = sum(1 for a in multi.values() if len(set(a.values())) == 1) / len(multi)
    out["krippendorff_alpha"] = krippendorff_alpha_nominal([list(a.values()) for a in multi.values()])
    anonymous = any(isinstance(w, tuple) for a in multi.values() for w in a)
    if len(validators) == 2 and not anonymous:
        a, b = validators
        pairs = [(ans[a], ans[b]) for ans in multi.values() if a in ans and b in ans]
        out["kappa_pair"] = [a, b]
        out["kappa_items"] = len(pairs)
        out["cohens_kappa"] = cohens_kappa(pairs, ANSWERS)
        out["measure"] = "cohens_kappa"
    else:
        out["measure"] = "krippendorff_alpha"
    return out


# ================================================================================================ helpers
def get_sample(session: Session, sample_id: int):
    from taxonomy.db.models import ValidationSample

    vs = session.get(ValidationSample, sample_id)
    if vs is None:
        last = session.scalar(select(func.max(ValidationSample.id)))
        hint = f"the newest is {last}" if last else "there are none yet: run `taxo validate sample`"
        raise NotFoundError(f"validation sample {sample_id} does not exist ({hint})")
    return vs


@dataclass
class SampleItem:
    item_id: int
    position: int
    stratum: str
    value: str
    role: str | None
    excerpt: str | None  #: as sent (redacted when the sample is)
    n_redactions: int
    ls_task_id: int | None


def sample_items(sample_id: int, *, db: str | Engine | None = None) -> list[SampleItem]:
    """The items of a stored sample in the order they are shown, with the text that is sent for review."""
    from taxonomy.db.engine import session_scope
    from taxonomy.db.models import ExtractionRecord, ValidationItem, Value

    with session_scope(db) as session:
        get_sample(session, sample_id)
        rows = session.execute(
            select(
                ValidationItem.id,
                ValidationItem.position,
                ValidationItem.stratum,
                Value.text,
                ExtractionRecord.role,
                ValidationItem.excerpt,
                ValidationItem.n_redactions,
                ValidationItem.ls_task_id,
            )
            .join(ExtractionRecord, ExtractionRecord.id == ValidationItem.record_id)
            .join(Value, Value.id == ExtractionRecord.value_id)
            .where(ValidationItem.sample_id == sample_id)
            .order_by(ValidationItem.position)
        ).all()
    return [SampleItem(*r) for r in rows]
