"""The app's data functions on their own (``evalharness.views``, ``evalharness.ratings.desk``)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import altair
import jsonschema
import pandas as pd
import pytest

from evalharness.errors import DataError
from evalharness.judges.rubric import load_rubric
from evalharness.ratings.desk import Source, answer_value, queue, submit
from evalharness.ratings.records import RatedItem, add_items, add_rating, ratings
from evalharness.ratings.task_queue import sample_item_id
from evalharness.store import AggregateRow, Run, Sample, open_store
from evalharness.views import charts, filter_samples, flipped, leaderboard, matrix, shown, trend
from evalharness.views.calibration import calibration_curve, confusion_table
from evalharness.views.samples import disagreements
from tests.support.app_store import FilledStore, fill_store

T0 = datetime(2026, 1, 10, 12, 0)


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> FilledStore:
    folder = tmp_path_factory.mktemp("views")
    return fill_store(f"sqlite:///{folder / 'store.db'}", folder / "task")


def _run(store, run_id: str, model: str, when: datetime, tags=(), status="finished") -> None:
    store.add_run(
        Run(id=run_id, model=model, status=status, tags=list(tags), created_at=when,
            duration_s=10.0)
    )  # fmt: skip


def _agg(store, run_id: str, task: str, metric: str, value: float, low: float, high: float):
    row = AggregateRow(run_id=run_id, task=task, metric=metric, value=value, ci_low=low,
                       ci_high=high, n=10, n_failed=1)  # fmt: skip
    store.set_aggregates(run_id, task, [row])


@pytest.fixture
def handmade(tmp_path: Path):
    """Two models on a perplexity task (lower is better) over three runs, one with costs."""
    store = open_store(f"sqlite:///{tmp_path / 'h.db'}")
    _run(store, "r1", "small", T0, ["nightly"])
    _run(store, "r2", "large", T0 + timedelta(days=1), ["release"])
    _run(store, "r3", "small", T0 + timedelta(days=2), ["nightly"])
    _run(store, "r4", "small", T0 + timedelta(days=3), status="running")
    for run_id, value in (("r1", 20.0), ("r2", 12.0), ("r3", 18.0), ("r4", 1.0)):
        _agg(store, run_id, "wiki", "perplexity", value, value - 1, value + 2)
    store.add_samples(
        Sample(run_id="r2", task="wiki", idx=i, input={}, prompt="", latency_s=0.5 + i,
               result={"meta": {"cost_usd": 0.25}}) for i in range(2)
    )  # fmt: skip
    return store


def test_leaderboard_latest_rank_filters_and_cost(handmade) -> None:
    board = leaderboard(handmade)
    assert board["run_id"].to_list() == ["r2", "r3"]  # latest finished run per model
    assert board["rank"].to_list() == [1, 2]  # perplexity: lower is better
    large = board.iloc[0]
    assert (large["value"], large["ci_low"], large["ci_high"], large["n_failed"]) == (
        12.0, 11.0, 14.0, 1,
    )  # fmt: skip
    assert large["shown"] == "12 ± 2" and large["cost_usd"] == pytest.approx(0.5)
    assert large["latency_s"] == pytest.approx(1.0)  # mean of 0.5 and 1.5
    assert pd.isna(board.iloc[1]["latency_s"]) and pd.isna(board.iloc[1]["cost_usd"])
    assert len(leaderboard(handmade, latest_only=False)) == 3
    assert leaderboard(handmade, include_unfinished=True)["run_id"].to_list() == ["r4", "r2"]
    assert leaderboard(handmade, tags=["release"])["run_id"].to_list() == ["r2"]
    assert leaderboard(handmade, models=["small"], latest_only=False)["run_id"].to_list() == [
        "r3", "r1",
    ]  # fmt: skip
    day = (T0 + timedelta(days=1)).date()
    assert leaderboard(handmade, since=day, until=day)["run_id"].to_list() == ["r2"]
    assert leaderboard(handmade, until=T0.date() - timedelta(days=1)).empty
    by_value = leaderboard(handmade, sort_by="value", descending=True)
    assert by_value["value"].to_list() == [18.0, 12.0]
    table = matrix(board)
    assert table.set_index("model").loc["large", "wiki · perplexity"] == "12 ± 2"


def test_trend_is_oldest_first_and_skips_unfinished(handmade) -> None:
    frame = trend(handmade, "small", "wiki", "perplexity")
    assert frame["run_id"].to_list() == ["r1", "r3"] and frame["value"].to_list() == [20.0, 18.0]


def _fields(spec: object) -> set[str]:
    """Every ``field`` an encoding or sort of the spec names, its layers' included."""
    if isinstance(spec, list):
        return set().union(*map(_fields, spec)) if spec else set()
    if not isinstance(spec, dict):
        return set()
    own = {spec["field"]} if isinstance(spec.get("field"), str) else set()
    return own | _fields([v for k, v in spec.items() if k != "data"])


