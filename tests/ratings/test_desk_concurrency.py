"""Ten annotators rating at the same time lose nothing, on SQLite and on a real PostgreSQL.

Every annotator works through the same 50 run samples with the annotation desk's own ``queue``
and ``submit`` (the same items in the same order, so they also race to create each sample's
``rated_items`` row), in its own thread with its own engine, as separate app servers would.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from sqlalchemy import func, select

from evalharness import evaluate
from evalharness.judges.rubric import load_rubric
from evalharness.models.scripted import ScriptedModel
from evalharness.ratings.desk import Source, queue, submit
from evalharness.ratings.records import HumanRating, RatedItem, ratings
from evalharness.store import open_store
from tests.support.helpers import ECHO_TASK
from tests.support.pg_server import PgServer

ANNOTATORS = 10
PER_ANNOTATOR = 50
RUBRIC = "summeval"  # four criteria: four rows per submitted item


def _fill(url: str, folder: Path) -> None:
    rows = "".join(json.dumps({"word": f"w{i}"}) + "\n" for i in range(PER_ANNOTATOR))
    (folder / "rows.jsonl").write_text(rows)
    (folder / "echo.yaml").write_text(ECHO_TASK)
    model = ScriptedModel({f"Say w{i}": f"w{i}" for i in range(PER_ANNOTATOR)}, name="echoer")
    evaluate(model, [str(folder / "echo.yaml")], db=url, cache=False)


def _rate_all(url: str, annotator: str, errors: list[BaseException]) -> None:
    store = open_store(url)  # an engine of its own, like another app server
    try:
        rubric = load_rubric(RUBRIC)
        source = Source("task", "echo")
        for n in range(PER_ANNOTATOR):
            item = queue(store, annotator, rubric, source)[0]
            answers = {c.name: str(1 + (n + len(annotator)) % 5) for c in rubric.criteria}
            submit(store, annotator, item, rubric, answers, comment=f"{annotator} #{n}")
        assert queue(store, annotator, rubric, source) == []
    except BaseException as exc:  # reported by the test, not lost in the thread
        errors.append(exc)
    finally:
        store.engine.dispose()


def _run_annotators(url: str, folder: Path) -> None:
    _fill(url, folder)
    errors: list[BaseException] = []
    names = [f"annotator-{i:02d}" for i in range(ANNOTATORS)]
    threads = [threading.Thread(target=_rate_all, args=(url, n, errors)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "an annotator hung"
    assert not errors, errors
    store = open_store(url)
    criteria = len(load_rubric(RUBRIC).criteria)
    every = ratings(store, rubric=RUBRIC, latest=False)
    assert len(every) == ANNOTATORS * PER_ANNOTATOR * criteria  # nothing lost, nothing doubled
    per_annotator = every.groupby("annotator")["item_id"].nunique()
    assert per_annotator.to_dict() == dict.fromkeys(names, PER_ANNOTATOR)
    assert every.groupby(["annotator", "comment"]).size().eq(criteria).all()
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(RatedItem)) == PER_ANNOTATOR
        superseded = select(func.count()).where(HumanRating.supersedes_id.is_not(None))
        assert s.scalar(superseded) == 0
    store.engine.dispose()


def test_ten_annotators_sqlite(tmp_path: Path) -> None:
    _run_annotators(f"sqlite:///{tmp_path / 'ratings.db'}", tmp_path)


# ----------------------------------------------------------------------------- PostgreSQL


def test_ten_annotators_postgresql(postgres_server: PgServer, tmp_path: Path) -> None:
    """A real PostgreSQL server on 127.0.0.1 (``tests/support/pg_server.py``), a fresh database."""
    _run_annotators(postgres_server.fresh_database(), tmp_path)
