"""Pages of samples in SQL (``Store.sample_page`` and friends, the Compare flips, the report),
on real SQLite and PostgreSQL: pages cover a run exactly once, filters agree with filtering in
Python, and the statements a page sends have a LIMIT or aggregate, whatever the run's size."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event, inspect

from evalharness.gate.compare import pair_samples
from evalharness.report import SAMPLES_SHOWN, report_context
from evalharness.store import Run, Sample, Store, open_store
from evalharness.usage import _totals, sample_totals
from evalharness.views import filter_samples, flipped, score_names
from evalharness.views.compare import flip_counts, per_sample_metrics

STORE_KINDS = ("sqlite", "postgresql")
WORDS = ("alpha", "beta", "Gamma", "delta", "50% off", "snake_case", "Ünïcode", "needle")


def _samples(run_id: str, n: int, seed: int) -> Iterator[Sample]:
    rng = random.Random(seed)
    for i in range(n):
        task = ("qa", "mc")[i % 2]
        words = " ".join(WORDS[(i * 7 + k * 3) % len(WORDS)] for k in range(3))  # same per row
        scores = {"em": float(rng.random() < 0.5), "f1": round(rng.random(), 3)}
        if task == "mc":
            scores = {"acc": float(rng.random() < 0.6)}
        if i % 23 == 5:
            scores = {}
        failed = i % 11 == 3
        yield Sample(
            run_id=run_id, task=task, idx=i // 2, input={"question": f"q{i // 2} {words}"},
            prompt=f"Question: q{i // 2} {words}", output=None if failed else words.upper(),
            reference=[rng.choice(WORDS)], scores={} if failed else scores,
            error="backend error: timeout" if failed else None,
            latency_s=None if i % 13 == 0 else round(rng.random(), 4),
            prompt_tokens=i % 17, completion_tokens=i % 5,
            result={"meta": {"cost_usd": 0.001 * (i % 3)}} if i % 4 else {},
        )  # fmt: skip


def _fill(store: Store, run_id: str, n: int, seed: int = 0) -> None:
    store.add_run(Run(id=run_id, model=f"model-{run_id}", status="finished"))
    store.add_samples(_samples(run_id, n, seed))


@pytest.fixture
def store(db_url: str) -> Store:
    store = open_store(db_url)
    _fill(store, "big", 400, seed=1)
    _fill(store, "other", 400, seed=2)
    _fill(store, "tiny", 30, seed=3)
    with store.session() as s, s.begin():  # row 7 of "other" asks another question
        row = s.query(Sample).filter_by(run_id="other", task="qa", idx=7).one()
        row.input = {"question": "changed"}
    return store


@contextmanager
def statements(store: Store) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn, _cursor, statement, _params, _context, _many) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(store.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(store.engine, "before_cursor_execute", record)


AGGREGATE = re.compile(r"^SELECT (DISTINCT|count\(|min\(|coalesce\(|json_object_keys)", re.I)


def whole_run_reads(seen: list[str]) -> list[str]:
    """Statements that read sample rows with neither LIMIT nor aggregate (a whole run)."""
    return [
        q for q in seen
        if re.search(r"\bFROM samples\b", q) and " LIMIT " not in q and not AGGREGATE.match(q)
        and "GROUP BY" not in q
    ]  # fmt: skip


def test_pages_are_disjoint_and_cover_the_run_in_order(store: Store) -> None:
    everything = store.samples("big")
    seen, offset = [], 0
    while True:
        rows, total = store.sample_page("big", offset=offset, limit=37)
        assert total == len(everything) == 400 and len(rows) <= 37
        if not rows:
            break
        seen += [s.id for s in rows]
        offset += 37
    assert seen == [s.id for s in everything]  # (task, idx) order, each sample once
    assert len(set(seen)) == 400


def test_task_pages_are_in_idx_order(store: Store) -> None:
    first, total = store.sample_page("big", "qa", limit=50)
    second, _ = store.sample_page("big", "qa", offset=50, limit=50)
    idx = [s.idx for s in first + second]
    assert total == 200 and idx == list(range(100))
    assert {s.task for s in first} == {"qa"}


FILTERS = [
    {"search": "needle"},
    {"search": "NEEDLE"},  # case-insensitive
    {"search": "50%"},  # LIKE wildcards are literal characters
    {"search": "e_c"},
    {"search": "Ünïcode"},  # non-ASCII, stored as JSON escapes in input
    {"search": "timeout"},  # the error text
    {"failed_only": True},
    {"task": "qa", "metric": "f1", "score_range": (0.25, 0.75)},
    {"metric": "acc", "score_range": (1.0, 1.0)},
    {"task": "mc", "search": "gamma", "failed_only": False},
    {"only_ids": set()},
]


@pytest.mark.parametrize("filters", FILTERS, ids=[repr(f) for f in FILTERS])
def test_filters_in_sql_equal_filters_in_python(store: Store, filters: dict) -> None:
    expected = [s.id for s in filter_samples(store.samples("big"), **filters)]
    rows, total = store.sample_page("big", limit=1000, **filters)
    assert [s.id for s in rows] == expected and total == len(expected)
    page, again = store.sample_page("big", offset=3, limit=5, **filters)
    assert [s.id for s in page] == expected[3:8] and again == total


def test_only_ids_keeps_those_samples(store: Store) -> None:
    ids = {s.id for s in store.samples("big")[::50]}
    rows, total = store.sample_page("big", only_ids=ids)
    assert {s.id for s in rows} == ids and total == len(ids) == 8


def test_an_offset_past_the_end_is_empty_but_counts(store: Store) -> None:
    assert store.sample_page("tiny", offset=500, limit=10) == ([], 30)
    assert store.sample_count("tiny") == 30 and store.sample_count("tiny", "qa") == 15
    assert store.sample_page("no-such-run") == ([], 0)


def test_score_names_bounds_tasks_failed_and_median(store: Store) -> None:
    samples = store.samples("big")
    assert store.sample_tasks("big") == ["mc", "qa"]
    assert set(store.score_names("big")) == set(score_names(samples))
    assert store.score_names("big", "qa") == score_names([s for s in samples if s.task == "qa"])
    f1 = [s.scores["f1"] for s in samples if "f1" in s.scores]
    assert store.score_bounds("big", "f1") == (min(f1), max(f1))
    assert store.score_bounds("big", "nope") is None
    for task in ("qa", "mc"):
        mine = [s for s in samples if s.task == task]
        failed = store.failed_samples("big", task)
        assert [(s.idx, s.error) for s in failed] == [(s.idx, s.error) for s in mine if s.error]
        latencies = sorted(s.latency_s for s in mine if s.latency_s is not None)
        assert store.median_latency("big", task) == latencies[len(latencies) // 2]


def test_sample_totals_in_sql_equal_the_python_sums(store: Store) -> None:
    samples = store.samples("big")
    totals = sample_totals(store, ["big", "tiny"])
    for task in ("qa", "mc"):
        rows = [
            (s.error, s.prompt_tokens, s.completion_tokens, s.latency_s, s.result)
            for s in samples if s.task == task
        ]  # fmt: skip
        got, want = totals[("big", task)], _totals(rows)
        assert {k: v for k, v in got.items() if k not in ("cost_usd", "latency_s")} == {
            k: v for k, v in want.items() if k not in ("cost_usd", "latency_s")
        }
        assert got["cost_usd"] == pytest.approx(want["cost_usd"])
        assert got["latency_s"] == pytest.approx(want["latency_s"])
    assert set(totals) == {("big", "qa"), ("big", "mc"), ("tiny", "qa"), ("tiny", "mc")}


def _python_flips(store: Store, task: str, metric: str, threshold: float) -> list[tuple]:
    def outcome(s: Sample) -> str:
        if s.error is not None:
            return "error"
        value = (s.scores or {}).get(metric)
        return "n/a" if value is None else "pass" if value >= threshold else "fail"

    pairs, _ = pair_samples(store.samples("big", task), store.samples("other", task))
    return [
        (a.idx, outcome(a), outcome(b)) for a, b in pairs
        if outcome(a) != outcome(b) and "n/a" not in (outcome(a), outcome(b))
    ]  # fmt: skip


@pytest.mark.parametrize(("task", "metric", "threshold"), [("qa", "f1", 0.5), ("mc", "acc", 1.0)])
def test_flips_joined_in_sql_equal_pair_samples(
    store: Store, task: str, metric: str, threshold: float
) -> None:
    expected = _python_flips(store, task, metric, threshold)
    assert 7 not in {idx for idx, *_ in expected} or task != "qa"  # changed row left out
    pages = [
        flipped(store, "big", "other", task, metric, threshold=threshold, offset=o, limit=9)
        for o in range(0, len(expected) + 9, 9)
    ]
    got = [(r.idx, r.outcome_a, r.outcome_b) for page in pages for r in page.itertuples()]
    assert got == expected and len(expected) > 20
    fixed = sum(1 for _, _, b in expected if b == "pass")
    assert flip_counts(store, "big", "other", task, metric, threshold=threshold) == (
        len(expected), fixed,
    )  # fmt: skip
    assert per_sample_metrics(store, "big", "other", "qa") == ["em", "f1"]


def test_page_statements_are_bounded_whatever_the_run_size(db_url: str) -> None:
    store = open_store(db_url)
    counts = []
    for run_id, n in (("small", 40), ("large", 2000)):
        _fill(store, run_id, n)
        with statements(store) as seen:
            store.sample_page(run_id, limit=25, search="needle", failed_only=False)
            store.sample_page(run_id, "qa", offset=10, limit=25, metric="f1", score_range=(0, 1))
            store.score_names(run_id)
            store.score_bounds(run_id, "f1")
            store.sample_tasks(run_id)
            flipped(store, run_id, run_id, "qa", "f1", offset=0, limit=20)
            flip_counts(store, run_id, run_id, "qa", "f1")
        assert whole_run_reads(seen) == []
        page_queries = [q for q in seen if "FROM samples" in q and " LIMIT " in q]
        assert len(page_queries) >= 4
        counts.append(len(seen))
    assert counts[0] == counts[1]  # the same statements for 40 and 2,000 samples


def test_report_reads_pages_not_the_run(store: Store) -> None:
    with statements(store) as seen:
        context = report_context(store, "big")
    assert whole_run_reads([q for q in seen if "error IS NOT NULL" not in q]) == []
    samples = store.samples("big")
    for name, task in context["tasks"].items():
        mine = [s for s in samples if s.task == name]
        assert [s.idx for s in task["samples"]] == [s.idx for s in mine if not s.error][
            :SAMPLES_SHOWN
        ]
        assert [s.idx for s in task["failed"]] == [s.idx for s in mine if s.error]
        assert task["usage"]["n"] == len(mine)


def test_migration_adds_the_page_indices(store: Store) -> None:
    names = {ix["name"] for ix in inspect(store.engine).get_indexes("samples")}
    assert {"ix_samples_failed", "ix_samples_run_id"} <= names
    assert "ix_runs_created_at" in {ix["name"] for ix in inspect(store.engine).get_indexes("runs")}
