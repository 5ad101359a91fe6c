"""The population a validation sample is drawn from (the extraction records with an excerpt, optionally of some
values) and its strata (by role, value frequency, or a taxonomy level)."""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from taxonomy.errors import NotFoundError, UsageError
from taxonomy.ingest import chunks

FREQUENCY_BANDS = ("low", "mid", "high")
ROLE_LABELS = {"ai": "AI value", "human": "human value", "unknown": "role not given"}
UNPLACED = "unplaced"
_LEVEL_RE = re.compile(r"^level(\d+)$")


@dataclass
class Population:
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


def check_stratify(stratify: str | None) -> str | None:
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


def load_population(
    session: Session,
    *,
    stratify: str | None,
    version: int | None,
    values: Sequence[str] | None,
) -> Population:
    from taxonomy.db.models import ExtractionRecord, Value

    stratify = check_stratify(stratify)
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
        for part in chunks(vids):
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
    return Population(keyed, strata, n_missing, int(n_total), scope)
