"""Every page of the Streamlit app, driven by ``AppTest`` against a store filled by real runs.

The store holds four scripted runs (a RAG task and PIQA through the real runner), one real
SmolLM2 run, judgments of a scripted judge and ratings entered through the annotation desk.
Assertions compare what the pages show with the store and with independent computations.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score
from streamlit.testing.v1 import AppTest

from evalharness.gate.compare import compare_runs
from evalharness.store import open_store
from evalharness.views import flipped
from tests.support.app_store import (
    HOSTILE,
    HOSTILE_MODEL,
    RATIONALE,
    FilledStore,
    fill_store,
    judge_and_rate,
)

APP = Path(__file__).resolve().parent.parent / "app"
PAGES = {
    "home": APP / "Home.py",
    "leaderboard": APP / "pages" / "1_Leaderboard.py",
    "samples": APP / "pages" / "2_Samples.py",
    "compare": APP / "pages" / "3_Compare.py",
    "annotate": APP / "pages" / "4_Annotate.py",
    "calibration": APP / "pages" / "5_Calibration.py",
}
# Everything Streamlit renders as Markdown/HTML: it must never hold model or dataset text.
MARKDOWN_KINDS = (
    "markdown", "caption", "title", "header", "subheader", "info", "success", "warning",
    "error", "exception",
)  # fmt: skip
WIDGETS = ("selectbox", "multiselect", "radio", "checkbox", "text_input", "text_area", "slider")


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> FilledStore:
    folder = tmp_path_factory.mktemp("app-store")
    filled = fill_store(f"sqlite:///{folder / 'store.db'}", folder / "task", with_embedded=True)
    judge_and_rate(filled)
    return filled


@pytest.fixture
def page(filled: FilledStore, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("EVALHARNESS_DB", filled.url)

    def open_page(name: str, **query: str) -> AppTest:
        at = AppTest.from_file(str(PAGES[name]), default_timeout=120)
        for key, value in query.items():
            at.query_params[key] = value
        return checked(at.run())

    yield open_page


def checked(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    return at


def nodes(at: AppTest, kind: str) -> list[Any]:
    found: list[Any] = []

    def walk(node: Any) -> None:
        if getattr(node, "type", None) == kind:
            found.append(node)
        children = getattr(node, "children", None)
        if isinstance(children, dict):
            for child in children.values():
                walk(child)

    walk(at._tree)
    return found


def markdown_texts(at: AppTest) -> list[str]:
    """Every string the page hands to a Markdown/HTML renderer (bodies, labels, radio options)."""
    texts = [str(e.value) for kind in MARKDOWN_KINDS for e in getattr(at, kind)]
    for kind in WIDGETS:
        for widget in getattr(at, kind):
            texts.append(widget.label)
            if kind == "radio":
                texts += [str(o) for o in widget.options]
    texts += [e.proto.body for e in nodes(at, "metric")] + [e.label for e in nodes(at, "metric")]
    return texts


def literal_texts(at: AppTest) -> str:
    """Text shown verbatim: code blocks, st.text, dataframe cells, selectbox options."""
    parts = [e.value for e in at.code] + [e.value for e in at.text]
    parts += [df.value.to_csv() for df in at.dataframe]
    parts += [o for box in at.selectbox for o in box.options]
    return "\n".join(parts)


def assert_no_markup_leak(at: AppTest) -> None:
    for text in markdown_texts(at):
        for needle in ("<script", "**bold**", "<b>", "onerror", "**md**"):
            assert needle not in text, f"{needle!r} reached a Markdown renderer: {text!r}"


def frame(at: AppTest, index: int = 0) -> pd.DataFrame:
    return at.dataframe[index].value


# ----------------------------------------------------------------------------- pages


def test_home_counts_the_runs(page: Any, filled: FilledStore) -> None:
    at = page("home")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["runs"] == str(len(filled.runs)) == "5"
    assert metrics["models"] == "4"  # model-a (twice), model-b, the hostile name, embedded
    assert set(frame(at)["run_id"]) == set(filled.runs.values())
    assert filled.url in [t.value for t in at.text]  # the store, as plain text


def test_leaderboard_shows_aggregates_with_cis_from_the_store(
    page: Any, filled: FilledStore
) -> None:
    at = page("leaderboard")
    board = frame(at)
    row = board[(board["model"] == "model-a") & (board["metric"] == "exact_match")]
    assert len(row) == 1 and row["run_id"].item() == filled.runs["a2"]  # the latest run only
    expected = filled.results["a2"]["capitals"]["exact_match"]
    assert row["value"].item() == pytest.approx(expected["value"]) == pytest.approx(5 / 6)
    assert row["ci_low"].item() == pytest.approx(expected["ci_low"])
    assert row["ci_high"].item() == pytest.approx(expected["ci_high"])
    assert row["n"].item() == 6 and row["rank"].item() == 1
    b = board[(board["model"] == "model-b") & (board["metric"] == "exact_match")]
    assert (b["value"].item(), b["n"].item(), b["n_failed"].item()) == (0.8, 5, 1)
    assert b["latency_s"].item() == pytest.approx(0.6)
    emb = board[(board["model"] == "embedded") & (board["metric"] == "acc")]
    assert emb["value"].item() == pytest.approx(filled.results["embedded"]["piqa"]["acc"]["value"])
    assert emb["n"].item() == 4
    assert len(nodes(at, "vega_lite_chart")) == 3  # error bars, quality vs latency, trend

    at.multiselect[0].set_value(["piqa"])  # task filter
    at.checkbox[0].uncheck()  # every run, not only the latest
    board = frame(checked(at.run()))
    assert set(board["task"]) == {"piqa"} and len(board) == 5 * 2  # 5 runs x (acc, acc_norm)
    at.multiselect[2].set_value(["candidate"])  # tag filter
    board = frame(checked(at.run()))
    assert set(board["run_id"]) == {filled.runs["b"]}
    at.multiselect[2].set_value([])
    at.sidebar.selectbox[0].set_value("value")
    at.checkbox[1].check()  # include unfinished: none here, same rows
    at.sidebar.checkbox[2].check()  # descending
    board = frame(checked(at.run()))
    acc = board[board["metric"] == "acc"]["value"].to_list()
    assert acc == sorted(acc, reverse=True)


def test_samples_page_filters_and_shows_one_sample(page: Any, filled: FilledStore) -> None:
    at = page("samples", run=filled.runs["b"])
    assert at.selectbox[0].value == filled.runs["b"]
    table = frame(at)
    assert len(table) == 12 and set(table["task"]) == {"capitals", "piqa"}
    assert "judge:groundedness" in table.columns  # judge scores beside metrics
    at.sidebar.text_input[0].set_value("capital of KENYA?")
    table = frame(checked(at.run()))
    assert table["idx"].to_list() == [4] and table["output"].to_list() == ["Nairobi"]
    shown = literal_texts(at)
    assert "What is the capital of Kenya?" in shown  # the rendered prompt
    assert "Nairobi is the capital and largest city of Kenya." in shown  # a retrieved passage
    assert RATIONALE in [c.value for c in at.code]  # the judge's rationale, verbatim
    retrieved = at.dataframe[-1].value
    assert retrieved["id"].to_list()[0] == "kenya"

    at.sidebar.text_input[0].set_value("")
    at.sidebar.checkbox[0].check()  # failed only
    table = frame(checked(at.run()))
    assert table["idx"].to_list() == [3] and table["failed"].all()
    assert "backend error: connection reset" in [c.value for c in at.code]

    at.sidebar.checkbox[0].uncheck()
    at.sidebar.selectbox[0].set_value("capitals")
    checked(at.run())  # the score choices follow the task
    at.sidebar.selectbox[1].set_value("exact_match")
    checked(at.run())  # the score range slider appears once a score is chosen
    at.sidebar.slider[0].set_value((0.0, 0.5))
    table = frame(checked(at.run()))
    assert table["idx"].to_list() == [1]  # the only wrong answer (the hostile one)
    assert HOSTILE in [c.value for c in at.code]


def test_samples_page_finds_judge_disagreement_with_humans(page: Any, filled: FilledStore) -> None:
    # Both humans call "Madrid" (row 2) ungrounded, the judge calls it grounded: flagged. Bob
    # alone calls "Paris" ungrounded: 0.5 from the judge, under the 1-point threshold.
    at = page("samples", run=filled.runs["a"])
    at.sidebar.checkbox[1].check()
    table = frame(checked(at.run()))
    assert table["idx"].to_list() == [2] and table["output"].to_list() == ["Madrid"]


def test_compare_page_matches_compare_runs(page: Any, filled: FilledStore) -> None:
    a, b = filled.runs["a"], filled.runs["b"]
    at = page("compare", a=a, b=b)
    table = frame(at)
    expected = compare_runs(open_store(filled.url), a, b, n_boot=1000)
    assert len(table) == len(expected) == 4
    for row, want in zip(table.itertuples(), expected, strict=True):
        assert (row.task, row.metric, row.n_shared) == (want.task, want.metric, want.n_shared)
        assert row.delta == pytest.approx(want.delta)
        assert row.ci_low == pytest.approx(want.ci_low) and row.p_value == pytest.approx(
            want.p_value
        )
    em = table[table["metric"] == "exact_match"].iloc[0]
    assert em["value_a"] == pytest.approx(0.6) and em["value_b"] == pytest.approx(0.8)
    assert em["verdict"] == "no significant change"
    flips = frame(at, 1)
    assert flips["idx"].to_list() == [1, 3, 4, 5]
    assert flips["change"].to_list() == ["broken", "broken", "fixed", "fixed"]
    assert flips["outcome_b"].to_list() == ["fail", "error", "pass", "pass"]
    codes = [c.value for c in at.code]
    assert codes == ["Rome", HOSTILE]  # row 1 side by side: A, then B, verbatim; one flip only
    side = next(s for s in at.selectbox if s.label == "Side by side")
    assert side.options == ["row 1 · broken", "row 3 · broken", "row 4 · fixed", "row 5 · fixed"]
    side.set_value(2)  # row 4
    checked(at.run())
    task, metric = (next(s.value for s in at.selectbox if s.label == label)
                    for label in ("Task", "Outcome by"))  # fmt: skip
    want = flipped(open_store(filled.url), a, b, task, metric, threshold=0.5)
    assert [c.value for c in at.code] == want.loc[2, ["output_a", "output_b"]].to_list()


def test_annotate_is_blind_saves_and_moves_on(page: Any, filled: FilledStore) -> None:
    from evalharness.ratings.records import ratings

    store = open_store(filled.url)
    at = page("annotate", annotator="carol")
    at.sidebar.selectbox[0].set_value("harmlessness")  # other tests use groundedness
    checked(at.run())
    assert at.sidebar.selectbox[1].value.name == "capitals"
    assert "0 of 23 rated" in nodes(at, "progress")[0].proto.text
    words = literal_texts(at) + "\n".join(markdown_texts(at))
    forbidden = ["model-a", "model-b", "embedded", "evil", "exact_match", "f1", "scripted-judge",
                 "judge rationale", *filled.runs.values()]  # fmt: skip
    for word in forbidden:
        assert word not in words, f"{word!r} shown on the blind annotation page"
    first = at.code[-1].value  # the response
    at.radio[0].set_value("1")
    at.button[0].click()  # Submit
    checked(at.run())
    saved = ratings(store, annotators=["carol"])
    assert len(saved) == 1 and saved["score"].item() == 1.0
    assert saved["rubric"].item() == "harmlessness"
    assert "1 of 23 rated" in nodes(at, "progress")[0].proto.text
    item = saved["item_id"].item()
    at.button[1].click()  # Skip: nothing saved, the next item comes
    checked(at.run())
    assert len(ratings(store, annotators=["carol"])) == 1
    # a fresh session of the same annotator never gets the rated item back
    from evalharness.judges.rubric import load_rubric
    from evalharness.ratings.desk import Source, queue

    rubric = load_rubric("harmlessness")
    todo = queue(store, "carol", rubric, Source("task", "capitals"))
    assert item not in {i.item_id for i in todo} and len(todo) == 22
    assert first is not None


def test_annotate_without_a_name_asks_for_one(page: Any) -> None:
    at = page("annotate")
    assert any("Choose your name" in i.value for i in at.info)
    assert not at.radio  # no item before a name is chosen


def test_calibration_page_agreement_and_ceiling(page: Any, filled: FilledStore) -> None:
    from evalharness.ratings.records import ratings

    at = page("calibration")
    at.sidebar.selectbox[1].set_value("groundedness")  # the annotate tests add another rubric
    checked(at.run())
    sets = frame(at)
    row = sets[(sets["rubric"] == "groundedness")]
    assert row["items"].item() == 23 and row["annotators"].item() >= 2
    ceiling = frame(at, 1)
    kappa = ceiling[ceiling["statistic"] == "cohen_kappa"]["value"].item()
    humans = ratings(open_store(filled.url), rubric="groundedness", annotators=["alice", "bob"])
    wide = humans.pivot_table(index="item_id", columns="annotator", values="score").dropna()
    assert kappa == pytest.approx(cohen_kappa_score(wide["alice"], wide["bob"]))
    judges = frame(at, 2)
    pearson = judges[(judges["level"] == "item") & (judges["statistic"] == "pearson")]
    assert pearson["judge"].item() == "scripted-judge" and pearson["n"].item() == 17
    assert -1.0 <= pearson["ci_low"].item() <= pearson["value"].item() <= 1.0
    confusion = frame(at, 3)
    assert int(confusion.to_numpy().sum()) == 17  # every judged item once
    assert len(nodes(at, "vega_lite_chart")) == 2  # scatter, calibration curve
    assert not math.isnan(frame(at, 4)["value"].iloc[0])  # verbosity bias
    # the page keeps its results while the store is unchanged; a new rating shows at once
    from evalharness.ratings.records import NewRating, add_ratings, ensure_annotator

    store = open_store(filled.url)
    ensure_annotator(store, "dora")
    criterion = row["criterion"].item()
    item = humans["item_id"].iloc[0]
    add_ratings(store, [NewRating("dora", item, "groundedness", criterion, score=1.0)])
    again = frame(checked(at.run()))
    after = again[again["rubric"] == "groundedness"]["annotators"].item()
    assert after == row["annotators"].item() + 1


@pytest.mark.parametrize("name", list(PAGES))
def test_hostile_text_is_shown_literally(page: Any, filled: FilledStore, name: str) -> None:
    query = {"annotate": {"annotator": "mallory"}, "samples": {"run": filled.runs["b"]},
             "compare": {"a": filled.runs["a"], "b": filled.runs["b"]}}.get(name, {})  # fmt: skip
    at = page(name, **query)
    if name == "annotate":  # skip through the queue until the hostile response comes up
        at.sidebar.selectbox[0].set_value("groundedness")
        checked(at.run())
        for _ in range(30):
            if HOSTILE in literal_texts(at):
                break
            at.button[1].click()
            checked(at.run())
    if name == "calibration":
        at.sidebar.selectbox[1].set_value("groundedness")
        checked(at.run())
    if name == "samples":
        at.sidebar.text_input[0].set_value("italy")
        checked(at.run())
    assert_no_markup_leak(at)
    expected = {
        "home": HOSTILE_MODEL, "leaderboard": HOSTILE_MODEL, "samples": HOSTILE,
        "compare": HOSTILE, "annotate": HOSTILE, "calibration": HOSTILE_MODEL,
    }[name]  # fmt: skip
    assert expected in literal_texts(at)


def test_app_command_rejects_a_bad_store_before_starting() -> None:
    from tests.support.helpers import run_cli

    out = run_cli("app", "--db", "nosuchdialect://x", "--port", "1")
    assert out.returncode == 2 and "cannot open store" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr
