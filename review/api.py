"""`taxo review push/status/pull`: review the nodes of a version in Label Studio and bring the annotations back as
one change-set, i.e. one new version.

The database stays the source of truth: a :class:`~taxonomy.db.models.ReviewBatch` remembers the Label Studio URL
(never the token) and project, a :class:`~taxonomy.db.models.ReviewTask` each task ↔ node pair with what a pull
needs to read the task's annotations (the node's name and description as pushed, the options offered, the numbered
members), a :class:`~taxonomy.db.models.ReviewAnnotation` each annotation pulled (its result and the decision read
from it) and what became of it:

==============  ===========================================================================================
status          meaning
==============  ===========================================================================================
``applied``     its operations are in version ``applied_version_id``
``approved``    the reviewer approved the node as it is (nothing to change)
``flagged``     flagged for discussion; nothing applied (its comment is reported)
``conflict``    reviewers disagree on the node; nothing applied (``--resolve latest|majority`` picks one)
``refused``     cannot apply, with the reason (re-tried on the next pull)
``superseded``  replaced by a later annotation of the same reviewer, or outvoted by ``--resolve``
``skipped``     the reviewer skipped (cancelled) the task
==============  ===========================================================================================

Pulling again applies nothing twice: the change-sets written by earlier pulls of the batch name their
annotations (``source.annotations``), and those are never applied again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Engine, bindparam, select, update

from review import config as C
from review import ls_ui
from review.labelstudio import LabelStudioClient, LabelStudioError, RetryPolicy, connect
from review.pull import (
    Decision,
    Planned,
    Refusal,
    Settled,
    decide,
    decision_dict,
    members_of,
    operations_for,
    plan,
    settle,
)
from review.tasks import TaskOptions, build_tasks, leaf_vectors_for
from taxonomy.db.engine import session_scope
from taxonomy.db.models import ChangeSet, ReviewAnnotation, ReviewBatch, ReviewTask, Version, utcnow
from taxonomy.errors import NotFoundError, TaxoError, UsageError
from taxonomy.store import get_version, read_tree

#: tasks (and predictions) per import request. Few big requests: Label Studio's prediction import gets slower with
#: every request on a big project (3,600 predictions: 5 s in one request, 14 s in four).
CHUNK = 5000
FINAL = {"applied", "approved", "flagged", "superseded", "skipped"}


class ReviewBusyError(TaxoError):
    """Another pull of the same batch is running."""

    exit_code = 3


def _project_url(url: str, project_id: int | None) -> str | None:
    return f"{url}/projects/{project_id}/data" if project_id else None


def _client(url: str | None, client: LabelStudioClient | None, retry: RetryPolicy | None) -> LabelStudioClient:
    return client if client is not None else connect(url, retry=retry)


# ------------------------------------------------------------------------------------------------------- push
@dataclass
class PushResult:
    batch_id: int
    version_id: int
    level: int
    url: str
    project_id: int
    project_url: str
    n_tasks: int  #: tasks in the batch
    created: int  #: tasks created by this push
    existing: int  #: nodes asked for that already had a task (not duplicated)
    reused_batch: bool

    def to_dict(self) -> dict:
        return asdict(self)


def push(
    version: int,
    *,
    level: int | None = None,
    nodes: list[str] | str | None = None,
    limit: int | None = None,
    url: str | None = None,
    new_batch: bool = False,
    annotators: int = 1,
    members: int = 25,
    suggestions: int = 5,
    max_move_options: int = 30,
    cache_dir: str | None = None,
    db: str | Engine | None = None,
    client: LabelStudioClient | None = None,
    retry: RetryPolicy | None = None,
    embed=None,
) -> PushResult:
    """Push the nodes of ``version`` at ``level`` (all, the given ``nodes``, or the ``limit`` heaviest) to a Label
    Studio project, one task per node. Pushing the same version and level to the same Label Studio again reuses the
    batch and its project and creates tasks only for nodes that have none (``new_batch``: a fresh project)."""
    from taxonomy.query import resolve_node

    if limit is not None and limit < 1:
        raise UsageError(f"--limit must be at least 1, got {limit}")
    if annotators < 1:
        raise UsageError(f"--annotators must be at least 1, got {annotators}")
    if isinstance(nodes, str):
        nodes = [n.strip() for n in nodes.split(",") if n.strip()]
    ls = _client(url, client, retry)
    base_url = ls.url
    # 1. read and check everything before writing anything
    with session_scope(db) as session:
        v = get_version(session, version)
        manifest = dict(v.manifest)
        tree = read_tree(session, version)
        wanted: list[str] | None = None
        if nodes:
            wanted = []
            for ref in nodes:
                uid = resolve_node(session, version, ref).uid
                if uid not in wanted:
                    wanted.append(uid)
    depth = tree.depth
    if wanted is not None:
        levels = {tree.nodes[u].level for u in wanted}
        if level is None:
            if len(levels) > 1:
                raise UsageError(f"--nodes are on several levels ({sorted(levels)}); push one level at a time")
            level = levels.pop()
        elif levels != {level}:
            bad = [u for u in wanted if tree.nodes[u].level != level]
            raise UsageError(f"node {bad[0]} ({tree.nodes[bad[0]].name!r}) is not at level {level}")
    level = 1 if level is None else level
    if not 1 <= level <= depth:
        raise UsageError(f"version {version} has levels 1..{depth}; --level {level} does not exist")
    chosen = wanted if wanted is not None else [n.uid for n in tree.nodes.values() if n.level == level]
    chosen = sorted(chosen, key=lambda u: (-tree.nodes[u].weight, tree.nodes[u].name, u))
    if limit is not None:
        chosen = chosen[:limit]
    if not chosen:
        raise UsageError(f"version {version} has no nodes at level {level}")
    ls.whoami()  # URL and token work: checked before anything is written

    # 2. the batch and its task rows
    with session_scope(db) as session:
        batch = None
        if not new_batch:
            batch = session.scalars(
                select(ReviewBatch)
                .where(ReviewBatch.version_id == version, ReviewBatch.level == level, ReviewBatch.url == base_url)
                .order_by(ReviewBatch.id.desc())
                .limit(1)
            ).first()
        reused = batch is not None
        if batch is None:
            batch = ReviewBatch(
                version_id=version,
                level=level,
                url=base_url,
                project_id=None,
                status="pushing",
                options={"annotators": annotators, "members": members, "suggestions": suggestions,
                         "max_move_options": max_move_options, "versions": []},
            )
            session.add(batch)
            session.flush()
        batch_id = batch.id
        project_id = batch.project_id
        resuming = batch.status == "pushing" and reused
        have = {u: tid for u, tid in session.execute(
            select(ReviewTask.node_uid, ReviewTask.ls_task_id).where(ReviewTask.batch_id == batch_id))}
    new_nodes = [u for u in chosen if u not in have]
    unfinished = [u for u, tid in have.items() if tid is None]  # left by an interrupted push
    existing = len(chosen) - len(new_nodes)
    payloads: list[dict] = []
    if new_nodes or unfinished:
        vecs = leaf_vectors_for(tree, manifest, cache_dir=cache_dir, embed=embed)
        payloads = build_tasks(
            tree,
            level,
            new_nodes + unfinished,
            leaf_vectors=vecs,
            batch_id=batch_id,
            options=TaskOptions(members_shown=members, merge_suggestions=suggestions,
                                max_move_options=max_move_options),
        )
    if new_nodes:
        with session_scope(db) as session:
            session.execute(
                ReviewTask.__table__.insert(),
                [{"batch_id": batch_id, "node_uid": p["node"], "ls_task_id": None, "payload": _stored(p),
                  "created_at": utcnow()} for p in payloads[: len(new_nodes)]],
            )
            session.execute(update(ReviewBatch).where(ReviewBatch.id == batch_id).values(status="pushing"))

    # 3. the project
    title = f"taxo v{version} level {level} (batch {batch_id})"[:50]
    if project_id is None:
        found = ls.find_projects(title) if resuming else []
        if len(found) == 1:
            project_id = found[0]
        else:
            project_id = ls.create_project(
                title,
                f"Review of taxonomy version {version}, level {level}. Created by `taxo review push`; bring the "
                f"annotations back with `taxo review pull {batch_id}`.",
                C.LABEL_CONFIG,
            )
        with session_scope(db) as session:
            session.execute(update(ReviewBatch).where(ReviewBatch.id == batch_id).values(project_id=project_id))
        _configure_project(ls, project_id, annotators)
        ls_ui.configure(ls, project_id, list(payloads[0]["data"]) if payloads else [])
    elif ls.get_project(project_id) is None:
        raise LabelStudioError(
            f"project {project_id} of review batch {batch_id} no longer exists in Label Studio at {base_url}; "
            "push with --new-batch to start a new project"
        )

    # 4. the tasks (resumable: tasks already in the project are adopted, not duplicated)
    by_node = {p["node"]: p for p in payloads}
    with session_scope(db) as session:
        rows = [
            (rid, uid, by_node[uid])
            for rid, uid in session.execute(
                select(ReviewTask.id, ReviewTask.node_uid)
                .where(ReviewTask.batch_id == batch_id, ReviewTask.ls_task_id.is_(None))
                .order_by(ReviewTask.id)
            )
        ]
    created = 0
    need_prediction: list[tuple[int, dict]] = []
    listing: dict[str, tuple[int, int]] = {}  # node -> (task id, number of predictions), from Label Studio
    if resuming or (rows and reused):
        for t in ls.list_tasks(project_id):
            data = t.get("data") or {}
            if data.get("taxo_batch") == batch_id and data.get("node_id"):
                listing[data["node_id"]] = (int(t["id"]), int(t.get("total_predictions") or 0))
    if resuming:  # an interrupted push may have left tasks without their prediction
        with session_scope(db) as session:
            for uid, tid, payload in session.execute(
                select(ReviewTask.node_uid, ReviewTask.ls_task_id, ReviewTask.payload).where(
                    ReviewTask.batch_id == batch_id, ReviewTask.ls_task_id.is_not(None))
            ):
                if uid in listing and listing[uid][1] == 0:
                    need_prediction.append((tid, payload))
    if rows:
        todo = []
        mapping: list[tuple[int, int]] = []
        for row_id, uid, payload in rows:
            if uid in listing:  # created by an interrupted push: adopted, not duplicated
                tid, npred = listing[uid]
                mapping.append((row_id, tid))
                if npred == 0:
                    need_prediction.append((tid, payload))
            else:
                todo.append((row_id, payload))
        _record_task_ids(db, mapping)
        for start in range(0, len(todo), CHUNK):
            part = todo[start : start + CHUNK]
            ids = ls.import_tasks(project_id, [{"data": p["data"]} for _, p in part])
            _record_task_ids(db, [(row_id, tid) for (row_id, _), tid in zip(part, ids, strict=True)])
            need_prediction += [(tid, p) for (_, p), tid in zip(part, ids, strict=True)]
            created += len(part)
    for start in range(0, len(need_prediction), CHUNK):
        part = need_prediction[start : start + CHUNK]
        ls.import_predictions(
            project_id,
            [{"task": tid, "result": C.prediction_result(p["name"], p.get("description") or ""),
              "model_version": C.MODEL_VERSION} for tid, p in part],
        )
    if need_prediction:  # Label Studio accepts a model version only once predictions of it exist
        ls._call(f"configuring project {project_id}",  # noqa: SLF001
                 lambda: ls._raw("PATCH", f"api/projects/{int(project_id)}/",  # noqa: SLF001
                                 body={"model_version": C.MODEL_VERSION}))
    with session_scope(db) as session:
        session.execute(update(ReviewBatch).where(ReviewBatch.id == batch_id).values(status="pushed"))
        n_tasks = len(session.scalars(select(ReviewTask.id).where(ReviewTask.batch_id == batch_id)).all())
    return PushResult(
        batch_id=batch_id,
        version_id=version,
        level=level,
        url=base_url,
        project_id=project_id,
        project_url=_project_url(base_url, project_id) or "",
        n_tasks=n_tasks,
        created=created,
        existing=existing,
        reused_batch=reused,
    )


#: what a task's row keeps of its payload: what the pull needs to read annotations (Label Studio has the rest)
_KEEP_DATA = ("merge_options", "move_options", "node_id", "taxo_batch", "taxo_version", "taxo_level")


def _stored(payload: dict) -> dict:
    out = {k: v for k, v in payload.items() if k != "data"}
    out["data"] = {k: payload["data"][k] for k in _KEEP_DATA}
    return out


def _configure_project(ls: LabelStudioClient, project_id: int, annotators: int) -> None:
    """Use our predictions to pre-fill the editor; ask for ``annotators`` annotations per task."""
    body = {"show_collab_predictions": True, "maximum_annotations": annotators, "show_skip_button": True}
    ls._call(f"configuring project {project_id}",  # noqa: SLF001
             lambda: ls._raw("PATCH", f"api/projects/{int(project_id)}/", body=body))  # noqa: SLF001


def _record_task_ids(db, mapping: list[tuple[int, int]]) -> None:
    if not mapping:
        return
    table = ReviewTask.__table__
    stmt = update(table).where(table.c.id == bindparam("row_id")).values(ls_task_id=bindparam("task_id"))
    with session_scope(db) as session:
        session.connection().execute(stmt, [{"row_id": r, "task_id": t} for r, t in mapping])


# ------------------------------------------------------------------------------------------ shared pull/status
@dataclass
class _Batch:
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


def _load_batch(db, batch_id: int) -> _Batch:
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
                "result_hash": _hash((a.result or {}).get("result")),
                "applied_version_id": a.applied_version_id,
                "row": a.id,
                "task_row": a.task_id,
            }
        return _Batch(b.id, b.version_id, b.level, b.url, b.project_id, b.status, dict(b.options or {}), tasks,
                      known, n_tasks)


def _hash(result: Any) -> str:
    return hashlib.sha256(json.dumps(result, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _applied_by_changesets(db, batch_id: int) -> dict[int, int]:
    """{ls annotation id: version id} for every annotation a change-set of this batch applied."""
    out: dict[int, int] = {}
    with session_scope(db) as session:
        for vid, source in session.execute(select(ChangeSet.version_id, ChangeSet.source)):
            if isinstance(source, dict) and source.get("kind") == "label-studio" and source.get("batch") == batch_id:
                for aid in source.get("annotations") or []:
                    out[int(aid)] = vid
    return out


def _fetch_decisions(ls: LabelStudioClient, b: _Batch) -> tuple[list[Decision], dict[int, dict]]:
    """Every annotation of the batch's project as a decision; and {annotation id: raw result}."""
    decisions, results, _ = _fetch(ls, b)
    return decisions, results


