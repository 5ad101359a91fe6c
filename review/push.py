"""`taxo review push`: one Label Studio task per node of a version's level, each pre-filled with the node as it is
(a prediction), so that submitting a task unchanged approves the node. Resumable: pushing again completes an
interrupted push without duplicating anything (see :mod:`review.api` for the whole review cycle)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from sqlalchemy import Engine, bindparam, select, update

from review import config as C
from review import ls_ui
from review.labelstudio import LabelStudioClient, LabelStudioError, RetryPolicy, import_tasks_resumably, tasks_by_key
from review.status import client_for, project_page
from review.tasks import TaskOptions, build_tasks, leaf_vectors_for
from taxonomy.db.engine import session_scope
from taxonomy.db.models import ReviewBatch, ReviewTask, utcnow
from taxonomy.errors import UsageError
from taxonomy.store import get_version, read_tree

#: tasks (and predictions) per import request. Few big requests: Label Studio's prediction import gets slower with
#: every request on a big project (3,600 predictions: 5 s in one request, 14 s in four).
CHUNK = 5000


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
    ls = client_for(url, client, retry)
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
        rows = dict(session.execute(  # node -> review_tasks.id, of the tasks not yet in Label Studio
            select(ReviewTask.node_uid, ReviewTask.id)
            .where(ReviewTask.batch_id == batch_id, ReviewTask.ls_task_id.is_(None))
            .order_by(ReviewTask.id)
        ).all())
    created = 0
    need_prediction: list[tuple[int, dict]] = []
    listing: dict[str, dict] = {}  # node -> its task in Label Studio
    if resuming or (rows and reused):
        listing = tasks_by_key(ls, project_id, lambda data: data.get("node_id") if data.get("taxo_batch") == batch_id
                               else None)
    if resuming:  # an interrupted push may have left tasks without their prediction
        with session_scope(db) as session:
            for uid, tid, payload in session.execute(
                select(ReviewTask.node_uid, ReviewTask.ls_task_id, ReviewTask.payload).where(
                    ReviewTask.batch_id == batch_id, ReviewTask.ls_task_id.is_not(None))
            ):
                if uid in listing and not listing[uid].get("total_predictions"):
                    need_prediction.append((tid, payload))
    if rows:
        adopted, new = import_tasks_resumably(
            ls, project_id, [(uid, by_node[uid]["data"]) for uid in rows], existing=listing, chunk=CHUNK,
            record=lambda pairs: _record_task_ids(db, [(rows[uid], tid) for uid, tid in pairs]),
        )
        need_prediction += [(tid, by_node[uid]) for uid, tid in adopted if not listing[uid].get("total_predictions")]
        need_prediction += [(tid, by_node[uid]) for uid, tid in new]
        created = len(new)
    for start in range(0, len(need_prediction), CHUNK):
        part = need_prediction[start : start + CHUNK]
        ls.import_predictions(
            project_id,
            [{"task": tid, "result": C.prediction_result(p["name"], p.get("description") or ""),
              "model_version": C.MODEL_VERSION} for tid, p in part],
        )
    if need_prediction:  # Label Studio accepts a model version only once predictions of it exist
        ls.update_project(project_id, {"model_version": C.MODEL_VERSION})
    with session_scope(db) as session:
        session.execute(update(ReviewBatch).where(ReviewBatch.id == batch_id).values(status="pushed"))
        n_tasks = len(session.scalars(select(ReviewTask.id).where(ReviewTask.batch_id == batch_id)).all())
    return PushResult(
        batch_id=batch_id,
        version_id=version,
        level=level,
        url=base_url,
        project_id=project_id,
        project_url=project_page(base_url, project_id) or "",
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
    ls.update_project(project_id, {"show_collab_predictions": True, "maximum_annotations": annotators,
                                   "show_skip_button": True})


def _record_task_ids(db, mapping: list[tuple[int, int]]) -> None:
    if not mapping:
        return
    table = ReviewTask.__table__
    stmt = update(table).where(table.c.id == bindparam("row_id")).values(ls_task_id=bindparam("task_id"))
    with session_scope(db) as session:
        session.connection().execute(stmt, [{"row_id": r, "task_id": t} for r, t in mapping])
