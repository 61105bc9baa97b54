"""The dashboards and ``evalharness report`` on a big store: SQLite and PostgreSQL.

Fills a store with ``--samples`` samples over ``--runs`` runs by bulk inserts (core
``insert()`` executemany in batches; aggregates and ``task_usage`` rows per run, as a finished
run has them), then times each page through Streamlit's AppTest and, in headless Chromium,
from navigation until the page's main table is visible, and the report of the largest run.

Run sizes: the two largest runs hold a tenth of the samples each, 70% sit in 2,000-sample runs,
the rest in small runs. Task ``qa`` generates answers (the Annotate page offers it under
``harmlessness``); the first run's ``qa`` samples all carry a judge's verdict, and 300 of them
two people's ratings (the Calibration page, with PPI over the whole run). AppTest times each
page with the app's caches empty and its rerun (a widget change); the browser times a page's
first visit to the server, then new tabs with the app's static files cached (an analyst's
second page), fresh browser profiles (a first visit) and the app's own navigation in one open
tab (an analyst moving between pages), beside new tabs of an empty store (Streamlit's own cost).
``--db`` times a SQLite store an earlier fill made instead of a new one. Not part of the test suite:

    flock /tmp/heavy.lock .venv/bin/python benchmarks/dashboard_scale.py \
        --samples 1000000 --runs 500 --out benchmarks/results/dashboard_scale_<date>.md
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, text

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from browser_pages import HEADING, browser_times, median_text  # noqa: E402

from evalharness.judges.records import Judgment  # noqa: E402
from evalharness.ratings.records import Annotator, HumanRating, RatedItem  # noqa: E402
from evalharness.store import AggregateRow, Run, Sample, open_store  # noqa: E402
from evalharness.usage import TaskUsage  # noqa: E402

APP = REPO / "app"
RATED = 300  # items of the first run's qa task rated by two people
RUBRIC = "harmlessness"
ANNOTATE = f"annotator=bench-annotator&rubric={RUBRIC}"
TABLE, FORM = "[data-testid=stDataFrame]", "[data-testid=stForm]"
# page -> (file, query, the element that shows it is there)
CASES = {
    "home (runs table)": ("Home.py", "", TABLE),
    "leaderboard": ("pages/1_Leaderboard.py", "", TABLE),
    "samples (2,000-sample run)": ("pages/2_Samples.py", "run=run0002", TABLE),
    "samples (largest run)": ("pages/2_Samples.py", "run=run0000", TABLE),
    "compare (two 2,000-sample runs)": (
        "pages/3_Compare.py", "a=run0002&b=run0003", TABLE),
    "compare (the two largest runs)": (
        "pages/3_Compare.py", "a=run0000&b=run0001", TABLE),
    "annotate (next item of the qa task)": ("pages/4_Annotate.py", ANNOTATE, FORM),
    "calibration (with PPI of the largest run)": (
        "pages/5_Calibration.py", "", TABLE),
}  # fmt: skip
EMPTY, SMALL = "home (empty store)", "a page of one three-row table"
SMALL_TABLE_APP = (
    "import pandas as pd\nimport streamlit as st\n\nst.title('Floor')\n"
    "st.dataframe(pd.DataFrame({'a': [1, 2, 3]}), hide_index=True)\n"
)
BATCH = 5000
T0 = datetime(2026, 1, 1)
FILLER = (
    "The following is a question about general knowledge. Read the passage and answer. "
    "Passage: the river flows through three countries before reaching the sea, and its delta "
    "is home to many species of birds. "
)


def run_sizes(samples: int, runs: int) -> list[int]:
    largest = samples // 10
    mid = min((samples * 7 // 10) // 2000, runs - 3)
    rest = samples - 2 * largest - mid * 2000
    small = runs - 2 - mid
    sizes = [largest, largest, *([2000] * mid), *([rest // small] * small)]
    sizes[-1] += samples - sum(sizes)
    return sizes


def _rows(run_id: str, n: int, rng: random.Random) -> list[dict]:
    rows = []
    for i in range(n):
        task, idx = ("qa", "mc")[i % 2], i // 2
        question = f"Question {idx}: what does item {idx * 7919 % 100003} refer to?"
        prompt = FILLER * rng.randint(3, 8) + question + "\nAnswer:"  # ~0.6-1.6 kB
        failed = rng.random() < 0.02
        score = float(rng.random() < 0.6)
        output = None if failed else f"The answer is item {idx}. " * rng.randint(4, 16)
        result = {"meta": {"cost_usd": 2e-5}}
        if task == "qa" and output is not None:
            result = {"texts": [output], "answer": output, **result}
        scores = {"exact_match": score, "f1": round(rng.random(), 3)} if task == "qa" else {}
        if task == "mc":
            scores = {"acc": score}
        rows.append(
            {
                "run_id": run_id, "task": task, "idx": idx, "input": {"question": question},
                "prompt": prompt,
                "output": output, "reference": [f"item {idx}"], "result": result,
                "scores": {} if failed else scores, "stats": {} if failed else
                {k: [v, 1.0] for k, v in scores.items()},
                "latency_s": None if failed else round(rng.uniform(0.05, 2.0), 3),
                "prompt_tokens": len(prompt) // 4, "completion_tokens": rng.randint(10, 60),
                "error": "backend error: timeout" if failed else None, "created_at": T0,
            }
        )  # fmt: skip
    return rows


def _summaries(run_id: str, rows: list[dict]) -> tuple[list[dict], list[dict]]:
    aggs, usage = [], []
    for task in ("qa", "mc"):
        mine = [r for r in rows if r["task"] == task]
        ok = [r for r in mine if r["error"] is None]
        metrics = ("exact_match", "f1") if task == "qa" else ("acc",)
        for m in metrics:
            value = statistics.fmean(r["scores"][m] for r in ok) if ok else None
            aggs.append({"run_id": run_id, "task": task, "metric": m, "value": value,
                         "ci_low": value and value - 0.02, "ci_high": value and value + 0.02,
                         "n": len(ok), "n_failed": len(mine) - len(ok)})  # fmt: skip
        latencies = [r["latency_s"] for r in ok]
        usage.append(
            {"run_id": run_id, "task": task, "samples": len(mine), "failed": len(mine) - len(ok),
             "prompt_tokens": sum(r["prompt_tokens"] for r in mine),
             "completion_tokens": sum(r["completion_tokens"] for r in mine),
             "cost_usd": 2e-5 * len(mine),
             "latency_s": statistics.fmean(latencies) if latencies else None}
        )  # fmt: skip
    return aggs, usage


def fill(url: str, sizes: list[int]) -> None:
    """Bulk-insert the runs (``run0000``, ``run0001`` the largest; then 2,000-sample runs)."""
    store = open_store(url)
    rng = random.Random(0)
    started = time.perf_counter()
    with store.engine.begin() as conn:
        for number, n in enumerate(sizes):
            run_id = f"run{number:04d}"
            conn.execute(
                insert(Run),
                [{"id": run_id, "model": f"model-{number % 25:02d}", "model_name": "",
                  "status": "finished", "versions": {},
                  "config": {"tasks": ["qa", "mc"], "generates": {"qa": "answer"}},
                  "tags": ["nightly"] if number % 3 else ["release"],
                  "created_at": T0 + timedelta(hours=number), "duration_s": n * 0.01}],
            )  # fmt: skip
            rows = _rows(run_id, n, rng)
            for start in range(0, n, BATCH):
                conn.execute(insert(Sample), rows[start : start + BATCH])
            aggs, usage = _summaries(run_id, rows)
            conn.execute(insert(AggregateRow), aggs)
            conn.execute(insert(TaskUsage), usage)
            if number == 0:
                _judged(conn, run_id, rows, rng)
    if store.engine.dialect.name == "postgresql":  # what autovacuum does after bulk inserts
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    # SQLite has no statistics unless someone runs ANALYZE: none here, as in a user's store
    os.sync()  # the fill's dirty pages written out now, not during the timings
    print(f"filled {sum(sizes):,} samples in {time.perf_counter() - started:.0f} s", flush=True)


def _judged(conn: object, run_id: str, rows: list[dict], rng: random.Random) -> None:
    """A judge's verdict on every answered qa sample; two people rate the first RATED."""
    answered = [r for r in rows if r["task"] == "qa" and r["output"] is not None]
    verdicts = [
        {"run_id": run_id, "task": "qa", "idx": r["idx"], "rubric": RUBRIC,
         "criterion": RUBRIC, "judge": "judge-model", "mode": "pointwise",
         "score": float(rng.randint(1, 5)), "prompt": "", "raw_output": "{}", "parsed": True,
         "details": {}, "created_at": T0}
        for r in answered
    ]  # fmt: skip
    for start in range(0, len(verdicts), BATCH):
        conn.execute(insert(Judgment), verdicts[start : start + BATCH])  # type: ignore[attr-defined]
    rated = answered[:RATED]
    people = ["rater-a", "rater-b"]
    conn.execute(insert(Annotator), [{"id": p, "kind": "human", "created_at": T0} for p in people])  # type: ignore[attr-defined]
    conn.execute(
        insert(RatedItem),
        [{"id": f"run:{run_id}:qa:{r['idx']}", "dataset": "qa", "group_id": f"qa:{r['idx']}",
          "system_id": "model-00", "source": r["prompt"], "response": r["output"],
          "run_id": run_id, "task": "qa", "sample_idx": r["idx"], "extra": {},
          "created_at": T0} for r in rated],
    )  # fmt: skip  # type: ignore[attr-defined]
    conn.execute(
        insert(HumanRating),
        [{"annotator_id": p, "item_id": f"run:{run_id}:qa:{r['idx']}", "rubric": RUBRIC,
          "criterion": RUBRIC, "score": float(rng.randint(1, 5)), "created_at": T0}
         for r in rated for p in people],
    )  # fmt: skip  # type: ignore[attr-defined]


