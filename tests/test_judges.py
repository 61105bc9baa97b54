"""Rubric autoraters: rubrics, strict parsing with re-asks, pairwise swaps, storage, CLI.

Fast tests use scripted judges (answers keyed by the rendered judge prompt); the last test
runs the embedded model as a real judge on a stored summeval_cnndm run.
"""

from __future__ import annotations

import ast
import json
from collections import defaultdict
from pathlib import Path

import pytest

from evalharness import evaluate
from evalharness.config import JudgeSpec, load_task
from evalharness.errors import ConfigError
from evalharness.judges.best_of_n import select_best_of_n
from evalharness.judges.judge import Judge, Subject, combine_values
from evalharness.judges.parse import ParseError, parse_judgment, validate_judgment
from evalharness.judges.records import judgments
from evalharness.judges.render import answer_format, reask_prompt, render_prompt
from evalharness.judges.rubric import load_rubric, rubric_files
from evalharness.judges.run import compare_pairwise, judge_run
from evalharness.judges.stored import subject_of
from evalharness.judges.task import judge_task
from evalharness.models.scripted import ScriptedModel
from evalharness.prompts import prompt_text
from evalharness.requests import GenerateRequest, Generation
from evalharness.store import open_store
from tests.support.helpers import REPO, data_lines, data_text, run_cli

STORE_KINDS = ("sqlite", "postgresql")  # db_url tests run on both (tests/conftest.py)

SUMMEVAL = load_rubric("summeval")
PAIRWISE = load_rubric("pairwise_preference")

TASK = """\
name: summ
dataset:
  path: rows.jsonl
output_type: generate
prompt: "Summarise: {{ source }}"
references: "[summary]"
metrics: [exact_match]
"""


def _answer(rubric, scores: dict[str, object] | None = None, rationale: str = "Because.") -> str:
    """A valid JSON answer: every criterion at ``scores`` or its scale's first level."""
    out = {}
    for c in rubric.criteria:
        value = (scores or {}).get(c.name)
        if c.kind == "errors":
            out[c.name] = {"rationale": rationale, "errors": value or []}
        elif c.kind == "label":
            out[c.name] = {"rationale": rationale, "label": value or c.scale.labels[0]}
        else:
            out[c.name] = {"rationale": rationale, "score": value or c.scale.min}
    return json.dumps(out)


def _uniform(score: int) -> str:
    return _answer(SUMMEVAL, {c.name: score for c in SUMMEVAL.criteria})


class Recording(ScriptedModel):
    """A scripted model that keeps the prompt texts of every generate call."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.prompts: list[list[str]] = []
        self.requests: list[list[GenerateRequest]] = []

    def generate(self, requests: list[GenerateRequest]) -> list[Generation]:
        self.prompts.append([prompt_text(r.prompt) for r in requests])
        self.requests.append(list(requests))
        return super().generate(requests)


class Sampled(ScriptedModel):
    """Returns a different scripted text for each of the n samples of a request."""

    def __init__(self, texts: list[str], name: str = "sampled") -> None:
        super().__init__(name=name)
        self.texts = texts
        self.seen: list[GenerateRequest] = []

    def generate(self, requests: list[GenerateRequest]) -> list[Generation]:
        self.seen += requests
        return [Generation(texts=tuple(self.texts[: r.sampling.n])) for r in requests]


def _stored_run(tmp_path: Path, db_url: str, outputs: list[str], name: str = "gen") -> str:
    """Store a run of the tiny summarisation task whose model answers ``outputs``."""
    rows = "".join(
        json.dumps({"source": f"Article {i} about topic {i}.", "summary": f"topic {i}"}) + "\n"
        for i in range(len(outputs))
    )
    (tmp_path / "rows.jsonl").write_text(rows)
    (tmp_path / "summ.yaml").write_text(TASK)
    answers = {f"Summarise: Article {i} about topic {i}.": out for i, out in enumerate(outputs)}
    model = ScriptedModel(answers, name=name)
    return evaluate(model, [str(tmp_path / "summ.yaml")], db=db_url)["run_id"]


def _prompts_of(db_url: str, run_id: str, rubric) -> list[str]:
    samples = open_store(db_url).samples(run_id)
    return [prompt_text(render_prompt(rubric, subject_of(s))) for s in samples]


# -- rubrics -------------------------------------------------------------------------------

GOOD = """\
name: tiny
description: "Rate it."
criteria:
  - name: quality
    description: "How good."
    scale: {min: 1, max: 3}
    levels: {1: bad, 2: ok, 3: good}
