"""The reviewer's side of Label Studio in a real browser (chromium, playwright) against the test session's real
Label Studio server: choose an action, fill its controls, submit; then pull and read what came back."""

from __future__ import annotations

import time

import pytest

import taxonomy.api as tx
from review import api as review
from review import config as C

from .browser import browser, choose, open_task, page, shot, submit  # noqa: F401 - fixtures
from .curation_fixtures import make_version, uid
from .test_review import task_ids, tree_of


@pytest.fixture
def pushed(sqlite_url, tmp_path, label_studio, cache_dir):
    tx.init(sqlite_url)
    assert make_version(sqlite_url, tmp_path) == 1
    res = review.push(1, level=1, db=sqlite_url, client=label_studio.client(), cache_dir=str(cache_dir))
    return sqlite_url, res


def annotations_of(ls, task_id: int, *, wait: float = 15.0, expect: int = 1) -> list[dict]:
    """The task's annotations once ``expect`` of them exist (the editor saves asynchronously)."""
    deadline = time.monotonic() + wait
    while True:
        anns = ls._raw("GET", f"api/tasks/{task_id}/annotations/")
        if len(anns) >= expect or time.monotonic() > deadline:
            return anns
        time.sleep(0.3)


def fields(annotation: dict) -> dict[str, list]:
    out: dict[str, list] = {}
    for r in annotation["result"]:
        v = r["value"]
        out[r["from_name"]] = v.get("choices") or v.get("text")
    return out


def test_merge_chosen_in_the_browser_then_pulled_with_the_outcome_shown(pushed, page, label_studio):
    db, res = pushed
    ls = label_studio.client()
    tid = task_ids(db, res.batch_id)[uid("a1y")]
    open_task(page, label_studio.url, res.project_id, tid)
    assert not page.get_by_text("Merge into (its members").is_visible(), "merge targets hidden until Merge is chosen"
    choose(page, C.MERGE)
    page.get_by_text("Merge into (its members").wait_for()
    assert not page.get_by_text("Move under (a node").is_visible(), "only the chosen action's controls are shown"
    choose(page, "Honesty and candor (id")
    shot(page, "review-merge-chosen")
    submit(page)
    [a] = annotations_of(ls, tid)
    f = fields(a)
    assert f[C.ACTION] == [C.MERGE] and len(f[C.MERGE_INTO]) == 1
    assert C.NEW_NAME not in f, "hidden controls (the pre-filled name) are not submitted"

    rep = review.pull(res.batch_id, message="from the browser", db=db, client=ls)
    assert rep.version_id == 2 and [i.node for i in rep.applied] == [uid("a1y")]
    t = tree_of(db, 2)
    assert uid("a1y") not in t.nodes and t.tombstones[uid("a1y")].replaced_by == [uid("a1x")]
    # the outcome is in the task, shown in the data manager's Review tab
    page.goto(f"{label_studio.url}/projects/{res.project_id}/data")
    page.get_by_text("applied in version 2: merge into 'Honesty and candor'").first.wait_for()
    page.wait_for_timeout(500)
    assert not page.get_by_text("merge_options").first.is_visible(), "raw option columns are hidden"
    assert page.get_by_text("taxo_outcome").first.is_visible()
    shot(page, "review-data-manager-outcomes")


def test_split_into_two_ticked_groups_in_the_browser(pushed, page, label_studio):
    db, res = pushed
    ls = label_studio.client()
    tid = task_ids(db, res.batch_id)[uid("b1x")]  # members: 1. kindness 2. compassion 3. empathy
    open_task(page, label_studio.url, res.project_id, tid)
    choose(page, C.SPLIT_ACTION)
    page.get_by_placeholder("Name of new group 1").fill("Compassion")
    assert not page.get_by_placeholder("Name of new group 2").is_visible(), "group 2 appears once group 1 has a member"
    boxes = page.locator("label").filter(has_text="2. compassion")
    boxes.first.click()
    page.get_by_placeholder("Name of new group 2").fill("Kindness")
    page.locator("label").filter(has_text="1. kindness").nth(1).click()
    shot(page, "review-split-two-groups")
    submit(page)
    [a] = annotations_of(ls, tid)
    f = fields(a)
    assert f[C.ACTION] == [C.SPLIT_ACTION]
    assert f[C.SPLIT_NAME.format(1)] == ["Compassion"] and f[C.SPLIT_NAME.format(2)] == ["Kindness"]

    rep = review.pull(res.batch_id, db=db, client=ls)
    assert rep.version_id == 2, rep
    t = tree_of(db, 2)
    by_name = {n.name: sorted(lf.text for lf in t.leaves if lf.parent_uid == n.uid) for n in t.nodes.values()
               if n.parent_uid == uid("B1")}
    assert by_name == {"Compassion": ["compassion"], "Kindness": ["kindness"], "Empathy and compassion": ["empathy"],
                       "Community and belonging": ["belonging", "community", "cooperation", "solidarity"]}
    assert t.nodes[uid("b1x")].name == "Empathy and compassion", "the remainder keeps the node's id"


