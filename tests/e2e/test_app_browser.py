"""The real app (``evalharness app``) in headless Chromium: pages load, hostile model output
stays inert text, an annotator's rating reaches the database, and a Leaderboard screenshot
is saved (under the test's tmp_path and in reports/screenshots/)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from evalharness.store import open_store
from evalharness.views import leaderboard
from tests.support.app_store import HOSTILE, FilledStore, fill_store
from tests.support.helpers import free_port, stop

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = REPO / "reports" / "screenshots"


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as reply:
            return reply.status == 200 and reply.read().strip() == b"ok"
    except OSError:
        return False


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, FilledStore]]:
    """``evalharness app --db ... --port <free>`` as a subprocess on 127.0.0.1."""
    folder = tmp_path_factory.mktemp("e2e")
    filled = fill_store(f"sqlite:///{folder / 'store.db'}", folder / "task")
    port = free_port()
    log = (folder / "app.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "evalharness.cli", "app", "--db", filled.url, "--port", str(port)],
        cwd=folder,  # the app must not depend on the working directory
        env={**os.environ, "EVALHARNESS_DB": "sqlite:///must-not-be-used.db"},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while not _healthy(url):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the app did not come up:\n{(folder / 'app.log').read_text()}")
        time.sleep(0.3)
    try:
        yield url, filled
    finally:
        stop(process)
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests need Debian's Chromium "
            "(apt-get update && apt-get install -y chromium)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


def _open(browser: object, url: str) -> object:
    page = browser.new_page(viewport={"width": 1400, "height": 1800})  # type: ignore[attr-defined]
    page.goto(url, wait_until="networkidle")
    page.wait_for_selector("[data-testid=stMain] h1", timeout=60_000)
    return page


def test_leaderboard_renders_and_is_screenshotted(
    app: tuple[str, FilledStore], browser: object, tmp_path: Path
) -> None:
    url, filled = app
    page = _open(browser, f"{url}/Leaderboard")
    page.wait_for_selector("[data-testid=stDataFrame] canvas", timeout=60_000)
    chart = "[data-testid=stVegaLiteChart] canvas, [data-testid=stVegaLiteChart] svg"
    page.wait_for_selector(chart, timeout=60_000)
    page.wait_for_timeout(1000)  # let the charts finish drawing
    body = page.inner_text("body")
    rows = len(leaderboard(open_store(filled.url)))
    assert f"{rows} rows" in body and "capitals · exact_match" in body
    shot = tmp_path / "leaderboard.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 20_000  # a real picture, not a blank page
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, SCREENSHOTS / "leaderboard.png")


def test_hostile_output_is_inert_text_in_the_browser(
    app: tuple[str, FilledStore], browser: object
) -> None:
    url, filled = app
    page = _open(browser, f"{url}/Samples?run={filled.runs['b']}")
    page.get_by_label("Search input, prompt, output, reference").fill("capital of Italy")
    page.keyboard.press("Enter")
    page.wait_for_selector("text=1 of 12 samples", timeout=30_000)
    page.wait_for_selector("[data-testid=stCode]", timeout=30_000)
    code = "\n".join(page.locator("[data-testid=stCode]").all_inner_texts())
    assert HOSTILE in code  # shown character for character
    assert page.evaluate("window.__xss") is None  # the onerror handler never ran
    assert page.locator("[data-testid=stMain] img[src=x]").count() == 0
    assert page.locator("[data-testid=stMain] a[href='http://x']").count() == 0


def test_annotator_rating_reaches_the_database(
    app: tuple[str, FilledStore], browser: object
) -> None:
    from evalharness.ratings.records import ratings

    url, filled = app
    page = _open(browser, f"{url}/Annotate?annotator=erin&rubric=groundedness")
    page.wait_for_selector("text=0 of 23 rated", timeout=60_000)
    body = page.inner_text("[data-testid=stMain]")
    assert "model-a" not in body and "model-b" not in body and filled.runs["a"] not in body
    page.get_by_text("1: Grounded", exact=False).click()
    page.get_by_role("button", name="Submit").click()
    page.wait_for_selector("text=1 of 23 rated", timeout=30_000)
    saved = ratings(open_store(filled.url), annotators=["erin"])
    assert len(saved) == 1
    assert (saved["rubric"].item(), saved["criterion"].item(), saved["score"].item()) == (
        "groundedness",
        "groundedness",
        1.0,
    )
    assert saved["item_id"].item().startswith("run:")
