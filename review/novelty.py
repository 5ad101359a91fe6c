"""The novelty queue in Label Studio: `taxo review push V --novelty`, and its pull.

One task per queued group: its proposed name and description, its values (weight, similarity to the nearest
node), and three decisions — **place** the values into one of the nearest level-1 nodes, **make a new node** (name
pre-filled with the proposed one) under one of the nearest level-2 nodes, or **leave queued** (pre-selected, so
that an untouched submission changes nothing). The pull turns the latest annotation of each task into ``place``
or ``create`` operations, all in one change-set (``source.kind = "label-studio"``, ``review = "novelty"``).
Everything is shown with ``<Text>``; options carry only a label and the node id.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from sqlalchemy import Engine, select, update

from review import config as C
from review.api import ChangeTarget, PullItem, PullReport
from review.labelstudio import LabelStudioClient, RetryPolicy, connect
from review.status import BatchStatus, project_page, result_hash
from taxonomy.db.engine import session_scope
from taxonomy.db.models import ReviewAnnotation, ReviewBatch, ReviewTask, utcnow
from taxonomy.errors import NotFoundError, UsageError

KIND = "novelty"
DECISION = "novelty_decision"
PLACE_INTO = "place_into"
NEW_NAME = "new_node_name"
NEW_PARENT = "new_parent"
COMMENT = "comment"
PLACE = "Place the values into the node chosen below"
CREATE = "Make a new node (name and parent below)"
LEAVE = "Leave queued"
MODEL_VERSION = "taxo-novelty"

LABEL_CONFIG = f"""<View>
  <Style>{C.PRE_WRAP}</Style>
  <Header value="New values that fit no node well. Decide what to do with this group." size="4"/>
  {C.shown("name", "Proposed name")}
  {C.shown("description", "Proposed description")}
  {C.shown("members", "Values (weight; similarity to the nearest node)")}
  <Header value="Decision" size="5"/>
  <Choices name="{DECISION}" toName="name" choice="single-radio">
    <Choice value="{PLACE}"/>
    <Choice value="{CREATE}"/>
    <Choice value="{LEAVE}"/>
  </Choices>
  <Header value="Place into one of the nearest level-1 nodes" size="5"/>
  <Choices name="{PLACE_INTO}" toName="name" value="$place_options" choice="single"/>
  <Header value="New node: its name, and its parent (nearest level-2 nodes)" size="5"/>
  <TextArea name="{NEW_NAME}" toName="name" editable="true" transcription="true" maxSubmissions="1" rows="1"
            placeholder="Name of the new node"/>
  <Choices name="{NEW_PARENT}" toName="name" value="$parent_options" choice="single"/>
  <TextArea name="{COMMENT}" toName="name" editable="true" transcription="true" maxSubmissions="1" rows="2"
            placeholder="Comment"/>
