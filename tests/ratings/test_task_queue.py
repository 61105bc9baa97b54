"""A task's queue from keys alone: which samples count, their order, and reading only the
offered rows; on SQLite and PostgreSQL."""

from __future__ import annotations

import numpy as np
from sqlalchemy import insert

from evalharness.judges.rubric import load_rubric
from evalharness.ratings.desk import desk_state, progress, queue, submit
from evalharness.ratings.queue_items import Source
from evalharness.ratings.task_queue import sample_item_id, sample_order, task_keys
from evalharness.store import Run, Sample, open_store

STORE_KINDS = ("sqlite", "postgresql")
TASK = "lm-eval:qa"  # a task name with a colon, as lm-eval tasks have
RUNS = {"run-a": "finished", "run-b": "finished", "run-c": "running"}
FAILED = {("run-a", 3), ("run-b", 0)}
EMPTY = ("run-b", 5)  # finished without error but generated nothing


def _fill(url: str) -> None:
    store = open_store(url)
    with store.engine.begin() as conn:
        for run_id, status in RUNS.items():
            conn.execute(insert(Run), [{"id": run_id, "model": "m", "status": status}])
            conn.execute(
                insert(Sample),
                [{"run_id": run_id, "task": task, "idx": i, "input": {"i": i},
                  "prompt": f"Q{i}?", "reference": [f"a{i}"], "result": {"texts": ["x"]},
                  "error": "timeout" if (run_id, i) in FAILED else None,
                  "output": None if (run_id, i) in FAILED or (run_id, i) == EMPTY
                  else f"{run_id} says {i}"}
                 for task in (TASK, "other") for i in range(8)],
            )  # fmt: skip


def test_keys_order_and_offered_rows(db_url: str) -> None:
    _fill(db_url)
    store = open_store(db_url)
    rubric, source = load_rubric("harmlessness"), Source("task", TASK)
    keys = task_keys(store, TASK)
    assert keys.runs == ["run-a", "run-b"] and len(keys) == 14  # running run and failed out
    everything = queue(store, "ann", rubric, source)
    pointers = [item.pointer for item in everything]
    assert ("run-b", TASK, 5) not in pointers and len(everything) == 13  # nothing to rate
    expected = sorted(
        (p for p in ((r, TASK, i) for r in ("run-a", "run-b") for i in range(8))
         if (p[0], p[2]) not in FAILED and (p[0], p[2]) != EMPTY),
        key=lambda p: int(sample_order(p[0], TASK, np.array([p[2]]))[0]),
    )  # fmt: skip
    assert pointers == expected
    assert {p[0] for p in pointers[:6]} == {"run-a", "run-b"}  # runs interleave
    assert all(item.response == f"{r} says {i}"
               for item, (r, _, i) in zip(everything, pointers, strict=True))  # fmt: skip
    assert [i.item_id for i in everything] == [sample_item_id(*p) for p in pointers]
    assert queue(store, "ann", rubric, source, limit=3) == everything[:3]
    state = desk_state(store, "ann", rubric, source, skipped=[everything[0].item_id], limit=2)
    assert state.todo == everything[1:3] and (state.done, state.total) == (0, 14)
    submit(store, "ann", everything[0], rubric, {"harmlessness": "5"})
    assert progress(store, "ann", rubric, source) == (1, 14)
    assert queue(store, "ann", rubric, source, limit=1) == everything[1:2]
    assert queue(store, "bob", rubric, source)[-1] == everything[0]  # rated by one: later


def test_positions_read_only_this_task_and_its_runs(db_url: str) -> None:
    _fill(db_url)
    keys = task_keys(open_store(db_url), TASK)
    ids = [sample_item_id("run-a", TASK, 2), sample_item_id("run-b", TASK, 7),
           sample_item_id("run-a", "other", 2), sample_item_id("run-c", TASK, 1),
           sample_item_id("run-a", TASK, 3), "imported-1", "run:run-a:lm-eval:qa:x"]  # fmt: skip
    found = keys.positions(ids)
    assert set(found) == set(ids[:2])  # other task, running run, failed sample, not a sample
    assert [keys.pointer(found[i]) for i in ids[:2]] == [("run-a", TASK, 2), ("run-b", TASK, 7)]


def test_sample_order_is_stable_and_spread() -> None:
    idx = np.arange(10_000)
    a, b = sample_order("run-a", "qa", idx), sample_order("run-b", "qa", idx)
    assert a.dtype == np.uint64 and np.array_equal(a, sample_order("run-a", "qa", idx))
    assert len(np.unique(a)) == len(idx) and not np.array_equal(a, b)
    ranks = np.argsort(np.argsort(a))  # unrelated to the index: rank correlation near 0
    assert abs(np.corrcoef(ranks, idx)[0, 1]) < 0.05
    assert abs(np.mean(a < b) - 0.5) < 0.03  # two runs interleave evenly
