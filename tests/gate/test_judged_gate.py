"""Gates on judged metrics, end to end: a run, its judge, people rating the same samples at
the annotation desk, ``calibrate`` storing the judge's agreement, and ``min_judge_agreement``
failing before it and passing or failing by its threshold after."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from evalharness import evaluate
from evalharness.errors import ConfigError
from evalharness.gate.rules import GateSpec, evaluate_gate
from evalharness.judges.run import judge_run
from evalharness.models.scripted import ScriptedModel
from evalharness.prompts import prompt_text
from evalharness.ratings.agreement import stored_agreement
from evalharness.ratings.desk import Source, queue, submit
from evalharness.requests import GenerateRequest, Generation
from evalharness.specs import parse_spec
from evalharness.store import open_store
from tests.judges.helpers import SUMMEVAL, _answer
from tests.support.helpers import run_cli, write_echo_task

STORE_KINDS = ("sqlite", "postgresql")  # db_url tests run on both (tests/conftest.py)
ROWS = 12
RULE = {"task": "echo", "metric": "judge:summeval.coherence"}


def _score(word: int) -> int:
    return 1 + word % 5


class WordJudge(ScriptedModel):
    """Scores a sample by the number in its word (w7 -> 3), so judge and people can agree."""

    def generate(self, requests: list[GenerateRequest]) -> list[Generation]:
        found = [int(re.findall(r"\bw(\d+)\b", prompt_text(r.prompt))[0]) for r in requests]
        return [Generation(texts=(_answer(SUMMEVAL, {"coherence": _score(k)}),)) for k in found]


def _spec(*rules: dict) -> GateSpec:
    return parse_spec(GateSpec, {"gates": list(rules)}, "gates.yaml")


def judged_echo_run(folder: Path, db_url: str, rows: int) -> str:
    """A scripted run of the echo task over ``rows`` words, judged by ``WordJudge``."""
    task = write_echo_task(folder, rows, metrics="exact_match")
    answers = {f"Say w{i}": f"w{i}" for i in range(rows)}
    run_id = evaluate("scripted", [str(task)], db=db_url, model_args={"answers": answers},
                      cache=False)["run_id"]  # fmt: skip
    judge_run(open_store(db_url), run_id, SUMMEVAL, WordJudge(), task="echo")
    return run_id


@pytest.fixture
def judged_run(tmp_path: Path, db_url: str) -> str:
    return judged_echo_run(tmp_path, db_url, ROWS)


def _rate(db_url: str, run_id: str, flipped: set[int]) -> None:
    """alice rates every sample of the run as the judge did, except the words in ``flipped``."""
    store = open_store(db_url)
    for item in queue(store, "alice", SUMMEVAL, Source("task", "echo")):
        if item.pointer is None or item.pointer[0] != run_id:
            continue
        k = int(item.response.removeprefix("w"))
        score = 6 - _score(k) if k in flipped else _score(k)
        submit(store, "alice", item, SUMMEVAL, {c.name: score if c.name == "coherence" else 1
                                                for c in SUMMEVAL.criteria})  # fmt: skip


def test_judged_metric_thresholds_read_the_runs_judgments(judged_run: str, db_url: str) -> None:
    store = open_store(db_url)
    mean = sum(_score(k) for k in range(ROWS)) / ROWS
    passed = evaluate_gate(store, _spec({**RULE, "min": mean - 0.01}), judged_run).verdicts[0]
    assert passed.status == "pass" and passed.n == ROWS
    assert passed.value == pytest.approx(mean) and passed.ci_low < mean < passed.ci_high
    failed = evaluate_gate(store, _spec({**RULE, "min": mean + 0.01}), judged_run).verdicts[0]
    assert failed.status == "fail" and "is below min" in failed.reasons[0]
    same = evaluate_gate(store, _spec({**RULE, "max_drop": 0.0}), judged_run, judged_run)
    assert same.verdicts[0].status == "pass" and same.verdicts[0].n_shared == ROWS
    absent = _spec({**RULE, "metric": "judge:mtbench_single.overall", "min": 1})
    verdict = evaluate_gate(store, absent, judged_run).verdicts[0]
    assert verdict.status == "error"
    assert "no judgments for judge:mtbench_single.overall" in verdict.reasons[0]


def test_rule_names_must_be_judged_metrics() -> None:
    with pytest.raises(ConfigError, match="min_judge_agreement needs metric: judge:"):
        _spec({"task": "echo", "metric": "exact_match", "min_judge_agreement": 0.5})
    with pytest.raises(ConfigError, match="expected judge:<rubric>.<criterion>, got 'judge:x'"):
        _spec({"task": "echo", "metric": "judge:x", "min": 1})


def test_min_judge_agreement_fails_until_calibrated_then_by_threshold(
    judged_run: str, db_url: str, tmp_path: Path
) -> None:
    store = open_store(db_url)
    trusting = _spec({**RULE, "min_judge_agreement": 0.3})
    before = evaluate_gate(store, trusting, judged_run)
    assert before.exit_code == 1  # a failure, not an error: the number exists but is unchecked
    assert "has no stored agreement with human ratings" in before.verdicts[0].reasons[0]
    assert "calibrate --dataset echo" in before.verdicts[0].reasons[0]
    gates = tmp_path / "gates.yaml"
    gates.write_text("gates:\n  - {task: echo, metric: judge:summeval.coherence, "
                     "min_judge_agreement: 0.3}\n")  # fmt: skip
    cli = run_cli("gate", str(gates), "--run", judged_run, "--db", db_url)
    assert cli.returncode == 1, cli.stdout + cli.stderr

    _rate(db_url, judged_run, flipped={3})  # one of twelve disagrees
    result = run_cli("calibrate", "--dataset", "echo", "--db", db_url, "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "stored: judge scripted on summeval.coherence: ρ" in result.stdout
    stored = stored_agreement(store, "scripted", "summeval", "coherence")
    assert stored is not None and stored.n == ROWS and stored.dataset == "echo"
    assert 0.3 < stored.ci_low <= stored.value < 1.0

    assert evaluate_gate(store, trusting, judged_run).exit_code == 0
    strict = evaluate_gate(store, _spec({**RULE, "min_judge_agreement": 0.99}), judged_run)
    assert strict.exit_code == 1 and "its lower bound" in strict.verdicts[0].reasons[0]
    assert run_cli("gate", str(gates), "--run", judged_run, "--db", db_url).returncode == 0


def test_judged_numbers_carry_their_judges_agreement(
    judged_run: str, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from evalharness.cli.run import print_results
    from evalharness.meta.tables import calibrate
    from evalharness.report import write_report
    from evalharness.views.leaderboard import leaderboard

    task = tmp_path / "echo.yaml"
    plain = task.read_text()
    answers = {f"Say w{i}": f"w{i}" for i in range(ROWS)}

    runs: list[str] = []

    def judged() -> dict:
        verdict = json.dumps(_answer(SUMMEVAL, {"coherence": 4}))
        task.write_text(plain + "judges:\n  - rubric: summeval\n    model: scripted\n"
                        f"    model_args: {{default: {verdict}}}\n")  # fmt: skip
        out = evaluate("scripted", [str(task)], db=db_url, model_args={"answers": answers},
                       cache=False)  # fmt: skip
        runs.append(out["run_id"])
        return out["results"]["echo"]["judge:summeval.coherence"]

    fresh = judged()
    assert fresh["agreement"] == {"scripted": None}
    md_fresh = write_report(open_store(db_url), runs[0], tmp_path / "reports")[0].read_text()
    _rate(db_url, judged_run, flipped={3})
    calibrate(open_store(db_url), "echo", n_boot=200)
    calibrated = judged()  # the same judge model, now with a stored agreement
    stored = calibrated["agreement"]["scripted"]
    assert stored["statistic"] == "spearman" and stored["n"] == ROWS and stored["dataset"] == "echo"
    print_results("r", {"echo": {"judge:summeval.coherence": calibrated, "exact_match": {
        "value": 1.0, "ci_low": 1.0, "ci_high": 1.0, "n": ROWS, "n_failed": 0}}})  # fmt: skip
    print_results("r", {"echo": {"judge:summeval.coherence": fresh}})
    lines = capsys.readouterr().out.splitlines()
    assert re.search(r"judge:summeval\.coherence .* · ρ 0\.\d\d \[0\.\d\d, 1\.00\], n 12$",
                     lines[3])  # fmt: skip
    assert lines[4].startswith("echo") and "·" not in lines[4]  # exact_match: not judged
    assert lines[-1].endswith("· uncalibrated")

    store = open_store(db_url)
    md_calibrated, html = (
        p.read_text() for p in write_report(store, runs[1], tmp_path / "reports")
    )
    assert "| judge:summeval.coherence · uncalibrated |" in md_fresh
    assert re.search(
        r"\| judge:summeval\.coherence · ρ 0\.\d\d \[0\.\d\d, 1\.00\], n 12 \|", md_calibrated
    )
    assert "judge:summeval.coherence · ρ" in html
    board = leaderboard(store, tasks=["echo"])  # the newest run: judged after calibration
    by_metric = dict(zip(board["metric"], board["judge_agreement"], strict=True))
    assert re.fullmatch(
        r"ρ 0\.\d\d \[0\.\d\d, 1\.00\], n 12", by_metric["judge:summeval.coherence"]
    )
    assert by_metric["exact_match"] == ""
