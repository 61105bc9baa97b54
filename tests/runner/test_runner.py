"""The runner, store and report with the deterministic scripted model (fast, no weights)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalharness import evaluate, resume
from evalharness.models.scripted import ScriptedModel
from evalharness.report import write_report
from evalharness.runner.orchestrate import RunOptions, execute, start_run
from evalharness.store import open_store
from tests.support.helpers import run_cli

STORE_KINDS = ("sqlite", "postgresql")  # db_url tests run on both (tests/conftest.py)

TASK = """\
name: echo
dataset:
  path: rows.jsonl
output_type: generate
prompt: "Say {{ word }}"
references: "[word, word ~ '!']"
metrics: [exact_match, bleu]
"""


def _echo_task(tmp_path: Path, n: int = 10) -> Path:
    rows = "".join(json.dumps({"word": f"w{i}"}) + "\n" for i in range(n))
    (tmp_path / "rows.jsonl").write_text(rows)
    path = tmp_path / "echo.yaml"
    path.write_text(TASK)
    return path


def _answers(n: int, right: int) -> dict[str, str]:
    return {f"Say w{i}": (f"w{i}" if i < right else "nope") for i in range(n)}


def test_scores_every_sample_and_stores_rows(tmp_path: Path, db_url: str) -> None:
    task = _echo_task(tmp_path)
    model = ScriptedModel(_answers(10, right=7))
    out = evaluate(model, [str(task)], db=db_url)
    em = out["results"]["echo"]["exact_match"]
    assert em["value"] == pytest.approx(0.7)
    assert em["n"] == 10 and em["ci_low"] <= 0.7 <= em["ci_high"]
    samples = open_store(db_url).samples(out["run_id"], "echo")
    assert [s.idx for s in samples] == list(range(10))
    assert samples[0].prompt == "Say w0" and samples[0].output == "w0"
    assert samples[9].scores["exact_match"] == 0.0
    assert samples[0].reference == ["w0", "w0!"]


class Crash(ScriptedModel):
    """Answers the first ``ok_calls`` generate calls, then dies like a killed process."""

    def __init__(self, ok_calls: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.ok_calls = ok_calls

    def generate(self, requests):
        if len([c for c in self.calls if c.startswith("generate")]) >= self.ok_calls:
            raise KeyboardInterrupt("simulated Ctrl-C")
        return super().generate(requests)


def test_interrupted_run_resumes_without_redoing_samples(tmp_path: Path, db_url: str) -> None:
    task = _echo_task(tmp_path, n=10)
    store = open_store(db_url)
    options = RunOptions(tasks=[str(task)], chunk_size=4)
    crashing = Crash(ok_calls=2, answers=_answers(10, right=7))
    run = start_run(store, "scripted", crashing, options, {})
    with pytest.raises(KeyboardInterrupt, match="simulated Ctrl-C"):
        execute(store, run, crashing, options)
    assert store.get_run(run.id).status == "failed"
    assert sorted(store.done_indices(run.id, "echo")) == list(range(8))  # two chunks survived

    again = ScriptedModel(_answers(10, right=7))
    results = execute(store, store.get_run(run.id), again, options)
    assert again.calls == ["generate:2"]  # only the two missing samples
    assert [s.idx for s in store.samples(run.id, "echo")] == list(range(10))
    uninterrupted = evaluate(ScriptedModel(_answers(10, right=7)), [str(task)], db=db_url)
    assert results == uninterrupted["results"]
    assert store.get_run(run.id).status == "finished"


def test_resume_api_reloads_model_and_tasks(tmp_path: Path, db_url: str) -> None:
    task = _echo_task(tmp_path, n=3)
    out = evaluate("scripted", [str(task)], db=db_url)
    assert resume(out["run_id"], db=db_url)["results"] == out["results"]


def test_failed_samples_are_counted_not_scored(tmp_path: Path, db_url: str) -> None:
    from evalharness.requests import Generation

    class Flaky(ScriptedModel):
        def generate(self, requests):
            good = super().generate(requests)
            return [
                g if i % 2 else Generation(texts=(), error="HTTP 500 from server")
                for i, g in enumerate(good)
            ]

    task = _echo_task(tmp_path, n=6)
    # no cache: a cached success from an earlier run would leave Flaky fewer rows to fail
    out = evaluate(Flaky(_answers(6, right=6)), [str(task)], db=db_url, cache=False)
    em = out["results"]["echo"]["exact_match"]
    assert em["n"] == 3 and em["n_failed"] == 3 and em["value"] == 1.0
    failed = [s for s in open_store(db_url).samples(out["run_id"]) if s.error]
    assert [s.error for s in failed] == ["HTTP 500 from server"] * 3


def test_report_escapes_model_output(tmp_path: Path, db_url: str) -> None:
    task = _echo_task(tmp_path, n=2)
    evil = "<script>alert(1)</script> **bold** ```\n# heading"
    out = evaluate(ScriptedModel(default=evil), [str(task)], db=db_url)
    md, html = write_report(open_store(db_url), out["run_id"], tmp_path / "reports")
    html_text = html.read_text()
    assert "<script>alert(1)" not in html_text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html_text
    md_text = md.read_text()
    assert "````text\n<script>alert(1)</script> **bold** ```\n# heading\n````" in md_text


def test_cli_run_json_and_listing(tmp_path: Path, db_url: str) -> None:
    task = _echo_task(tmp_path, n=4)
    out_json = tmp_path / "out.json"
    result = run_cli(
        "run",
        "--model",
        "scripted",
        "--tasks",
        str(task),
        "--db",
        db_url,
        "--json",
        str(out_json),
        "--tag",
        "nightly",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(out_json.read_text())
    assert set(data["results"]["echo"]["bleu"]) == {"value", "ci_low", "ci_high", "n", "n_failed"}
    assert data["run_id"] in result.stdout and "exact_match" in result.stdout
    assert (tmp_path / "reports" / data["run_id"] / "report.html").is_file()
    runs = run_cli("list", "runs", "--db", db_url)
    assert data["run_id"] in runs.stdout and "nightly" in runs.stdout
    tasks = run_cli("list", "tasks")
    for name in (
        "wikitext2",
        "piqa",
        "gsm8k",
        "flores_en_de",
        "flores_en_fr",
        "summeval_cnndm",
        "xquad_en",
    ):
        assert name in tasks.stdout
    [mtbench] = [line for line in tasks.stdout.splitlines() if line.startswith("mtbench ")]
    assert mtbench.split() == ["mtbench", "generate", "judge:mtbench_single"]


def test_run_config_file(tmp_path: Path, db_url: str) -> None:
    task = _echo_task(tmp_path, n=5)
    config = tmp_path / "run.yaml"
    config.write_text(f"model: scripted\ntasks: ['{task}']\nlimit: 2\ntags: [rc]\n")
    out_json = tmp_path / "out.json"
    result = run_cli("run", str(config), "--db", db_url, "--json", str(out_json), "--no-report")
    assert result.returncode == 0, result.stderr
    assert json.loads(out_json.read_text())["results"]["echo"]["exact_match"]["n"] == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: scripted\nlimt: 2\n")
    result = run_cli("run", str(bad), "--db", db_url)
    assert (
        result.returncode == 2 and f"{bad}: limt: Extra inputs are not permitted" in result.stderr
    )


def test_printed_results_show_a_dash_where_nothing_was_averaged(capsys) -> None:
    from evalharness.cli.run import print_results

    ok = {"value": 0.5, "ci_low": 0.25, "ci_high": 0.75, "n": 4, "n_failed": 1}
    empty = {"value": float("nan"), "ci_low": float("nan"), "ci_high": float("nan")}
    print_results(
        "r1", {"t": {"acc": ok, "judge:mtbench_single.rating": {**empty, "n": 0, "n_failed": 5}}}
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines[3].split() == ["t", "acc", "0.5", "[0.25,", "0.75]", "4", "1"]
    assert lines[4].split() == ["t", "judge:mtbench_single.rating", "—", "—", "0", "5"]
    assert "nan" not in lines[4]


def test_storing_aggregates_replaces_only_the_metrics_written(db_url: str) -> None:
    """A task's metric rows and its judge rows are written apart; neither erases the other,
    whatever order they come in."""
    from evalharness.store import AggregateRow, Run

    store = open_store(db_url)
    store.add_run(Run(id="r", model="scripted"))

    def row(metric: str, value: float) -> AggregateRow:
        return AggregateRow(run_id="r", task="t", metric=metric, value=value, ci_low=value,
                            ci_high=value, n=1, n_failed=0)  # fmt: skip

    store.set_aggregates("r", "t", [row("judge:summeval.coherence", 3.0)])
    store.set_aggregates("r", "t", [row("exact_match", 0.5), row("bleu", 10.0)])
    store.set_aggregates("r", "t", [row("exact_match", 0.75)])
    stored = {a.metric: a.value for a in store.aggregates("r")}
    assert stored == {"judge:summeval.coherence": 3.0, "exact_match": 0.75, "bleu": 10.0}
