"""What reviewers see in Label Studio around the labeling config: the project's instructions and data manager
columns, and the outcome of each task written back after a pull.

* **Instructions** (:data:`review.config.INSTRUCTIONS`): what each action does, the hotkeys, that submitting the
  pre-filled task approves the node. Label Studio shows them when a reviewer starts labeling, and behind the
  "Instructions" button. (Its side panels — regions, relations, info — are part of every editor in Label Studio
  1.23: the ``side-column`` interface is always on and no project setting turns it off; reviewers can collapse
  it.)
* **Data manager**: one tab, "Review", with readable columns only — id, annotations, name, size and the outcome —
  and the description, the raw option lists (``merge_options``, ``move_options``, ``split_members``) and identifiers
  hidden.
* **Outcomes**: after each pull every annotated task's ``taxo_outcome`` says what became of it — ``applied in
  version 7: rename to 'X'``, ``approved``, ``flagged: <comment>``, ``conflict: <reason>``, ``refused: <reason>``
  — so reviewers see it in the data manager (and can sort and filter by it). Only tasks whose outcome changed are
  written; writing is after the new version is committed and never undoes it (a failure is a warning).
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from review import config as C

#: data keys shown as data manager columns; every other data key is hidden (the description too: it is long, and
#: the task shows it)
SHOWN_COLUMNS = ("name", "size", C.OUTCOME_KEY)
#: Label Studio's own task columns that stay visible
SHOWN_TASK_COLUMNS = ("id", "total_annotations", "cancelled_annotations", "annotators", "completed_at")
HIDDEN_TASK_COLUMNS = ("inner_id", "total_predictions", "annotations_results", "annotations_ids", "predictions_score",
                       "predictions_model_versions", "predictions_results", "file_upload", "storage_filename",
                       "created_at", "updated_at", "updated_by", "avg_lead_time", "draft_exists", "annotations_results_json",
                       "comment_count", "unresolved_comment_count", "last_comment_updated_at", "comment_authors",
                       "reviewers", "reviewed", "reviews_accepted", "reviews_rejected", "ground_truth")
VIEW_TITLE = "Review"
MAX_OUTCOME = 1000  #: characters of an outcome text
WRITERS = 8  #: task updates in flight


def task_link(url: str, project_id: int | None, task_id: int) -> str:
    """The task opened in Label Studio's editor."""
    return f"{url}/projects/{project_id}/data?task={int(task_id)}"


def configure(ls, project_id: int, data_keys: Iterable[str]) -> None:
    """Instructions on, and the "Review" data manager tab (created once: a tab the reviewers changed stays)."""
    ls.update_project(project_id, {"expert_instruction": C.INSTRUCTIONS, "show_instruction": True})
    data_view(ls, project_id, VIEW_TITLE, [k for k in data_keys if k not in SHOWN_COLUMNS],
              {"name": 200, "size": 190, C.OUTCOME_KEY: 480})


def data_view(ls, project_id: int, title: str, hidden_keys: Iterable[str], widths: dict[str, int]) -> None:
    """A data manager tab showing the task data except ``hidden_keys`` (and Label Studio's less useful columns);
    created once (a tab of that title that exists, perhaps changed by the reviewers, stays as it is)."""
    if any((v.get("data") or {}).get("title") == title for v in ls.views(project_id)):
        return
    hidden = [f"tasks:data.{k}" for k in hidden_keys] + [f"tasks:{k}" for k in HIDDEN_TASK_COLUMNS]
    ls.create_view(project_id, {
        "title": title,
        "type": "list",
        "target": "tasks",
        "hiddenColumns": {"explore": hidden, "labeling": hidden},
        "columnsWidth": {f"tasks:data.{k}": w for k, w in widths.items()},
        "columnsDisplayType": {},
        "gridWidth": 4,
    })


def outcome_text(status: str, reason: str = "", version: int | None = None, decision: str = "",
                 comment: str = "") -> str:
    """One task's outcome as a reviewer reads it."""
    if status == "applied":
        text = f"applied in version {version}" + (f": {decision}" if decision else "")
    elif status == "approved":
        text = "approved (nothing to change)"
    elif status == "flagged":
        text = "flagged for discussion" + (f": {comment}" if comment else "")
    elif status == "conflict":
        text = f"conflict, not applied: {reason}"
    elif status == "refused":
        text = f"refused: {reason} (fix the annotation and submit it again)"
    elif status == "skipped":
        text = "skipped by the reviewer"
    else:
        text = status
    return text if len(text) <= MAX_OUTCOME else text[: MAX_OUTCOME - 1] + "…"


#: which annotation's status speaks for a task when it has several
_RANK = {"applied": 0, "conflict": 1, "refused": 2, "flagged": 3, "approved": 4, "skipped": 5, "superseded": 6}


def task_outcomes(decisions, statuses: dict[int, tuple[str, str, int | None]], names: dict[str, str]) -> dict[int, str]:
    """{Label Studio task id: outcome text} from the annotations' statuses after a pull."""
    best: dict[int, tuple[int, str]] = {}
    for d in decisions:
        st, reason, vid = statuses.get(d.annotation_id, ("pending", "", None))
        rank = _RANK.get(st, 7)
        if d.task_id in best and best[d.task_id][0] <= rank:
            continue
        best[d.task_id] = (rank, outcome_text(st, reason, vid, d.describe(names) if st == "applied" else "",
                                              d.comment))
    return {tid: text for tid, (_, text) in best.items()}


def _same(old: str, new: str) -> bool:
    """The same outcome: equal, or applied in the same version (names in the text may have changed since)."""
    if old == new:
        return True
    head = new.split(":", 1)[0]
    return head.startswith("applied in version ") and old.split(":", 1)[0] == head


def write_outcomes(ls, task_data: dict[int, dict], outcomes: dict[int, str], progress=None) -> tuple[int, list[str]]:
    """Write each changed outcome into its task's data; returns (tasks written, problems)."""
    from taxonomy.progress import NullProgress

    todo = [(tid, {**task_data[tid], C.OUTCOME_KEY: text}) for tid, text in sorted(outcomes.items())
            if tid in task_data and not _same(task_data[tid].get(C.OUTCOME_KEY) or "", text)]
    problems: list[str] = []

    def one(item):
        tid, data = item
        try:
            ls.update_task_data(tid, data)
            return None
        except Exception as exc:  # noqa: BLE001 - reported, the version is committed already
            return f"task {tid}: {exc}"

    if not todo:
        return 0, []
    with (progress or NullProgress()).step("writing outcomes to tasks", total=len(todo)) as step, \
            ThreadPoolExecutor(max_workers=WRITERS) as pool:
        for i, res in enumerate(pool.map(one, todo), start=1):
            if res:
                problems.append(res)
            step.update(i, len(todo))
    return len(todo) - len(problems), problems
