"""What the elements after a page's main table cost in the browser, on a big SQLite store.

Copies ``app/`` into variants (the Leaderboard without its charts; the Samples page with plain
text for its code blocks and JSON view; the Samples page cut after its table; Compare without its
chart, and cut after its table), serves each with
Streamlit as ``evalharness app`` does, and times in headless Chromium from navigation until the
first table is visible: new tabs of one profile (*cached*) and new profiles (*fresh*), the
first view of each page left out. Two rounds, variants alternating; ``--pages compare`` times
one page's variants, ``--db`` reuses a store ``dashboard_scale`` filled. Not part of the test
suite:

    flock /tmp/heavy.lock .venv/bin/python benchmarks/page_elements.py
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import browser_pages  # noqa: E402
import dashboard_scale  # noqa: E402

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
    "compare without the chart": {
        "pages/3_Compare.py": lambda text: text.replace(
            'st.altair_chart(delta_chart(table), width="stretch")', ""
        )
    },
    "compare, table only": {"pages/3_Compare.py": _cut_after("st.altair_chart(delta_chart")},
}
TABLE = dashboard_scale.TABLE
PAGES = {  # name -> (file, query, the element that shows it is there), as dashboard_scale.CASES
    "leaderboard": ("pages/1_Leaderboard.py", "", TABLE),
    "samples": ("pages/2_Samples.py", "run=run0002", TABLE),
    "home": ("Home.py", "", TABLE),
    "compare": ("pages/3_Compare.py", "a=run0002&b=run0003", TABLE),  # two 2,000-sample runs
}


def variant(name: str, edits: dict[str, Edit], root: Path) -> Path:
    folder = root / name.replace(" ", "-").replace(",", "")
    shutil.copytree(REPO / "app", folder)
    for page, edit in edits.items():
        path = folder / page
        path.write_text(edit(path.read_text()))
    return folder


def measure(app: Path, url: str, pages: list[str], repeat: int) -> dict[str, float]:
    """Median seconds per page and mode, the page's first view left out."""
    cases = {name: PAGES[name] for name in pages}
    found = browser_pages.browser_times(url, cases, repeat + 1, app_folder=app)
    return {f"{name}, {mode}": round(statistics.median(times[1:]), 2)
            for mode, by_page in found.items() for name, times in by_page.items()}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--db", help="a store dashboard_scale.fill made (else a new one)")
    parser.add_argument("--pages", default=",".join(PAGES), help="comma-separated")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="page-elements-"))
    try:
        url = args.db or f"sqlite:///{root}/store.db"
        if not args.db:
            dashboard_scale.fill(url, dashboard_scale.run_sizes(args.samples, args.runs))
        wanted = args.pages.split(",")
        apps = {name: variant(name, edits, root) for name, edits in VARIANTS.items()
                if name == "original" or any(name.startswith(page) for page in wanted)}  # fmt: skip
        for number in range(args.rounds):
            for name, app in apps.items():
                pages = [page for page in wanted if name == "original" or name.startswith(page)]
                print(number, name, measure(app, url, pages, args.repeat), flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
