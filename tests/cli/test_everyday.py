"""Everyday use at a terminal: what the CLI prints, stores and exits with (scripted model)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from evalharness import evaluate
from evalharness.config import TaskSpec, load_task
from evalharness.errors import ConfigError, DataError, ModelError
from evalharness.items import build_items
from evalharness.listing import metrics_table
from evalharness.models.hf import HFModel
from evalharness.models.scripted import ScriptedModel
from evalharness.progress import LogProgress, duration
from evalharness.store import open_store
from evalharness.usage import TaskUsage, run_usage
from evalharness.views import leaderboard
from tests.support.helpers import ECHO_TASK, free_port, run_cli

FEWSHOT_TASK = """\
name: shots
dataset:
  path: rows.jsonl
output_type: generate
prompt: "Say {{ word }}"
references: "[word]"
fewshot: {k: 2, target: "{{ word }}"}
metrics: [exact_match]
"""


def _task(tmp_path: Path, text: str = ECHO_TASK, n: int = 4) -> Path:
    (tmp_path / "rows.jsonl").write_text(
        "".join(json.dumps({"word": f"w{i}"}) + "\n" for i in range(n))
    )
    path = tmp_path / f"{text.split()[1]}.yaml"
    path.write_text(text)
    return path


def test_usage_is_stored_per_task_and_read_without_samples(tmp_path: Path, db_url: str) -> None:
    task = _task(tmp_path, n=5)
    out = evaluate(ScriptedModel({"Say w0": "w0 w0"}, default="no"), [str(task)], db=db_url)
    store = open_store(db_url)
    with store.session() as s:
        (row,) = s.query(TaskUsage).filter_by(run_id=out["run_id"]).all()
    assert (row.task, row.samples, row.failed, row.completion_tokens) == ("echo", 5, 0, 6)
    assert row.cost_usd is None  # the scripted model has no prices
    assert out["usage"]["total"] == {
        "samples": 5, "failed": 0, "prompt_tokens": 0, "completion_tokens": 6, "cost_usd": None,
    }  # fmt: skip
    with store.session() as s, s.begin():  # the stored row is what pages read, not the samples
        s.query(TaskUsage).filter_by(run_id=out["run_id"]).update({"cost_usd": 0.125})
    assert run_usage(store, out["run_id"])["tasks"]["echo"]["cost_usd"] == 0.125
    assert leaderboard(store)["cost_usd"].to_list() == [0.125]


def test_cli_run_prints_id_first_json_record_and_model_args(tmp_path: Path, db_url: str) -> None:
    task = _task(tmp_path)
    config = tmp_path / "run.yaml"
    config.write_text(
        f"model: scripted\ntasks: [{task}]\nmodel_args: {{default: w9, delay_s: 0}}\n"
    )
    out_json = tmp_path / "out.json"
    result = run_cli(
        "run", str(config), "--db", db_url, "--json", str(out_json), "--no-report",
        "--model-args", "default=w1,delay_s=0.0", cwd=tmp_path,
        env={"EVALHARNESS_PROGRESS_S": "0"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(out_json.read_text())
    first = result.stdout.splitlines()[0]
    assert first.startswith(f"run {data['run_id']} · model scripted · store sqlite:///")
    assert data["model"] == "scripted" and data["model_args"] == {"default": "w1", "delay_s": 0.0}
    assert data["settings"]["limit"] is None and data["settings"]["tasks"] == [str(task)]
    assert data["duration_s"] > 0 and data["status"] == "finished"
    assert data["usage"]["tasks"]["echo"]["samples"] == 4
    assert data["results"]["echo"]["exact_match"]["value"] == pytest.approx(0.25)  # w1 only
    footer = result.stdout.splitlines()[-1].split()
    assert footer == ["total", "4", "0", "0", "4", "—"]
    assert "progress echo: 4/4 samples (100%)" in result.stderr


def test_list_runs_metrics_rubrics_as_tables(tmp_path: Path, db_url: str) -> None:
    task = _task(tmp_path)
    out = evaluate(ScriptedModel(default="w0"), [str(task)], db=db_url, tags=["nightly"])
    runs = run_cli("list", "runs", "--db", db_url).stdout.splitlines()
    assert runs[0].split() == [
        "id", "model", "tasks", "status", "started", "duration", "headline", "tags",
    ]  # fmt: skip
    (line,) = [x for x in runs if x.startswith(out["run_id"])]
    assert "finished" in line and "echo exact_match=0.25" in line and line.endswith("nightly")
    metrics = {row.split()[0]: row for row in metrics_table()[2:]}
    assert metrics["bleu"].split()[1:] == ["generate", "yes", "corpus"]
    assert metrics["perplexity"].split()[1:] == ["perplexity", "no", "corpus"]
    assert metrics["acc"].split()[1:] == ["multiple_choice", "yes", "mean", "of", "samples"]
    rubrics = {
        row.split()[0]: row.split() for row in run_cli("list", "rubrics").stdout.splitlines()
    }
    assert rubrics["rubric"] == ["rubric", "mode", "criteria", "file"]
    assert rubrics["pairwise_preference"][1] == "pairwise" and "mtbench_single" in rubrics


def test_every_sample_failed_exits_3(tmp_path: Path, db_url: str) -> None:
    task = _task(tmp_path, n=3)
    args = f"base_url=http://127.0.0.1:{free_port()}/v1,max_attempts=1,backoff_s=0"
    result = run_cli(
        "run", "--model", "openai:x", "--model-args", args, "--tasks", str(task),
        "--db", db_url, "--no-report", "--no-cache", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 3, result.stderr
    assert "every sample failed in task(s) echo" in result.stderr
    assert result.stdout.splitlines()[-1].split()[:3] == ["total", "3", "3"]
    ok = run_cli(
        "run", "--model", "scripted", "--tasks", str(task), "--db", db_url, "--no-report",
        cwd=tmp_path,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr


def test_progress_lines_for_logs() -> None:
    stream = io.StringIO()
    with LogProgress(10, "gsm8k", interval=0.0, stream=stream) as bar:
        bar.update(4)
        bar.update(6)
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("progress gsm8k: 4/10 samples (40%), ") and "ETA" in lines[0]
    assert lines[-1].startswith("progress gsm8k: 10/10 samples (100%)")
    assert [duration(5), duration(125), duration(3725)] == ["5s", "2m05s", "1h02m"]
    quiet = io.StringIO()
    with LogProgress(10, "x", interval=3600, stream=quiet) as bar:
        bar.update(5)
    assert quiet.getvalue().count("\n") == 1  # only the closing line


def test_fewshot_pool_does_not_depend_on_limit(tmp_path: Path) -> None:
    path = _task(tmp_path, FEWSHOT_TASK, n=6)
    spec, base = load_task(path)
    every = build_items(spec, base, path, None)
    two = build_items(spec, base, path, 2)  # k=2 from 2 rows failed before: the row itself is out
    assert [i.prompt for i in two] == [i.prompt for i in every[:2]]
    assert "Say w2" in two[0].prompt  # an example from beyond the limit
    few = spec.model_copy(update={"fewshot": spec.fewshot.model_copy(update={"k": 6})})
    with pytest.raises(DataError, match=rf"{path}: fewshot: fewshot k=6 but only 6 example rows"):
        build_items(few, base, path, None)


def test_messages_name_the_file_and_the_index(tmp_path: Path) -> None:
    path = _task(tmp_path)
    spec, base = load_task(path)
    gone = spec.model_copy(update={"dataset": spec.dataset.model_copy(update={"path": "no.jsonl"})})
    with pytest.raises(DataError, match=rf"^{path}: dataset: data file not found: .*no\.jsonl"):
        build_items(gone, base, path, None)
    bad = path.read_text().replace("[exact_match]", "[exact_match, bleu4]")
    path.write_text(bad)
    with pytest.raises(ConfigError, match=r"echo\.yaml: metrics\.1: unknown metric 'bleu4'"):
        load_task(path)
    with pytest.raises(ModelError, match=r"model folder \./no/such/model does not exist"):
        HFModel("./no/such/model")
    assert isinstance(spec, TaskSpec)


def test_run_help_lists_every_model_kind() -> None:
    help_text = run_cli("run", "--help").stdout
    for kind in ("embedded", "hf:<path-or-id>", "openai:<model>", "scripted", "--model-args"):
        assert kind in help_text