def _fetch(ls: LabelStudioClient, b: _Batch) -> tuple[list[Decision], dict[int, dict], dict[int, dict]]:
    """:func:`_fetch_decisions`, and {task id: task data} of the annotated tasks."""
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
    b = _load_batch(db, batch)
    ls = _client(url or b.url, client, retry)
    decisions, results = _fetch_decisions(ls, b)
    applied_cs = _applied_by_changesets(db, b.id)
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
        project_url=_project_url(b.url, b.project_id),
        status=b.status,
        tasks=b.n_tasks,
        annotated=len(annotated),
        annotations=len(decisions),
        versions=list(b.options.get("versions") or []),
        **counts,
    )


def _task_state(s: Settled, b: _Batch, applied_cs: dict[int, int], results: dict[int, dict]) -> str | None:
    """One of applied, approved, flagged, conflicting, refused, pending (None: nothing to report)."""

    def known_status(aid: int) -> str | None:
        k = b.known.get(aid)
        if k is None or k["result_hash"] != _hash(results[aid]["result"]):
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


# ------------------------------------------------------------------------------------------------------- pull
@dataclass
class PullItem:
    node: str
    name: str
    task: int  #: Label Studio task id
    annotations: list[int]
    annotators: list[str]
    decision: str = ""
    operations: list[dict] = field(default_factory=list)
    reason: str = ""
    comment: str = ""
    link: str = ""  #: the task in Label Studio


