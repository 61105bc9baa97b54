"""User errors: one clear line naming the file, field or row, exit code 2, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from evalharness.store import open_store
from tests.support.helpers import run_cli

PIQA = """\
name: tiny
dataset:
  path: {data}
output_type: multiple_choice
prompt: "Question: {{{{ goal }}}}\\nAnswer:"
choices: "[sol1, sol2]"
gold: "label"
metrics: [{metric}]
"""


def _write(
    tmp_path: Path,
    text: str,
    rows: str | None = '{"goal": "g", "sol1": "a", "sol2": "b", "label": 0}\n',
) -> Path:
    if rows is not None:
        (tmp_path / "rows.jsonl").write_text(rows)
    path = tmp_path / "tiny.yaml"
    path.write_text(text)
    return path


def _fails_with(result, *needles: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_malformed_yaml_names_file_and_line(tmp_path: Path, db_url: str) -> None:
    path = _write(tmp_path, "name: tiny\ndataset: [unclosed\n")
    result = run_cli(
        "run", "--model", "scripted", "--tasks", str(path), "--db", db_url, "--no-report"
    )
    _fails_with(result, str(path), "line", "malformed YAML")


def test_unknown_metric_names_file_and_field(tmp_path: Path, db_url: str) -> None:
    path = _write(tmp_path, PIQA.format(data="rows.jsonl", metric="acc_nrom"))
    result = run_cli(
        "run", "--model", "scripted", "--tasks", str(path), "--db", db_url, "--no-report"
    )
    _fails_with(result, str(path), "metrics", "acc_nrom")


def test_missing_dataset_field_names_row_and_field(tmp_path: Path, db_url: str) -> None:
    rows = (
        '{"goal": "g", "sol1": "a", "sol2": "b", "label": 0}\n'
        '{"goal": "g", "sol1": "a", "label": 1}\n'
    )
    path = _write(tmp_path, PIQA.format(data="rows.jsonl", metric="acc"), rows=rows)
    result = run_cli(
        "run", "--model", "scripted", "--tasks", str(path), "--db", db_url, "--no-report"
    )
    _fails_with(result, str(path), "choices", "row 2", "sol2")


def test_missing_data_file_is_named(tmp_path: Path, db_url: str) -> None:
    path = _write(tmp_path, PIQA.format(data="nowhere.jsonl", metric="acc"), rows=None)
    result = run_cli(
        "run", "--model", "scripted", "--tasks", str(path), "--db", db_url, "--no-report"
    )
    _fails_with(result, "nowhere.jsonl", "not found")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("--tasks", "no_such_task"), "unknown task 'no_such_task'"),
        (("--model", "gpt:nothing", "--tasks", "piqa"), "unknown model spec"),
        (("--tasks", "mtbench", "--judge-model", "gpt4"), "unknown model spec 'gpt4'"),
        (
            (
                "--tasks",
                "gsm8k",
                "--sampling",
                "best_of_n=2,selector=judge:summeval,selector_model=x",
            ),
            "selector_model: unknown model spec 'x'",
        ),
    ],
)
def test_unknown_names(args: tuple[str, ...], needle: str, db_url: str) -> None:
    model = () if "--model" in args else ("--model", "scripted")
    result = run_cli("run", *model, *args, "--db", db_url, "--no-report")
    _fails_with(result, needle)
    assert open_store(db_url).runs() == []  # refused before a run starts


def test_wrong_metric_for_output_type(tmp_path: Path, db_url: str) -> None:
    path = _write(tmp_path, PIQA.format(data="rows.jsonl", metric="bleu"))
    result = run_cli(
        "run", "--model", "scripted", "--tasks", str(path), "--db", db_url, "--no-report"
    )
    _fails_with(result, str(path), "bleu", "generate")


def test_report_of_unknown_run(db_url: str) -> None:
    _fails_with(run_cli("report", "nope", "--db", db_url), "no run 'nope'")


def test_unknown_judge_model_in_a_task_names_file_and_field(tmp_path: Path, db_url: str) -> None:
    """Found before any model loads, not after the generations."""
    text = (
        "name: tiny\ndataset:\n  path: rows.jsonl\noutput_type: generate\n"
        'prompt: "{{ goal }}"\nreferences: "[sol1]"\nmetrics: [exact_match]\n'
        "judges:\n  - rubric: summeval\n    model: gpt-4o\n"
    )
    path = _write(tmp_path, text)
    result = run_cli(
        "run", "--model", "scripted", "--tasks", str(path), "--db", db_url, "--no-report"
    )
    _fails_with(result, str(path), "judges.0.model", "unknown model spec 'gpt-4o'")
    assert open_store(db_url).runs() == []  # refused before a run starts
