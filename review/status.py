"""`taxo review status`, and what pull and status share: a review batch as the database holds it, and the
decisions its Label Studio project holds (:func:`fetch_annotations`)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Engine, select

from review.labelstudio import LabelStudioClient, RetryPolicy, connect
from review.pull import Decision, Settled, decide, settle
from taxonomy.db.engine import session_scope
from taxonomy.db.models import ChangeSet, ReviewAnnotation, ReviewBatch, ReviewTask
from taxonomy.errors import NotFoundError, UsageError


def project_page(url: str, project_id: int | None) -> str | None:
    """The project's data manager page in Label Studio."""
    return f"{url}/projects/{project_id}/data" if project_id else None


def client_for(url: str | None, client: LabelStudioClient | None, retry: RetryPolicy | None) -> LabelStudioClient:
    return client if client is not None else connect(url, retry=retry)


@dataclass
class Batch:
    """A review batch as pull and status read it (:func:`load_batch`)."""

    id: int
    version_id: int
    level: int
    url: str
    project_id: int | None
    status: str
    options: dict
    tasks: dict[int, tuple[int, dict]]  #: ls task id -> (review_tasks.id, payload)
    known: dict[int, dict]  #: ls annotation id -> {"status", "result_hash", "applied_version_id", "row", "task_row"}
    n_tasks: int


def load_batch(db, batch_id: int) -> Batch:
    """The batch, its tasks and the annotations earlier pulls stored (NotFoundError when there is no such batch)."""
    with session_scope(db) as session:
        b = session.get(ReviewBatch, batch_id)
        if b is None:
            raise NotFoundError(f"review batch {batch_id} does not exist (`taxo review status` lists the batches)")
        tasks = {
            int(tid): (rid, payload)
            for rid, tid, payload in session.execute(
                select(ReviewTask.id, ReviewTask.ls_task_id, ReviewTask.payload).where(
                    ReviewTask.batch_id == batch_id, ReviewTask.ls_task_id.is_not(None)
                )
            )
        }
        n_tasks = len(session.scalars(select(ReviewTask.id).where(ReviewTask.batch_id == batch_id)).all())
        known = {}
        for a in session.scalars(
            select(ReviewAnnotation).join(ReviewTask, ReviewTask.id == ReviewAnnotation.task_id).where(
                ReviewTask.batch_id == batch_id
            )
        ):
            known[a.ls_annotation_id] = {
                "status": a.status,
                "reason": a.reason,
                "result_hash": result_hash((a.result or {}).get("result")),
                "applied_version_id": a.applied_version_id,
                "row": a.id,
                "task_row": a.task_id,
            }
        return Batch(b.id, b.version_id, b.level, b.url, b.project_id, b.status, dict(b.options or {}), tasks,
                      known, n_tasks)