@dataclass
class PullReport:
    batch_id: int
    base_version_id: int
    version_id: int | None  #: the new version, None when nothing was applied
    change_set_id: int | None
    applied: list[PullItem] = field(default_factory=list)
    approved: list[PullItem] = field(default_factory=list)
    flagged: list[PullItem] = field(default_factory=list)
    conflicts: list[PullItem] = field(default_factory=list)
    refused: list[PullItem] = field(default_factory=list)
    already_pulled: int = 0  #: annotations settled by earlier pulls
    skipped: int = 0
    partial: bool = False
    resolve: str | None = None
    blocked: bool = False  #: refusals without --partial: nothing was applied
    warnings: list[str] = field(default_factory=list)
    outcomes_written: int = 0  #: tasks whose outcome (``taxo_outcome``) was written back to Label Studio

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def summary(self) -> str:
        head = (
            f"Version {self.version_id} from {self.base_version_id}" if self.version_id is not None
            else f"No new version (base {self.base_version_id})"
        )
        parts = [f"{len(self.applied)} applied", f"{len(self.approved)} approved", f"{len(self.flagged)} flagged",
                 f"{len(self.conflicts)} conflicting", f"{len(self.refused)} refused"]
        if self.already_pulled:
            parts.append(f"{self.already_pulled} annotations already pulled")
        return f"{head}: " + ", ".join(parts)