def test_charts_are_vega_lite_over_their_own_columns(handmade) -> None:
    schema_file = Path(altair.__file__).parent / "vegalite/v6/schema/vega-lite-schema.json"
    validator = jsonschema.Draft7Validator(json.loads(schema_file.read_text()))
    board = leaderboard(handmade)
    comparison = pd.DataFrame(
        {"task": ["wiki"], "metric": ["perplexity"], "delta": [-2.0], "ci_low": [-3.0],
         "ci_high": [-1.0], "p_value": [0.01], "n_shared": [2], "verdict": ["better"]}
    )  # fmt: skip
    rated = pd.DataFrame({"judge": ["j"] * 4, "judge_score": [1.0, 2.0, 4.0, 5.0],
                          "human_score": [1.0, 3.0, 4.0, 4.0], "n_humans": [2] * 4})  # fmt: skip
    drawn = [
        charts.error_bars(board, "wiki", "perplexity"),
        charts.tradeoff(board, "wiki", "perplexity", "latency_s"),
        charts.tradeoff(board, "wiki", "perplexity", "cost_usd"),
        charts.trend_chart(trend(handmade, "small", "wiki", "perplexity"), "small", "wiki", "x"),
        charts.delta_chart(comparison),
        charts.judge_scatter(rated, "j"),
        charts.curve_chart(calibration_curve(rated, "j")),
        charts.error_bars(board, "no such task", "perplexity"),  # a message instead
    ]
    for chart in drawn:
        rows = json.loads(chart.data.to_json(orient="records", date_format="iso"))
        assert not list(validator.iter_errors({**chart.spec, "data": {"values": rows}}))
        computed = {t["as"] for t in chart.spec.get("transform", [])}
        layers = [set(r) for layer in chart.spec.get("layer", []) if "data" in layer
                  for r in layer["data"]["values"]]  # fmt: skip
        assert _fields(chart.spec) <= set(chart.data.columns) | computed | set().union(*layers)
    assert drawn[0].data["model"].to_list() == ["large", "small"]
    assert {t["field"]: t["type"] for t in drawn[3].spec["encoding"]["tooltip"]}["created_at"] == (
        "temporal"
    )


def test_shown_uses_the_wider_side_of_the_interval() -> None:
    assert shown(0.5, 0.4, 0.8) == "0.5 ± 0.3"
    assert shown(float("nan"), 0.0, 1.0) == "—"


def test_filter_samples(filled: FilledStore) -> None:
    samples = open_store(filled.url).samples(filled.runs["b"])
    assert len(filter_samples(samples)) == 12
    assert [s.idx for s in filter_samples(samples, task="capitals", failed_only=True)] == [3]
    scored = filter_samples(samples, metric="f1", score_range=(0.5, 1.0))
    assert [s.idx for s in scored] == [0, 2, 4, 5]
    assert [s.idx for s in filter_samples(samples, search="CAPITAL of peru?")] == [5]
    assert [s.idx for s in filter_samples(samples, search="connection reset")] == [3]
    assert filter_samples(samples, only_ids=set()) == []


def test_flipped_uses_the_threshold_and_skips_changed_rows(filled: FilledStore) -> None:
    store = open_store(filled.url)
    a, b = filled.runs["a"], filled.runs["b"]
    flips = flipped(store, a, b, "capitals", "f1")
    assert flips["idx"].to_list() == [1, 3, 4, 5]
    assert flipped(store, a, b, "capitals", "f1", threshold=2.0)["idx"].to_list() == [3]
    with store.session() as s, s.begin():  # row 4 of run b now asks another question
        sample = s.query(Sample).filter_by(run_id=b, task="capitals", idx=4).one()
        sample.input = {**sample.input, "question": "changed"}
    assert flipped(store, a, b, "capitals", "f1")["idx"].to_list() == [1, 3, 5]


def test_disagreements_between_judges_and_with_humans() -> None:
    judged = pd.DataFrame(
        {
            "sample_id": [1, 1, 2, 2, 3, 3],
            "task": ["t"] * 6,
            "idx": [0, 0, 1, 1, 2, 2],
            "rubric": ["r"] * 6,
            "criterion": ["c"] * 6,
            "judge": ["j1", "j2"] * 3,
            "score": [1.0, 4.0, 3.0, 3.0, None, None],
            "label": [None, None, None, None, "A", "B"],
            "parsed": [True] * 6,
        }
    )
    assert disagreements(judged) == {1, 3}
    humans = pd.DataFrame(
        {"task": ["t"], "idx": [1], "rubric": ["r"], "criterion": ["c"], "score": [5.0]}
    )
    assert disagreements(judged, humans) == {1, 2, 3}
    assert disagreements(judged, humans, threshold=3.0) == {1, 3}


def test_queue_order_skips_and_never_repeats(filled: FilledStore) -> None:
    store = open_store(filled.url)
    rubric, source = load_rubric("groundedness"), Source("task", "capitals")
    first = queue(store, "dora", rubric, source)
    assert len(first) == 23 and first == queue(store, "eve", rubric, source)  # same order
    assert all(item.pointer is not None and item.response for item in first)
    skipped = queue(store, "dora", rubric, source, skipped=[first[0].item_id])
    assert skipped[-1] == first[0] and skipped[0] == first[1]
    submit(store, "eve", first[0], rubric, {"groundedness": "1"})
    assert first[0] not in queue(store, "eve", rubric, source)
    assert queue(store, "dora", rubric, source)[-1] == first[0]  # rated by someone: later
    item = store.get_run(first[0].pointer[0])  # the rated item points back to its sample
    saved = ratings(store, annotators=["eve"])
    assert saved["item_id"].item() == sample_item_id(item.id, "capitals", first[0].pointer[2])


def test_submit_checks_every_answer(filled: FilledStore) -> None:
    store = open_store(filled.url)
    rubric = load_rubric("groundedness")
    item = queue(store, "fred", rubric, Source("task", "capitals"))[0]
    with pytest.raises(DataError, match="missing: groundedness"):
        submit(store, "fred", item, rubric, {})
    with pytest.raises(DataError, match="not a level"):
        submit(store, "fred", item, rubric, {"groundedness": "7"})
    assert ratings(store, annotators=["fred"]).empty


def test_answer_values_for_labels_and_mqm_errors() -> None:
    mqm = load_rubric("mqm_translation").criteria[0]
    scheme = mqm.errors
    assert scheme is not None
    category, severity = scheme.categories[0], next(iter(scheme.weights))
    errors = [{"category": category, "severity": severity}] * 2
    assert answer_value(mqm, errors) == (scheme.penalty(errors), None)
    assert answer_value(mqm, []) == (0.0, None)
    pair = load_rubric("pairwise_preference").criteria[0]
    assert answer_value(pair, "A") == (None, "A")
    with pytest.raises(DataError, match="'C' is not one of A, B"):
        answer_value(pair, "C")


