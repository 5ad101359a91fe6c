"""Driving Label Studio's own UI in a real browser (Debian's chromium through Python playwright) for the browser
tests: log in as the test server's pre-seeded user, open a task, click what a reviewer clicks, save screenshots.

Screenshots go to ``TAXO_TEST_ARTIFACTS`` (default ``test-artifacts/`` in the repository root, not tracked)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("TAXO_TEST_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(os.environ.get("TAXO_TEST_ARTIFACTS", Path(__file__).resolve().parent.parent / "test-artifacts"))


def launch_chromium():
    """Yield a headless Debian chromium driven by playwright (skipped locally without it; CI fails on skips).
    For fixtures: ``yield from launch_chromium()``."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing (Debian package chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="session")
def browser():
    """One headless chromium for the session."""
    yield from launch_chromium()


@pytest.fixture
def page(browser, label_studio):
    """A logged-in page (fresh context: no state from other tests)."""
    from tests.labelstudio_server import TEST_PASSWORD, TEST_USER

    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    ctx.set_default_timeout(30_000)
    pg = ctx.new_page()
    pg.goto(f"{label_studio.url}/user/login/")
    pg.fill("input[name=email]", TEST_USER)
    pg.fill("input[name=password]", TEST_PASSWORD)
    pg.click("button[type=submit]")
    pg.wait_for_url(lambda u: "/login" not in u)
    try:
        yield pg
    finally:
        ctx.close()


def shot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def open_task(page, url: str, project_id: int, task_id: int) -> None:
    """The task in the labeling editor (from the data manager, as a reviewer opens it)."""
    page.goto(f"{url}/projects/{project_id}/data?task={task_id}")
    page.wait_for_selector(".lsf-main-view, [class*=main-view]", state="visible")
    page.wait_for_timeout(500)


def choose(page, label: str) -> None:
    """Click the radio button or checkbox whose label starts with ``label``."""
    import re

    loc = page.locator("label").filter(has_text=re.compile(r"^\s*" + re.escape(label)))
    loc.first.click()


def submit(page) -> None:
    page.get_by_role("button", name="Submit").click()
