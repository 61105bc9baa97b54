"""Best-of-N by a rubric judge (judges/best_of_n.py), directly and in a run."""

from __future__ import annotations

from pathlib import Path

import pytest

from evalharness import evaluate
from evalharness.errors import ConfigError
from evalharness.judges.best_of_n import select_best_of_n
from evalharness.judges.judge import Subject
from evalharness.judges.render import render_prompt
from evalharness.models.scripted import ScriptedModel
from evalharness.prompts import prompt_text
from evalharness.requests import GenerateRequest, Generation
from evalharness.store import open_store
from tests.judges.helpers import PAIRWISE, SUMMEVAL, Prefers, _stored_run, _uniform

STORE_KINDS = ("sqlite", "postgresql")  # db_url tests run on both (tests/conftest.py)


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
