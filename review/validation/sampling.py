"""`taxo validate plan` (how many records to check) and `taxo validate sample` (draw and store a reproducible
sample, optionally redacted), and reading a stored sample back."""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from review.validation.population import check_stratify, load_population
from review.validation.redaction import REDACTION_KINDS
from review.validation.redaction import redact as redact_text
from review.validation.stats import allocate, sample_size, z_value
from taxonomy.errors import UsageError
from taxonomy.ingest import chunks


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

    stratify = check_stratify(stratify)
    sample_size(margin, confidence, expected)  # validates the arguments
    z = z_value(confidence)
    n_inf = z * z * expected * (1 - expected) / (margin * margin)
    notes: list[str] = []
    with session_scope(db) as session:
        try:
            pop = load_population(session, stratify=stratify, version=version, values=values)
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

    stratify = check_stratify(stratify)
    if n is None and not all:
        raise UsageError("say how many records to sample (--n N), or --all for every record")
    if n is not None and n <= 0:
        raise UsageError(f"--n must be positive, got {n}")
    if isinstance(seed, bool) or not isinstance(seed, int) or not (0 <= seed < 2**31):
        raise UsageError(f"--seed must be an integer between 0 and 2^31-1, got {seed!r}")
    notes: list[str] = []
    with session_scope(db) as session:
        pop = load_population(session, stratify=stratify, version=version, values=values)
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
        for part in chunks(ids):
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
                r = redact_text(text)
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
        for part in chunks(rows, 2000):
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


def get_sample(session: Session, sample_id: int):
    from taxonomy.db.models import ValidationSample

    from taxonomy.store import get_numbered

    return get_numbered(session, ValidationSample, sample_id, "validation sample",
                        "there are none yet: run `taxo validate sample`")


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


def item_rows(session: Session, sample_id: int, *columns) -> list:
    """The sample's items in the order they are shown, as rows of ``columns`` (of its items, their extraction
    records and values)."""
    from taxonomy.db.models import ExtractionRecord, ValidationItem, Value

    return session.execute(
        select(*columns)
        .select_from(ValidationItem)
        .join(ExtractionRecord, ExtractionRecord.id == ValidationItem.record_id)
        .join(Value, Value.id == ExtractionRecord.value_id)
        .where(ValidationItem.sample_id == sample_id)
        .order_by(ValidationItem.position)
    ).all()


def sample_items(sample_id: int, *, db: str | Engine | None = None) -> list[SampleItem]:
    """The items of a stored sample in the order they are shown, with the text that is sent for review."""
    from taxonomy.db.engine import session_scope
    from taxonomy.db.models import ExtractionRecord, ValidationItem, Value

    with session_scope(db) as session:
        get_sample(session, sample_id)
        rows = item_rows(session, sample_id, ValidationItem.id, ValidationItem.position, ValidationItem.stratum,
                         Value.text, ExtractionRecord.role, ValidationItem.excerpt, ValidationItem.n_redactions,
                         ValidationItem.ls_task_id)
    return [SampleItem(*r) for r in rows]
