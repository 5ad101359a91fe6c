"""The report in a real browser: Debian's chromium driven by playwright, on a real build of the bundled sample.

Screenshots of the main pages are saved in the test's tmp directory and, when TAXO_ARTIFACTS_DIR is set, there
too. Without chromium or playwright these tests are skipped locally; in CI a skip fails the run.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from taxonomy import api as tx
from taxonomy.db.engine import session_scope
from taxonomy.store import read_tree
from tests.browser import launch_chromium
from tests.test_report import serve  # noqa: F401 - the fixture

HOSTILE = "<img src=x onerror=alert(1)>"
HOSTILE_VALUE = "<svg onload=alert(2)> & <script>alert(3)</script>"
RENAMED = "Renamed in the browser test"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser():
    yield from launch_chromium()


@pytest.fixture(scope="module")
def built(tmp_path_factory, cache_dir):
    """A real build (the bundled sample plus the value 'honesty'), then two renames: a top category gets a hostile
    name (version 2), another is renamed (version 3). The report of version 3 with the changes from 1."""
    tmp = tmp_path_factory.mktemp("report")
    db = f"sqlite:///{tmp / 'taxonomy.db'}"
    tx.init(db)
    tx.ingest(str(tx.sample_path()), value_col="value", weight_col="pct_convos", db=db)
    extra = tmp / "extra.csv"
    extra.write_text(f'value,pct_convos\nhonesty,0.9\n"{HOSTILE_VALUE}",0.05\n')
    tx.ingest(str(extra), value_col="value", weight_col="pct_convos", db=db)
    records = tmp / "records.jsonl"
    records.write_text('{"value": "honesty", "conversation_id": "c1", "role": "ai", '
                       '"excerpt": "Be honest with me, write to ana.lima@example.org if unsure."}\n')
    tx.ingest(str(records), conversation_col="conversation_id", role_col="role", excerpt_col="excerpt", db=db)
    v1 = tx.build(levels="40,8,3", seed=0, message="first cut", cache_dir=str(cache_dir), db=db).version_id
    top = tx.show(v1, db=db).nodes
    v2 = tx.rename(v1, top[0].id, HOSTILE, db=db).version_id
    v3 = tx.rename(v2, top[1].id, RENAMED, db=db).version_id
    res = tx.report(v3, out=tmp / "site", diff=v1, cache_dir=str(cache_dir), db=db)
    with session_scope(db) as s:
        tree = read_tree(s, v3)
    return {"db": db, "v1": v1, "v3": v3, "site": Path(res.path), "url": res.index, "tree": tree,
            "old_name": top[1].name, "shots": tmp / "screenshots"}


def shot(page, built, name: str, full_page: bool = False) -> None:
    built["shots"].mkdir(exist_ok=True)
    path = built["shots"] / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    artifacts = os.environ.get("TAXO_ARTIFACTS_DIR")
    if artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, Path(artifacts) / f"report-{name}.png")


@pytest.fixture
def page(browser):
    """A 1280x800 page recording console errors, page errors and dialogs (any dialog is dismissed)."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    pg = context.new_page()
    pg.errors = []
    pg.dialogs = []
    pg.on("console", lambda m: pg.errors.append(f"console.{m.type}: {m.text}") if m.type in ("error", "warning") else None)
    pg.on("pageerror", lambda e: pg.errors.append(f"pageerror: {e}"))
    pg.on("requestfailed", lambda r: pg.errors.append(f"request failed: {r.url}"))

    def on_dialog(d):
        pg.dialogs.append(d.message)
        d.dismiss()

    pg.on("dialog", on_dialog)
    yield pg
    context.close()


