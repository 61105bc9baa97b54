"""``evalharness judge`` and ``judge-pairwise`` (judges/cli.py) on stored runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalharness.judges.records import judgments
from evalharness.judges.render import render_prompt
from evalharness.judges.run import compare_pairwise, judge_run
from evalharness.judges.stored import subject_of
from evalharness.models.scripted import ScriptedModel
from evalharness.prompts import prompt_text
from evalharness.store import open_store
from tests.judges.helpers import PAIRWISE, SUMMEVAL, Prefers, _stored_run, _uniform
from tests.support.helpers import run_cli

STORE_KINDS = ("sqlite", "postgresql")  # db_url tests run on both (tests/conftest.py)


def _prompts_of(db_url: str, run_id: str, rubric) -> list[str]:
    samples = open_store(db_url).samples(run_id)
    return [prompt_text(render_prompt(rubric, subject_of(s))) for s in samples]


def test_judge_cli_resumes_and_prints_cis_and_unparsed(tmp_path: Path, db_url: str) -> None:
    run_id = _stored_run(tmp_path, db_url, [f"topic {i}" for i in range(5)])
    prompts = _prompts_of(db_url, run_id, SUMMEVAL)
    answers = {p: _uniform(s) for p, s in zip(prompts[:3], (2, 4, 5), strict=False)}
    first = judge_run(open_store(db_url), run_id, "summeval", ScriptedModel(answers), limit=3)
    assert first["summ"]["coherence"]["value"] == pytest.approx(11 / 3)
    out = tmp_path / "judged.json"
    result = run_cli(
        "judge", run_id, "--rubric", "summeval", "--judge-model", "scripted",
        "--db", db_url, "--json", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())["results"]["summ"]
    agg = data["coherence"]
    assert agg["n"] == 3 and agg["n_unparsed"] == 2 and agg["value"] == pytest.approx(11 / 3)
    assert agg["ci_low"] < agg["value"] < agg["ci_high"]
    line = next(x for x in result.stdout.splitlines() if x.split()[:2] == ["summ", "coherence"])
    assert line.split() == ["summ", "coherence", "3.667", f"[{agg['ci_low']:.4g},",
                            f"{agg['ci_high']:.4g}]", "3", "2"]  # fmt: skip
    assert "unparsed" in result.stdout
    assert len(judgments(open_store(db_url), run_id)) == 5 * 4  # nothing judged twice


def test_judge_pairwise_cli_prints_win_tie_loss(tmp_path: Path, db_url: str) -> None:
    run_a = _stored_run(tmp_path, db_url, ["plain 0", "plain 1", "good 2"], "a")
    run_b = _stored_run(tmp_path, db_url, ["good 0", "good 1", "plain 2"], "b")
    judge = Prefers("good")
    judge.name = "scripted"  # stored under the name the CLI's scripted model has: resumed
    compare_pairwise(open_store(db_url), run_a, run_b, PAIRWISE, judge, "summ")
    args = ["--task", "summ", "--judge-model", "scripted", "--db", db_url]
    result = run_cli("judge-pairwise", run_a, run_b, *args)
    assert result.returncode == 0, result.stderr
    rows = {line.split()[1]: line.split() for line in result.stdout.splitlines()[4:]}
    assert rows["win"][2:] == ["0.6667", "[0,", "1]", "3", "0"]
    assert rows["loss"][2] == "0.3333" and rows["consistency"][2] == "1"


def test_judge_cli_errors_are_one_line(db_url: str) -> None:
    result = run_cli("judge", "no-such-run", "--rubric", "summeval", "--db", db_url)
    assert result.returncode == 2 and "no run 'no-such-run'" in result.stderr
    assert "Traceback" not in result.stderr
