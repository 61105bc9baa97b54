"""A store filled by real runs for the app tests: scripted models on a tiny RAG task and PIQA.

Three models answer a small retrieval-augmented QA task (BM25 over a six-passage corpus) and
six PIQA items through the real runner; one output is hostile HTML/Markdown, one request
fails, and one run's model name is hostile too. ``with_embedded`` adds a real SmolLM2 run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from evalharness import evaluate
from evalharness.models.scripted import ScriptedModel
from evalharness.prompts import prompt_text
from evalharness.requests import GenerateRequest, Generation

HOSTILE = '<script>alert(1)</script> **bold** <img src=x onerror="window.__xss=1"> [link](http://x)'
HOSTILE_MODEL = "evil <b>model</b> **md** <script>alert(2)</script>"

PASSAGES = [
    ("france", "Paris is the capital and largest city of France."),
    ("italy", "Rome is the capital city of Italy and of the Lazio region."),
    ("spain", "Madrid is the capital of Spain, in the centre of the peninsula."),
    ("japan", "Tokyo is the capital of Japan and its most populous city."),
    ("kenya", "Nairobi is the capital and largest city of Kenya."),
    ("peru", "Lima is the capital of Peru, on the Pacific coast."),
]
QUESTIONS = [
    ("What is the capital of France?", "Paris", "france"),
    ("What is the capital of Italy?", "Rome", "italy"),
    ("What is the capital of Spain?", "Madrid", "spain"),
    ("What is the capital of Japan?", "Tokyo", "japan"),
    ("What is the capital of Kenya?", "Nairobi", "kenya"),
    ("What is the capital of Peru?", "Lima", "peru"),
]
TASK = """\
name: capitals
description: "Capital cities, answered from retrieved passages."
dataset:
  path: rows.jsonl
output_type: generate
generates: grounded_answer
prompt: "{% for p in passages %}{{ p.text }}\\n{% endfor %}Question: {{ question }}\\nAnswer:"
references: "answers"
answer_extractor: strip
rag:
  corpus: passages.jsonl
  retriever: bm25
  k: 2
  query: "{{ question }}"
  gold: "passage_id"
