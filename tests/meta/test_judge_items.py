"""``calibrate --judge-model``: a model judges an imported rated set (SummEval's summaries), its
agreement with the experts is printed and stored; --items counts summaries, --limit documents;
a second call resumes. The embedded SmolLM2 judge does it for real on 10 summaries."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from scipy.stats import spearmanr

from evalharness.meta.tables import calibrate
from evalharness.models.scripted import ScriptedModel
from evalharness.prompts import prompt_text
from evalharness.ratings.agreement import stored_agreement
from evalharness.ratings.records import ratings
from evalharness.requests import GenerateRequest, Generation
from evalharness.store import open_store
from tests.judges.helpers import SUMMEVAL, _answer
from tests.support.helpers import run_cli


class LengthJudge(ScriptedModel):
    """Scores every criterion by the length of the summary it is shown (1-5)."""

    def generate(self, requests: list[GenerateRequest]) -> list[Generation]:
        out = []
        for r in requests:
            summary = prompt_text(r.prompt).split("[The Start of Summary]")[-1]
            score = 1 + min(4, len(summary.split("[The End of Summary]")[0].split()) // 15)
            out.append(Generation(texts=(_answer(SUMMEVAL, dict.fromkeys(
                [c.name for c in SUMMEVAL.criteria], score)),)))  # fmt: skip
        return out


def test_a_model_judges_items_and_its_agreement_is_stored(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 's.db'}")
    result = calibrate(store, "summeval", rubric="summeval", judge_model=LengthJudge(name="len"),
                       n_items=20, n_boot=200)  # fmt: skip
    assert result["judged"] == {"judge": "len", "annotators": ("len", "len:expected"),
                                "judged": 20, "unparsed": 0, "skipped": 0}  # fmt: skip
    judged = ratings(store, dataset="summeval", annotators=["len"], criterion="coherence")
    assert len(judged) == 20 and judged["item_id"].str.startswith("summeval:").all()
    human = ratings(store, dataset="summeval", kind="human", criterion="coherence")
    human = human.set_index("item_id").loc[judged["item_id"], "score"]
    expected = spearmanr(judged["score"], human).statistic
    stored = stored_agreement(store, "len", "summeval", "coherence")
    assert stored is not None and stored.n == 20 and stored.dataset == "summeval"
    assert stored.value == pytest.approx(expected)
    table = next(t for t in result["tables"] if t["level"] == "item")
    rows = {e["row"] for e in table["entries"]}
    assert rows == {"len [summeval]"}  # the model alone: no published judge mixed in
    assert any(e["column"] == "coherence (summary)" for e in table["entries"])  # per document

    again = calibrate(store, "summeval", rubric="summeval", judge_model=LengthJudge(name="len"),
                      n_items=20, n_boot=200)  # fmt: skip
    assert (again["judged"]["judged"], again["judged"]["skipped"]) == (0, 20)  # resumed
    documents = calibrate(store, "summeval", rubric="summeval",
                          judge_model=LengthJudge(name="len"), limit=2, n_boot=200)  # fmt: skip
    assert documents["judged"]["judged"] + documents["judged"]["skipped"] == 32  # 2 x 16


def test_items_needs_a_judge_model_and_the_model_a_rubric(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 's.db'}"
    result = run_cli("calibrate", "--dataset", "summeval", "--items", "10", "--db", db)
    assert result.returncode == 2 and "--items counts the items a --judge-model" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    result = run_cli("calibrate", "--dataset", "summeval", "--judge-model", "scripted",
                     "--items", "10", "--db", db)  # fmt: skip
    assert result.returncode == 2 and "give --rubric" in result.stderr


def test_embedded_judge_calibrates_on_ten_summeval_summaries(tmp_path: Path) -> None:
    """End to end on real data: a run judged by the embedded judge gates as unchecked; the same
    judge rates 10 SummEval summaries against the experts; its stored agreement then shows
    beside the run's judged number in the report and the Leaderboard, and the gate passes or
    fails by its threshold."""
    from evalharness import evaluate
    from evalharness.gate.rules import GateSpec, evaluate_gate
    from evalharness.report import write_report
    from evalharness.specs import parse_spec
    from evalharness.views.leaderboard import leaderboard
    from tests.support.helpers import write_echo_task

    db = f"sqlite:///{tmp_path / 's.db'}"
    task = write_echo_task(tmp_path, 2, metrics="exact_match")
    task.write_text(task.read_text() + "judges:\n  - {rubric: summeval, model: embedded, "
                    "max_reasks: 0}\n")  # fmt: skip
    run_id = evaluate("scripted", [str(task)], db=db, cache=False,
                      model_args={"answers": {"Say w0": "w0 is a word.", "Say w1": "w1."}},
                      )["run_id"]  # fmt: skip

    def gate(threshold: float) -> int:
        rule = {"task": "echo", "metric": "judge:summeval.relevance",
                "min_judge_agreement": threshold}  # fmt: skip
        spec = parse_spec(GateSpec, {"gates": [rule]}, "gates.yaml")
        return evaluate_gate(open_store(db), spec, run_id).exit_code

    assert gate(-1.0) == 1  # no stored agreement: the judged number is not checked yet
    result = run_cli("calibrate", "--dataset", "summeval", "--judge-model", "embedded",
                     "--rubric", "summeval", "--items", "10", "--n-boot", "200", "--db", db,
                     "--out", str(tmp_path))  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    judged = re.search(r"judge (\S+): judged 10 items \((\d+) unparsed\)", result.stdout)
    assert judged is not None, result.stdout
    name = judged[1]
    for criterion in ("coherence", "consistency", "fluency", "relevance"):
        assert f"stored: judge {name} on summeval.{criterion}: ρ" in result.stdout
    store = open_store(db)
    stored = stored_agreement(store, name, "summeval", "relevance")
    assert stored is not None and stored.n == 10 - int(judged[2])
    saved = json.loads((tmp_path / "meta" / "summeval-summeval-items10.json").read_text())
    rows = {e["row"] for t in saved["tables"] for e in t["entries"]}
    assert {f"{name} [summeval]", f"{name}:expected [summeval]"} <= rows  # G-Eval expected too

    report = write_report(store, run_id, tmp_path / "reports")[0].read_text()
    assert f"| judge:summeval.relevance · {stored.describe()} |" in report
    board = leaderboard(store, tasks=["echo"])
    shown = dict(zip(board["metric"], board["judge_agreement"], strict=True))
    assert shown["judge:summeval.relevance"] == stored.describe()
    for threshold in (-1.0, 1.0):  # passes or fails by its threshold
        trusted = stored.ci_low is not None and stored.ci_low >= threshold
        assert gate(threshold) == (0 if trusted else 1), threshold