def _descendants_newest(session, root: int) -> int:
    rows = session.execute(select(Version.id, Version.parent_id).order_by(Version.id)).all()
    inside = {root}
    for vid, parent in rows:
        if parent in inside:
            inside.add(vid)
    return max(inside)


def _lock(db, batch_id: int, *, stale_after: timedelta = timedelta(minutes=30)) -> str:
    """Mark the batch as being pulled (compare-and-swap on its status); a second pull at the same time fails."""
    now = datetime.now(timezone.utc)
    stamp = f"pulling {now.strftime('%Y-%m-%dT%H:%M:%S')}"
    cutoff = f"pulling {(now - stale_after).strftime('%Y-%m-%dT%H:%M:%S')}"
    with session_scope(db) as session:
        res = session.execute(
            update(ReviewBatch)
            .where(ReviewBatch.id == batch_id)
            .where(~ReviewBatch.status.like("pulling%") | (ReviewBatch.status < cutoff))
            .values(status=stamp)
        )
        if res.rowcount != 1:
            raise ReviewBusyError(f"review batch {batch_id} is being pulled by another process; try again later")
    return stamp


def _unlock(db, batch_id: int, stamp: str, new_status: str) -> None:
    with session_scope(db) as session:
        session.execute(
            update(ReviewBatch).where(ReviewBatch.id == batch_id, ReviewBatch.status == stamp).values(status=new_status)
        )


