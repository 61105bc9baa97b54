"""What the elements after a page's main table cost in the browser, on a big SQLite store.

Copies ``app/`` into variants (the Leaderboard without its charts; the Samples page with plain
text for its code blocks and JSON view; the Samples page cut after its table), serves each with
Streamlit as ``evalharness app`` does, and times in headless Chromium from navigation until the
first table is visible: new tabs of one profile (*cached*) and new profiles (*fresh*), the
first view of each page left out. Two rounds, variants alternating. Not part of the test suite:

    flock /tmp/heavy.lock .venv/bin/python benchmarks/page_elements.py
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import dashboard_scale  # noqa: E402

from evalharness.cli.app import streamlit_command  # noqa: E402

Edit = Callable[[str], str]
PLAIN = (
    "import json as _json\n\nimport evalharness.views.ui as _ui\n\n\n"
    "def literal(label, value, *, code=True):\n    _ui.literal(label, value, code=False)\n"
)


def _cut_after(marker: str) -> Edit:
    return lambda text: text[: text.index(marker)]


def _plain_samples(text: str) -> str:
    text = text.replace("\npage(", "\n" + PLAIN + "\npage(", 1)
    text = text.replace("st.json(view.input, expanded=True)", "st.text(_json.dumps(view.input))")
    return text.replace(
        'st.code(str(hit.get("text", "")), language=None, wrap_lines=True)',
        "st.text(str(hit.get('text', '')))",
    )


VARIANTS: dict[str, dict[str, Edit]] = {
    "original": {},
    "leaderboard without charts": {
        "pages/1_Leaderboard.py": _cut_after('with st.expander("Models')
    },
    "samples, plain text": {"pages/2_Samples.py": _plain_samples},
    "samples, table only": {
        "pages/2_Samples.py": _cut_after("left, right, _ = st.columns([1, 1, 4])")
    },
}
PAGES = {"leaderboard": "/Leaderboard", "samples": "/Samples?run=run0002", "home": "/"}


def variant(name: str, edits: dict[str, Edit], root: Path) -> Path:
    folder = root / name.replace(" ", "-").replace(",", "")
    shutil.copytree(REPO / "app", folder)
    for page, edit in edits.items():
        path = folder / page
        path.write_text(edit(path.read_text()))
    return folder


def measure(app: Path, url: str, pages: dict[str, str], repeat: int) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    from tests.support.helpers import free_port, stop

    port = free_port()
    server = subprocess.Popen(
        streamlit_command(app / "Home.py", port, "127.0.0.1"),
        cwd=tempfile.mkdtemp(),
        env=dict(os.environ, EVALHARNESS_DB=url),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base, times = f"http://127.0.0.1:{port}", {}
    try:
        with sync_playwright() as p:
            chromium = p.chromium.launch(
                executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"]
            )
            viewport = {"width": 1400, "height": 1800}
            profile = chromium.new_context(viewport=viewport)
            dashboard_scale.wait_until_up(profile.new_page(), base)
            for name, path in pages.items():
                for _ in range(repeat + 1):  # the first: the page's first view, left out
                    for mode in ("cached", "fresh"):
                        context = profile if mode == "cached" else chromium.new_context(
                            viewport=viewport)  # fmt: skip
                        tab = context.new_page()
                        started = time.perf_counter()
                        tab.goto(base + path, wait_until="commit")
                        tab.wait_for_selector(dashboard_scale.TABLE, state="visible")
                        times.setdefault(f"{name}, {mode}", []).append(
                            time.perf_counter() - started
                        )
                        tab.close()
                        if mode == "fresh":
                            context.close()
            chromium.close()
    finally:
        stop(server)
    return {key: round(statistics.median(found[1:]), 2) for key, found in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=500)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="page-elements-"))
    try:
        url = f"sqlite:///{root}/store.db"
        dashboard_scale.fill(url, dashboard_scale.run_sizes(args.samples, args.runs))
        apps = {name: variant(name, edits, root) for name, edits in VARIANTS.items()}
        for number in range(args.rounds):
            for name, app in apps.items():
                pages = {k: v for k, v in PAGES.items() if name == "original" or k in name}
                print(number, name, measure(app, url, pages, args.repeat), flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