metrics: [exact_match, f1]
"""


class KeywordModel(ScriptedModel):
    """Answers a generate request by the first keyword found in its prompt; may fail some."""

    def __init__(
        self,
        name: str,
        rules: dict[str, str],
        *,
        latency_s: float = 0.1,
        fail_on: str | None = None,
    ) -> None:
        super().__init__(name=name, default="I do not know")
        self.rules, self.latency_s, self.fail_on = rules, latency_s, fail_on

    def generate(self, requests: list[GenerateRequest]) -> list[Generation]:
        self.calls.append(f"generate:{len(requests)}")
        out = []
        for request in requests:
            question = prompt_text(request.prompt).rsplit("Question:", 1)[-1]
            if self.fail_on and self.fail_on in question:
                out.append(Generation(texts=(), error="backend error: connection reset"))
                continue
            text = next((a for key, a in self.rules.items() if key in question), self.default)
            out.append(
                Generation(
                    texts=(text,), completion_tokens=len(text.split()), latency_s=self.latency_s
                )
            )
        return out


def write_task(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rows = [{"question": q, "answers": [a], "passage_id": p} for q, a, p in QUESTIONS]
    (folder / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    corpus = [{"id": pid, "text": text} for pid, text in PASSAGES]
    (folder / "passages.jsonl").write_text("".join(json.dumps(r) + "\n" for r in corpus))
    (folder / "capitals.yaml").write_text(TASK)
    return folder / "capitals.yaml"


# model-a: right on France, Italy, Spain, Japan; model-b: right on France, Spain, Kenya, Peru,
# hostile text on Italy; model-a's second run also gets Kenya right.
RULES_A = {"France": "Paris", "Italy": "Rome", "Spain": "Madrid", "Japan": "Tokyo"}
RULES_B = {"France": "Paris", "Italy": HOSTILE, "Spain": "Madrid", "Kenya": "Nairobi",
           "Peru": "Lima"}  # fmt: skip
RULES_A2 = {**RULES_A, "Kenya": "Nairobi"}


@dataclass
class FilledStore:
    url: str
    task_file: Path
    runs: dict[str, str] = field(default_factory=dict)  # name -> run id
    results: dict[str, dict] = field(default_factory=dict)  # name -> evaluate() results


def fill_store(url: str, folder: Path, *, with_embedded: bool = False) -> FilledStore:
    """Runs: ``a`` (model-a, tag nightly), ``b`` (model-b, fails Japan, tags nightly+candidate),
    ``a2`` (model-a again), ``evil`` (hostile model name), optionally ``embedded`` (piqa x4)."""
    task = str(write_task(folder))
    filled = FilledStore(url, Path(task))
    plan = [
        ("a", KeywordModel("model-a", RULES_A, latency_s=0.2), ["nightly"]),
        ("b", KeywordModel("model-b", RULES_B, latency_s=0.6, fail_on="Japan"),
         ["nightly", "candidate"]),
        ("a2", KeywordModel("model-a", RULES_A2, latency_s=0.25), ["nightly"]),
        ("evil", KeywordModel(HOSTILE_MODEL, RULES_A, latency_s=0.3), ["adversarial"]),
    ]  # fmt: skip
    for name, model, tags in plan:
        out = evaluate(model, [task, "piqa"], limit=6, db=url, tags=tags, cache=False)
        filled.runs[name], filled.results[name] = out["run_id"], out["results"]
    if with_embedded:
        out = evaluate("embedded", ["piqa"], limit=4, db=url, tags=["embedded"])
        filled.runs["embedded"], filled.results["embedded"] = out["run_id"], out["results"]
    return filled


RATIONALE = "<b>judge rationale</b> **bold** <script>alert(3)</script>"
CAPITALS = ("Paris", "Rome", "Madrid", "Tokyo", "Nairobi", "Lima")


class GroundednessJudge(ScriptedModel):
    """A scripted judge for the ``groundedness`` rubric: 1 when the answer is a capital city.

    The answer is the text after the prompt's last ``Answer:`` line (the rendered response).
    """

    def __init__(self) -> None:
        super().__init__(name="scripted-judge")

    def generate(self, requests: list[GenerateRequest]) -> list[Generation]:
        self.calls.append(f"generate:{len(requests)}")
        out = []
        for request in requests:
            text = prompt_text(request.prompt)
            score = int(any(f"\n{city}\n" in text for city in CAPITALS))
            answer = {"groundedness": {"rationale": RATIONALE, "score": score}}
            out.append(Generation(texts=(json.dumps(answer),)))
        return out


# Human answers: 1 for a capital city, except that both humans call "Madrid" ungrounded (the
# judge says grounded: a full disagreement) and bob calls "Paris" ungrounded too.
def human_score(annotator: str, response: str | None) -> int:
    if response == "Madrid" or (annotator == "bob" and response == "Paris"):
        return 0
    return int(response in CAPITALS)


def judge_and_rate(filled: FilledStore, annotators: tuple[str, ...] = ("alice", "bob")) -> int:
    """Judge runs ``a``, ``b`` and ``evil`` with the groundedness rubric; each annotator rates
    every capitals item through the annotation desk; returns the ratings written."""
    from evalharness.judges.rubric import load_rubric
    from evalharness.judges.run import judge_run
    from evalharness.ratings.desk import Source, queue, submit
    from evalharness.store import open_store

    store = open_store(filled.url)
    rubric = load_rubric("groundedness")
    judge = GroundednessJudge()
    for name in ("a", "b", "evil"):
        judge_run(store, filled.runs[name], rubric, judge, task="capitals")
    written = 0
    for annotator in annotators:
        for item in queue(store, annotator, rubric, Source("task", "capitals")):
            score = human_score(annotator, item.response)
            written += submit(store, annotator, item, rubric, {"groundedness": str(score)})
    return written
