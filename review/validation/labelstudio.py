"""Validation samples in Label Studio: push a stored sample as tasks, pull the validators' answers.

Uses the shared client :mod:`review.labelstudio` (timeouts, retries, auth errors; URL from ``--url`` or
``TAXO_LABEL_STUDIO_URL``, token from ``TAXO_LABEL_STUDIO_TOKEN`` only).

* A task shows the value, whose value it is (AI or human) and the excerpt **as stored on the sample item** — the
  redacted text when the sample was drawn with ``--redact``; this module never reads the extraction records'
  original excerpts, so they cannot reach Label Studio.
* ``annotators`` sets the project's overlap: ``maximum_annotations = annotators`` with
  ``overlap_cohort_percentage = 100``, so every task is annotated by that many validators.
* Push is resumable: the project id is stored as soon as the project exists and task ids after each chunk; running
  the same push again finds the project (by id, or by its unique title after an interruption) and imports only the
  missing tasks.
* Pull is idempotent: one :class:`~taxonomy.db.models.ValidationJudgement` per Label Studio annotation; a changed
  answer updates it, a deleted annotation removes it. Skipped (cancelled) annotations are not answers. An
  annotation whose answer is none of the three is stored with that answer and reported; the report does not count
  it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Engine, select

from review.config import PRE_WRAP, shown
from review.labelstudio import import_tasks_resumably, tasks_by_key
from review.validation.reporting import ANSWERS
from review.validation.sampling import get_sample, sample_items
from taxonomy.errors import UsageError

#: control tags (``from_name`` in annotation results)
ANSWER = "answer"
COMMENT = "comment"
#: what the validator sees -> the answer stored (the Choice aliases are the stored answers themselves)
CHOICE_LABELS = {"Expressed": "expressed", "Not expressed": "not_expressed", "Cannot tell": "cannot_tell"}
ROLE_TEXT = {
    "ai": "AI value (expressed by the AI assistant)",
    "human": "human value (expressed by the human user)",
    None: "not given",
}

LABEL_CONFIG = f"""<View>
  <Style>{PRE_WRAP}</Style>
  <Header value="Is the value really expressed in the excerpt?" size="4"/>
  {shown("value", "Value")}
  {shown("role", "Whose value")}
  {shown("excerpt", "Excerpt")}
  <Choices name="answer" toName="excerpt" choice="single-radio" showInline="true" required="true"
           requiredMessage="Choose Expressed, Not expressed or Cannot tell.">
    <Choice value="Expressed" alias="expressed"/>
    <Choice value="Not expressed" alias="not_expressed"/>
    <Choice value="Cannot tell" alias="cannot_tell"/>
  </Choices>
  <TextArea name="comment" toName="excerpt" editable="true" transcription="true" maxSubmissions="1" rows="2"
            showSubmitButton="false" placeholder="Comment (optional; it is shown in the report)"/>