def test_flag_without_a_comment_is_blocked(pushed, page, label_studio):
    db, res = pushed
    ls = label_studio.client()
    tid = task_ids(db, res.batch_id)[uid("a2x")]
    open_task(page, label_studio.url, res.project_id, tid)
    choose(page, C.FLAG)
    submit(page)
    page.get_by_text("Flag: write a comment saying what should be discussed.").wait_for()
    page.wait_for_timeout(600)  # the dialog fades in
    shot(page, "review-flag-without-comment")
    assert annotations_of(ls, tid, wait=2) == [], "nothing was submitted"
    page.get_by_role("button", name="OK").click()
    page.get_by_placeholder("Why this node needs a discussion").fill("Is time management a value?")
    submit(page)
    [a] = annotations_of(ls, tid)
    assert fields(a)[C.COMMENT] == ["Is time management a value?"]
    rep = review.pull(res.batch_id, db=db, client=ls)
    assert [f.comment for f in rep.flagged] == ["Is time management a value?"] and rep.version_id is None
    [task] = [t for t in ls.list_tasks(res.project_id) if t["id"] == tid]
    assert task["data"][C.OUTCOME_KEY] == "flagged for discussion: Is time management a value?"


def test_a_validation_task_answered_in_the_browser_shows_in_the_report_with_its_comment(
        sqlite_url, tmp_path, label_studio, page, capsys):
    from review import validation as V
    from review.validation import labelstudio as VLS
    from taxonomy.cli import main
    from tests.test_validation_db import write_records

    db = sqlite_url
    tx.init(db)
    tx.ingest(str(write_records(tmp_path / "r.jsonl")), db=db, role_col="role", excerpt_col="excerpt")
    s = V.sample(n=3, db=db)
    ls = label_studio.client()
    res = VLS.push(s.sample_id, db=db, client=ls)
    title = ls.get_project(res.project_id)["title"]
    [view] = ls.views(res.project_id)
    assert {"tasks:data.taxo_item", "tasks:data.taxo_position"} <= set(view["data"]["hiddenColumns"]["explore"])
    assert "one action" not in ls.get_project(res.project_id)["expert_instruction"]
    assert "Is the value really expressed" in ls.get_project(res.project_id)["expert_instruction"]
    assert title.startswith(f"Validation #{s.sample_id} · ") and len(title) <= 28, title
    first = VLS.sample_items(s.sample_id, db=db)[0]
    open_task(page, label_studio.url, res.project_id, first.ls_task_id)
    choose(page, "Not expressed")
    page.get_by_placeholder("Comment (optional").fill("The excerpt is about <b>cost</b>, not this value.")
    shot(page, "validation-task-answered")
    submit(page)
    [a] = annotations_of(ls, first.ls_task_id)
    assert VLS.parse_annotation(a["result"]) == ("not_expressed", "The excerpt is about <b>cost</b>, not this value.")

    VLS.pull(s.sample_id, db=db, client=ls)
    rep = V.report(s.sample_id, db=db)
    [c] = rep.comments
    assert (c["position"], c["value"], c["verdict"]) == (first.position, first.value, "not_expressed")
    assert c["judgements"][0]["comment"] == "The excerpt is about <b>cost</b>, not this value."
    assert main(["validate", "report", str(s.sample_id), "--db", db]) == 0
    out = capsys.readouterr().out
    assert f"item {first.position} [not expressed]" in out and "The excerpt is about <b>cost</b>, not this value." in out

    page.goto(f"{label_studio.url}/projects/{res.project_id}/data")
    page.get_by_text(first.value).first.wait_for()
    page.wait_for_timeout(500)
    assert not page.get_by_text("taxo_item").first.is_visible()
    shot(page, "validation-data-manager")
    page.goto(f"{label_studio.url}/projects")
    page.get_by_text(title).first.wait_for()
    shot(page, "validation-projects-list")


def test_rename_then_edit_the_submitted_annotation_and_update(pushed, page, label_studio):
    """Editing a pre-filled box of a submitted annotation enables Update (no "Add" step that could be missed)."""
    db, res = pushed
    ls = label_studio.client()
    tid = task_ids(db, res.batch_id)[uid("a1x")]
    open_task(page, label_studio.url, res.project_id, tid)
    choose(page, C.RENAME)
    name_box = page.locator(f"input[name^='{C.NEW_NAME}:']")
    assert name_box.input_value() == "Honesty and candor", "pre-filled with the current name"
    name_box.fill("Honesty and truthfulness")
    submit(page)
    [a] = annotations_of(ls, tid)
    assert fields(a)[C.ACTION] == [C.RENAME] and fields(a)[C.NEW_NAME] == ["Honesty and truthfulness"]

    page.wait_for_timeout(1000)
    shot(page, "review-rename-submitted")
    update = page.locator("button", has_text="Update").first
    assert not update.is_enabled(), "nothing changed yet"
    page.locator(f"input[name^='{C.NEW_NAME}:']").fill("Candor and honesty")
    shot(page, "review-rename-update")
    # as a reviewer does it: straight from the box to Update (the mouse press leaves the box, which takes the edit)
    box = update.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    deadline = time.monotonic() + 15
    while fields(annotations_of(ls, tid)[0])[C.NEW_NAME] != ["Candor and honesty"] and time.monotonic() < deadline:
        time.sleep(0.3)
    [a] = annotations_of(ls, tid)
    assert fields(a)[C.NEW_NAME] == ["Candor and honesty"]
    rep = review.pull(res.batch_id, db=db, client=ls)
    assert rep.version_id == 2 and tree_of(db, 2).nodes[uid("a1x")].name == "Candor and honesty"
    [task] = [t for t in ls.list_tasks(res.project_id) if t["id"] == tid]
    assert task["data"][C.OUTCOME_KEY] == "applied in version 2: rename to 'Candor and honesty'"