def open_report(page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("#sunburst g.slice")
    page.wait_for_selector("#outline .tnode")


def top_nodes(tree):
    return sorted((n for n in tree.nodes.values() if n.parent_uid is None), key=lambda n: (-n.weight, n.name, n.uid))


def test_report_opens_without_errors_or_network(page, built):
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    open_report(page, built["url"])
    page.wait_for_timeout(300)
    shot(page, built, "tree")
    assert page.errors == [] and page.dialogs == []
    assert all(u.startswith("file://") for u in requests), [u for u in requests if not u.startswith("file://")]
    tops = top_nodes(built["tree"])
    assert page.locator("#outline > .tnode").count() == len(tops) == 3
    assert page.locator("#sunburst g.slice").count() == len(built["tree"].nodes)
    assert f"version {built['v3']}" in page.text_content("#title")


def test_clicking_a_top_category_shows_its_children(page, built):
    open_report(page, built["url"])
    tree = built["tree"]
    top = top_nodes(tree)[2]
    kids = sorted((n for n in tree.nodes.values() if n.parent_uid == top.uid), key=lambda n: (-n.weight, n.name, n.uid))
    row = page.locator("#outline > .tnode").nth(2)
    assert row.locator(":scope > .row .name").text_content() == top.name
    row.locator(":scope > .row .toggle").click()
    names = row.locator(":scope > .kids > .tnode > .row .name").all_text_contents()
    assert names == [k.name for k in kids]
    shot(page, built, "outline-expanded")
    # the sunburst: clicking the top category's sector zooms into it and the breadcrumbs show it
    index = page.evaluate("uid => window.TAXO.byUid.get(uid)", top.uid)
    slices = page.evaluate("() => Array.from(document.querySelectorAll('#sunburst g.slice')).map(g => g.__data__.data.data.id)")
    page.locator("#sunburst g.slice").nth(slices.index(str(index))).click()
    page.wait_for_function("n => document.querySelector('#crumbs').textContent.includes(n)", arg=top.name)
    page.wait_for_timeout(800)  # the zoom transition
    shot(page, built, "sunburst-zoomed")
    # the node page lists the same children
    row.locator(":scope > .row .name").click()
    page.wait_for_selector("#node-children")
    assert page.locator("#node-children tbody a").all_text_contents() == [k.name for k in kids]
    assert page.text_content("#node-name") == top.name
    assert page.errors == []


def test_search_honesty_shows_its_path_and_opens_its_node(page, built):
    open_report(page, built["url"])
    tree = built["tree"]
    leaf = next(lf for lf in tree.leaves if lf.text == "honesty")
    chain, uid = [], leaf.parent_uid
    while uid is not None:
        chain.append(tree.nodes[uid].name)
        uid = tree.nodes[uid].parent_uid
    expected_path = " › ".join(reversed(chain))
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "search"
    page.keyboard.type("honesty")
    first_value = page.locator("#results .hit").first
    first_value.wait_for()
    assert first_value.locator(".kind").text_content() == "value"  # the exact match comes first
    assert first_value.locator(".hname").text_content() == "honesty"
    assert first_value.locator(".hpath").text_content() == expected_path
    shot(page, built, "search")
    first_value.click()
    page.wait_for_selector("#node-members tr.hl")
    assert page.text_content("#node-members tr.hl td") == "honesty"
    assert page.text_content("#node-name") == tree.nodes[leaf.parent_uid].name
    assert page.locator("#panel .crumbs").text_content().startswith(chain[-1])
    assert page.locator("#node-neighbours li").count() == 5
    excerpt = page.locator("#node-excerpts blockquote").first
    assert excerpt.locator("p").text_content() == "Be honest with me, write to [EMAIL] if unsure."
    assert excerpt.locator("footer").text_content() == "honesty · ai"
    assert "ana.lima" not in page.content()
    assert page.locator("#node-history li").count() >= 1
    shot(page, built, "node")
    page.keyboard.press("Escape")
    assert page.locator("#panel").is_hidden()
    assert page.errors == []


def test_changes_page_lists_the_rename_with_the_counts_of_taxo_diff(page, built):
    page.goto(built["url"] + "#changes")
    page.wait_for_selector("#change-counts")
    counts = tx.diff(built["v1"], built["v3"], db=built["db"]).counts
    shown = {r.get_attribute("data-kind"): int(r.locator("td.num").text_content())
             for r in page.locator("#change-counts tbody tr").all()}
    assert shown == counts and counts["renamed"] == 2
    renames = page.locator("#ch-renamed li").all_text_contents()
    assert f"L3{built['old_name']} → {RENAMED}" in renames
    page.locator("#ch-renamed li a", has_text=RENAMED).click()
    page.wait_for_selector("#panel:not([hidden])")
    assert page.text_content("#node-name") == RENAMED
    assert "renamed" in page.locator("#panel .meta .badge").all_text_contents()
    page.keyboard.press("Escape")
    shot(page, built, "changes", full_page=True)
    assert page.errors == []


def test_hostile_name_is_shown_as_text_and_runs_nothing(page, built):
    open_report(page, built["url"])
    assert HOSTILE in page.locator("#outline .row .name").all_text_contents()
    page.locator("#outline .row .name", has_text="<img").click()
    page.wait_for_selector("#node-name")
    assert page.text_content("#node-name") == HOSTILE
    page.keyboard.press("/")
    page.keyboard.type("onerror")
    page.wait_for_selector("#results .hit")
    assert page.locator("#results .hit .hname").first.text_content() == HOSTILE
    page.keyboard.press("Escape")
    page.fill("#search", "svg onload")
    page.wait_for_selector("#results .hit .hname")
    assert page.locator("#results .hit .hname").first.text_content() == HOSTILE_VALUE
    page.locator("#results .hit").first.click()
    page.wait_for_selector("#node-members tr.hl")
    assert page.text_content("#node-members tr.hl td") == HOSTILE_VALUE
    page.keyboard.press("Escape")
    for view in ("changes", "about"):
        page.goto(built["url"] + "#" + view)
        page.wait_for_timeout(300)
    page.goto(built["url"] + "#analyses")
    page.wait_for_selector("#prevalence .ytick")
    assert HOSTILE in page.locator("#prevalence .ytick text").all_text_contents()
    page.goto(built["url"] + "#tree")
    page.wait_for_timeout(500)
    assert page.evaluate("document.querySelectorAll('img').length") == 0
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.dialogs == [] and page.errors == []
    # the sunburst label reads the same characters
    labels = page.locator("#sunburst text.slicetext").all_text_contents()
    assert any(HOSTILE in t for t in labels), labels


def test_analyses_about_and_keyboard(page, built):
    page.goto(built["url"] + "#analyses")
    page.wait_for_selector("#prevalence .bars .point")
    assert page.locator("#prevalence .bars .point").count() == 3
    page.select_option("#prev-level", "1")
    page.wait_for_function("() => document.querySelectorAll('#prevalence .bars .point').length === 25")
    shot(page, built, "analyses", full_page=True)
    page.goto(built["url"] + "#about")
    page.wait_for_selector("#about-manifest")
    text = page.text_content("#about-manifest")
    assert "umap-kmeans" in text and "all-MiniLM-L6-v2" in text and "seed" in text
    shot(page, built, "about")
    assert page.errors == []


def test_narrow_window_has_no_horizontal_scroll(browser, built):
    context = browser.new_context(viewport={"width": 420, "height": 800})
    pg = context.new_page()
    try:
        open_report(pg, built["url"])
        assert pg.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        shot(pg, built, "narrow-tree")
        pg.locator("#outline .row .name").first.click()
        pg.wait_for_selector("#node-members table")
        assert pg.evaluate("document.getElementById('panel').getBoundingClientRect().width") <= 420
        shot(pg, built, "narrow-node")
    finally:
        context.close()


def test_report_of_taxo_serve_in_the_browser(page, built, tmp_path, serve):
    proc, url = serve(built["db"], tmp_path)
    try:
        page.goto(f"{url}v/{built['v3']}/diff/{built['v1']}/")
        page.wait_for_selector("#sunburst g.slice")
        assert page.locator("#version-select option").count() == 3
        page.goto(f"{url}v/{built['v3']}/diff/{built['v1']}/#changes")
        page.wait_for_selector("#ch-renamed")
        shot(page, built, "serve-changes")
        assert page.errors == []
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    assert proc.returncode == 0
