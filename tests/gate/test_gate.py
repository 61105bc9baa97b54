"""Release gates and run comparison: verdicts, exit codes, the paired test, JUnit and Markdown."""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from evalharness import evaluate
from evalharness.errors import ConfigError
from evalharness.gate.render import junit_xml, markdown
from evalharness.gate.rules import GateSpec, evaluate_gate, load_gate
from evalharness.metrics import get_metric, paired_bootstrap
from evalharness.models.scripted import ScriptedModel
from evalharness.store import Run, Sample, open_store
from tests.support.helpers import REPO, run_cli

STORE_KINDS = ("sqlite", "postgresql")  # db_url tests run on both (tests/conftest.py)

T0 = datetime(2025, 1, 1)

ECHO = """\
name: echo
dataset:
  path: rows.jsonl
output_type: generate
prompt: "Repeat: {{ text }}"
references: "[text]"
metrics: [exact_match, bleu]
"""


def _echo_task(tmp_path: Path, n: int) -> Path:
    rows = [{"text": f"the quick brown fox number {i} jumps over the lazy dog"} for i in range(n)]
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    path = tmp_path / "echo.yaml"
    path.write_text(ECHO)
    return path


def _scripted(n: int, right: int) -> ScriptedModel:
    text = "the quick brown fox number {} jumps over the lazy dog"
    return ScriptedModel(
        {f"Repeat: {text.format(i)}": text.format(i) if i < right else "nope" for i in range(n)}
    )


def _add_run(
    db_url: str,
    rows: list[list[float] | None],
    *,
    run_id: str,
    metric: str = "acc",
    task: str = "quiz",
    model: str = "m",
    tags: tuple[str, ...] = (),
    status: str = "finished",
    at: datetime = T0,
    first: int = 0,
    inputs: int = 0,
) -> str:
    """A stored run whose sample i has stats ``rows[i]`` (None: a failed sample)."""
    store = open_store(db_url)
    store.add_run(
        Run(
            id=run_id,
            model=model,
            status=status,
            tags=list(tags),
            created_at=at,
            finished_at=at if status == "finished" else None,
        )
    )
    samples = []
    for i, row in enumerate(rows):
        ok = row is not None
        samples.append(
            Sample(
                run_id=run_id,
                task=task,
                idx=first + i,
                input={"q": first + i + inputs},
                prompt="q",
                stats={metric: row} if ok else {},
                scores={metric: row[0] / row[1]} if ok else {},
                error=None if ok else "HTTP 500",
            )
        )
    store.add_samples(samples)
    return run_id


def _acc_rows(correct: np.ndarray) -> list[list[float] | None]:
    return [[float(c), 1.0] for c in correct]


def _exactly(n: int, right: int, seed: int) -> np.ndarray:
    """n outcomes with exactly ``right`` correct, at random positions."""
    out = np.zeros(n, dtype=bool)
    out[np.random.default_rng(seed).choice(n, size=right, replace=False)] = True
    return out


def _spec(*rules: dict, **top: object) -> GateSpec:
    return GateSpec.model_validate({"gates": list(rules), **top})


def _gate_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gates.yaml"
    path.write_text(text)
    return path