</View>
"""

INSTRUCTIONS = """<p><b>Is the value really expressed in the excerpt?</b> Read the value, whose value it is (the AI's
or the human's) and the excerpt, then choose <b>Expressed</b>, <b>Not expressed</b> or <b>Cannot tell</b> (the excerpt
is not enough to judge) and submit (<kbd>Ctrl</kbd>+<kbd>Enter</kbd>). A comment is optional; the validation report
shows it next to the value and your answer, the "not expressed" ones first.</p>"""

CHUNK = 1000
MAX_TITLE = 50  #: Label Studio's limit on project titles


@dataclass
class PushResult:
    sample_id: int
    url: str
    project_id: int
    annotators: int
    n_tasks: int  #: tasks of the sample in the project
    n_created: int  #: tasks created by this call
    already_pushed: bool

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class PullResult:
    sample_id: int
    project_id: int
    n_annotations: int = 0  #: annotations read (not cancelled)
    n_new: int = 0
    n_updated: int = 0
    n_unchanged: int = 0
    n_removed: int = 0  #: judgements whose annotation no longer exists in Label Studio
    n_skipped: int = 0  #: cancelled (skipped) annotations, not answers
    n_unknown: int = 0  #: annotations with an unknown or missing answer (stored, not counted)
    n_items: int = 0
    n_items_judged: int = 0
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def _client(url: str | None, token: str | None):
    from review.labelstudio import connect

    return connect(url, token=token)


def project_title(sample_id: int, created_at) -> str:
    """Readable, and found again after an interrupted push: the sample and when it was drawn (to the minute; the
    project description carries :func:`project_key`, which tells same-titled projects apart)."""
    when = f"{created_at:%b} {created_at.day} {created_at:%H:%M}" if created_at is not None else "?"
    return f"Validation #{sample_id} · {when}"  # Label Studio allows 50; its project cards show about 28


def project_key(sample_id: int, created_at) -> str:
    """Unique per sample and database (the sample's creation time to the microsecond)."""
    stamp = created_at.strftime("%Y%m%d%H%M%S%f") if created_at is not None else "?"
    return f"taxo sample key {sample_id}-{stamp}"


def task_data(item) -> dict[str, Any]:
    """What a validator sees for one item (and the ids that bring the answer back)."""
    return {
        "value": item.value,
        "role": ROLE_TEXT.get(item.role, str(item.role)),
        "excerpt": item.excerpt or "(no excerpt)",
        "taxo_item": item.item_id,
        "taxo_position": item.position,
    }


def set_overlap(client, project_id: int, annotators: int) -> None:
    """Every task annotated by ``annotators`` validators: ``maximum_annotations`` (+ 100% overlap cohort)."""
    client.update_project(project_id, {"maximum_annotations": int(annotators), "overlap_cohort_percentage": 100})
    got = client.get_project(project_id) or {}
    if int(got.get("maximum_annotations") or 0) != int(annotators):
        from review.labelstudio import LabelStudioError

        raise LabelStudioError(
            f"Label Studio at {client.url} did not take maximum_annotations={annotators} for project {project_id} "
            f"(it says {got.get('maximum_annotations')!r})"
        )


def push(
    sample_id: int,
    *,
    url: str | None = None,
    token: str | None = None,
    annotators: int = 1,
    title: str | None = None,
    db: str | Engine | None = None,
    client=None,
) -> PushResult:
    """Create (or complete) the Label Studio project of a sample: one task per item."""
    from taxonomy.db.engine import session_scope
    from taxonomy.db.models import ValidationSample

    if annotators < 1:
        raise UsageError(f"--annotators must be at least 1, got {annotators}")
    if title is not None and not (1 <= len(title) <= MAX_TITLE):
        raise UsageError(f"--title must have 1 to {MAX_TITLE} characters (a Label Studio limit), got {len(title)}")
    with session_scope(db) as session:
        vs = get_sample(session, sample_id)
        stored_url, stored_project = vs.url, vs.project_id
        default_title = project_title(sample_id, vs.created_at)
        key = project_key(sample_id, vs.created_at)
        params = dict(vs.params or {})
    items = sample_items(sample_id, db=db)
    if not items:
        raise UsageError(f"validation sample {sample_id} has no items")
    if stored_project is not None and url is not None:
        from review.labelstudio import resolve_url

        if resolve_url(url) != stored_url:
            raise UsageError(
                f"sample {sample_id} was pushed to {stored_url} (project {stored_project}); push it there, or draw "
                "a new sample for another server"
            )
    client = client or _client(url or stored_url, token)
    title = title or (params.get("push") or {}).get("title") or default_title

    project_id = stored_project
    if project_id is not None and client.get_project(project_id) is None:
        raise UsageError(
            f"project {project_id} of sample {sample_id} no longer exists in Label Studio at {client.url}; "
            "draw a new sample (`taxo validate sample`) to validate again"
        )
    already = project_id is not None and all(i.ls_task_id is not None for i in items)
    if project_id is None:
        # a project of this title and key (in its description): an earlier push was interrupted after creating
        # it. Titles are only readable (to the minute); another database's sample can have the same one.
        found = [p for p in client.find_projects(title)
                 if key in str((client.get_project(p) or {}).get("description") or "")]
        if found:  # an earlier push was interrupted after creating the project
            project_id = max(found)
        else:
            project_id = client.create_project(
                title,
                f"Validation spot-check of {len(items)} extraction records (taxo sample {sample_id}). For each task: "
                f"is the value really expressed in the excerpt? ({key})",
                LABEL_CONFIG,
            )
            client.update_project(project_id, {"expert_instruction": INSTRUCTIONS, "show_instruction": True})
            from review.ls_ui import data_view

            data_view(client, project_id, "Validation", ["taxo_item", "taxo_position"],
                      {"value": 220, "role": 200, "excerpt": 600})
        with session_scope(db) as session:
            vs = session.get(ValidationSample, sample_id)
            vs.url, vs.project_id = client.url, project_id
            vs.params = {**params, "push": {"title": title, "annotators": annotators}}
    set_overlap(client, project_id, annotators)
    if (params.get("push") or {}).get("annotators") != annotators and stored_project is not None:
        with session_scope(db) as session:
            vs = session.get(ValidationSample, sample_id)
            vs.params = {**dict(vs.params or {}), "push": {"title": title, "annotators": annotators}}

    # tasks that exist already (an interrupted import) are matched by the item id in their data
    missing = [i for i in items if i.ls_task_id is None]
    created = 0
    if missing:
        _, new = import_tasks_resumably(
            client, project_id, [(i.item_id, task_data(i)) for i in missing], chunk=CHUNK,
            existing=tasks_by_key(client, project_id,
                                  lambda data: int(data["taxo_item"]) if data.get("taxo_item") is not None else None),
            record=lambda pairs: _store_task_ids(db, dict(pairs)),
        )
        created = len(new)
    return PushResult(
        sample_id=sample_id,
        url=client.url,
        project_id=int(project_id),
        annotators=annotators,
        n_tasks=len(items),
        n_created=created,
        already_pushed=already and created == 0,
    )


def _store_task_ids(db, mapping: dict[int, int]) -> None:
    from sqlalchemy import update

    from taxonomy.db.engine import session_scope
    from taxonomy.db.models import ValidationItem

    with session_scope(db) as session:
        for item_id, task_id in mapping.items():
            session.execute(update(ValidationItem).where(ValidationItem.id == item_id).values(ls_task_id=task_id))


def parse_annotation(result: list[dict] | None) -> tuple[str, str | None]:
    """(answer, comment) from an annotation's result. The answer is one of :data:`ANSWERS` when recognised
    (the alias, or the label the validator saw), otherwise the raw choice text, or "" when there is none."""
    answer = ""
    comments: list[str] = []
    for r in result or []:
        value = r.get("value") or {}
        if r.get("from_name") == ANSWER or (r.get("type") == "choices" and not answer):
            choices = value.get("choices") or []
            if choices:
                raw = str(choices[0]).strip()
                answer = _answer(raw)
                if len(choices) > 1:
                    answer = "|".join(_answer(str(c)) for c in choices)
        elif r.get("from_name") == COMMENT or r.get("type") == "textarea":
            text = value.get("text")
            if isinstance(text, list):
                comments += [str(t) for t in text if str(t).strip()]
            elif text:
                comments.append(str(text))
    return answer, ("\n".join(comments).strip() or None)


def _answer(raw: str) -> str:
    if raw in ANSWERS:
        return raw
    for label, ans in CHOICE_LABELS.items():
        if raw.casefold() == label.casefold():
            return ans
    return raw


def _annotator(a: dict, users: dict[int, str]) -> str | None:
    who = a.get("completed_by")
    if isinstance(who, dict):
        return who.get("email") or (users.get(int(who["id"])) if who.get("id") is not None else None) or (
            f"user {who.get('id')}")
    if who is None:
        return None
    return users.get(int(who), f"user {who}")


def pull(
    sample_id: int,
    *,
    url: str | None = None,
    token: str | None = None,
    db: str | Engine | None = None,
    client=None,
) -> PullResult:
    """Store the answers of a sample's Label Studio project (repeatable)."""
    from taxonomy.db.engine import session_scope
    from taxonomy.db.models import ValidationItem, ValidationJudgement

    with session_scope(db) as session:
        vs = get_sample(session, sample_id)
        if vs.project_id is None:
            raise UsageError(f"sample {sample_id} has not been pushed to Label Studio yet: run `taxo validate push "
                             f"{sample_id} --url ...` first")
        stored_url, project_id = vs.url, int(vs.project_id)
        items = session.execute(
            select(ValidationItem.id, ValidationItem.position, ValidationItem.ls_task_id)
            .where(ValidationItem.sample_id == sample_id)
        ).all()
    client = client or _client(url or stored_url, token)
    by_task = {int(t): (int(i), int(p)) for i, p, t in items if t is not None}
    exported = client.export(project_id)
    users = client.users()

    res = PullResult(sample_id=sample_id, project_id=project_id, n_items=len(items))
    problems = res.problems
    seen: dict[tuple[int, int], tuple[str | None, str, str | None]] = {}
    for task in exported:
        tid = int(task.get("id"))
        hit = by_task.get(tid)
        if hit is None:
            data_item = (task.get("data") or {}).get("taxo_item")
            match = [(i, p) for i, p, t in items if data_item is not None and i == int(data_item)]
            if not match:
                problems.append(f"task {tid} is not an item of sample {sample_id}; ignored")
                continue
            hit = match[0]
        item_id, position = hit
        for a in task.get("annotations") or []:
            if a.get("was_cancelled"):
                res.n_skipped += 1
                continue
            res.n_annotations += 1
            answer, comment = parse_annotation(a.get("result"))
            who = _annotator(a, users)
            if answer not in ANSWERS:
                res.n_unknown += 1
                what = f"unknown answer {answer!r}" if answer else "no answer"
                problems.append(f"item {position} (task {tid}), annotation {a.get('id')} by {who}: {what}")
            seen[(item_id, int(a["id"]))] = (who, answer[:32], comment)

    with session_scope(db) as session:
        existing = {
            (j.item_id, j.ls_annotation_id): j
            for j in session.scalars(
                select(ValidationJudgement)
                .join(ValidationItem, ValidationItem.id == ValidationJudgement.item_id)
                .where(ValidationItem.sample_id == sample_id)
            )
        }
        for key, (who, answer, comment) in seen.items():
            j = existing.get(key)
            if j is None:
                session.add(ValidationJudgement(item_id=key[0], ls_annotation_id=key[1], annotator=who, answer=answer,
                                                comment=comment))
                res.n_new += 1
            elif (j.annotator, j.answer, j.comment) != (who, answer, comment):
                j.annotator, j.answer, j.comment = who, answer, comment
                res.n_updated += 1
            else:
                res.n_unchanged += 1
        for key, j in existing.items():
            if key not in seen:
                session.delete(j)
                res.n_removed += 1
    res.n_items_judged = len({k[0] for k, v in seen.items() if v[1] in ANSWERS})
    return res
