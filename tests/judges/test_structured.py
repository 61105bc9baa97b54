"""Structured judge output: the verdict schema of each rubric, the cache key, and the embedded
model's grammar-constrained verdicts (real xgrammar, real forward passes) on every rubric."""

from __future__ import annotations

import json

import pytest

from evalharness.cache import request_key
from evalharness.errors import ConfigError
from evalharness.judges.judge import Judge
from evalharness.judges.parse import validate_judgment
from evalharness.judges.render import Subject
from evalharness.judges.rubric import load_rubric, rubric_files
from evalharness.judges.schema import verdict_schema
from evalharness.requests import GenerateRequest, Sampling

SPIDER = Subject(
    "How many legs does a spider have?",
    "A spider has eight legs.",
    "Eight.",
    "Spiders have six legs.",
)


def test_verdict_schema_follows_the_rubric() -> None:
    summeval = verdict_schema(load_rubric("summeval"))
    assert summeval["required"] == ["coherence", "consistency", "fluency", "relevance"]
    coherence = summeval["properties"]["coherence"]
    assert list(coherence["properties"]) == ["rationale", "score"]  # reasoning first
    assert coherence["properties"]["score"] == {"type": "integer", "enum": [1, 2, 3, 4, 5]}
    assert coherence["additionalProperties"] is False
    pair = verdict_schema(load_rubric("pairwise_preference"))["properties"]["preference"]
    assert pair["properties"]["label"]["enum"] == ["A", "B", "tie"]
    mqm = verdict_schema(load_rubric("mqm_translation"))["properties"]["mqm"]["properties"]
    assert mqm["errors"]["maxItems"] == 5
    assert mqm["errors"]["items"]["properties"]["severity"]["enum"] == ["minor", "major"]


def test_json_schema_is_kept_as_text_and_keys_old_requests_as_before() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    constrained = Sampling(json_schema=schema)
    assert constrained.json_schema == '{"type":"object","properties":{"a":{"type":"integer"}}}'
    assert constrained.schema == schema and hash(constrained) == hash(Sampling(json_schema=schema))
    with pytest.raises(ValueError, match="json_schema is not valid JSON"):
        Sampling(json_schema="{not json")
    with pytest.raises(ValueError, match="must be a JSON object"):
        Sampling(json_schema="[1]")
    plain = GenerateRequest("Hi", Sampling(max_tokens=8))
    # The key an unconstrained request had before json_schema existed (sampling without it).
    old_fields = {"max_tokens": 8, "n": 1, "seed": None, "stop": [], "temperature": 0.0}
    old_payload = {
        "kind": "generate",
        "model": "m",
        "request": {"prompt": "Hi", "sampling": old_fields | {"top_k": None, "top_p": None}},
    }
    import hashlib

    text = json.dumps(old_payload, sort_keys=True, ensure_ascii=False, default=list)
    assert request_key("m", "generate", plain) == hashlib.sha256(text.encode()).hexdigest()
    assert request_key("m", "generate", GenerateRequest("Hi", constrained)) != request_key(
        "m", "generate", GenerateRequest("Hi")
    )


@pytest.fixture(scope="module")
def embedded():
    pytest.importorskip("xgrammar")
    from evalharness.models import load_model

    return load_model("embedded", batch_size=8)


@pytest.mark.parametrize("name", sorted(rubric_files()))
def test_constrained_verdicts_parse_on_every_bundled_rubric(embedded, name: str) -> None:
    rubric = load_rubric(name)
    judge = Judge(embedded, rubric, max_reasks=0)
    if rubric.mode == "pairwise":
        [pair] = judge.judge_pairs([SPIDER])
        verdicts = [pair.ab, pair.ba]
    else:
        verdicts = judge.judge([Subject(SPIDER.source, SPIDER.output, SPIDER.reference)])
    for verdict in verdicts:
        assert verdict.parsed, verdict.errors
        assert verdict.attempts == (1,)  # no re-ask was needed
        # The raw text is exactly one JSON object matching the schema, nothing around it.
        validate_judgment(json.loads(verdict.raws[0]), rubric)


def test_stored_distribution_equals_separate_loglikelihood_requests(embedded) -> None:
    """mtbench_single rates 1-10: "10" is scored in full, not as the first token "1"."""
    from evalharness.judges.distribution import normalise, summary, value_prefix
    from evalharness.requests import LoglikelihoodRequest

    rubric = load_rubric("mtbench_single")
    judge = Judge(embedded, rubric, max_reasks=0)
    [verdict] = judge.judge([Subject(SPIDER.source, SPIDER.output, SPIDER.reference)])
    assert verdict.parsed and verdict.distributions is not None
    dist = verdict.distributions["rating"]
    assert list(dist) == [str(v) for v in range(1, 11)]
    context = embedded._render(verdict.prompt) + value_prefix(verdict.raws[0], "rating", "score")
    separate = [
        embedded.loglikelihood([LoglikelihoodRequest(context, f"{v}}}")])[0] for v in range(1, 11)
    ]
    assert separate[9].n_tokens > separate[0].n_tokens  # "10}" is more tokens than "1}"
    for value, expected in zip(dist, normalise([r.logprob for r in separate]), strict=True):
        assert abs(dist[value] - expected) < 1e-4, value
    stats = summary(dist)
    assert 1.0 <= stats["expected"] <= 10.0 and dist[str(int(stats["argmax"]))] == max(
        dist.values()
    )


def test_judge_model_options_come_from_task_judges_and_the_run() -> None:
    from evalharness.config import JudgeSpec, RunSpec
    from evalharness.judges.stored import as_model
    from evalharness.runner.plan import task_judges as _judges

    spec = JudgeSpec(rubric="summeval", model="openai:j", model_args={"base_url": "http://h:9/v1"})
    judge = as_model(spec.model, spec.model_args)
    assert judge.name == "openai:j@h:9" and judge.base_url == "http://h:9/v1"
    run = RunSpec(judge_model="openai:k", judge_model_args={"structured_output": "json_object"})

    class Task:
        judges = (spec, JudgeSpec(rubric="summeval"))

    [override] = _judges(Task, run.judge_model, run.judge_model_args)  # type: ignore[arg-type]
    assert override.model == "openai:k"
    assert as_model(override.model, override.model_args).structured.mode == "json_object"
    with pytest.raises(ConfigError, match="structured_output must be one of"):
        as_model("openai:k", {"structured_output": "grammarish"})
