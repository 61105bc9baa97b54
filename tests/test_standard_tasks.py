"""The standard benchmarks (ARC, HellaSwag, MMLU) as lm-evaluation-harness 0.4.13 defines them,
task groups and ``--num-fewshot``; a handful of items on the embedded model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalharness.api import evaluate
from evalharness.catalog import resolve_tasks
from evalharness.config import load_task
from evalharness.errors import ConfigError
from evalharness.items import build_items
from evalharness.runner.plan import load_specs
from evalharness.shots import with_num_fewshot
from evalharness.store import open_store
from tests.support.helpers import data_lines

LETTERS = "ABCD"


def _lm_eval_mmlu_text(row: dict) -> str:
    """lm-eval 0.4.13 tasks/mmlu/default/_default_template_yaml ``doc_to_text``."""
    c = row["choices"]
    return f"{row['question'].strip()}\nA. {c[0]}\nB. {c[1]}\nC. {c[2]}\nD. {c[3]}\nAnswer:"


def _items(name: str, limit: int, k: int | None = None) -> list:
    ((spec, base, path),) = with_num_fewshot(load_specs([name]), k)
    return build_items(spec, base, path, limit)


def test_mmlu_group_is_57_subjects_in_lm_evals_four_categories() -> None:
    names = [p.stem for p in resolve_tasks(["mmlu"])]
    assert len(names) == len(set(names)) == 57
    sizes = {
        c: len(resolve_tasks([f"mmlu_{c}"]))
        for c in ("stem", "other", "social_sciences", "humanities")
    }
    assert sizes == {"stem": 19, "other": 13, "social_sciences": 12, "humanities": 13}
    assert "mmlu_professional_law" in [p.stem for p in resolve_tasks(["mmlu_humanities"])]
    assert "mmlu_anatomy" not in [p.stem for p in resolve_tasks(["all"])]  # subfolder: by name only


def test_mmlu_zero_and_five_shot_prompts_are_lm_evals() -> None:
    test = [json.loads(line) for line in data_lines("mmlu", "test/anatomy.jsonl")]
    dev = [json.loads(line) for line in data_lines("mmlu", "dev/anatomy.jsonl")]
    header = "The following are multiple choice questions (with answers) about anatomy.\n\n"
    (zero,) = _items("mmlu_anatomy", 1)
    assert zero.prompt == header + _lm_eval_mmlu_text(test[0])
    assert zero.choices == ("A", "B", "C", "D") and zero.gold == test[0]["answer"]
    five = _items("mmlu_anatomy", 2, k=5)
    shots = "".join(f"{_lm_eval_mmlu_text(d)} {LETTERS[d['answer']]}\n\n" for d in dev)
    assert [item.prompt for item in five] == [
        header + shots + _lm_eval_mmlu_text(r) for r in test[:2]
    ]


def test_arc_and_hellaswag_items_follow_lm_eval() -> None:
    (arc,) = _items("arc_challenge", 1)
    row = json.loads(data_lines("arc", "ARC-Challenge-Test.jsonl")[0])
    assert arc.prompt == f"Question: {row['question']['stem']}\nAnswer:"
    assert arc.choices == tuple(c["text"] for c in row["question"]["choices"])
    assert arc.choices[arc.gold] == next(
        c["text"] for c in row["question"]["choices"] if c["label"] == row["answerKey"]
    )
    (hs,) = _items("hellaswag", 1)
    assert hs.prompt == "Roof shingle removal: A man is sitting on a roof. he"
    assert hs.choices[hs.gold] == "starts pulling up roofing on a roof."


def test_num_fewshot_refused_for_a_task_without_shots() -> None:
    with pytest.raises(
        ConfigError, match=r"arc_easy.yaml: --num-fewshot 5: task 'arc_easy' has no fewshot"
    ):
        with_num_fewshot(load_specs(["arc_easy"]), 5)


def _subject_copy(folder: Path, subject: str, limit: int) -> str:
    """A bundled MMLU subject task with its own row cap, in a user task folder."""
    spec, base = load_task(resolve_tasks([f"mmlu_{subject}"])[0])
    text = resolve_tasks([f"mmlu_{subject}"])[0].read_text(encoding="utf-8")
    data = str((base / spec.dataset.path).resolve())
    shots = str((base / spec.fewshot.path).resolve())
    text = text.replace(f"../../data/mmlu/test/{subject}.jsonl", data)
    text = text.replace(f"../../data/mmlu/dev/{subject}.jsonl", shots)
    name = f"mini_{subject}"
    text = text.replace(f"name: mmlu_{subject}", f"name: {name}") + f"limit: {limit}\n"
    (folder / f"{name}.yaml").write_text(text, encoding="utf-8")
    return name


def test_group_scores_pool_member_samples(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sizes 3 and 5 (8 questions, 5-shot): the group's acc is the mean over all 8 samples,
    not the mean of the two subjects' accs, and the nested group reports the same."""
    (tmp_path / "groups").mkdir()
    a = _subject_copy(tmp_path, "anatomy", 3)
    b = _subject_copy(tmp_path, "abstract_algebra", 5)
    (tmp_path / "groups" / "mini.yaml").write_text(
        f"group: mini\naggregate: size_weighted\ntasks: [{a}, {b}]\n", encoding="utf-8"
    )
    (tmp_path / "groups" / "outer.yaml").write_text(
        "group: outer\ntasks: [mini]\n", encoding="utf-8"
    )
    monkeypatch.setenv("EVALHARNESS_TASK_PATH", str(tmp_path))
    out = evaluate("embedded", ["outer"], db=db_url, cache=False, num_fewshot=5)
    results = out["results"]
    assert [results[t]["acc"]["n"] for t in (a, b, "mini", "outer")] == [3, 5, 8, 8]
    samples = open_store(db_url).samples(out["run_id"])
    assert len(samples) == 8 and all(s.prompt.count("\nAnswer:") == 6 for s in samples)
    pooled = sum(s.scores["acc"] for s in samples) / 8
    assert results["mini"]["acc"]["value"] == pytest.approx(pooled)
    assert results["outer"]["acc"]["value"] == pytest.approx(pooled)
    lo, hi = results["mini"]["acc"]["ci_low"], results["mini"]["acc"]["ci_high"]
    assert lo <= pooled <= hi
    stored = {(r.task, r.metric) for r in open_store(db_url).aggregates(out["run_id"])}
    assert {("mini", "acc"), ("outer", "acc")} <= stored


def test_arc_easy_and_hellaswag_run_on_the_embedded_model(db_url: str) -> None:
    out = evaluate("embedded", ["arc_easy", "hellaswag"], limit=6, db=db_url, cache=False)
    for task in ("arc_easy", "hellaswag"):
        for metric in ("acc", "acc_norm"):
            agg = out["results"][task][metric]
            assert agg["n"] == 6 and agg["n_failed"] == 0 and 0.0 <= agg["value"] <= 1.0


def test_a_group_naming_an_unknown_member_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "groups").mkdir()
    (tmp_path / "groups" / "bad.yaml").write_text(
        "group: bad\ntasks: [mmlu_anatomy, mmlu_anatomyy]\n", encoding="utf-8"
    )
    monkeypatch.setenv("EVALHARNESS_TASK_PATH", str(tmp_path))
    with pytest.raises(
        ConfigError, match=r"bad.yaml: tasks: unknown task or group 'mmlu_anatomyy'"
    ):
        resolve_tasks(["bad"])
