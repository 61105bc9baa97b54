"""Judges through a real llama.cpp server (llama-cpp-python 0.3.36, the fixture of
tests/models/test_openai.py): the constrained path, base_url given as a judge model option."""

from __future__ import annotations

import json
import logging

import pytest

from evalharness.judges.judge import Judge
from evalharness.judges.parse import parse_judgment
from evalharness.judges.render import Subject
from evalharness.judges.rubric import load_rubric
from evalharness.judges.schema import schema_text, verdict_schema
from evalharness.judges.stored import as_model
from evalharness.modelref import ModelRef
from evalharness.models.openai_api import OpenAIModel
from evalharness.requests import GenerateRequest, Sampling
from tests.models.test_openai import Server, key_env, llama  # noqa: F401  (fixtures)
from tests.support.faulty_proxy import FakeOpenAI, Request, Response, _json

SUBJECTS = [
    Subject("How many legs does a spider have?", "A spider has eight legs."),
    Subject("What is the capital of France?", "The capital of France is Berlin."),
]


def test_judge_model_args_reach_the_server_and_auto_detects_json_object(
    llama: Server,  # noqa: F811
    key_env: str,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    """llama-cpp-python rejects response_format json_schema; auto settles on json_object."""
    ref = ModelRef.parse("openai:smollm2", f"base_url={llama.url},api_key_env={key_env}")
    model = as_model(ref.spec, ref.options)
    assert isinstance(model, OpenAIModel) and model.base_url == llama.url
    rubric = load_rubric("summeval")
    with caplog.at_level(logging.WARNING):
        verdicts = Judge(model, rubric, max_reasks=0).judge(SUBJECTS)
    assert model.structured.mode == "json_object" and not model.structured.fell_back
    assert "falling back" not in caplog.text
    for verdict in verdicts:
        assert verdict.parsed, verdict.errors
        assert verdict.structured == "json_object" and verdict.attempts == (1,)
        assert json.loads(verdict.raws[0]).keys() == {c.name for c in rubric.criteria}


def test_gbnf_grammar_constrains_a_completion_prompt(
    llama: Server,  # noqa: F811
    key_env: str,  # noqa: F811
) -> None:
    rubric = load_rubric("mtbench_single")
    schema = schema_text(verdict_schema(rubric, max_tokens=160))
    model = OpenAIModel(
        "smollm2", base_url=llama.url, api_key_env=key_env, structured_output="json_object"
    )
    prompt = "Rate this answer to 'What is 2+2?': '4'. Verdict as JSON:\n"
    [gen] = model.generate([GenerateRequest(prompt, Sampling(max_tokens=160, json_schema=schema))])
    assert gen.error is None and gen.meta["structured_output"] == "json_object"
    assert 1 <= parse_judgment(gen.texts[0], rubric)["rating"].score <= 10
    [plain] = model.generate([GenerateRequest(prompt, Sampling(max_tokens=160))])
    with pytest.raises(ValueError, match="JSON|key|must"):  # unconstrained, it does not comply
        parse_judgment(plain.texts[0], rubric)


def test_long_reask_stays_inside_the_judge_context(
    llama: Server,  # noqa: F811
    key_env: str,  # noqa: F811
) -> None:
    """Unconstrained, a 2048-token server and a long article whose first ask just fits: a re-ask
    that would not fit is not made, and the verdict says why instead of storing the server's
    context error."""
    article = " ".join(["The council met on Monday and discussed the budget at length."] * 60)
    model = OpenAIModel("smollm2", base_url=llama.url, api_key_env=key_env)
    judge = Judge(model, load_rubric("summeval"), max_reasks=2, constrained=False, max_tokens=300)
    [verdict] = judge.judge([Subject(article, "The council discussed the budget.")])
    assert verdict.parsed or any("would not fit the judge's context" in e for e in verdict.errors)
    assert not any((e or "").startswith("model error") for e in verdict.errors), verdict.errors
    assert all("maximum context" not in (e or "") for e in verdict.errors)


class RejectingAPI(FakeOpenAI):
    """The fake API, refusing any request that carries a structured-output form (HTTP 400)."""

    async def handle(self, request: Request) -> Response:
        if request.method == "POST" and {"response_format", "grammar"} & set(request.json()):
            self.bodies.append(request.json())
            return _json({"error": {"message": "unsupported field response_format"}}, 400)
        return await super().handle(request)


@pytest.mark.parametrize("api", [FakeOpenAI, RejectingAPI])
def test_a_server_that_honours_no_form_falls_back_once_and_says_so(
    api: type[FakeOpenAI], caplog: pytest.LogCaptureFixture
) -> None:
    """Ignored (the fake answers free text) or rejected (HTTP 400): prompting, logged once."""
    rubric = load_rubric("harmlessness")
    with api() as fake, caplog.at_level(logging.WARNING):
        model = OpenAIModel("fake", base_url=fake.url, max_attempts=1)
        judge = Judge(model, rubric, max_reasks=1)
        verdicts = judge.judge(SUBJECTS) + judge.judge(SUBJECTS[:1])
        forms = [body.get("response_format", {}).get("type") for body in fake.bodies]
    assert caplog.text.count("falling back to prompting") == 1
    assert forms[:2] == ["json_schema", "json_object"] and set(forms[2:]) == {None}
    assert all(v.structured and v.structured.startswith("none") for v in verdicts)
    assert all(v.attempts == (2,) and not v.parsed for v in verdicts)  # re-asked, then unparsed
