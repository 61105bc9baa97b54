"""The dashboards and ``evalharness report`` on a big store: SQLite and PostgreSQL.

Fills a store with ``--samples`` samples over ``--runs`` runs by bulk inserts (core
``insert()`` executemany in batches; aggregates and ``task_usage`` rows per run, as a finished
run has them), then times each page through Streamlit's AppTest and, in headless Chromium,
from navigation until the page's main table is visible, and the report of the largest run.

Run sizes: one run holds a tenth of the samples (the largest), 80% sit in 2,000-sample runs,
the rest in small runs. Not part of the test suite:

    flock /tmp/heavy.lock .venv/bin/python benchmarks/dashboard_scale.py \
        --samples 1000000 --runs 500 --out benchmarks/results/dashboard_scale_<date>.md
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, text

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from evalharness.store import AggregateRow, Run, Sample, open_store  # noqa: E402
from evalharness.usage import TaskUsage  # noqa: E402

APP = REPO / "app"
PAGES = {"leaderboard": "1_Leaderboard.py", "samples": "2_Samples.py", "compare": "3_Compare.py"}
BATCH = 5000
T0 = datetime(2026, 1, 1)
FILLER = (
    "The following is a question about general knowledge. Read the passage and answer. "
    "Passage: the river flows through three countries before reaching the sea, and its delta "
    "is home to many species of birds. "
)


def run_sizes(samples: int, runs: int) -> list[int]:
    largest = samples // 10
    mid = min((samples * 8 // 10) // 2000, runs - 2)
    rest = samples - largest - mid * 2000
    small = runs - 1 - mid
    sizes = [largest, *([2000] * mid), *([rest // small] * small)]
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
        scores = {"exact_match": score, "f1": round(rng.random(), 3)} if task == "qa" else {}
        if task == "mc":
            scores = {"acc": score}
        rows.append(
            {
                "run_id": run_id, "task": task, "idx": idx, "input": {"question": question},
                "prompt": prompt,
                "output": None if failed else f"The answer is item {idx}. " * rng.randint(4, 16),
                "reference": [f"item {idx}"], "result": {"meta": {"cost_usd": 2e-5}},
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


def fill(url: str, sizes: list[int]) -> dict[str, str]:
    """Bulk-insert the runs; returns the ids of the largest, a 2,000-sample run and its pair."""
    store = open_store(url)
    rng = random.Random(0)
    started = time.perf_counter()
    with store.engine.begin() as conn:
        for number, n in enumerate(sizes):
            run_id = f"run{number:04d}"
            conn.execute(
                insert(Run),
                [{"id": run_id, "model": f"model-{number % 25:02d}", "model_name": "",
                  "status": "finished", "config": {"tasks": ["qa", "mc"]}, "versions": {},
                  "tags": ["nightly"] if number % 3 else ["release"],
                  "created_at": T0 + timedelta(hours=number), "duration_s": n * 0.01}],
            )  # fmt: skip
            rows = _rows(run_id, n, rng)
            for start in range(0, n, BATCH):
                conn.execute(insert(Sample), rows[start : start + BATCH])
            aggs, usage = _summaries(run_id, rows)
            conn.execute(insert(AggregateRow), aggs)
            conn.execute(insert(TaskUsage), usage)
    with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE" if store.engine.dialect.name != "sqlite" else "ANALYZE"))
    print(f"filled {sum(sizes):,} samples in {time.perf_counter() - started:.0f} s", flush=True)
    return {"largest": "run0000", "two_k": "run0001", "two_k_b": "run0002"}


def apptest_times(url: str, ids: dict[str, str], repeat: int = 3) -> dict[str, list[float]]:
    from streamlit.testing.v1 import AppTest

    os.environ["EVALHARNESS_DB"] = url
    cases = {
        "leaderboard": ("leaderboard", {}),
        "samples (2,000-sample run)": ("samples", {"run": ids["two_k"]}),
        "samples (largest run)": ("samples", {"run": ids["largest"]}),
        "compare (two 2,000-sample runs)": ("compare", {"a": ids["two_k"], "b": ids["two_k_b"]}),
    }
    out: dict[str, list[float]] = {}
    for name, (page, query) in cases.items():
        for attempt in range(repeat + 1):  # the first opens the store: not counted
            at = AppTest.from_file(str(APP / "pages" / PAGES[page]), default_timeout=300)
            for key, value in query.items():
                at.query_params[key] = value
            started = time.perf_counter()
            at.run()
            elapsed = time.perf_counter() - started
            assert not at.exception, [e.value for e in at.exception]
            assert at.dataframe, f"{name}: no table"
            if attempt:
                out.setdefault(name, []).append(elapsed)
        print(f"apptest {name}: {statistics.median(out[name]):.2f} s", flush=True)
    return out


def browser_times(url: str, ids: dict[str, str], repeat: int = 3) -> dict[str, list[float]]:
    """From ``page.goto`` until the first table (``stDataFrame``) is visible, in Chromium."""
    from playwright.sync_api import sync_playwright

    from tests.support.helpers import free_port, stop

    port = free_port()
    app = subprocess.Popen(
        [sys.executable, "-m", "evalharness.cli", "app", "--db", url, "--port", str(port)],
        cwd=tempfile.mkdtemp(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    cases = {
        "leaderboard": "/Leaderboard",
        "samples (2,000-sample run)": f"/Samples?run={ids['two_k']}",
        "samples (largest run)": f"/Samples?run={ids['largest']}",
        "compare (two 2,000-sample runs)": f"/Compare?a={ids['two_k']}&b={ids['two_k_b']}",
    }
    out: dict[str, list[float]] = {}
    try:
        with sync_playwright() as p:
            chromium = p.chromium.launch(
                executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"]
            )
            page = chromium.new_page(viewport={"width": 1400, "height": 1800})
            for _ in range(120):  # the server and the app's static files, once
                try:
                    page.goto(base, wait_until="networkidle")
                    page.wait_for_selector("[data-testid=stMain] h1", timeout=60_000)
                    break
                except Exception:  # noqa: BLE001 - not up yet
                    time.sleep(0.5)
            for name, path in cases.items():
                for _ in range(repeat):
                    tab = chromium.new_page(viewport={"width": 1400, "height": 1800})
                    started = time.perf_counter()
                    tab.goto(base + path, wait_until="commit")
                    tab.wait_for_selector("[data-testid=stDataFrame]", state="visible",
                                          timeout=120_000)  # fmt: skip
                    out.setdefault(name, []).append(time.perf_counter() - started)
                    tab.close()
                print(f"browser {name}: {statistics.median(out[name]):.2f} s", flush=True)
            chromium.close()
    finally:
        stop(app)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--no-browser", action="store_true")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    sizes = run_sizes(args.samples, args.runs)
    results: dict[str, dict] = {}
    for backend in args.backends.split(","):
        server = None
        if backend == "sqlite":
            path = Path(tempfile.mkdtemp(prefix="dashboard-scale-")) / "store.db"
            url = f"sqlite:///{path}"
        else:
            url, server = postgres_url()
        try:
            ids = fill(url, sizes)
            found = {"apptest": apptest_times(url, ids)}
            if not args.no_browser:
                found["browser"] = browser_times(url, ids)
            found["report"] = report_time(url, ids["largest"])
            results[backend] = found
        finally:
            if server is not None:
                server.close()  # type: ignore[attr-defined]
    write(results, sizes, args.out)


def write(results: dict[str, dict], sizes: list[int], out: Path | None) -> None:
    lines = [
        f"# Dashboards at scale: {sum(sizes):,} samples over {len(sizes)} runs",
        "",
        f"{date.today()} · largest run {max(sizes):,} samples · median of 3 (seconds) · "
        f"{os.cpu_count()} CPUs · `benchmarks/dashboard_scale.py`; target: page < 2 s, "
        "report < 10 s",
        "",
        "| store | page | AppTest run | browser: table visible |",
        "|---|---|---:|---:|",
    ]
    for backend, found in results.items():
        for name, times in found["apptest"].items():
            browser = found.get("browser", {}).get(name)
            shown = f"{statistics.median(browser):.2f}" if browser else "—"
            lines.append(f"| {backend} | {name} | {statistics.median(times):.2f} | {shown} |")
        lines.append(
            f"| {backend} | `evalharness report` (largest run) | {found['report']:.2f} | |"
        )
    text_out = "\n".join(lines) + "\n"
    print(text_out)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text_out)


if __name__ == "__main__":
    main()