def apptest_times(url: str, repeat: int = 3) -> dict[str, dict[str, list[float]]]:
    """Each page's first run with the app's caches empty (*cold*), then a rerun of the same
    session (*rerun*: what a widget change costs)."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    os.environ["EVALHARNESS_DB"] = url
    out: dict[str, dict[str, list[float]]] = {"cold": {}, "rerun": {}}
    for name, (script, query, _) in CASES.items():
        for attempt in range(repeat + 1):  # the first opens the store: not counted
            st.cache_data.clear()
            at = AppTest.from_file(str(APP / script), default_timeout=300)
            for key, value in (pair.split("=") for pair in query.split("&") if pair):
                at.query_params[key] = value
            for mode in ("cold", "rerun"):
                started = time.perf_counter()
                at.run()
                elapsed = time.perf_counter() - started
                assert not at.exception, [e.value for e in at.exception]
                assert at.dataframe or CASES[name][2] == FORM, f"{name}: no table"
                if attempt:
                    out[mode].setdefault(name, []).append(elapsed)
        cold, rerun = median_text(out["cold"][name]), median_text(out["rerun"][name])
        print(f"apptest {name}: cold {cold} s, rerun {rerun} s", flush=True)
    return out


def report_time(url: str, run_id: str) -> float:
    folder = tempfile.mkdtemp()
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "evalharness.cli", "report", run_id, "--db", url, "--out", folder],
        check=True,
        capture_output=True,
    )
    elapsed = time.perf_counter() - started
    print(f"report {run_id}: {elapsed:.2f} s", flush=True)
    return elapsed


def postgres_url() -> tuple[str, object]:
    from tests.support.pg_server import start_postgres

    server = start_postgres()
    return next(server).fresh_database(), server


def _store_url(backend: str) -> tuple[str, Callable[[], None]]:
    """A fresh store's URL and what removes it (the SQLite file is 2.5 GB at 1M samples)."""
    if backend == "sqlite":
        folder = tempfile.mkdtemp(prefix="dashboard-scale-")
        return f"sqlite:///{folder}/store.db", lambda: shutil.rmtree(folder, ignore_errors=True)
    url, server = postgres_url()
    return url, server.close  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--no-browser", action="store_true")
    parser.add_argument("--db", help="a SQLite store an earlier fill made: timed, not refilled")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    sizes = run_sizes(args.samples, args.runs)
    results: dict[str, dict] = {}
    if not args.no_browser:
        results["floor"] = floor_times()
    for backend in args.backends.split(","):
        reused = args.db if backend == "sqlite" else None
        url, remove = (reused, lambda: None) if reused else _store_url(backend)
        try:
            if not reused:
                fill(url, sizes)
            found = {"apptest": apptest_times(url)}
            if not args.no_browser:
                found["browser"] = browser_times(url, CASES, in_app=True)
            found["report"] = report_time(url, "run0000")
            results[backend] = found
        finally:
            remove()
    write(results, sizes, args.out)


