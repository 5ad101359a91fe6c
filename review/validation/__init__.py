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

Label Studio push/pull lives in :mod:`review.validation.labelstudio`; the judgements it pulls are
:class:`~taxonomy.db.models.ValidationJudgement` rows.

The modules: :mod:`~review.validation.stats` (intervals, sample sizes, allocation, agreement),
:mod:`~review.validation.redaction`, :mod:`~review.validation.population` (what is sampled, its strata),
:mod:`~review.validation.sampling` (plan, sample), :mod:`~review.validation.reporting` (report) and
:mod:`~review.validation.labelstudio` (push, pull). This package exports the public names of the first five.

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

from review.validation.population import FREQUENCY_BANDS, ROLE_LABELS, UNPLACED
from review.validation.redaction import REDACTION_KINDS, REDACTION_RULES, Redaction, redact
from review.validation.reporting import (
    ANSWER_LABELS,
    ANSWERS,
    Interval,
    StratumReport,
    ValidationReport,
    item_verdict,
    report,
)
from review.validation.sampling import (
    PlanResult,
    PlanStratum,
    SampleItem,
    SampleResult,
    draw,
    get_sample,
    plan,
    sample,
    sample_items,
)
from review.validation.stats import (
    CI_METHODS,
    allocate,
    clopper_pearson_interval,
    cohens_kappa,
    contingency_table,
    krippendorff_alpha_nominal,
    proportion_interval,
    sample_size,
    stratified_estimate,
    wilson_interval,
)

__all__ = [
    "ANSWERS", "ANSWER_LABELS", "CI_METHODS", "FREQUENCY_BANDS", "REDACTION_KINDS", "REDACTION_RULES", "ROLE_LABELS",
    "UNPLACED", "Interval", "PlanResult", "PlanStratum", "Redaction", "SampleItem", "SampleResult", "StratumReport",
    "ValidationReport", "allocate", "clopper_pearson_interval", "cohens_kappa", "contingency_table", "draw",
    "get_sample", "item_verdict", "krippendorff_alpha_nominal", "plan", "proportion_interval", "redact", "report",
    "sample", "sample_items", "sample_size", "stratified_estimate", "wilson_interval",
]
