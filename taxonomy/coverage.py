"""What part of the stored data a version covers: which batches, which role, which values.

A version's manifest records its coverage (``{"batches": [1, 2], "role": "ai", "min_conversations": 2}``);
`taxo build --batches/--role/--min-conversations` choose it, `taxo assign` extends it with new batches and
`taxo drift` stays inside it. Versions written before coverage existed cover the batches their manifest lists,
every role, every value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from taxonomy.db.models import Batch, BatchValue, ExtractionRecord, Value
from taxonomy.errors import NotFoundError, UsageError

if TYPE_CHECKING:  # (the ingest's modules and readers: imported where used, an edit needs none of them)
    from taxonomy.ingest import ValueTotal

ROLES = ("ai", "human")


@dataclass(frozen=True)
class Coverage:
    batches: tuple[int, ...]  #: batch ids, ascending
    role: str | None = None  #: "ai" / "human": only extraction records of that role count
    min_conversations: int | None = None  #: only values seen in at least this many distinct conversations

    def to_dict(self) -> dict:
        d = asdict(self)
        d["batches"] = list(self.batches)
        return d


def parse_batches(spec: str | Sequence[int] | None, *, option: str = "--batches") -> list[int] | None:
    """``"1,2"`` -> [1, 2]; None stays None. Errors name the option and the bad part."""
    if spec is None:
        return None
    if isinstance(spec, str):
        parts = [p.strip() for p in spec.split(",")]
        out = []
        for p in parts:
            if not p:
                continue
            try:
                out.append(int(p))
            except ValueError:
                raise UsageError(f"{option}: expected comma-separated batch ids like 1,2, got {p!r}") from None
    else:
        out = [int(x) for x in spec]
    if not out:
        raise UsageError(f"{option}: give at least one batch id")
    return sorted(set(out))


def check_batches(session: Session, ids: Sequence[int], *, option: str = "--batches") -> list[Batch]:
    """The batches with these ids; an unknown id is refused with the known ones."""
    rows = {b.id: b for b in session.scalars(select(Batch).where(Batch.id.in_(list(ids))))}
    missing = [i for i in ids if i not in rows]
    if missing:
        known = list(session.scalars(select(Batch.id).order_by(Batch.id)))
        listed = ", ".join(str(k) for k in known) if known else "none: run `taxo ingest FILE`"
        raise NotFoundError(f"{option}: unknown batch id {missing[0]} (stored batches: {listed})")
    return [rows[i] for i in ids]


def resolve_coverage(
    session: Session,
    *,
    batches: Sequence[int] | None = None,
    role: str | None = None,
    min_conversations: int | None = None,
    inherited_from: int | None = None,
) -> Coverage:
    """Check the options against the stored batches; None for ``batches`` means every stored batch.
    ``inherited_from``: the role and threshold come from that version's coverage (errors say so)."""
    if batches is None:
        ids = list(session.scalars(select(Batch.id).order_by(Batch.id)))
    else:
        ids = sorted(set(batches))
    rows = check_batches(session, ids)
    if role is not None:
        role = role.strip().casefold()
        role = {"assistant": "ai", "model": "ai", "user": "human"}.get(role, role)
        if role not in ROLES:
            raise UsageError(f"--role: expected ai or human, got {role!r}")
    if min_conversations is not None and min_conversations < 1:
        raise UsageError(f"--min-conversations must be at least 1, got {min_conversations}")
    for b in rows:
        if (role is not None or min_conversations is not None) and b.shape != "records":
            what = "--role" if role is not None else "--min-conversations"
            if inherited_from is not None:
                what = f"version {inherited_from} covers {'only ' + role + ' records' if role else 'values by conversations'}"
            raise UsageError(
                f"{what}: batch {b.id} ({b.source}) is of the aggregated shape (values with weights, no "
                "conversations or roles); choose record batches with --batches"
            )
        if role is not None and session.scalar(
            select(ExtractionRecord.id).where(ExtractionRecord.batch_id == b.id, ExtractionRecord.role.is_not(None)).limit(1)
        ) is None:
            raise UsageError(f"--role: batch {b.id} ({b.source}) was ingested without a role column (--role-col)")
    return Coverage(batches=tuple(ids), role=role, min_conversations=min_conversations)


def coverage_of_manifest(manifest: dict) -> Coverage:
    """A version's coverage from its manifest (older manifests: the batches listed, every role and value)."""
    cov = manifest.get("coverage")
    if cov:
        return Coverage(
            batches=tuple(int(b) for b in cov.get("batches") or []),
            role=cov.get("role"),
            min_conversations=cov.get("min_conversations"),
        )
    return Coverage(batches=tuple(sorted(int(b["id"]) for b in manifest.get("batches") or [])))


