"""Shared by the judge tests: scripted judges (answers keyed by the rendered judge prompt),
valid answers of a rubric, and a stored run of a tiny summarisation task."""

from __future__ import annotations

import json
from pathlib import Path

from evalharness import evaluate
from evalharness.judges.rubric import load_rubric
from evalharness.models.scripted import ScriptedModel
from evalharness.prompts import prompt_text
from evalharness.requests import GenerateRequest, Generation

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


GOOD = """\
name: tiny
description: "Rate it."
criteria:
  - name: quality
    description: "How good."
    scale: {min: 1, max: 3}
    levels: {1: bad, 2: ok, 3: good}
"""


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