def test_clearly_worse_candidate_fails_with_junit_failure(tmp_path: Path, db_url: str) -> None:
    task = str(_echo_task(tmp_path, n=40))
    base = evaluate(_scripted(40, right=36), [task], db=db_url, tags=["release"])["run_id"]
    good = evaluate(_scripted(40, right=36), [task], db=db_url)["run_id"]
    bad = evaluate(_scripted(40, right=10), [task], db=db_url)["run_id"]
    gates = _gate_file(
        tmp_path,
        "gates:\n  - {task: echo, metric: exact_match, min: 0.5}\n"
        "  - {task: echo, metric: bleu, max_drop: 5}\n",
    )
    junit = tmp_path / "out" / "gate.xml"
    args = ("gate", str(gates), "--baseline", base, "--db", db_url, "--junit", str(junit))
    result = run_cli(*args, "--run", bad)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAIL" in result.stdout and "gate failed: 2 of 2 rules failed" in result.stdout
    cases = ET.parse(junit).getroot().findall("./testsuite/testcase")
    assert [(c.get("classname"), c.get("name")) for c in cases] == [
        ("echo", "exact_match >= 0.5"),
        ("echo", "bleu drop <= 5 (alpha 0.05)"),
    ]
    assert "exact_match 0.25 is below min 0.5" in cases[0].find("failure").get("message")
    assert "bleu dropped" in cases[1].find("failure").get("message")
    ok = run_cli(*args, "--run", good)  # the same model again passes both rules
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ET.parse(junit).getroot().find("testsuite").get("failures") == "0"


def test_sampling_noise_passes_and_a_real_drop_fails(tmp_path: Path, db_url: str) -> None:
    rng = np.random.default_rng(3)
    base, noisy = rng.random(200) < 0.8, rng.random(200) < 0.8  # same rate, different draws
    assert base.mean() - noisy.mean() > 0.01  # an observed drop beyond max_drop, by chance only
    _add_run(db_url, _acc_rows(base), run_id="base")
    _add_run(db_url, _acc_rows(noisy), run_id="noisy")
    _add_run(db_url, _acc_rows(_exactly(200, 120, seed=3)), run_id="worse")  # 0.60
    _add_run(db_url, _acc_rows(_exactly(200, 160, seed=4)), run_id="base80")  # 0.80
    spec = _spec({"task": "quiz", "metric": "acc", "max_drop": 0.01, "alpha": 0.05})
    store = open_store(db_url)
    noise = evaluate_gate(store, spec, "noisy", "base").verdicts[0]
    assert noise.status == "pass" and noise.drop > 0.01 and noise.p_value >= 0.05
    assert noise.delta == pytest.approx(noisy.mean() - base.mean())
    drop = evaluate_gate(store, spec, "worse", "base80").verdicts[0]
    assert drop.status == "fail" and drop.p_value < 0.05
    assert drop.delta == pytest.approx(-0.2) and drop.n_shared == 200
    assert drop.delta_ci_low < -0.2 < drop.delta_ci_high < -0.1
    gates = _gate_file(tmp_path, "gates:\n  - {task: quiz, metric: acc, max_drop: 0.01}\n")
    assert (
        run_cli(
            "gate", str(gates), "--run", "noisy", "--baseline", "base", "--db", db_url
        ).returncode
        == 0
    )
    result = run_cli("gate", str(gates), "--run", "worse", "--baseline", "base80", "--db", db_url)
    assert result.returncode == 1 and "acc dropped 0.2 > 0.01" in result.stdout


def _bpb_rows(seed: int, n: int = 150) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n_bytes = rng.integers(20, 600, size=n).astype(float)
    logprob = -n_bytes * math.log(2) * rng.uniform(0.6, 1.4, size=n)
    return np.column_stack([logprob, n_bytes])


