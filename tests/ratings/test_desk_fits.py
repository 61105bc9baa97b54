"""The desk rates what a rubric is for: ``fits:`` against a task's ``generates:``; chat prompts
as turns; two runs' answers side by side, blind, in a stored random order; bad values of
either field are one line naming the file and the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalharness import evaluate
from evalharness.config import load_task
from evalharness.errors import ConfigError
from evalharness.judges.rubric import load_rubric
from evalharness.ratings.desk import prompt_turns, queue, sources, submit
from evalharness.ratings.pairs import _a_first, winner
from evalharness.ratings.records import items, ratings
from evalharness.store import open_store

STORE_KINDS = ("sqlite", "postgresql")  # db_url tests run on both (tests/conftest.py)
ROWS = 6
TASK = """\
name: {name}
dataset:
  path: rows.jsonl
output_type: generate
{generates}format: chat
system_prompt: "Be brief."
prompt: "Say {{{{ word }}}}"
references: "[word]"
metrics: [exact_match]
"""


def _task(folder: Path, name: str, generates: str | None) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "rows.jsonl").write_text("".join(json.dumps({"word": f"w{i}"}) + "\n"
                                               for i in range(ROWS)))  # fmt: skip
    path = folder / f"{name}.yaml"
    line = f"generates: {generates}\n" if generates else ""
    path.write_text(TASK.format(name=name, generates=line))
    return path


def _run(db_url: str, path: Path, answer: str) -> str:
    return evaluate("scripted", [str(path)], db=db_url, model_args={"default": answer},
                    cache=False)["run_id"]  # fmt: skip


def test_rubrics_are_offered_only_the_tasks_they_fit(tmp_path: Path, db_url: str) -> None:
    _run(db_url, _task(tmp_path / "s", "summaries", "summary"), "a summary")
    _run(db_url, _task(tmp_path / "t", "translations", "translation"), "eine Übersetzung")
    _run(db_url, _task(tmp_path / "u", "undeclared", None), "whatever")
    store = open_store(db_url)

    def offered(rubric: str) -> set[str]:
        return {s.name for s in sources(store, load_rubric(rubric)) if s.kind == "task"}

    assert offered("summeval") == {"summaries"}
    assert offered("mqm_translation") == {"translations"}
    assert offered("groundedness") == set()
    custom = tmp_path / "anything.yaml"  # a rubric without fits: rates any task's outputs
    custom.write_text("name: anything\ndescription: Rate it.\ncriteria:\n  - name: q\n"
                      "    description: Good?\n    scale: {min: 1, max: 2}\n"
                      "    levels: {1: bad, 2: good}\n")  # fmt: skip
    assert {s.name for s in sources(store, load_rubric(custom))} == {
        "summaries", "translations", "undeclared"}  # fmt: skip


def test_bad_fits_and_generates_name_the_file_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\ndescription: Rate it.\nfits: [summry]\ncriteria:\n  - name: q\n"
                   "    description: Good?\n    scale: {min: 1, max: 2}\n"
                   "    levels: {1: bad, 2: good}\n")  # fmt: skip
    with pytest.raises(ConfigError, match=r"bad\.yaml: fits\.0: .*'summary'"):
        load_rubric(bad)
    task = _task(tmp_path / "x", "x", "poem")
    with pytest.raises(ConfigError, match=r"x\.yaml: generates: .*'summary'"):
        load_task(task)


def test_chat_prompts_are_shown_as_turns(tmp_path: Path, db_url: str) -> None:
    _run(db_url, _task(tmp_path / "s", "summaries", "summary"), "a summary")
    store = open_store(db_url)
    (item, *_) = queue(
        store, "ann", load_rubric("summeval"), sources(store, load_rubric("summeval"))[0]
    )
    assert prompt_turns(item.source) == [
        ("system", "Be brief."),
        ("user", f"Say {item.source.split('Say ')[1]}"),
    ]
    assert prompt_turns("Say w1") is None


def test_two_runs_side_by_side_blind_and_mapped_back(tmp_path: Path, db_url: str) -> None:
    path = _task(tmp_path / "c", "chats", "chat")
    run_x, run_y = _run(db_url, path, "answer of x"), _run(db_url, path, "answer of y")
    store = open_store(db_url)
    rubric = load_rubric("pairwise_preference")
    (pair,) = [s for s in sources(store, rubric) if s.kind == "pair"]
    assert pair.label == "two answers side by side: chats #1"  # no run, no model
    assert run_x not in pair.label and run_y not in pair.label
    todo = queue(store, "ann", rubric, pair)
    assert len(todo) == ROWS
    for item in todo:
        first = sorted((run_x, run_y))[0 if _a_first(item.item_id) else 1]
        assert item.shown[0] == first and set(item.shown) == {run_x, run_y}
        assert item.response == f"answer of {'x' if first == run_x else 'y'}"
        assert {item.response, item.response_b} == {"answer of x", "answer of y"}
    for item in todo[:3]:
        submit(store, "ann", item, rubric, {"preference": "A"})
    saved = ratings(store, dataset="pairwise:chats", annotators=["ann"])
    assert len(saved) == 3 and set(saved["label"]) == {"A"}
    rated = items(store, "pairwise:chats").set_index("id")
    for item in todo[:3]:
        extra = rated.loc[item.item_id, "extra"]
        assert winner(extra, "A") == item.shown[0] and winner(extra, "tie") == "tie"
    assert len(queue(store, "ann", rubric, pair)) == ROWS - 3
    pointwise = {s.name for s in sources(store, load_rubric("mtbench_single"))}
    assert "pairwise:chats" not in pointwise  # rated pairs are not offered as a dataset
