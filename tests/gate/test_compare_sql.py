"""``compare_runs`` reads pairs with SQL; it must equal ``pair_samples``' rule in Python."""

from __future__ import annotations

import json
import math
from datetime import datetime

import numpy as np
import pytest

from evalharness.gate.compare import compare_runs, paired_rows, scored
from evalharness.metrics import get_metric, paired_bootstrap
from evalharness.store import Run, Sample, Store, open_store

STORE_KINDS = ("sqlite", "postgresql")  # db_url tests run on both (tests/conftest.py)


def _run(store: Store, run_id: str, seed: int, n: int, changed: set[int]) -> None:
    """Tasks ``qa`` (acc, bleu: a corpus metric) and ``mc`` (acc); some samples failed, some
    metrics missing, and the rows of ``changed`` indices hold another input."""
    rng = np.random.default_rng(seed)
    store.add_run(Run(id=run_id, model=run_id, status="finished", created_at=datetime(2026, 1, 1)))
    samples = []
    for task in ("qa", "mc"):
        for i in range(n):
            failed = rng.random() < 0.1
            stats: dict[str, list[float]] = {"acc": [float(rng.random() < 0.6), 1.0]}
            if task == "qa" and rng.random() < 0.8:  # bleu on most samples only
                stats["bleu"] = [*rng.integers(1, 9, size=8).tolist(), 10.0, 11.0]
            samples.append(
                Sample(
                    run_id=run_id, task=task, idx=i, prompt="p",
                    input={"q": i, "v": int(i in changed)}, error="HTTP 500" if failed else None,
                    stats={} if failed else stats, scores={},
                )
            )  # fmt: skip
    store.add_samples(samples)


def test_sql_pairs_equal_the_python_rule(db_url: str) -> None:
    store = open_store(db_url)
    _run(store, "a", seed=1, n=90, changed=set())
    _run(store, "b", seed=2, n=80, changed={3, 4, 5})  # three shared rows differ
    rows = compare_runs(store, "a", "b", n_boot=300)
    assert [(r.task, r.metric) for r in rows] == [("mc", "acc"), ("qa", "acc"), ("qa", "bleu")]
    for row in rows:
        a, b = store.samples("a", row.task), store.samples("b", row.task)
        paired = paired_rows(a, b, row.metric)
        metric = get_metric(row.metric)
        ref = paired_bootstrap(metric, paired.a, paired.b, n_boot=300)
        assert (row.n_shared, row.n_a, row.n_b) == (
            paired.n, len(scored(a, row.metric)), len(scored(b, row.metric))
        )  # fmt: skip
        assert 0 < len(paired.mismatched) <= 3
        assert row.note == f"{len(paired.mismatched)} shared samples differ in input, left out"
        assert row.value_a == pytest.approx(metric.value(paired.a))
        assert row.value_b == pytest.approx(metric.value(paired.b))
        assert (row.delta, row.ci_low, row.ci_high, row.p_value) == pytest.approx(
            (ref.delta, ref.ci_low, ref.ci_high, ref.p_value)
        )
        assert all(math.isfinite(v) for v in (row.ci_low, row.ci_high))


def test_scored_counts_come_from_a_finished_runs_aggregates(db_url: str, monkeypatch) -> None:
    """A finished run's stored aggregates give the scored counts (judged metrics aside); a run
    without them, or still running, is counted from its samples."""
    from evalharness.aggregates import store_aggregates
    from evalharness.gate import paired_sql

    store = open_store(db_url)
    _run(store, "full", seed=3, n=40, changed=set())
    _run(store, "bare", seed=4, n=40, changed=set())
    for task in ("qa", "mc"):
        samples = [s for s in store.samples("full", task) if s.error is None]
        for s in samples:
            s.stats.pop("bleu", None)  # every scored sample carries every metric, as in a run
        store_aggregates(store, "full", task, ["acc"], samples)
    counted = paired_sql.counted_scores(store, "full")
    assert counted[("mc", "acc")] == sum(1 for s in store.samples("full", "mc") if not s.error)
    monkeypatch.setattr(paired_sql, "counted_scores", lambda store, run_id: {"counted": run_id})
    stored = paired_sql.scored_counts(store, "full")
    assert stored == {key: n for key, n in counted.items() if key[1] == "acc"}
    assert paired_sql.scored_counts(store, "bare") == {"counted": "bare"}  # no aggregates
    with store.session() as session, session.begin():
        session.get(Run, "full").status = "running"  # aggregates of a running run may be stale
    assert paired_sql.scored_counts(store, "full") == {"counted": "full"}