def pull(
    batch: int,
    *,
    message: str = "",
    author: str | None = None,
    resolve: str | None = None,
    partial: bool = False,
    onto: int | None = None,
    branch: str | None = None,
    url: str | None = None,
    cache_dir: str | None = None,
    db: str | Engine | None = None,
    client: LabelStudioClient | None = None,
    retry: RetryPolicy | None = None,
    outcomes: bool = True,
    progress=None,
) -> PullReport:
    """Bring a batch's annotations back as ONE change-set → ONE new version (or none when nothing changes).

    Label Studio is asked at the batch's URL (``url`` if it moved). The base is ``onto``, else the head of
    ``branch``, else the newest version descending from the batch's last pulled version (or its pushed version).
    Conflicting nodes are left out unless ``resolve``; annotations that cannot apply are reported one by one and,
    unless ``partial``, nothing is applied. Then (``outcomes``) each annotated task whose outcome changed gets it
    written into its ``taxo_outcome`` (see :mod:`review.ls_ui`; one request per task: Label Studio has no bulk
    update of task data).
    """
    from review.novelty import is_novelty_batch, pull_novelty
    from taxonomy.changesets import BranchConflictError
    from taxonomy.changesets import apply as apply_changeset
    from taxonomy.db.models import Branch

    if is_novelty_batch(db, batch):  # `taxo review push V --novelty`: review/novelty.py
        return pull_novelty(batch, message=message, author=author, onto=onto, branch=branch, url=url,
                            cache_dir=cache_dir, db=db, client=client, retry=retry)
    if resolve is not None and resolve not in ("latest", "majority"):
        raise UsageError(f"--resolve must be latest or majority, got {resolve!r}")
    b = _load_batch(db, batch)
    ls = _client(url or b.url, client, retry)
    decisions, results, task_data = _fetch(ls, b)  # read Label Studio before writing anything
    stamp = _lock(db, b.id)
    final_status = b.status if not b.status.startswith("pulling") else "pushed"  # kept when the pull fails
    try:
        applied_cs = _applied_by_changesets(db, b.id)
        with session_scope(db) as session:
            if onto is not None:
                base = get_version(session, onto).id
            elif branch is not None and session.get(Branch, branch) is not None:
                base = session.get(Branch, branch).head_version_id
            else:
                start = (b.options.get("versions") or [b.version_id])[-1]
                base = _descendants_newest(session, start)
            manifest = dict(get_version(session, base).manifest)
            tree = read_tree(session, base)
        report = PullReport(batch_id=b.id, base_version_id=base, version_id=None, change_set_id=None,
                            partial=partial, resolve=resolve)
        names = {u: n.name for u, n in tree.nodes.items()}
        for t in tree.tombstones.values():
            names.setdefault(t.uid, t.name)

        def unchanged(d: Decision) -> bool:
            k = b.known.get(d.annotation_id)
            return k is not None and k["result_hash"] == _hash(results[d.annotation_id]["result"])

        def final(d: Decision) -> bool:
            return d.annotation_id in applied_cs or (unchanged(d) and b.known[d.annotation_id]["status"] in FINAL)

        statuses: dict[int, tuple[str, str, int | None]] = {}
        for d in decisions:  # what earlier pulls settled stays as it is
            if d.annotation_id in applied_cs:
                statuses[d.annotation_id] = ("applied", "", applied_cs[d.annotation_id])
                if not unchanged(d) and d.annotation_id in b.known:
                    report.warnings.append(
                        f"annotation {d.annotation_id} (task {d.task_id}) was changed in Label Studio after it was "
                        f"applied in version {applied_cs[d.annotation_id]}; it is not applied again (push the new "
                        "version for another round)"
                    )
            elif final(d):
                k = b.known[d.annotation_id]
                statuses[d.annotation_id] = (k["status"], k["reason"] or "", k["applied_version_id"])

        todo: list[Settled] = []
        for s in settle(decisions, resolve):
            if all(final(d) for d in s.decisions):
                report.already_pulled += len(s.decisions)
                continue
            closed = next((d for d in s.decisions if d.annotation_id in applied_cs), None)
            closed_kind = "applied"
            if closed is None:
                closed = next((d for d in s.decisions if unchanged(d) and
                               b.known[d.annotation_id]["status"] == "approved"), None)
                closed_kind = "approved"
            if closed is not None:  # decided by an earlier pull; later annotations can only agree or conflict
                vid = statuses[closed.annotation_id][2]
                for d in s.decisions:
                    if final(d):
                        report.already_pulled += 1
                    elif d.kind == "skipped":
                        statuses[d.annotation_id] = ("skipped", "the reviewer skipped the task", None)
                    elif d.signature() == closed.signature():
                        statuses[d.annotation_id] = (closed_kind, f"agrees with annotation {closed.annotation_id}", vid)
                    else:
                        why = (f"the node was already decided by annotation {closed.annotation_id} ({closed_kind}"
                               + (f" in version {vid}" if vid else "") + "); this later annotation differs: push the "
                               "new version for another round")
                        statuses[d.annotation_id] = ("conflict", why, None)
                        report.conflicts.append(_item(s, [d], names, reason=why))
                continue
            for aid, (st, reason) in s.status.items():
                statuses[aid] = (st, reason, None)
                if st == "skipped":
                    report.skipped += 1
                elif st == "refused":
                    d = next(x for x in s.decisions if x.annotation_id == aid)
                    report.refused.append(_item(s, [d], names, reason=reason))
            if s.conflict:
                report.conflicts.append(_item(s, s.votes, names, reason=s.conflict))
            elif s.winner is not None:
                todo.append(s)

        changes: list[Decision] = []
        by_winner: dict[int, Settled] = {}
        for s in todo:
            w = s.winner
            assert w is not None
            by_winner[w.annotation_id] = s
            if w.kind == "approve":
                for d in s.agreeing:
                    statuses[d.annotation_id] = ("approved", "", None)
                report.approved.append(_item(s, s.agreeing, names, decision="approve"))
            elif w.kind == "flag":
                for d in s.agreeing:
                    statuses[d.annotation_id] = ("flagged", d.comment, None)
                report.flagged.append(_item(s, s.agreeing, names, decision="flag"))
            else:
                changes.append(w)

        # renames first, then moves, merges, splits (a split after the merges into the node it splits)
        changes.sort(key=lambda d: (3 if d.split is not None else 2 if d.merge_into else 1 if d.move_to else 0,
                                    d.task_id))
        id_prefix = manifest.get("id_prefix", "values")

        def apply_planned(planned: list[Planned]):
            ops = [op for p in planned for op in p.operations]
            applied_ann = sorted(x.annotation_id for p in planned for x in by_winner[p.decision.annotation_id].agreeing)
            source = {
                "kind": "label-studio",
                "batch": b.id,
                "url": b.url,
                "project": b.project_id,
                "tasks": sorted({p.decision.task_id for p in planned}),
                "annotations": applied_ann,
                "annotators": sorted({x.annotator for p in planned
                                      for x in by_winner[p.decision.annotation_id].agreeing}),
                "resolve": resolve,
                "partial": partial,
            }
            res = apply_changeset(
                base,
                ops,
                message=message or f"review batch {b.id} (Label Studio project {b.project_id})",
                author=author,
                source=source,
                branch=branch,
                cache_dir=cache_dir,
                db=db,
            )
            report.version_id, report.change_set_id = res.version_id, res.change_set_id
            for aid in applied_ann:
                statuses[aid] = ("applied", "", res.version_id)
            for p in planned:
                s = by_winner[p.decision.annotation_id]
                report.applied.append(_item(s, s.agreeing, names, decision=p.decision.describe(names),
                                            operations=p.operations))

        # The usual case first: every change applies; one change-set, one pass. Only when something cannot apply
        # are the changes tried one by one (plan) to report each refusal with its reason.
        applied_directly = False
        if changes and not (report.refused and not partial):
            incoming: dict[str, list[str]] = {}
            for d in changes:
                if d.merge_into:
                    incoming.setdefault(d.merge_into, []).append(d.node)

            def members_after(uid: str, seen: frozenset = frozenset()) -> list[str]:
                """A node's members once the merges into it (which come before splits) are done."""
                out = members_of(tree, uid) if uid in tree.nodes else []
                for src in incoming.get(uid, []):
                    if src not in seen:
                        out += members_after(src, seen | {uid})
                return out

            try:
                optimistic = [
                    Planned(d, operations_for(d, tree, members_after(d.node) if d.split is not None else None))
                    for d in changes
                ]
            except Refusal:
                optimistic = None
            if optimistic is not None:
                try:
                    apply_planned(optimistic)
                    applied_directly = True
                except BranchConflictError:
                    raise
                except UsageError:  # EditError, NotFoundError, IntegrityError: find out which change(s)
                    report.applied.clear()
        if not applied_directly and changes:
            result = plan(tree, changes, base_version_id=base, id_prefix=id_prefix)
            for d, reason in result.refused:
                for x in by_winner[d.annotation_id].agreeing:
                    statuses[x.annotation_id] = ("refused", reason, None)
                report.refused.append(_item(by_winner[d.annotation_id], [d], names, decision=d.describe(names),
                                            reason=reason))
            report.blocked = bool(report.refused) and not partial
            if report.blocked:
                why = "not applied: other annotations of this pull were refused (fix them, or pull with --partial)"
                for p in result.applicable:
                    for x in by_winner[p.decision.annotation_id].agreeing:
                        statuses[x.annotation_id] = ("refused", why, None)
            elif result.applicable:
                apply_planned(result.applicable)
        report.blocked = bool(report.refused) and not partial
        _record_annotations(db, b, decisions, results, statuses)
        for items in (report.applied, report.approved, report.flagged, report.conflicts, report.refused):
            for it in items:
                it.link = ls_ui.task_link(b.url, b.project_id, it.task)
        if report.version_id is not None:
            with session_scope(db) as session:
                row = session.get(ReviewBatch, b.id)
                opts = dict(row.options or {})
                opts["versions"] = list(opts.get("versions") or []) + [report.version_id]
                row.options = opts
        final_status = "pulled" if not (report.conflicts or report.refused) else "pulled with issues"
        # the outcomes, for the reviewers (after everything is committed: a failure here is only a warning)
        written, problems = 0, []
        if outcomes:
            try:
                written, problems = ls_ui.write_outcomes(ls, task_data,
                                                         ls_ui.task_outcomes(decisions, statuses, names), progress)
            except LabelStudioError as exc:
                problems = [str(exc)]
        report.outcomes_written = written
        if problems:
            report.warnings.append(f"the outcome could not be written back to {len(problems)} task(s) in Label "
                                   f"Studio (the pull itself is complete): {problems[0]}")
        return report
    finally:
        _unlock(db, b.id, stamp, final_status)