def test_regression_respects_direction_relative_and_corpus_level(db_url: str) -> None:
    rows = _bpb_rows(seed=1)
    for run_id, scale in (("base", 1.0), ("worse10", 1.10), ("worse2", 1.02), ("better", 0.8)):
        scaled = rows * [scale, 1.0]  # bits per byte scaled by ``scale`` on every document
        _add_run(db_url, scaled.tolist(), run_id=run_id, metric="bits_per_byte", task="wiki")
    store = open_store(db_url)
    relative = _spec(
        {"task": "wiki", "metric": "bits_per_byte", "max_drop": 0.05, "relative": True}
    )
    verdicts = {
        r: evaluate_gate(store, relative, r, "base").verdicts[0]
        for r in ("worse10", "worse2", "better")
    }
    assert verdicts["worse10"].status == "fail" and verdicts["worse10"].p_value < 0.01
    assert verdicts["worse10"].drop == pytest.approx(0.10)  # a fraction of the baseline
    assert verdicts["worse2"].status == "pass" and verdicts["worse2"].drop == pytest.approx(0.02)
    assert verdicts["better"].status == "pass" and verdicts["better"].drop == pytest.approx(-0.2)
    # the value is corpus-level (byte-weighted), not a mean of per-document values
    corpus = -rows[:, 0].sum() / (rows[:, 1].sum() * math.log(2))
    per_doc = np.mean(-rows[:, 0] / (rows[:, 1] * math.log(2)))
    assert abs(corpus - per_doc) > 1e-3
    assert verdicts["worse10"].baseline == pytest.approx(corpus)
    # an increase of bits per byte is a drop: absolute max_drop in the metric's units
    absolute = _spec({"task": "wiki", "metric": "bits_per_byte", "max_drop": 0.02})
    assert evaluate_gate(store, absolute, "worse10", "base").verdicts[0].status == "fail"
    assert evaluate_gate(store, absolute, "better", "base").verdicts[0].status == "pass"


def test_absolute_min_and_max(db_url: str) -> None:
    _add_run(db_url, _acc_rows(_exactly(200, 150, seed=1)), run_id="r")  # acc 0.75
    rules = [
        {"task": "quiz", "metric": "acc", **check}
        for check in (
            {"min": 0.7},
            {"min": 0.8},
            {"max": 0.9},
            {"max": 0.7},
            {"min": 0.6, "max": 0.74},
        )
    ]
    report = evaluate_gate(open_store(db_url), _spec(*rules), "r")
    assert [v.status for v in report.verdicts] == ["pass", "fail", "pass", "fail", "fail"]
    assert report.verdicts[0].value == pytest.approx(0.75) and report.verdicts[0].n == 200
    assert report.verdicts[0].ci_low < 0.75 < report.verdicts[0].ci_high
    assert report.verdicts[3].reasons == ["acc 0.75 is above max 0.7"]
    assert report.exit_code == 1


def test_failed_rate_rule(db_url: str) -> None:
    rows: list[list[float] | None] = _acc_rows(np.ones(194, dtype=bool))
    _add_run(db_url, rows + [None] * 6, run_id="r")  # 6 of 200 failed: 3%
    spec = _spec(
        {"task": "quiz", "max_failed_rate": 0.02},
        {"task": "quiz", "max_failed_rate": 0.05},
        {"task": "quiz", "metric": "acc", "min": 0.9},
    )
    report = evaluate_gate(open_store(db_url), spec, "r")
    assert [v.status for v in report.verdicts] == ["fail", "pass", "pass"]
    assert report.verdicts[0].failed_rate == pytest.approx(0.03)
    assert "failed rate 0.03 (6/200) > 0.02" in report.verdicts[0].reasons[0]
    assert report.verdicts[2].n == 194  # failed samples are counted, not scored


def test_invalid_gate_file_exits_2_naming_file_and_field(tmp_path: Path, db_url: str) -> None:
    _add_run(db_url, _acc_rows(np.ones(5, dtype=bool)), run_id="r")
    gates = _gate_file(
        tmp_path,
        "gates:\n  - {task: quiz, metric: acc, min: 0.5}\n"
        "  - {task: quiz, metric: rogueL, min: 0.2}\n",
    )
    result = run_cli("gate", str(gates), "--run", "r", "--db", db_url)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"{gates}: gates.1.metric: unknown metric 'rogueL'" in result.stderr
    for text, field in (
        (
            "gates:\n  - {task: quiz, metric: acc, max_dorp: 0.1}\n",
            "gates.0.max_dorp: Extra inputs",
        ),
        (
            "gates:\n  - {task: quiz, metric: acc, relative: true, min: 0.1}\n",
            "gates.0: 'relative' applies only",
        ),
        ("gates:\n  - {task: quiz, min: 0.1}\n", "gates.0: 'min' needs 'metric'"),
        ("gates:\n  - {task: quiz, metric: acc}\n", "gates.0: give at least one check"),
        ("gates: []\n", "gates: Tuple should have at least 1 item"),
    ):
        with pytest.raises(ConfigError, match=re.escape(f"{tmp_path / 'gates.yaml'}: {field}")):
            load_gate(_gate_file(tmp_path, text))