def floor_times() -> dict[str, dict[str, list[float]]]:
    """Streamlit's own cost: the home page of an empty store (a title), and a page of nothing
    but a title and a three-row table."""
    url, remove = _store_url("sqlite")
    open_store(url)
    home = CASES["home (runs table)"][:2]
    found = browser_times(url, {EMPTY: (*home, HEADING)})
    app = Path(tempfile.mkdtemp())
    (app / "Home.py").write_text(SMALL_TABLE_APP)
    small = browser_times(url, {SMALL: (*home, TABLE)}, app_folder=app)
    remove()
    shutil.rmtree(app, ignore_errors=True)
    return {mode: {**found[mode], **small[mode]} for mode in found}


def write(results: dict[str, dict], sizes: list[int], out: Path | None) -> None:
    lines = [
        f"# Dashboards at scale: {sum(sizes):,} samples over {len(sizes)} runs",
        "",
        f"{date.today()} · two largest runs {max(sizes):,} samples each · medians (seconds)"
        f" · {os.cpu_count()} CPUs · `benchmarks/dashboard_scale.py`; target: page < 2 s, "
        "report < 10 s. AppTest *cold*: the app's caches empty; *rerun*: the same session run "
        "again (a widget change). Browser: from `goto` until the page's main table (Annotate: "
        "its form) is visible; *first view*: the first visit of the page to the server; *cached*:"
        " later new tabs, the app's static files in the browser cache; *fresh*: a new browser "
        "profile each time; *in the app*: from another page of one open tab by the app's "
        "navigation (its page links, back and forward), until the page's own heading and main "
        "table are visible, after the page's first view. AppTest: median of 3; browser: of 4 "
        "(cached: the 3 after the first view).",
        "",
        "| store | page | AppTest, cold | AppTest, rerun | browser, first view | "
        "browser, cached | browser, fresh | browser, in the app |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    floor = results.pop("floor", None)
    for name in floor["cached"] if floor else ():
        lines.append(f"| Streamlit | {name} | | | | {median_text(floor['cached'][name][1:])} | "
                     f"{median_text(floor['fresh'][name])} | |")  # fmt: skip
    for backend, found in results.items():
        browser = found.get("browser", {})
        for name, cold in found["apptest"]["cold"].items():
            rerun = median_text(found["apptest"]["rerun"][name])
            cached = browser.get("cached", {}).get(name)
            first = f"{cached[0]:.2f}" if cached else "—"
            fresh = median_text(browser.get("fresh", {}).get(name))
            in_app = median_text(browser.get("in the app", {}).get(name))
            lines.append(f"| {backend} | {name} | {median_text(cold)} | {rerun} | {first} | "
                         f"{median_text((cached or [])[1:])} | {fresh} | {in_app} |")  # fmt: skip
        lines.append(
            f"| {backend} | `evalharness report` (a largest run) | {found['report']:.2f} |"
            " | | | | |"
        )
    text_out = "\n".join(lines) + "\n"
    print(text_out)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text_out)


if __name__ == "__main__":
    main()
