"""Reading lm-eval task files: include:, !function, unsupported keys, names, data; no model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalharness.catalog import resolve_tasks
from evalharness.errors import ConfigError
from evalharness.filters import FilterStep, apply_steps
from evalharness.items import build_items
from evalharness.lmeval import index
from evalharness.lmeval.convert import is_lm_eval_task
from evalharness.metrics.lm_match import MatchOptions, normalise
from evalharness.runner.plan import load_specs
from evalharness.shots import with_num_fewshot
from tests.support.helpers import REPO, run_cli

PARENT = """\
task: parent_task
dataset_path: baber/piqa
dataset_name: null
output_type: multiple_choice
validation_split: validation
test_split: null
doc_to_text: "Parent: {{goal}}"
doc_to_target: label
doc_to_choice: "{{[sol1, sol2]}}"
target_delimiter: " "
metric_list:
  - metric: acc
"""


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def _items(names: list[str], limit: int, k: int | None = None) -> list:
    ((spec, base, path),) = with_num_fewshot(load_specs(names), k)
    return build_items(spec, base, path, limit)


def test_include_inherits_keys_and_the_child_overrides_them(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    _write(tmp_path / "sub", "parent.yaml", PARENT)
    middle = "include: sub/parent.yaml\ntarget_delimiter: ' => '\n"
    _write(tmp_path, "middle.yaml", middle)
    child = _write(
        tmp_path, "child.yaml", 'include: middle.yaml\ntask: child\ndoc_to_text: "C: {{goal}}"\n'
    )
    assert is_lm_eval_task(child)
    ((spec, _, path),) = load_specs([str(child)])
    assert (spec.name, spec.prompt, spec.target_delimiter) == ("child", "C: {{goal}}", " => ")
    assert spec.metrics == ("acc",) and path == child
    first = build_items(spec, child.parent, child, 2)[0]
    row = json.loads((REPO / "tasks/data/piqa/valid.jsonl").read_text().splitlines()[0])
    assert first.prompt == f"C: {row['goal']}" and first.choices == (row["sol1"], row["sol2"])


def test_an_include_cycle_is_one_line(tmp_path: Path) -> None:
    _write(tmp_path, "a.yaml", "include: b.yaml\ntask: a\n")
    _write(tmp_path, "b.yaml", "include: a.yaml\ntask: b\n")
    with pytest.raises(
        ConfigError, match=r"include: the file includes itself \(a.yaml -> b.yaml -> a.yaml\)"
    ):
        load_specs([str(tmp_path / "a.yaml")])


def test_function_tag_is_refused_naming_file_and_function(tmp_path: Path) -> None:
    _write(tmp_path, "parent.yaml", PARENT + "process_docs: !function utils.process_docs\n")
    child = _write(tmp_path, "hellaswag.yaml", "include: parent.yaml\ntask: hs\n")
    with pytest.raises(
        ConfigError,
        match=r"^parent.yaml: process_docs: !function utils.process_docs needs Python code from "
        r"the task folder, which evalharness does not run",
    ):
        load_specs([str(child)])


def test_installed_hellaswag_function_is_refused_from_the_cli_with_exit_2(tmp_path: Path) -> None:
    result = run_cli(
        "run",
        "--tasks",
        "lm-eval:hellaswag",
        "--limit",
        "1",
        cwd=tmp_path,
        env={"EVALHARNESS_DB": f"sqlite:///{tmp_path / 's.db'}"},
    )
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "hellaswag.yaml: process_docs: !function utils.process_docs" in lines[0]


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        ("use_prompt: promptsource:x\n", r"use_prompt: lm-eval key not supported"),
        ("repeats: 4\n", r"repeats: only 1 is supported"),
        ("num_fewshot: 3\n", r"fewshot_config.sampler: 'default'"),
        (
            "fewshot_config:\n  sampler: first_n\n  split: x\n",
            r"fewshot_config.split: not supported",
        ),
        ("output_type: loglikelihood\n", r"output_type: 'loglikelihood' is not supported"),
        ("description: '{{goal}}'\n", r"description: only plain text"),
        ("doc_to_choice: '{% for s in [sol1] %}{{s}}{% endfor %}'\n", r"doc_to_choice: {% %}"),
    ],
)
def test_an_unsupported_key_is_one_line_naming_it(tmp_path: Path, extra: str, needle: str) -> None:
    path = _write(tmp_path, "t.yaml", PARENT + extra)
    with pytest.raises(ConfigError, match=needle) as caught:
        load_specs([str(path)])
    assert "\n" not in str(caught.value) and str(path) in str(caught.value)


def test_unsupported_metric_and_filter_name_the_entry(tmp_path: Path) -> None:
    path = _write(tmp_path, "m.yaml", PARENT.replace("metric: acc", "metric: acc_mutual_info"))
    with pytest.raises(
        ConfigError, match=r"metric_list.0.metric: 'acc_mutual_info' is not supported"
    ):
        load_specs([str(path)])
    gen = (
        "task: g\ndataset_path: openai/gsm8k\ndataset_name: main\ntest_split: test\n"
        "output_type: generate_until\ndoc_to_text: 'Q: {{question}}'\ndoc_to_target: answer\n"
        "metric_list:\n  - metric: exact_match\n"
        "filter_list:\n  - name: vote\n    filter:\n      - function: majority_vote\n"
    )
    with pytest.raises(
        ConfigError, match=r"filter_list.0.filter.0.function: 'majority_vote' not supported"
    ):
        load_specs([str(_write(tmp_path, "g.yaml", gen))])


def test_unknown_name_suggests_a_close_one() -> None:
    with pytest.raises(
        ConfigError, match=r"^unknown lm-eval task 'arc_eazy' .*did you mean 'arc_easy'"
    ):
        resolve_tasks(["lm-eval:arc_eazy"])


def test_without_lm_eval_installed_the_error_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(index, "tasks_dir", lambda: None)
    with pytest.raises(ConfigError, match=r"pip install --no-deps lm_eval==0.4.13"):
        resolve_tasks(["lm-eval:arc_easy"])


def test_an_unbundled_hub_dataset_offline_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    path = _write(tmp_path, "boolq.yaml", PARENT.replace("baber/piqa", "super_glue"))
    with pytest.raises(
        ConfigError, match=r"test_split: super_glue split 'validation' has no bundled copy"
    ):
        load_specs([str(path)])


def test_mmlu_five_shot_prompts_equal_our_mmlu_task() -> None:
    """cais/mmlu maps to data/mmlu; description, first_n shots from dev, letter choices."""
    ours = _items(["mmlu_astronomy"], 3, k=5)
    theirs = _items(["lm-eval:mmlu_astronomy"], 3, k=5)
    assert [(i.prompt, i.choices, i.gold) for i in theirs] == [
        (i.prompt, i.choices, i.gold) for i in ours
    ]
    assert theirs[0].prompt.startswith("The following are multiple choice questions")


def test_arc_challenge_include_gives_our_arc_challenge_items() -> None:
    ours, theirs = _items(["arc_challenge"], 20), _items(["lm-eval:arc_challenge"], 20)
    assert [(i.prompt, i.choices, i.gold) for i in theirs] == [
        (i.prompt, i.choices, i.gold) for i in ours
    ]


def test_regex_filter_and_match_options_follow_lm_eval() -> None:
    strict = FilterStep(function="regex", regex_pattern=r"The answer is (\-?[0-9\.\,]+).")
    flexible = FilterStep(
        function="regex", regex_pattern=r"(-?[$0-9.,]{2,})|(-?[0-9]+)", group_select=-1
    )
    text = "5 + 4 = 9. The answer is 1,009.\n"
    assert apply_steps([strict], text) == "1,009"
    assert apply_steps([flexible], text) == "1,009."
    assert apply_steps([strict], "no number") == "[invalid]"
    options = MatchOptions(regexes_to_ignore=(",", r"\$", "(?s).*#### ", r"\.$"), ignore_case=True)
    assert normalise("1,009.", options) == normalise("x\n#### 1009", options) == "1009"


def test_list_tasks_is_unchanged_by_lm_eval(tmp_path: Path) -> None:
    result = run_cli("list", "tasks", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    names = [line.split()[0] for line in result.stdout.splitlines() if line.strip()]
    assert "arc_easy" in names and "gsm8k_cot" not in names and not any(":" in n for n in names)
