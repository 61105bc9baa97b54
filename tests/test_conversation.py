"""Multi-turn chat tasks: each follow-up is asked after the model's own previous answer."""

from __future__ import annotations

import json
from pathlib import Path

from evalharness import evaluate
from evalharness.models.scripted import ScriptedModel
from evalharness.requests import Generation
from evalharness.store import open_store

TASK = """\
name: chat2
dataset:
  path: rows.jsonl
output_type: generate
format: chat
system_prompt: "Be brief."
prompt: "{{ turns[0] }}"
followups: "turns[1:]"
references: "answer"
metrics: [exact_match]
"""


class Recorder(ScriptedModel):
    """Answers 'n<k>' where k counts the user turns it was shown; keeps every history it saw."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[list[dict]] = []

    def generate(self, requests):
        out = []
        for r in requests:
            self.seen.append(list(r.prompt))
            users = sum(m["role"] == "user" for m in r.prompt)
            out.append(Generation(texts=(f"n{users}",), completion_tokens=1, latency_s=0.5))
        return out


def test_followups_see_the_models_own_answers(tmp_path: Path, db_url: str) -> None:
    rows = [
        {"turns": ["q1", "q2"], "answer": "n2"},
        {"turns": ["q1"], "answer": "n1"},
        {"turns": ["q1", "q2", "q3"], "answer": "n3"},
    ]
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    task = tmp_path / "chat2.yaml"
    task.write_text(TASK)
    model = Recorder()
    out = evaluate(model, [str(task)], db=db_url, cache=False)
    assert out["results"]["chat2"]["exact_match"]["value"] == 1.0
    assert model.calls == [] and len(model.seen) == 6  # rounds of 3, 2 and 1 conversations
    third = max(model.seen, key=len)
    roles = ["system", "user", "assistant", "user", "assistant", "user"]
    assert [m["role"] for m in third] == roles
    assert [m["content"] for m in third if m["role"] == "assistant"] == ["n1", "n2"]
    stored = open_store(db_url).samples(out["run_id"], "chat2")
    assert stored[2].result["meta"]["turns"] == ["n1", "n2", "n3"]
    assert stored[2].latency_s == 1.5 and stored[2].completion_tokens == 3


def test_followups_need_chat_format(tmp_path: Path) -> None:
    from evalharness.config import load_task
    from evalharness.errors import ConfigError

    task = tmp_path / "bad.yaml"
    task.write_text(TASK.replace("format: chat", "format: completion"))
    try:
        load_task(task)
    except ConfigError as exc:
        assert "followups need format: chat" in str(exc) and str(task) in str(exc)
    else:
        raise AssertionError("a completion task with followups was accepted")


def test_scripted_default_model_unchanged(tmp_path: Path, db_url: str) -> None:
    (tmp_path / "rows.jsonl").write_text(json.dumps({"turns": ["a", "b"], "answer": "x"}) + "\n")
    task = tmp_path / "chat2.yaml"
    task.write_text(TASK)
    model = ScriptedModel(default="x")
    evaluate(model, [str(task)], db=db_url, cache=False)
    assert model.calls == ["generate:1", "generate:1"]


def _bundled(name: str, tmp_path: Path, judge: str = "scripted") -> Path:
    """A copy of a bundled mtbench task whose judge is the model under test (named ``judge``)."""
    repo = Path(__file__).resolve().parent.parent
    text = (repo / "tasks" / f"{name}.yaml").read_text(encoding="utf-8")
    data = repo / "tasks" / "data" / "mtbench" / "questions.jsonl"
    text = text.replace("path: data/mtbench/questions.jsonl", f"path: {data}")
    task = tmp_path / f"{name}.yaml"
    task.write_text(text.replace("model: embedded", f"model: {judge}"))
    return task


def test_mtbench_judge_sees_the_whole_conversation(tmp_path: Path, db_url: str) -> None:
    """The bundled task: two turns, then its judge grades the second answer in context."""
    task = _bundled("mtbench", tmp_path)
    model = Recorder()
    out = evaluate(model, [str(task)], limit=2, db=db_url, cache=False)["results"]["mtbench"]
    judged = [m[-1]["content"] for m in model.seen if "Assistant, turn 1: n1" in m[-1]["content"]]
    assert len(judged) >= 2 and all("User, turn 2: " in prompt for prompt in judged)
    assert out["judge:mtbench_single.rating"]["n_unparsed"] == 2  # "n1" is not a judgment


def test_mtbench_first_turns_come_from_the_cache_of_the_two_turn_task(
    tmp_path: Path, db_url: str
) -> None:
    """mtbench_turn1 asks exactly mtbench's first requests: answered once, graded on their own."""
    model = Recorder()
    model.name = model.fingerprint = f"recorder-{tmp_path.name}"  # a cache of its own
    tasks = [str(_bundled(name, tmp_path, model.name)) for name in ("mtbench", "mtbench_turn1")]
    out = evaluate(model, tasks, limit=2, db=db_url)["results"]
    questions = [m for m in model.seen if m[-1]["content"].startswith("Compose an engaging")]
    assert len(questions) == 1  # the first turn of question 81, generated once for both tasks
    answer = "[The Start of Assistant's Answer]\nn1\n"  # mtbench_turn1's answers; mtbench's: n2
    judged = [m[-1]["content"] for m in model.seen if answer in m[-1]["content"]]
    assert judged and all("User, turn 2" not in prompt for prompt in judged)
    assert any("Compose an engaging travel blog post" in prompt for prompt in judged)
    assert out["mtbench_turn1"]["judge:mtbench_single.rating"]["n_unparsed"] == 2
