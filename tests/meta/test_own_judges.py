"""``run_judgment_scores``: the judgments of a run's rated samples, found by sample."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import event

from evalharness.judges.records import Judgment
from evalharness.meta.own_judges import run_judgment_scores
from evalharness.ratings.records import RatedItem, add_items
from evalharness.store import Run, open_store


def _judgment(idx: int, score: float, **extra: object) -> Judgment:
    fields = {"run_id": "r", "task": "qa", "idx": idx, "rubric": "harm", "criterion": "harm",
              "judge": "j", "mode": "pointwise", "score": score, "prompt": "", "raw_output": "",
              "parsed": True, "details": {}, **extra}  # fmt: skip
    return Judgment(**fields)


def test_the_judgments_of_rated_samples_are_found_by_sample(db_url: str) -> None:
    store = open_store(db_url)
    store.add_run(Run(id="r", model="m", status="finished", created_at=datetime(2026, 1, 1)))
    with store.session() as s, s.begin():
        s.add_all([_judgment(i, float(i % 5 + 1)) for i in range(40)])
        s.add_all([_judgment(3, 1.0, parsed=False), _judgment(4, 2.0, other_run_id="r")])
        s.add(_judgment(3, 5.0))  # a later verdict on sample 3
    add_items(store, [RatedItem(id=f"run:r:qa:{i}", dataset="qa", response="x", run_id="r",
                                task="qa", sample_idx=i) for i in (3, 4, 7)])  # fmt: skip
    ran: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        if "JOIN judgments" in statement:
            ran.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", record)
    found = run_judgment_scores(store, "qa")
    event.remove(store.engine, "before_cursor_execute", record)
    assert list(zip(found["item_id"], found["score"], strict=True)) == [
        ("run:r:qa:3", 4.0), ("run:r:qa:4", 5.0), ("run:r:qa:7", 3.0), ("run:r:qa:3", 5.0)
    ]  # fmt: skip  # unparsed and pairwise verdicts left out, the latest last
    if store.engine.dialect.name == "sqlite":  # PostgreSQL scans tables this small
        ((statement, parameters),) = ran
        with store.engine.connect() as conn:
            plan = [step for *_, step in conn.exec_driver_sql(
                "EXPLAIN QUERY PLAN " + statement, parameters)]  # fmt: skip
        assert any("judgments USING INDEX ix_judgments_sample (run_id=? AND task=? AND idx=?)"
                   in step for step in plan), plan  # fmt: skip