def test_imported_items_are_a_source_and_calibration_helpers(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'i.db'}")
    add_items(store, [RatedItem(id=f"d:{i}", dataset="demo", source="q", response=f"r{i}")
                      for i in range(4)])  # fmt: skip
    rubric = load_rubric("groundedness")
    todo = queue(store, "gus", rubric, Source("dataset", "demo"))
    assert sorted(i.item_id for i in todo) == ["d:0", "d:1", "d:2", "d:3"]
    for i, (judge, human) in enumerate([(0, 0), (1, 1), (1, 0), (1, 1)]):
        add_rating(store, "judge-x", f"d:{i}", "groundedness", "groundedness", score=judge,
                   annotator_kind="judge")  # fmt: skip
        add_rating(store, "gus", f"d:{i}", "groundedness", "groundedness", score=human)
    from evalharness.views.calibration import pairs

    frame = pairs(store, "demo", "groundedness", "groundedness")
    assert len(frame) == 4 and set(frame["judge"]) == {"judge-x"}
    curve = calibration_curve(frame, "judge-x")
    assert curve["human_mean"].to_list() == [0.0, pytest.approx(2 / 3)]
    assert curve["n"].to_list() == [1, 3]
    confusion = confusion_table(frame, "judge-x")
    assert confusion.loc[0, 1] == 1 and confusion.loc[1, 1] == 2 and confusion.loc[0, 0] == 1


def test_pairwise_labels_are_analysed_as_labels(tmp_path: Path) -> None:
    """Imported pairwise labels carry codes 1, 2, 0 as scores: agreement is accuracy and κ on
    the labels, never a correlation, and no length correlation is computed on them."""
    from sklearn.metrics import cohen_kappa_score

    from evalharness.views.calibration import agreement_table, bias_table, is_label_scale, pairs

    store = open_store(f"sqlite:///{tmp_path / 'p.db'}")
    human = ["1", "2", "1", "2", "1", "2", "tie", "1"]
    judge = ["1", "2", "2", "2", "1", "1", "1", "1"]
    add_items(store, [RatedItem(id=f"p:{i}", dataset="pairs", source="q", response="a " * (i + 1),
                                response_b="b " * (8 - i)) for i in range(8)])  # fmt: skip
    code = {"1": 1.0, "2": 2.0, "tie": 0.0}
    for i, (h, j) in enumerate(zip(human, judge, strict=True)):
        add_rating(store, "gold", f"p:{i}", "pairwise", "preference", score=code[h], label=h)
        add_rating(store, "judge-p", f"p:{i}", "pairwise", "preference", score=code[j], label=j,
                   annotator_kind="judge")  # fmt: skip
    frame = pairs(store, "pairs", "pairwise", "preference")
    assert is_label_scale(frame)
    table = agreement_table(frame, n_boot=100)
    assert "pearson" not in set(table["statistic"]) and "spearman" not in set(table["statistic"])
    kappa = table[table["statistic"] == "cohen_kappa"]["value"].item()
    assert kappa == pytest.approx(cohen_kappa_score(judge, human))
    biases = bias_table(frame, "judge-p", n_boot=100)
    assert set(biases["level"]) == {"verbosity (pairwise)"}  # longer-response rate, on labels


def test_of_finished_keeps_results_of_finished_runs_only(handmade) -> None:
    """The pages keep what they computed from finished runs; a running run, or one finished
    again (a new finished_at), is computed afresh."""
    from evalharness.views.ui import of_finished

    calls: list[tuple] = []

    def count(store, run_id: str, *, scale: int = 1) -> int:
        calls.append((run_id, scale))
        return len(calls) * scale

    first = of_finished(count, handmade, ["r1", "r2"], "r1", scale=2)
    assert of_finished(count, handmade, ["r1", "r2"], "r1", scale=2) == first and len(calls) == 1
    of_finished(count, handmade, ["r1", "r2"], "r1", scale=3)  # other arguments: another entry
    assert len(calls) == 2
    of_finished(count, handmade, ["r1", "r4"], "r4")
    of_finished(count, handmade, ["r1", "r4"], "r4")  # r4 is running: never kept
    assert len(calls) == 4
    handmade.update_run("r2", finished_at=T0 + timedelta(days=9))
    assert of_finished(count, handmade, ["r1", "r2"], "r1", scale=2) != first and len(calls) == 5
