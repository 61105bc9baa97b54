"""The app's pages timed in headless Chromium, from navigation until a page's main element is
visible: new tabs of one profile (*cached*: the app's static files in the browser cache), new
profiles (*fresh*: nothing cached), and the app's own navigation in one open tab (*in the app*:
what its page links and the back and forward buttons do, the URL changing under Streamlit's
running frontend). Used by ``dashboard_scale.py`` and ``page_elements.py``.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from evalharness.cli.app import streamlit_command  # noqa: E402
from tests.support.helpers import free_port, stop  # noqa: E402

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

Case = tuple[str, str, str]  # (file under app/, query, the element that shows the page is there)
HEADING = "[data-testid=stMain] h1"
VIEWPORT = {"width": 1400, "height": 1800}
# the page's own heading and its main element visible: the page before it left no element behind
SHOWN = """([title, selector]) => {
  const heading = document.querySelector('[data-testid=stMain] h1');
  if (!heading || !heading.textContent.trim().startsWith(title)) return false;
  const element = document.querySelector(selector);
  if (!element) return false;
  const box = element.getBoundingClientRect();
  return box.width > 0 && box.height > 0 && getComputedStyle(element).visibility !== 'hidden';
}"""
NAVIGATE = (
    "path => { history.pushState({}, '', path); dispatchEvent(new PopStateEvent('popstate')); }"
)


def path_of(script: str, query: str) -> str:
    name = "" if script == "Home.py" else script.split("_", 1)[1].removesuffix(".py")
    return f"/{name}" + (f"?{query}" if query else "")


def title_of(script: str) -> str:
    return path_of(script, "").strip("/") or "evalharness"


def browser_times(
    url: str,
    cases: dict[str, Case],
    repeat: int = 4,
    app_folder: Path | None = None,
    in_app: bool = False,
) -> dict[str, dict[str, list[float]]]:
    """Seconds per mode and page (*cached*, *fresh*, with ``in_app`` also *in the app*). The app
    is ``evalharness app`` on ``url``, or Streamlit serving ``app_folder`` as that command does."""
    from playwright.sync_api import sync_playwright

    port = free_port()
    command = [sys.executable, "-m", "evalharness.cli", "app", "--db", url, "--port", str(port)]
    if app_folder is not None:
        command = streamlit_command(app_folder / "Home.py", port, "127.0.0.1")
    app = subprocess.Popen(
        command,
        cwd=tempfile.mkdtemp(),
        env=dict(os.environ, EVALHARNESS_DB=url),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        with sync_playwright() as p:
            chromium = p.chromium.launch(
                executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"]
            )
            profile = chromium.new_context(viewport=VIEWPORT)
            _wait_for_server(profile.new_page(), base)
            out = _new_tabs(chromium, profile, base, cases, repeat)
            if in_app:
                out["in the app"] = _in_app(profile.new_page(), base, cases, repeat)
            chromium.close()
    finally:
        stop(app)
    return out


def _wait_for_server(page: Page, base: str) -> None:
    """The server up and the app's static files in the profile's cache, once."""
    for _ in range(120):
        try:
            page.goto(base, wait_until="networkidle")
            page.wait_for_selector(HEADING, timeout=60_000)
            return
        except Exception:  # noqa: BLE001 - not up yet
            time.sleep(0.5)


def _new_tabs(
    chromium: Browser, profile: BrowserContext, base: str, cases: dict[str, Case], repeat: int
) -> dict[str, dict[str, list[float]]]:
    """From ``goto`` of a new tab until the main element is visible; a page's first cached tab is
    its first visit to the server (its caches cold)."""
    out: dict[str, dict[str, list[float]]] = {"cached": {}, "fresh": {}}
    for name, (script, query, shown) in cases.items():
        for _ in range(repeat):
            for mode in ("cached", "fresh"):
                context = profile if mode == "cached" else chromium.new_context(viewport=VIEWPORT)
                tab = context.new_page()
                started = time.perf_counter()
                tab.goto(base + path_of(script, query), wait_until="commit")
                tab.wait_for_selector(shown, state="visible", timeout=120_000)
                out[mode].setdefault(name, []).append(time.perf_counter() - started)
                tab.close()
                if mode == "fresh":
                    context.close()
        print(f"browser {name}: cached {median_text(out['cached'][name][1:])} s, "
              f"fresh {median_text(out['fresh'][name])} s", flush=True)  # fmt: skip
    return out


def _in_app(tab: Page, base: str, cases: dict[str, Case], repeat: int) -> dict[str, list[float]]:
    """In one tab, from the first case's page (the second's, for the first) to each page by the
    app's navigation, until the page's own heading and main element are visible (after the new
    tabs: the server's caches warm)."""
    first, second = list(cases.values())[:2]
    tab.goto(base + path_of(*first[:2]), wait_until="commit")
    tab.wait_for_function(SHOWN, arg=[title_of(first[0]), first[2]], timeout=120_000)
    out: dict[str, list[float]] = {}
    for name, target in cases.items():
        start = second if target == first else first
        for _ in range(repeat):
            _go(tab, start)
            tab.wait_for_timeout(500)  # the page before has finished its run
            started = time.perf_counter()
            _go(tab, target)
            out.setdefault(name, []).append(time.perf_counter() - started)
        print(f"browser {name}: in the app {median_text(out[name])} s", flush=True)
    return out


def _go(tab: Page, case: Case) -> None:
    script, query, shown = case
    tab.evaluate(NAVIGATE, path_of(script, query))
    tab.wait_for_function(SHOWN, arg=[title_of(script), shown], timeout=120_000)


def median_text(times: list[float] | None) -> str:
    """The median of ``times`` in seconds to two places, or a dash for none."""
    return f"{statistics.median(times):.2f}" if times else "—"