def result_hash(result: Any) -> str:
    return hashlib.sha256(json.dumps(result, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def applied_by_changesets(db, batch_id: int) -> dict[int, int]:
    """{ls annotation id: version id} for every annotation a change-set of this batch applied."""
    out: dict[int, int] = {}
    with session_scope(db) as session:
        for vid, source in session.execute(select(ChangeSet.version_id, ChangeSet.source)):
            if isinstance(source, dict) and source.get("kind") == "label-studio" and source.get("batch") == batch_id:
                for aid in source.get("annotations") or []:
                    out[int(aid)] = vid
    return out


def fetch_annotations(ls: LabelStudioClient, b: Batch) -> tuple[list[Decision], dict[int, dict], dict[int, dict]]:
    """Every annotation of the batch's project as a decision; {annotation id: its raw result}; and {task id: task
    data} of the annotated tasks."""
    if b.project_id is None:
        raise UsageError(f"review batch {b.id} has no Label Studio project yet: run the same push again")
    exported = ls.export(b.project_id)
    names = ls.users()
    decisions: list[Decision] = []
    results: dict[int, dict] = {}
    task_data: dict[int, dict] = {}
    for task in exported:
        entry = b.tasks.get(int(task["id"]))
        if entry is None:
            continue  # a task that this batch did not create
        _, payload = entry
        task_data[int(task["id"])] = dict(task.get("data") or {})
        for ann in task.get("annotations") or []:
            d = decide(ann, task, payload, names)
            decisions.append(d)
            results[d.annotation_id] = {"result": ann.get("result") or [],
                                        "was_cancelled": bool(ann.get("was_cancelled"))}
    return decisions, results, task_data


# ----------------------------------------------------------------------------------------------------- status
@dataclass
class BatchStatus:
    batch_id: int
    version_id: int
    level: int
    url: str
    project_id: int | None
    project_url: str | None
    status: str
    tasks: int
    annotated: int  #: tasks with at least one (not skipped) annotation
    conflicting: int  #: tasks whose reviewers disagree (not yet resolved)
    applied: int  #: tasks whose change is in a version
    approved: int  #: tasks approved as they are
    flagged: int
    refused: int  #: tasks whose change could not apply at the last pull
    pending: int  #: annotated tasks not yet pulled (or changed since)
    annotations: int
    versions: list[int] = field(default_factory=list)  #: versions written by pulls of this batch

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class BatchInfo:
    batch_id: int
    version_id: int
    level: int
    url: str
    project_id: int | None
    status: str
    tasks: int
    created_at: str
    versions: list[int]

    def to_dict(self) -> dict:
        return asdict(self)


def batches(*, db: str | Engine | None = None) -> list[BatchInfo]:
    """Every review batch, oldest first (from the database only)."""
    from sqlalchemy import func

    with session_scope(db) as session:
        counts = {bid: n for bid, n in session.execute(
            select(ReviewTask.batch_id, func.count()).group_by(ReviewTask.batch_id))}
        return [
            BatchInfo(b.id, b.version_id, b.level, b.url, b.project_id, b.status, counts.get(b.id, 0),
                      b.created_at.isoformat(timespec="seconds") if b.created_at else "",
                      list((b.options or {}).get("versions") or []))
            for b in session.scalars(select(ReviewBatch).order_by(ReviewBatch.id))
        ]


def status(batch: int, *, url: str | None = None, db: str | Engine | None = None,
           client: LabelStudioClient | None = None, retry: RetryPolicy | None = None) -> BatchStatus:
    """Where a batch stands: its tasks, how many are annotated, conflicting, applied, ... (asks Label Studio at the
    batch's URL, or ``url`` if it moved)."""
    from review.novelty import is_novelty_batch, status_novelty

    if is_novelty_batch(db, batch):  # `taxo review push V --novelty`: review/novelty.py
        return status_novelty(batch, url=url, db=db, client=client, retry=retry)
    b = load_batch(db, batch)
    ls = client_for(url or b.url, client, retry)
    decisions, results, _ = fetch_annotations(ls, b)
    applied_cs = applied_by_changesets(db, b.id)
    settled = settle(decisions)
    counts = {k: 0 for k in ("applied", "approved", "flagged", "conflicting", "refused", "pending")}
    annotated = {d.task_id for d in decisions if d.kind != "skipped"}
    for s in settled:
        state = _task_state(s, b, applied_cs, results)
        if state:
            counts[state] += 1
    return BatchStatus(
        batch_id=b.id,
        version_id=b.version_id,
        level=b.level,
        url=b.url,
        project_id=b.project_id,
        project_url=project_page(b.url, b.project_id),
        status=b.status,
        tasks=b.n_tasks,
        annotated=len(annotated),
        annotations=len(decisions),
        versions=list(b.options.get("versions") or []),
        **counts,
    )


def _task_state(s: Settled, b: Batch, applied_cs: dict[int, int], results: dict[int, dict]) -> str | None:
    """One of applied, approved, flagged, conflicting, refused, pending (None: nothing to report)."""

    def known_status(aid: int) -> str | None:
        k = b.known.get(aid)
        if k is None or k["result_hash"] != result_hash(results[aid]["result"]):
            return None
        return k["status"]

    ids = [d.annotation_id for d in s.decisions]
    if any(a in applied_cs or known_status(a) == "applied" for a in ids):
        return "applied"
    if any(known_status(a) == "approved" for a in ids):
        return "approved"
    if s.conflict:
        return "conflicting"
    if s.winner is None:
        return "refused" if any(st == "refused" for st, _ in s.status.values()) else None
    st = known_status(s.winner.annotation_id)
    if st in ("flagged", "refused", "conflict"):
        return {"conflict": "conflicting"}.get(st, st)
    return "pending"