</View>
"""


def _options(nodes: list[dict]) -> list[dict]:
    return [{"value": f"{n['name']} (similarity {n['similarity']:.2f}) [{n['node'].rsplit(':', 1)[-1][:8]}]",
             "alias": n["node"]} for n in nodes]


def task_data(group: dict, *, batch_id: int, version: int, members: int = 40) -> dict:
    shown = group["members"][:members]
    lines = [f"{i}. {m['value']} (weight {m['weight']:g}; {m['similarity']:.2f})" for i, m in enumerate(shown, 1)]
    if len(group["members"]) > len(shown):
        lines.append(f"… and {len(group['members']) - len(shown)} more")
    return {
        "name": group["name"],
        "description": group["description"],
        "members": "\n".join(lines),
        "place_options": _options(group["nearest_nodes"]),
        "parent_options": _options(group["nearest_parents"]),
        "group_id": group["id"],
        "taxo_batch": batch_id,
        "taxo_version": version,
    }


@dataclass
class NoveltyPushResult:
    batch_id: int
    version_id: int
    url: str
    project_id: int
    project_url: str
    n_tasks: int
    created: int
    existing: int = 0
    level: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def push_novelty(
    version: int,
    *,
    url: str | None = None,
    annotators: int = 1,
    members: int = 40,
    db: str | Engine | None = None,
    client: LabelStudioClient | None = None,
    retry: RetryPolicy | None = None,
) -> NoveltyPushResult:
    """A Label Studio project with one task per novelty group of ``version``; pushing again adds only new groups."""
    from taxonomy.novelty import novelty

    queue = novelty(version, db=db)
    if not queue.groups:
        raise UsageError(f"version {version} has an empty novelty queue: nothing to review"
                         + (f" ({queue.note})" if queue.note else ""))
    ls = client or connect(url, retry=retry)
    ls.whoami()  # URL and token work: checked before anything is written
    with session_scope(db) as session:
        batch = None
        for b in session.scalars(
            select(ReviewBatch).where(ReviewBatch.version_id == version, ReviewBatch.url == ls.url)
            .order_by(ReviewBatch.id.desc())
        ):
            if (b.options or {}).get("kind") == KIND and b.project_id is not None:
                batch = b
                break
        if batch is None:
            batch = ReviewBatch(version_id=version, level=0, url=ls.url, project_id=None, status="pushing",
                                options={"kind": KIND, "annotators": annotators, "members": members, "versions": []})
            session.add(batch)
            session.flush()
        batch_id, project_id = batch.id, batch.project_id
        have = set(session.scalars(select(ReviewTask.node_uid).where(ReviewTask.batch_id == batch_id)))
    if project_id is None:
        project_id = ls.create_project(
            f"taxo v{version} novelty (batch {batch_id})"[:50],
            f"Novelty queue of taxonomy version {version}. Bring the decisions back with `taxo review pull "
            f"{batch_id}`.",
            LABEL_CONFIG,
        )
        if annotators > 1:
            ls.update_project(project_id, {"maximum_annotations": annotators, "overlap_cohort_percentage": 100})
        with session_scope(db) as session:
            session.execute(update(ReviewBatch).where(ReviewBatch.id == batch_id).values(project_id=project_id))
    todo = [g for g in queue.groups if g["id"] not in have]
    datas = [task_data(g, batch_id=batch_id, version=version, members=members) for g in todo]
    ids = ls.import_tasks(project_id, [{"data": d} for d in datas]) if datas else []
    if ids:
        ls.import_predictions(project_id, [
            {"task": tid, "model_version": MODEL_VERSION, "result": [
                C.textarea_result(NEW_NAME, "name", d["name"]), C.choices_result(DECISION, "name", LEAVE),
            ]} for tid, d in zip(ids, datas, strict=True)
        ])
    with session_scope(db) as session:
        if ids:
            session.execute(ReviewTask.__table__.insert(), [
                {"batch_id": batch_id, "node_uid": g["id"], "ls_task_id": tid, "created_at": utcnow(),
                 "payload": {"group": g, "place_options": d["place_options"], "parent_options": d["parent_options"]}}
                for g, d, tid in zip(todo, datas, ids, strict=True)
            ])
        session.execute(update(ReviewBatch).where(ReviewBatch.id == batch_id).values(status="pushed"))
        n_tasks = len(session.scalars(select(ReviewTask.id).where(ReviewTask.batch_id == batch_id)).all())
    return NoveltyPushResult(batch_id, version, ls.url, project_id, project_page(ls.url, project_id) or "", n_tasks,
                             len(ids), len(queue.groups) - len(todo))


def is_novelty_batch(db, batch_id: int) -> bool:
    with session_scope(db) as session:
        b = session.get(ReviewBatch, batch_id)
        return b is not None and (b.options or {}).get("kind") == KIND


def _fields(result: list[dict]) -> dict[str, list]:
    out: dict[str, list] = {}
    for r in result or []:
        v = r.get("value") or {}
        out.setdefault(r.get("from_name"), []).extend(v.get("choices") or v.get("text") or [])
    return out


def _node_of(choice: str, options: list[dict], what: str) -> str:
    for o in options:
        if choice in (o["value"], o["alias"]):
            return o["alias"]
    raise UsageError(f"{what} {choice!r} is not one of the task's options")


def pull_novelty(
    batch: int,
    target: ChangeTarget = ChangeTarget(),
    *,
    url: str | None = None,
    db: str | Engine | None = None,
    client: LabelStudioClient | None = None,
    retry: RetryPolicy | None = None,
) -> PullReport:
    """The latest annotation of each novelty task as place / create operations: one change-set, one version."""
    from taxonomy.changesets import apply
    from taxonomy.edits import Create, Place
    from taxonomy.store import read_tree

    with session_scope(db) as session:
        b = session.get(ReviewBatch, batch)
        if b is None or (b.options or {}).get("kind") != KIND:
            raise NotFoundError(f"review batch {batch} is not a novelty batch")
        version_id, project_id, burl = b.version_id, b.project_id, b.url
        pulled = list((b.options or {}).get("versions") or [])
        tasks = {int(t.ls_task_id): (t.id, t.payload) for t in
                 session.scalars(select(ReviewTask).where(ReviewTask.batch_id == batch))}
        known = {a.ls_annotation_id: (a.status, result_hash((a.result or {}).get("result"))) for a in session.scalars(
            select(ReviewAnnotation).join(ReviewTask, ReviewTask.id == ReviewAnnotation.task_id)
            .where(ReviewTask.batch_id == batch))}
    base = target.onto if target.onto is not None else (pulled[-1] if pulled else version_id)
    ls = client or connect(url or burl, retry=retry)
    exported = ls.export(project_id)
    names = ls.users()
    with session_scope(db) as session:
        held = {leaf.text for leaf in read_tree(session, base).leaves}
    report = PullReport(batch_id=batch, base_version_id=base, version_id=None, change_set_id=None)
    ops, used, records = [], [], []
    for task in exported:
        entry = tasks.get(int(task["id"]))
        anns = [a for a in task.get("annotations") or [] if not a.get("was_cancelled")]
        if entry is None or not anns:
            continue
        row_id, payload = entry
        ann = max(anns, key=lambda a: (a.get("updated_at") or a.get("created_at") or "", a["id"]))
        g = payload["group"]
        item = PullItem(node=g["id"], name=g["name"], task=int(task["id"]), annotations=[int(ann["id"])],
                        annotators=[names.get(ann.get("completed_by"), str(ann.get("completed_by")))])
        report.skipped += len(anns) - 1
        if ann["id"] in known and known[ann["id"]][1] == result_hash(ann.get("result")):
            report.already_pulled += 1
            continue
        f = _fields(ann.get("result"))
        decision = (f.get(DECISION) or [LEAVE])[-1]
        item.comment = " ".join(f.get(COMMENT) or [])
        values = [m["value"] for m in g["members"] if m["value"] not in held]
        status = "approved"
        if decision == PLACE and values:
            if not f.get(PLACE_INTO):
                raise UsageError(f"{g['name']} ({g['id']}, task {task['id']}): 'place' needs a node chosen")
            into = _node_of(f[PLACE_INTO][-1], payload["place_options"], "place into")
            item.operations = [Place(value=v, to=into).to_dict() for v in values]
            item.decision = f"place {len(values)} values into {into}"
        elif decision == CREATE and values:
            parents = f.get(NEW_PARENT) or []
            parent = _node_of(parents[-1], payload["parent_options"], "parent") if parents else None
            name = ((f.get(NEW_NAME) or [g["name"]])[-1] or g["name"]).strip()
            item.operations = [Create(level=1, name=name, parent=parent, description=g["description"],
                                      children=values).to_dict()]
            item.decision = f"new node {name!r}"
        else:
            item.decision = "leave queued" if decision == LEAVE else "nothing left to place"
        if item.operations:
            ops += item.operations
            used.append(int(ann["id"]))
            report.applied.append(item)
            status = "applied"
        else:
            report.approved.append(item)
        records.append((row_id, ann, status))
    new_id = cs_id = None
    if ops:
        res = apply(base, ops, message=target.message or f"novelty review batch {batch}", author=target.author,
                    branch=target.branch,
                    source={"kind": "label-studio", "review": KIND, "batch": batch, "annotations": used,
                            "tasks": [it.task for it in report.applied]},
                    cache_dir=target.cache_dir, db=db)
        new_id, cs_id = res.version_id, res.change_set_id
    with session_scope(db) as session:
        for row_id, ann, status in records:
            existing = session.scalar(select(ReviewAnnotation).where(
                ReviewAnnotation.task_id == row_id, ReviewAnnotation.ls_annotation_id == int(ann["id"])))
            if existing is None:
                existing = ReviewAnnotation(task_id=row_id, ls_annotation_id=int(ann["id"]))
                session.add(existing)
            existing.annotator = names.get(ann.get("completed_by"))
            existing.result = {"result": ann.get("result") or []}
            existing.status = status
            existing.applied_version_id = new_id if status == "applied" else None
        if new_id is not None:
            b = session.get(ReviewBatch, batch)
            b.options = {**(b.options or {}), "versions": pulled + [new_id]}
            b.status = "pulled"
    report.version_id, report.change_set_id = new_id, cs_id
    return report


def status_novelty(batch: int, *, url: str | None = None, db: str | Engine | None = None,
                   client: LabelStudioClient | None = None, retry: RetryPolicy | None = None):
    """Where a novelty batch stands (``approved`` counts groups left queued)."""
    with session_scope(db) as session:
        b = session.get(ReviewBatch, batch)
        if b is None or (b.options or {}).get("kind") != KIND:
            raise NotFoundError(f"review batch {batch} is not a novelty batch")
        info = (b.id, b.version_id, b.url, b.project_id, b.status, list((b.options or {}).get("versions") or []))
        tasks = {int(t.ls_task_id): t.id for t in session.scalars(select(ReviewTask).where(ReviewTask.batch_id == batch))}
        known = {a.ls_annotation_id: (a.status, result_hash((a.result or {}).get("result"))) for a in session.scalars(
            select(ReviewAnnotation).join(ReviewTask, ReviewTask.id == ReviewAnnotation.task_id)
            .where(ReviewTask.batch_id == batch))}
    bid, version_id, burl, project_id, st, versions = info
    ls = client or connect(url or burl, retry=retry)
    counts = {"applied": 0, "approved": 0, "pending": 0}
    annotated = n_ann = 0
    for task in ls.export(project_id):
        if int(task["id"]) not in tasks:
            continue
        anns = [a for a in task.get("annotations") or [] if not a.get("was_cancelled")]
        n_ann += len(anns)
        if not anns:
            continue
        annotated += 1
        ann = max(anns, key=lambda a: (a.get("updated_at") or a.get("created_at") or "", a["id"]))
        k = known.get(ann["id"])
        if k is None or k[1] != result_hash(ann.get("result")):
            counts["pending"] += 1
        else:
            counts["applied" if k[0] == "applied" else "approved"] += 1
    return BatchStatus(batch_id=bid, version_id=version_id, level=0, url=burl, project_id=project_id,
                       project_url=project_page(burl, project_id), status=st, tasks=len(tasks),
                       annotated=annotated, conflicting=0, flagged=0, refused=0, annotations=n_ann,
                       versions=versions, **counts)
