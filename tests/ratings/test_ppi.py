"""PPI where people rated part of a run: a judged run of 20 samples, people rating the 4 that
``ratings plan`` names (20%), the PPI estimate in ``calibrate``, the report and its numbers
checked against the formula; ``ratings plan`` from the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from evalharness.judges.run import judge_run
from evalharness.meta.calibration import ppi_mean
from evalharness.ratings.desk import Source, queue, submit
from evalharness.ratings.ppi import judge_scores, plan, run_ppi
from evalharness.report import write_report
from evalharness.store import open_store
from tests.gate.test_judged_gate import WordJudge, _score, judged_echo_run
from tests.judges.helpers import SUMMEVAL
from tests.support.helpers import run_cli

STORE_KINDS = ("sqlite", "postgresql")  # db_url tests run on both (tests/conftest.py)
ROWS, RATED = 20, 4


@pytest.fixture
def judged_run(tmp_path: Path, db_url: str) -> str:
    return judged_echo_run(tmp_path, db_url, ROWS)


def _human(k: int) -> int:
    """People score coherence above the judge (one level, two for every third word; 5 at most)."""
    return min(5, _score(k) + (2 if k % 3 == 0 else 1))


def _rate(db_url: str, run_id: str, idxs: list[int]) -> None:
    """bob rates the samples ``idxs`` at the desk, in the order it offers them."""
    store = open_store(db_url)
    wanted = {f"w{i}" for i in idxs}
    for item in queue(store, "bob", SUMMEVAL, Source("task", "echo")):
        if item.pointer and item.pointer[0] == run_id and item.response in wanted:
            k = int(item.response.removeprefix("w"))
            submit(store, "bob", item, SUMMEVAL, {c.name: _human(k) if c.name == "coherence"
                                                  else 3 for c in SUMMEVAL.criteria})  # fmt: skip


def test_plan_names_the_desks_next_samples_and_ppi_follows(judged_run: str, db_url: str) -> None:
    store = open_store(db_url)
    (first,) = plan(store, judged_run, RATED)
    assert (first.task, first.rubric, first.samples, first.rated) == ("echo", "summeval", ROWS, 0)
    desk = [int(i.response.removeprefix("w"))
            for i in queue(store, "bob", SUMMEVAL, Source("task", "echo"))]  # fmt: skip
    assert first.next == desk[:RATED]  # the desk offers exactly the planned samples first
    assert all(c.half_width_now is None for c in first.criteria)  # nothing rated: no projection
    assert run_ppi(store, judged_run) == []

    _rate(db_url, judged_run, first.next)
    (found,) = [p for p in run_ppi(store, judged_run) if p.metric == "judge:summeval.coherence"]
    judge = np.array([_score(k) for k in range(ROWS)], dtype=float)
    human = np.array([_human(k) for k in first.next], dtype=float)
    unrated = [k for k in range(ROWS) if k not in first.next]
    expected = ppi_mean(human, judge[first.next], judge[unrated])
    assert (found.rated, found.judged) == (RATED, ROWS)
    assert found.ppi["value"] == pytest.approx(expected["value"])
    assert found.ppi["ci_low"] == pytest.approx(expected["ci_low"])
    assert found.human_only["value"] == pytest.approx(human.mean())
    assert found.judge_only["value"] == pytest.approx(judge.mean())
    assert found.ppi["value"] != pytest.approx(found.judge_only["value"])  # rectified

    (after,) = plan(store, judged_run, RATED, target_half_width=1.0)
    assert after.rated == RATED and not set(after.next) & set(first.next)
    coherence = next(c for c in after.criteria if c.metric == "judge:summeval.coherence")
    assert coherence.half_width_now == pytest.approx(found.ppi["ci_high"] - found.ppi["value"])
    var_f, var_r = judge[unrated].var(ddof=1), (judge[first.next] - human).var(ddof=1)
    widths = {n: 1.959964 * np.sqrt(var_f / (ROWS - n) + var_r / n) for n in range(2, ROWS - 1)}
    assert coherence.half_width_after == pytest.approx(widths[2 * RATED], rel=1e-5)
    assert coherence.needed_for_target == next((n for n, w in widths.items() if w <= 1.0), None)
    (now,) = plan(store, judged_run, 0, target_half_width=coherence.half_width_now + 1e-9)
    assert now.next == [] and now.criteria[0].needed_for_target <= RATED


def test_report_and_calibrate_show_ppi(judged_run: str, db_url: str, tmp_path: Path) -> None:
    store = open_store(db_url)
    _rate(db_url, judged_run, plan(store, judged_run, RATED)[0].next)
    (found,) = [p for p in run_ppi(store, judged_run) if p.metric == "judge:summeval.coherence"]
    markdown, html = (p.read_text() for p in write_report(store, judged_run, tmp_path))
    for text in (markdown, html):
        assert "prediction-powered inference" in text
        assert f"{found.ppi['value']:.4g}" in text and f"{found.ppi['ci_low']:.4g}" in text
        assert f"{RATED} of {ROWS}" in text

    result = run_cli("calibrate", "--dataset", "echo", "--db", db_url, "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    line = next(x for x in result.stdout.splitlines() if "judge:summeval.coherence: PPI" in x)
    assert f"PPI {found.ppi['value']:.2f} [{found.ppi['ci_low']:.2f}" in line
    assert f"rated {RATED} of {ROWS}" in line
    stored = json.loads((tmp_path / "meta" / "echo.json").read_text())["ppi"]
    assert {p["metric"] for p in stored} >= {"judge:summeval.coherence"}


def test_ratings_plan_cli(judged_run: str, db_url: str, tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    result = run_cli("ratings", "plan", judged_run, "--budget", "3", "--target", "0.4",
                     "--db", db_url, "--json", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "echo · summeval: 0 of 20 judged samples rated" in result.stdout
    assert "rate at least 2 samples to project the CI" in result.stdout
    (saved,) = json.loads(out.read_text())
    assert saved["next"] == plan(open_store(db_url), judged_run, 3)[0].next
    assert len(saved["next"]) == 3

    _rate(db_url, judged_run, saved["next"])
    again = run_cli("ratings", "plan", judged_run, "--budget", "3", "--target", "0.4",
                    "--db", db_url)  # fmt: skip
    assert "judge:summeval.coherence: PPI ±" in again.stdout and "±0.4 needs" in again.stdout

    unknown = run_cli("ratings", "plan", "no-such-run", "--budget", "3", "--db", db_url)
    assert unknown.returncode == 2 and "no-such-run" in unknown.stderr
    assert "Traceback" not in unknown.stderr and len(unknown.stderr.strip().splitlines()) == 1


def test_judge_scores_average_each_judges_latest_verdict(judged_run: str, db_url: str) -> None:
    store = open_store(db_url)
    judge_run(store, judged_run, SUMMEVAL, WordJudge(), task="echo")  # a second, identical pass
    frame = judge_scores(store, judged_run)
    coherence = frame[frame["criterion"] == "coherence"].sort_values("idx")
    assert len(coherence) == ROWS
    assert coherence["judge"].tolist() == [float(_score(k)) for k in range(ROWS)]


def test_calibration_page_shows_whole_run_ppi(
    judged_run: str, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from streamlit.testing.v1 import AppTest

    store = open_store(db_url)
    _rate(db_url, judged_run, plan(store, judged_run, RATED)[0].next)
    (found,) = [p for p in run_ppi(store, judged_run) if p.metric == "judge:summeval.coherence"]
    monkeypatch.setenv("EVALHARNESS_DB", db_url)
    page = Path(__file__).resolve().parents[2] / "app" / "pages" / "5_Calibration.py"
    at = AppTest.from_file(str(page), default_timeout=120).run()
    at.sidebar.selectbox[1].set_value("summeval")
    at.sidebar.selectbox[2].set_value("coherence")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    (table,) = [d.value for d in at.dataframe if "PPI" in d.value.columns]
    row = table.iloc[0]
    assert row["run"] == judged_run and row["rated"] == f"{RATED} of {ROWS}"
    assert row["PPI"].startswith(f"{found.ppi['value']:.3f} [{found.ppi['ci_low']:.3f}")