def _item(s: Settled, ds: list[Decision], names: dict[str, str], *, decision: str = "",
          reason: str = "", comment: str = "", operations: list[dict] | None = None) -> PullItem:
    return PullItem(
        node=s.node,
        name=names.get(s.node, s.node),
        task=s.task_id,
        annotations=[d.annotation_id for d in ds],
        annotators=sorted({d.annotator for d in ds}),
        decision=decision or "; ".join(f"{d.annotator}: {d.describe(names)}" for d in ds),
        operations=operations or [],
        reason=reason,
        comment=comment or "; ".join(d.comment for d in ds if d.comment),
    )


def _record_annotations(db, b: _Batch, decisions: list[Decision], results: dict[int, dict],
                        statuses: dict[int, tuple[str, str, int | None]]) -> None:
    """Insert or update one review_annotations row per annotation pulled."""
    now = utcnow()
    with session_scope(db) as session:
        new_rows = []
        for d in decisions:
            st, reason, vid = statuses.get(d.annotation_id, ("pending", "", None))
            row_task = b.tasks[d.task_id][0]
            stored = {"result": results[d.annotation_id]["result"], "decision": decision_dict(d)}
            known = b.known.get(d.annotation_id)
            if known is None:
                new_rows.append({"task_id": row_task, "ls_annotation_id": d.annotation_id, "annotator": d.annotator,
                                 "result": stored, "status": st, "reason": reason or None, "applied_version_id": vid,
                                 "pulled_at": now})
            else:
                session.execute(
                    update(ReviewAnnotation)
                    .where(ReviewAnnotation.id == known["row"])
                    .values(result=stored, status=st, reason=reason or None, applied_version_id=vid,
                            annotator=d.annotator, pulled_at=now)
                )
        if new_rows:
            session.execute(ReviewAnnotation.__table__.insert(), new_rows)
