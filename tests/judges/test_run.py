"""Judging stored runs (judges/run.py): unparsed verdicts stored and counted, pairwise
in both orders, and the embedded model as a real judge of a stored summeval_cnndm run."""

from __future__ import annotations

from pathlib import Path

from evalharness import evaluate
from evalharness.judges.records import judgments
from evalharness.judges.run import compare_pairwise, judge_run
from evalharness.models.scripted import ScriptedModel
from evalharness.store import open_store
from tests.judges.helpers import PAIRWISE, Prefers, Recording, _answer, _stored_run

STORE_KINDS = ("sqlite", "postgresql")  # db_url tests run on both (tests/conftest.py)


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