def test_missing_metric_task_or_run_exits_2(tmp_path: Path, db_url: str) -> None:
    _add_run(db_url, _acc_rows(np.ones(5, dtype=bool)), run_id="r")
    gates = _gate_file(
        tmp_path,
        "gates:\n  - {task: quiz, metric: acc_norm, min: 0.5}\n"
        "  - {task: quiz, metric: acc, min: 0.5}\n",
    )
    result = run_cli("gate", str(gates), "--run", "r", "--db", db_url)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "metric 'acc_norm' is absent from task 'quiz' of run r (has: acc)" in result.stderr
    assert "ERROR" in result.stdout and "PASS" in result.stdout
    missing = run_cli("gate", str(gates), "--run", "nope", "--db", db_url)
    assert missing.returncode == 2 and "no run 'nope'" in missing.stderr
    no_task = evaluate_gate(
        open_store(db_url), _spec({"task": "piqa", "metric": "acc", "min": 0}), "r"
    )
    assert no_task.exit_code == 2 and "no samples of task 'piqa'" in no_task.verdicts[0].reasons[0]


def test_latest_tag_picks_the_right_baseline(tmp_path: Path, db_url: str) -> None:
    ones = _acc_rows(np.ones(20, dtype=bool))
    for run_id, hours, kwargs in (
        ("old-release", 1, {"tags": ("release",)}),
        ("new-release", 2, {"tags": ("nightly", "release")}),  # the expected baseline
        ("crashed", 3, {"tags": ("release",), "status": "failed"}),
        ("other-model", 4, {"tags": ("release",), "model": "m2"}),
        ("untagged", 5, {"tags": ("nightly",)}),
        ("cand", 6, {"tags": ("release", "candidate")}),  # never its own baseline
    ):
        _add_run(db_url, ones, run_id=run_id, at=T0 + timedelta(hours=hours), **kwargs)
    gates = _gate_file(tmp_path, "gates:\n  - {task: quiz, metric: acc, max_drop: 0}\n")
    result = run_cli(
        "gate", str(gates), "--run", "cand", "--baseline", "latest:release", "--db", db_url
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "baseline new-release (latest run tagged 'release' with model 'm')" in result.stdout
    none = run_cli("gate", str(gates), "--run", "cand", "--baseline", "latest:gold", "--db", db_url)
    assert none.returncode == 2
    assert "no finished run tagged 'gold' with model 'm' other than cand" in none.stderr
    no_baseline = evaluate_gate(open_store(db_url), load_gate(gates), "cand")
    assert no_baseline.verdicts[0].status == "error"


def test_zero_shared_samples_or_changed_inputs_are_errors(db_url: str) -> None:
    ones = _acc_rows(np.ones(10, dtype=bool))
    _add_run(db_url, ones, run_id="cand")
    _add_run(db_url, ones, run_id="other-task", task="quiz2")
    _add_run(db_url, ones, run_id="disjoint", first=10)
    _add_run(db_url, ones, run_id="changed", inputs=100)
    spec = _spec({"task": "quiz", "metric": "acc", "max_drop": 0.0})
    store = open_store(db_url)
    disjoint = evaluate_gate(store, spec, "cand", "disjoint").verdicts[0]
    assert disjoint.status == "error" and disjoint.n_shared == 0
    assert "no scored sample with 'acc' is shared with task 'quiz'" in disjoint.reasons[0]
    other = evaluate_gate(store, spec, "cand", "other-task").verdicts[0]
    assert other.status == "error" and "has no samples of task 'quiz'" in other.reasons[0]
    changed = evaluate_gate(store, spec, "cand", "changed").verdicts[0]
    assert changed.status == "error" and "other inputs" in changed.reasons[0]


def _mixed_report(db_url: str):
    _add_run(db_url, _acc_rows(_exactly(100, 70, seed=1)), run_id="r")
    rules = (
        {"task": "quiz", "metric": "acc", "min": 0.5},
        {"task": "quiz", "metric": "acc", "min": 0.9},
        {"task": "quiz", "metric": "judge:summeval.coherence", "min_judge_agreement": 0.6},
        {"task": "quiz", "max_failed_rate": 0.1},
    )
    return evaluate_gate(open_store(db_url), _spec(*rules), "r", source="gates.yaml")


def test_junit_shape_and_counts(db_url: str) -> None:
    report = _mixed_report(db_url)
    assert report.exit_code == 2  # a rule that cannot be checked is never a silent pass
    root = ET.fromstring(junit_xml(report))
    suites = root.findall("testsuite")
    assert len(suites) == 1
    suite = suites[0]
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("4", "1", "1")
    cases = suite.findall("testcase")
    assert [c.get("classname") for c in cases] == ["quiz"] * 4
    assert cases[1].get("name") == "acc >= 0.9"
    assert [c.find("failure") is not None for c in cases] == [False, True, False, False]
    assert [c.find("error") is not None for c in cases] == [False, False, True, False]
    assert "acc 0.7 is below min 0.9" in cases[1].find("failure").get("message")
    assert "judges" in cases[2].find("error").get("message")


def test_markdown_has_headline_and_table(db_url: str) -> None:
    text = markdown(_mixed_report(db_url))
    lines = text.splitlines()
    assert lines[0] == "### ⚠️ gate error: 1 of 4 rules could not be checked, 1 failed"
    table = [line for line in lines if line.startswith("|")]
    assert table[0].startswith("| | Task | Rule | Value | 95% CI | Baseline |")
    assert len(table) == 2 + 4
    assert table[2].startswith("| ✅ | quiz | acc >= 0.5 | 0.7 | [")
    assert table[3].startswith("| ❌ | quiz | acc >= 0.9 | 0.7 |")
    assert "acc 0.7 is below min 0.9" in table[3]


def test_compare_reports_paired_delta(tmp_path: Path, db_url: str) -> None:
    a, b = _exactly(120, 90, seed=1), _exactly(120, 60, seed=2)
    _add_run(db_url, _acc_rows(a), run_id="a")
    _add_run(db_url, _acc_rows(b)[:100], run_id="b")  # shares the first 100 samples
    out = tmp_path / "cmp.json"
    result = run_cli("compare", "a", "b", "--db", db_url, "--json", str(out))
    assert result.returncode == 0, result.stderr
    (row,) = json.loads(out.read_text())["rows"]
    ref = paired_bootstrap(
        get_metric("acc"), np.array(_acc_rows(a[:100])), np.array(_acc_rows(b[:100]))
    )
    assert (row["task"], row["metric"], row["n_shared"], row["n_a"], row["n_b"]) == (
        "quiz",
        "acc",
        100,
        120,
        100,
    )
    assert row["value_a"] == pytest.approx(a[:100].mean()) and row["value_b"] == pytest.approx(
        b[:100].mean()
    )
    assert row["delta"] == pytest.approx(b[:100].mean() - a[:100].mean())
    assert (row["ci_low"], row["ci_high"], row["p_value"]) == pytest.approx(
        (ref.ci_low, ref.ci_high, ref.p_value)
    )
    assert row["p_value"] < 0.05 and "quiz" in result.stdout


def test_example_gate_file_is_valid() -> None:
    spec = load_gate(REPO / "examples" / "gates.yaml")
    named = {(rule.task, rule.metric) for rule in spec.gates}
    assert {
        ("summeval_cnndm", "rougeL"),
        ("piqa", "acc"),
        ("wikitext2", "bits_per_byte"),
        ("flores_en_de", "chrf"),
    } <= named