def batch_manifest(session: Session, ids: Sequence[int]) -> list[dict]:
    """The manifest's description of batches: id, source, sha256, shape, rows."""
    return [
        {"id": b.id, "source": b.source, "sha256": b.sha256, "shape": b.shape, "n_rows": b.n_rows}
        for b in session.scalars(select(Batch).where(Batch.id.in_(list(ids))).order_by(Batch.id))
    ]


def coverage_totals(session: Session, cov: Coverage) -> list[ValueTotal]:
    """Every value the coverage holds, with weight and count summed over its batches, ordered by id.

    Without a role: the batches' stored weights and counts. With a role: computed from that role's extraction
    records (count = records, weight = distinct conversations), as ingest does for a whole file. With
    ``min_conversations``: only values seen in that many distinct conversations (of the role) across the batches.
    """
    if not cov.batches:
        return []
    batches = list(cov.batches)
    if cov.role is None:
        q = (
            select(Value.id, Value.text, func.sum(BatchValue.weight), func.sum(BatchValue.count))
            .join(BatchValue, BatchValue.value_id == Value.id)
            .where(BatchValue.batch_id.in_(batches))
            .group_by(Value.id, Value.text)
            .order_by(Value.id)
        )
        rows = [(int(i), t, float(w or 0.0), int(c or 0)) for i, t, w, c in session.execute(q)]
    else:
        q = (
            select(
                Value.id,
                Value.text,
                func.count(distinct(ExtractionRecord.conversation_id)),
                func.count(ExtractionRecord.id),
            )
            .join(ExtractionRecord, ExtractionRecord.value_id == Value.id)
            .where(ExtractionRecord.batch_id.in_(batches), ExtractionRecord.role == cov.role)
            .group_by(Value.id, Value.text)
            .order_by(Value.id)
        )
        rows = [(int(i), t, float(w), int(c)) for i, t, w, c in session.execute(q)]
    if cov.min_conversations is not None:
        convs = conversations_per_value(session, cov)
        rows = [r for r in rows if convs.get(r[0], 0) >= cov.min_conversations]
    from taxonomy.ingest import ValueTotal

    return [ValueTotal(*r) for r in rows]


def conversations_per_value(session: Session, cov: Coverage) -> dict[int, int]:
    """value id -> distinct conversations (of the coverage's role) across the coverage's batches."""
    q = (
        select(ExtractionRecord.value_id, func.count(distinct(ExtractionRecord.conversation_id)))
        .where(ExtractionRecord.batch_id.in_(list(cov.batches)))
        .group_by(ExtractionRecord.value_id)
    )
    if cov.role is not None:
        q = q.where(ExtractionRecord.role == cov.role)
    return {int(v): int(n) for v, n in session.execute(q)}


def first_batches(session: Session, value_ids: Sequence[int], cov: Coverage) -> dict[int, int]:
    """value id -> the first (lowest-numbered) batch of the coverage that holds it (with its role, if any)."""
    out: dict[int, int] = {}
    ids = list(value_ids)
    for start in range(0, len(ids), 500):
        part = ids[start : start + 500]
        if cov.role is None:
            q = (
                select(BatchValue.value_id, func.min(BatchValue.batch_id))
                .where(BatchValue.value_id.in_(part), BatchValue.batch_id.in_(list(cov.batches)))
                .group_by(BatchValue.value_id)
            )
        else:
            q = (
                select(ExtractionRecord.value_id, func.min(ExtractionRecord.batch_id))
                .where(ExtractionRecord.value_id.in_(part), ExtractionRecord.batch_id.in_(list(cov.batches)),
                       ExtractionRecord.role == cov.role)
                .group_by(ExtractionRecord.value_id)
            )
        out.update({int(v): int(b) for v, b in session.execute(q)})
    return out


def coverage_lookup(manifest: dict, db):
    """value text -> (id, weight, count) over the data a manifest covers, read once when first asked
    (``place`` and ``reweigh`` operations of a change-set)."""
    from taxonomy.db.engine import session_scope

    table: dict[str, tuple[int, float, int]] | None = None

    def lookup(text: str):
        nonlocal table
        if table is None:
            with session_scope(db) as session:
                table = {t.text: (t.id, t.weight, t.count) for t in coverage_totals(session, coverage_of_manifest(manifest))}
        return table.get(text)

    return lookup


def check_reweigh(ops, manifest: dict, version: int) -> None:
    """A ``reweigh`` operation must name exactly the batches the new version covers."""
    covered = list(coverage_of_manifest(manifest).batches)
    for op in ops:
        if op.op == "reweigh" and sorted(op.batches) != covered:
            raise UsageError(
                f"reweigh batches {','.join(map(str, sorted(op.batches)))} differ from the batches version {version} "
                f"covers ({','.join(map(str, covered)) or 'none recorded'}); `taxo assign` extends a version's coverage"
            )
