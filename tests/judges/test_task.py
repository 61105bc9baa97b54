"""A task's judges (judges/task.py): task YAML judges, panels of judges, the runner."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from evalharness import evaluate
from evalharness.config import JudgeSpec, load_task
from evalharness.errors import ConfigError
from evalharness.judges.records import judgments
from evalharness.judges.task import judge_task
from evalharness.models.scripted import ScriptedModel
from evalharness.store import open_store
from tests.judges.helpers import Recording, _stored_run, _uniform
from tests.support.helpers import REPO, run_cli

STORE_KINDS = ("sqlite", "postgresql")  # db_url tests run on both (tests/conftest.py)


def test_task_yaml_judges_are_validated_at_load_time(tmp_path: Path) -> None:
    base = (REPO / "tasks" / "summeval_cnndm.yaml").read_text().split("# Rubric autorater")[0]
    path = tmp_path / "t.yaml"
    for judges, needle in [
        ("[{rubric: sumeval}]", "judges.0.rubric: unknown rubric 'sumeval' (known: context_rel"),
        ("[{rubric: pairwise_preference}]", "judges.0.rubric: rubric 'pairwise_preference' is pa"),
        ("[{rubric: summeval, n: 0}]", "judges.0.n: Input should be greater than or equal to 1"),
        ("[{rubric: summeval}, {rubric: summeval}]", "judges: entry 1 repeats rubric 'summeval'"),
        ("[{rubric: summeval, model: a}, {rubric: summeval, model: b, combine: majority}]",
         "judges: entry 1: judges of rubric 'summeval' need one 'combine'"),
    ]:  # fmt: skip
        path.write_text(base + "judges: " + judges + "\n")
        with pytest.raises(ConfigError, match=re.escape(f"{path}: {needle}")) as err:
            load_task(path)
        assert str(err.value).startswith(f"{path}: {needle}")
    path.write_text(base.replace("output_type: generate", "output_type: perplexity\ntext: x")
                    + "judges: [{rubric: summeval}]\n")  # fmt: skip
    with pytest.raises(ConfigError, match="judges: judges need generated outputs"):
        load_task(path)


def test_several_judges_on_one_rubric_are_combined_and_kept(tmp_path: Path, db_url: str) -> None:
    run_id = _stored_run(tmp_path, db_url, ["topic 0", "topic 1", "topic 2"])
    spec, _ = load_task(tmp_path / "summ.yaml")
    from evalharness.config import JudgeSpec

    judges = [JudgeSpec(rubric="summeval", model=m) for m in ("hf:x", "hf:y", "hf:z")]
    models = {
        "hf:x": ScriptedModel(default=_uniform(5), name="x"),
        "hf:y": ScriptedModel(default=_uniform(4), name="y"),
        "hf:z": ScriptedModel(default="no verdict", name="z"),
    }
    store = open_store(db_url)
    out = judge_task(store, run_id, spec, judges, models=models)
    assert out["judge:summeval.coherence"]["value"] == pytest.approx(4.5)  # z never parsed
    assert out["judge:summeval.coherence[x]"]["value"] == 5.0
    assert out["judge:summeval.coherence[y]"]["value"] == 4.0
    assert out["judge:summeval.coherence[z]"]["n_unparsed"] == 3
    stored = {a.metric: a for a in store.aggregates(run_id)}
    assert stored["judge:summeval.relevance"].value == pytest.approx(4.5)
    assert "exact_match" in stored  # the task's own metrics are kept
    majority = [JudgeSpec(rubric="summeval", model=m, combine="majority") for m in models]
    models["hf:z"] = ScriptedModel(default=_uniform(4), name="w")
    out = judge_task(store, run_id, spec, majority, models=models)
    assert out["judge:summeval.fluency"]["value"] == 4.0  # 5, 4, 4 -> 4


def test_judge_task_runs_summeval_judges(db_url: str) -> None:
    """What the runner calls after a task: its judges on its stored samples."""
    model = ScriptedModel(default="A summary.")
    run_id = evaluate(model, ["summeval_cnndm"], limit=2, db=db_url)["run_id"]
    spec, _ = load_task(REPO / "tasks" / "summeval_cnndm.yaml")
    spec = spec.model_copy(
        update={"judges": (JudgeSpec(rubric="summeval", model="embedded", source="{{ source }}"),)}
    )
    judge = Recording(default=_uniform(4), name="stand-in")
    store = open_store(db_url)
    out = judge_task(store, run_id, spec, models={"embedded": judge})
    assert out["judge:summeval.coherence"]["value"] == 4.0
    assert out["judge:summeval.coherence"]["n"] == 2 and len(judge.prompts) == 1
    article = store.samples(run_id)[0].input["source"]
    assert f"[The Start of Article]\n{article}\n[The End of Article]" in judge.prompts[0][0]
    assert "Summarise the following" not in judge.prompts[0][0]  # source: "{{ source }}"
    assert {a.metric for a in store.aggregates(run_id)} >= {
        "rouge1", "judge:summeval.coherence", "judge:summeval.relevance"
    }  # fmt: skip
    judge_task(store, run_id, spec, models={"embedded": judge})
    assert len(judge.prompts) == 1  # resumed: nothing judged twice


def test_runner_runs_a_tasks_judges_and_reports_them_beside_metrics(
    db_url: str, tmp_path: Path
) -> None:
    """A task YAML listing a judge: judged criteria come back with the task's metrics."""
    text = (REPO / "tasks" / "summeval_cnndm.yaml").read_text()
    data = REPO / "tasks" / "data" / "summeval" / "documents.jsonl"
    text = text.replace("path: data/summeval/documents.jsonl", f"path: {data}")
    text += "judges:\n  - rubric: summeval\n    model: scripted\n    source: '{{ source }}'\n"
    task = tmp_path / "judged.yaml"
    task.write_text(text)
    out = evaluate("scripted", [str(task)], limit=2, db=db_url)["results"]["summeval_cnndm"]
    assert "rouge1" in out
    coherence = out["judge:summeval.coherence"]  # the scripted model answers "": unparsed
    assert coherence["n"] == 0 and coherence["n_unparsed"] == 2


def test_judge_model_override_replaces_every_task_judge(db_url: str, tmp_path: Path) -> None:
    """``--judge-model`` / ``judge_model=``: the task's own judge model is never loaded."""
    text = (REPO / "tasks" / "summeval_cnndm.yaml").read_text()
    data = REPO / "tasks" / "data" / "summeval" / "documents.jsonl"
    text = text.replace("path: data/summeval/documents.jsonl", f"path: {data}")
    text += "judges:\n  - rubric: summeval\n    model: hf:/no/such/judge\n"
    task = tmp_path / "judged.yaml"
    task.write_text(text)
    judge = Recording(default=_uniform(4), name="scripted")
    out = evaluate(judge, [str(task)], limit=2, db=db_url, judge_model="scripted", cache=False)
    assert out["results"]["summeval_cnndm"]["judge:summeval.coherence"]["n"] == 2
    store = open_store(db_url)
    assert {r.judge for r in judgments(store, out["run_id"])} == {"scripted"}
    assert store.get_run(out["run_id"]).config["judge_model"] == "scripted"  # kept for --resume
    result = run_cli(
        "run", "--model", "scripted", "--tasks", str(task), "--limit", "1", "--db", db_url,
        "--judge-model", "scripted", "--no-report",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "judge:summeval.coherence" in result.stdout
