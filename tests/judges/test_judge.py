"""The judge (judges/judge.py): re-asks of invalid answers, self-consistency."""

from __future__ import annotations

import pytest

from evalharness.judges.judge import Judge, Subject, combine_values
from evalharness.judges.render import reask_prompt, render_prompt
from evalharness.models.scripted import ScriptedModel
from evalharness.prompts import prompt_text
from evalharness.requests import GenerateRequest, Generation
from tests.judges.helpers import PAIRWISE, SUMMEVAL, Recording, _uniform


class Sampled(ScriptedModel):
    """Returns a different scripted text for each of the n samples of a request."""

    def __init__(self, texts: list[str], name: str = "sampled") -> None:
        super().__init__(name=name)
        self.texts = texts
        self.seen: list[GenerateRequest] = []

    def generate(self, requests: list[GenerateRequest]) -> list[Generation]:
        self.seen += requests
        return [Generation(texts=tuple(self.texts[: r.sampling.n])) for r in requests]


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