"""


@pytest.mark.parametrize(
    ("old", "new", "field", "needle"),
    [
        ("3: good}", "}", "criteria.0", "no description of level '3'"),
        ("scale:", "scal:", "criteria.0.scal", "Extra inputs are not permitted"),
        ("{min: 1, max: 3}", "{min: 3, max: 1}", "criteria.0.scale", "need min < max"),
        (
            "name: tiny\n",
            "name: tiny\nmode: pairwise\n",
            "(top level)",
            "pairwise rubric needs label",
        ),
        ("name: quality", "name: Quality!", "criteria.0.name", "lower-case"),
        ("levels:", "template: '{% if x %}'\n    levels:", "criteria.0.template", "Extra inputs"),
    ],
)
def test_rubric_errors_name_the_file_and_field(
    tmp_path: Path, old: str, new: str, field: str, needle: str
) -> None:
    path = tmp_path / "tiny.yaml"
    path.write_text(GOOD)
    assert load_rubric(path).criteria[0].levels["3"] == "good"
    path.write_text(GOOD.replace(old, new))
    with pytest.raises(ConfigError) as err:
        load_rubric(path)
    assert f"{path}: {field}: " in str(err.value) and needle in str(err.value)


def test_rubric_template_and_examples_are_validated(tmp_path: Path) -> None:
    path = tmp_path / "tiny.yaml"
    path.write_text(GOOD + "template: '{% if x %}no end'\n")
    with pytest.raises(ConfigError, match=r"tiny.yaml: template: Jinja2 syntax error"):
        load_rubric(path)
    bad_example = "examples:\n  - output: x\n    judgment: {quality: {rationale: r, score: 7}}\n"
    path.write_text(GOOD + bad_example)
    with pytest.raises(ConfigError, match=r"examples.0.judgment: 'quality': \"score\" must be"):
        load_rubric(path)
    with pytest.raises(ConfigError, match="unknown rubric 'nope'"):
        load_rubric("nope")


def test_a_template_override_is_used(tmp_path: Path) -> None:
    path = tmp_path / "tiny.yaml"
    path.write_text(GOOD + "template: 'Grade {{ output }} as {{ answer_format }}'\n")
    prompt = render_prompt(load_rubric(path), Subject(output="the text"))
    assert prompt[1]["content"].startswith("Grade the text as {")
    (tmp_path / "t.j2").write_text("FILE {{ output }}")
    path.write_text(GOOD + "template_file: t.j2\n")
    assert render_prompt(load_rubric(path), Subject(output="x"))[1]["content"] == "FILE x"


def test_task_yaml_judges_are_validated_at_load_time(tmp_path: Path) -> None:
    base = (REPO / "tasks" / "summeval_cnndm.yaml").read_text().split("# Rubric autorater")[0]
    path = tmp_path / "t.yaml"
    for judges, needle in [
        ("[{rubric: sumeval}]", "judges.0.rubric: unknown rubric 'sumeval' (known: data_to_text"),
        ("[{rubric: pairwise_preference}]", "judges.0.rubric: rubric 'pairwise_preference' is pa"),
        ("[{rubric: summeval, n: 0}]", "judges.0.n: Input should be greater than or equal to 1"),
        ("[{rubric: summeval}, {rubric: summeval}]", "judges: entry 1 repeats rubric 'summeval'"),
        ("[{rubric: summeval, model: a}, {rubric: summeval, model: b, combine: majority}]",
         "judges: entry 1: judges of rubric 'summeval' need one 'combine'"),
    ]:  # fmt: skip
        path.write_text(base + "judges: " + judges + "\n")
        with pytest.raises(ConfigError) as err:
            load_task(path)
        assert str(err.value).startswith(f"{path}: {needle}")
    path.write_text(base.replace("output_type: generate", "output_type: perplexity\ntext: x")
                    + "judges: [{rubric: summeval}]\n")  # fmt: skip
    with pytest.raises(ConfigError, match="judges: judges need generated outputs"):
        load_task(path)


@pytest.mark.parametrize("name", sorted(rubric_files()))
def test_every_shipped_rubric_loads_renders_and_parses(name: str) -> None:
    rubric = load_rubric(name)
    subject = Subject("SOURCE TEXT", "OUTPUT TEXT", "REFERENCE TEXT", "OTHER OUTPUT")
    system, user = render_prompt(rubric, subject)
    text = user["content"]
    assert system["role"] == "system" and "OUTPUT TEXT" in text and "SOURCE TEXT" in text
    assert ("REFERENCE TEXT" in text) == rubric.show_reference
    assert ("OTHER OUTPUT" in text) == (rubric.mode == "pairwise")
    assert text.endswith(answer_format(rubric))
    for c in rubric.criteria:
        assert f"{c.name}: {c.description.strip()}" in text
        for description in c.levels.values():
            assert description.strip() in text  # every level is described to the judge
    parsed = parse_judgment("Sure!\n```json\n" + _answer(rubric) + "\n```", rubric)
    assert set(parsed) == {c.name for c in rubric.criteria}


def test_rubric_criteria_line_up_with_the_human_rating_data() -> None:
    row = json.loads(data_lines("summeval", "summeval_judgments.jsonl")[0])
    assert [c.name for c in SUMMEVAL.criteria] == sorted(row["scores"])
    assert all((c.scale.min, c.scale.max) == (1, 5) for c in SUMMEVAL.criteria)
    scales = {c.name: (c.scale.min, c.scale.max) for c in load_rubric("topical_chat").criteria}
    assert scales == {
        "understandability": (0, 1), "naturalness": (1, 3), "coherence": (1, 3),
        "engagingness": (1, 3), "groundedness": (0, 1), "overall": (1, 5),
    }  # fmt: skip
    for name, file in (("data_to_text", "sfres.json"), ("factual_consistency", "qags_cnndm.json")):
        scores = json.loads(data_text("unieval-meta", file))[0]["scores"]
        scores = ast.literal_eval(scores) if isinstance(scores, str) else scores
        assert {c.name for c in load_rubric(name).criteria} == set(scores)


def test_mqm_penalty_reproduces_the_expert_mqm_scores() -> None:
    """The rubric's weights turn the experts' own error annotations into their MQM penalty."""
    errors = defaultdict(list)
    for line in data_lines("wmt-mqm-ted-ende", "mqm_ted_ende.tsv")[1:]:
        system, doc, _, seg, rater, _, _, category, severity, *_ = line.split("\t")
        if category != "No-error":
            span = {"span": "x", "category": category, "severity": severity}
            errors[(system, doc, int(seg), rater)].append(span)
    rubric = load_rubric("mqm_translation")
    n_checked = 0
    for line in data_lines("wmt-mqm-ted-ende", "system_outputs_mqm.jsonl"):
        row = json.loads(line)
        found = errors[(row["system"], row["doc"], row["seg_id"], row["raters"][0])]
        answer = {"mqm": {"rationale": "expert annotation", "errors": found}}
        assert validate_judgment(answer, rubric)["mqm"].score == pytest.approx(row["mqm_penalty"])
        n_checked += 1
    assert n_checked == 7406


# -- parsing and re-asks ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("I think 4.", "no JSON object"),
        ('{"coherence": {"rationale": "x", "score": 4', "malformed"),
        (_uniform(4).replace('"relevance"', '"relevence"'), "'relevance' is missing"),
        (_uniform(6), "must be an integer from 1 to 5, got 6"),
        (_uniform(4).replace(": 4}", ": 3.5}", 1), "got 3.5"),
        (_uniform(4).replace(": 4}", ': "4"}', 1), "got '4'"),
        (_uniform(4).replace('"Because."', '""', 1), "non-empty string"),
    ],
)
def test_strict_parsing_rejects_what_it_cannot_read(text: str, needle: str) -> None:
    with pytest.raises(ParseError, match=needle):
        parse_judgment(text, SUMMEVAL)
    assert parse_judgment(_uniform(4), SUMMEVAL)["fluency"].score == 4.0


def test_invalid_answer_is_reasked_once_with_the_exact_correction() -> None:
    subjects = [Subject("Article one.", "Summary one."), Subject("Article two.", "Summary two.")]
    prompts = [render_prompt(SUMMEVAL, s) for s in subjects]
    invalid = "Coherence: 4, consistency: 5"
    error = "the answer contains no JSON object"
    reask = reask_prompt(prompts[0], invalid, error, SUMMEVAL)
    model = Recording(
        answers={
            prompt_text(prompts[0]): invalid,
            prompt_text(prompts[1]): _uniform(5),
            prompt_text(reask): _uniform(3),
        }
    )
    verdicts = Judge(model, SUMMEVAL).judge(subjects)
    assert model.prompts == [[prompt_text(p) for p in prompts], [prompt_text(reask)]]
    assert reask[-1]["content"].startswith(f"Your answer could not be used: {error}.")
    assert [v.parsed for v in verdicts] == [True, True]
    assert verdicts[0].results["coherence"].score == 3.0 and verdicts[0].attempts == (2,)
    assert verdicts[0].replies == ((invalid, _uniform(3)),)
    assert verdicts[1].results["coherence"].score == 5.0 and verdicts[1].attempts == (1,)
    assert all(r.sampling.temperature == 0.0 for call in model.requests for r in call)


def test_always_invalid_answers_are_stored_unparsed_and_counted(
    tmp_path: Path, db_url: str
) -> None:
    run_id = _stored_run(tmp_path, db_url, ["topic 0", "topic 1", "nope"])
    judge = ScriptedModel(default="The summary is fine, I give it a 4.", name="stubborn")
    out = judge_run(open_store(db_url), run_id, "summeval", judge, max_reasks=2)
    assert judge.calls == ["generate:3", "generate:3", "generate:3"]  # 1 ask + 2 re-asks
    agg = out["summ"]["coherence"]
    assert agg["n"] == 0 and agg["n_unparsed"] == 3
    rows = judgments(open_store(db_url), run_id)
    assert len(rows) == 3 * 4 and not any(r.parsed for r in rows)
    assert all(r.score is None and r.label is None and r.rationale is None for r in rows)
    assert {r.raw_output for r in rows} == {"The summary is fine, I give it a 4."}
    details = rows[0].details
    assert details["attempts"] == [3] and "no JSON object" in details["parse_errors"][0]
    assert details["replies"] == [["The summary is fine, I give it a 4."] * 3]
    assert "[The Start of Summary]\ntopic 0\n" in rows[0].prompt


# -- pairwise ----------------------------------------------------------------------------------


class Prefers(ScriptedModel):
    """A position-consistent pairwise judge: prefers the answer containing ``word``."""

    def __init__(self, word: str) -> None:
        super().__init__(name=f"prefers-{word}")
        self.word = word

    def generate(self, requests: list[GenerateRequest]) -> list[Generation]:
        out = []
        for r in requests:
            text = prompt_text(r.prompt)
            a = text.split("Answer A]\n")[1].split("\n[The End")[0]
            label = "A" if self.word in a else "B"
            out.append(Generation(texts=(_answer(PAIRWISE, {"preference": label}),)))
        return out


def test_pairwise_swaps_orders_and_always_a_means_ties(tmp_path: Path, db_url: str) -> None:
    run_a = _stored_run(tmp_path, db_url, ["plain 0", "plain 1", "plain 2", "plain 3"], "a")
    run_b = _stored_run(tmp_path, db_url, ["good 0", "good 1", "good 2", "plain 3"], "b")
    store = open_store(db_url)
    always_a = Recording(default=_answer(PAIRWISE, {"preference": "A"}), name="always-a")
    out = compare_pairwise(store, run_a, run_b, "pairwise_preference", always_a, "summ")
    assert always_a.prompts[0][0].count("plain 0") == 1 and len(always_a.prompts[0]) == 8
    assert "Answer A]\nplain 0" in always_a.prompts[0][0]  # A/B order ...
    assert "Answer A]\ngood 0" in always_a.prompts[0][1]  # ... and B/A order, one batch
    rates = out["criteria"]["preference"]
    assert rates["consistency"]["value"] == 0.0 and rates["tie"]["value"] == 1.0
    assert rates["win"]["value"] == rates["loss"]["value"] == 0.0 and rates["n"] == 4
    rows = judgments(store, run_a, other_run_id=run_b, pairwise=True)
    assert sorted(r.order for r in rows if r.idx == 0) == ["AB", "BA"]
    assert all(r.label == "A" and r.details["winner"] == "tie" for r in rows)

    out = compare_pairwise(store, run_a, run_b, "pairwise_preference", Prefers("good"), "summ")
    rates = out["criteria"]["preference"]
    # pair 3 has "good" on neither side: the judge says B in both orders -> a tie
    assert rates["consistency"]["value"] == 0.75 and rates["win"]["value"] == 0.75
    assert rates["loss"]["value"] == 0.0 and rates["tie"]["value"] == 0.25
    assert rates["win"]["ci_low"] <= 0.75 <= rates["win"]["ci_high"]


# -- combining ---------------------------------------------------------------------------------


def test_self_consistency_majority_and_mean() -> None:
    subject = Subject("Article.", "Summary.")
    texts = [_uniform(2), _uniform(4), _uniform(4), "garbage"]
    model = Sampled(texts)
    (mean,) = Judge(model, SUMMEVAL, n=4, combine="mean", max_reasks=0).judge([subject])
    assert mean.results["coherence"].score == pytest.approx(10 / 3)  # the unparsed one left out
    assert [s is None for s in mean.samples] == [False, False, False, True]
    assert model.seen[0].sampling.n == 4 and model.seen[0].sampling.temperature > 0
    (major,) = Judge(model, SUMMEVAL, n=4, combine="majority", max_reasks=0).judge([subject])
    assert major.results["coherence"].score == 4.0
    criterion = PAIRWISE.criteria[0]
    assert combine_values(["A", "B", "A"], criterion, "mean") == "A"
    assert combine_values(["A", "B"], criterion, "majority") == "tie"
    assert combine_values([1.0, 5.0], SUMMEVAL.criteria[0], "majority") == 1.0


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


def test_best_of_n_picks_the_judges_favourite() -> None:
    candidates = ["weak answer", "best answer", "fine answer"]
    scores = {"weak answer": 2, "best answer": 5, "fine answer": 4}
    answers = {
        prompt_text(render_prompt(SUMMEVAL, Subject("Q", c))): _uniform(s)
        for c, s in scores.items()
    }
    judge = ScriptedModel(answers)
    assert select_best_of_n(candidates, "summeval", judge, source="Q") == 1
    assert judge.calls == ["generate:3"]
    assert select_best_of_n(candidates, PAIRWISE, Prefers("best"), source="Q") == 1
    assert select_best_of_n(candidates, PAIRWISE, Prefers("fine"), source="Q") == 2


def test_a_run_picks_best_of_n_by_a_rubric_judge(tmp_path: Path, db_url: str) -> None:
    """``selector: judge:<rubric>``: the evaluated model judges its own candidates."""

    class SelfJudging(ScriptedModel):
        def generate(self, requests: list[GenerateRequest]) -> list[Generation]:
            out = []
            for r in requests:
                text = prompt_text(r.prompt)
                if text.startswith("Summarise:"):  # the task: three candidates
                    topic = text.split("about ")[1].rstrip(".")
                    out.append(Generation(texts=("zzq weak", topic, "zzq other")[: r.sampling.n]))
                else:  # the judge: candidates marked zzq are poor
                    out.append(Generation(texts=(_uniform(1 if "zzq" in text else 5),)))
            return out

    _stored_run(tmp_path, db_url, ["unused"] * 3)  # writes rows.jsonl and summ.yaml
    task = str(tmp_path / "summ.yaml")
    best = {"best_of_n": 3, "temperature": 0.8, "selector": "judge:summeval"}
    plain = evaluate(SelfJudging(), [task], db=db_url, cache=False)
    judged = evaluate(SelfJudging(), [task], db=db_url, sampling=best, cache=False)
    assert plain["results"]["summ"]["exact_match"]["value"] == 0.0
    assert judged["results"]["summ"]["exact_match"]["value"] == 1.0
    samples = open_store(db_url).samples(judged["run_id"])
    assert [s.result["selected"] for s in samples] == [1, 1, 1]
    # The run's judge model judges the candidates too: a plain scripted model, whose empty
    # answers never parse, so the first candidate is kept.
    by_other = evaluate(
        SelfJudging(), [task], db=db_url, sampling=best, judge_model="scripted", cache=False
    )
    assert by_other["results"]["summ"]["exact_match"]["value"] == 0.0
    with pytest.raises(ConfigError, match="selector: unknown rubric .no_such_rubric"):
        evaluate(
            SelfJudging(),
            [task],
            db=db_url,
            sampling={"best_of_n": 2, "selector": "judge:no_such_rubric"},
        )


# -- a stored run through the CLI --------------------------------------------------------------


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


# -- the real thing --------------------------------------------------------------------------


def test_embedded_model_judges_a_summeval_run(db_url: str) -> None:
    """SmolLM2-135M as the judge of a 2-sample summeval_cnndm run, end to end."""
    from evalharness.models import load_model

    model = load_model("embedded")
    run_id = evaluate(model, ["summeval_cnndm"], limit=2, db=db_url)["run_id"]
    store = open_store(db_url)
    out = judge_run(
        store, run_id, "summeval", model, source="{{ source }}", max_tokens=128, max_reasks=1
    )
    samples = store.samples(run_id)
    rows = judgments(store, run_id)
    assert len(rows) == 2 * 4 and {r.idx for r in rows} == {0, 1}
    for r in rows:
        sample = samples[r.idx]
        assert f"[The Start of Summary]\n{sample.output}\n[The End of Summary]" in r.prompt
        assert sample.input["source"] in r.prompt and "Summarise the following" not in r.prompt
        assert r.raw_output.strip() and r.judge == model.name and r.mode == "pointwise"
        if r.parsed:
            assert r.score in {1.0, 2.0, 3.0, 4.0, 5.0} and r.rationale
        else:
            assert r.score is None and r.rationale is None and r.details["parse_errors"][0]
    for name, agg in out["summeval_cnndm"].items():
        assert agg["n"] + agg["n_unparsed"] == 2, name