def test_statistics_rows_parse_as_json_would() -> None:
    """The numpy parse of equal-width rows and the ``json`` fallback give the same matrix."""
    from evalharness.gate.paired_sql import _matrix

    rows = [[0.5, 1.0], [1e-3, 1.0], [float("nan"), 2.0], [-3.0, float("inf")]]
    texts = ";".join(json.dumps(r) for r in rows)
    np.testing.assert_array_equal(_matrix(texts, 4), np.array(rows))
    np.testing.assert_array_equal(_matrix(texts.replace("NaN", "0"), 4)[2], [0.0, 2.0])
    assert _matrix("[1, 2, 3];[4, 5, 6]", 2).shape == (2, 3)
    assert _matrix("[1e-3, -2.5E+2]", 1).tolist() == [[1e-3, -250.0]]
    with pytest.raises(ValueError):  # ragged rows are not a matrix, as before
        _matrix("[1, 2];[3]", 2)


def test_metric_names_with_symbols_pair(db_url: str) -> None:
    store = open_store(db_url)
    for run_id, hit in (("a", 1.0), ("b", 0.0)):
        store.add_run(
            Run(id=run_id, model=run_id, status="running", created_at=datetime(2026, 1, 1))
        )
        store.add_samples([
            Sample(run_id=run_id, task="code", idx=i, prompt="p", input={"q": i},
                   stats={"pass@1": [hit, 1.0]}, scores={})
            for i in range(5)
        ])  # fmt: skip
    (row,) = compare_runs(store, "a", "b", n_boot=50)
    assert (row.metric, row.n_shared, row.value_a, row.value_b) == ("pass@1", 5, 1.0, 0.0)


def test_a_task_without_shared_samples_is_reported_not_raised(db_url: str) -> None:
    store = open_store(db_url)
    for run_id, indices in (("a", range(0, 5)), ("b", range(5, 10))):
        store.add_run(
            Run(id=run_id, model=run_id, status="running", created_at=datetime(2026, 1, 1))
        )
        store.add_samples([
            Sample(run_id=run_id, task="qa", idx=i, prompt="p", input={"q": i},
                   stats={"acc": [1.0, 1.0]}, scores={})
            for i in indices
        ])  # fmt: skip
    (row,) = compare_runs(store, "a", "b", n_boot=50)
    assert (row.n_shared, row.n_a, row.n_b, row.note) == (0, 5, 5, "no shared scored samples")
    assert math.isnan(row.delta)


def test_pairs_are_read_from_the_scored_index_alone(tmp_path) -> None:
    """On SQLite, the statement ``compare_runs`` runs to pair two runs reads only the covering
    ``ix_samples_scored`` (not the wide rows with prompts and outputs), with no ``ANALYZE``
    statistics."""
    from sqlalchemy import event

    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    _run(store, "a", seed=1, n=30, changed=set())
    _run(store, "b", seed=2, n=30, changed=set())
    ran: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        if "JOIN samples AS b" in statement:
            ran.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", record)
    assert len(compare_runs(store, "a", "b", n_boot=20)) == 3
    event.remove(store.engine, "before_cursor_execute", record)
    ((statement, parameters),) = ran
    with store.engine.connect() as conn:
        found = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
        scans = [step for *_, step in found if step.startswith(("SCAN", "SEARCH"))]
    assert len(scans) == 2, scans
    assert all("USING COVERING INDEX ix_samples_scored" in s for s in scans), scans


def test_long_input_rows_are_stored_and_paired(db_url: str) -> None:
    """Input rows of any length (a news article; a PostgreSQL B-tree entry holds at most 2,704
    bytes, so no index there may hold them) are stored and paired."""
    store = open_store(db_url)
    article = " ".join(f"word{i}" for i in range(2000))  # ~18 kB
    for run_id, hit in (("a", 1.0), ("b", 0.0)):
        store.add_run(
            Run(id=run_id, model=run_id, status="running", created_at=datetime(2026, 1, 1))
        )
        store.add_samples([
            Sample(run_id=run_id, task="sum", idx=i, prompt="p", input={"article": article, "i": i},
                   stats={"acc": [hit, 1.0]}, scores={})
            for i in range(4)
        ])  # fmt: skip
    (acc,) = compare_runs(store, "a", "b", n_boot=20)
    assert (acc.metric, acc.n_shared, acc.value_a, acc.value_b) == ("acc", 4, 1.0, 0.0)
