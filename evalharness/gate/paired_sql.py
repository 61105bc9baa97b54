"""Two runs' paired sufficient statistics, read with SQL: no sample objects, no prompts.

``pair_samples``'s rule (same task, same dataset index, same input row) as a join, so a
comparison of two 100,000-sample runs reads two JSON columns of the pairs and decodes them in
one ``json.loads`` instead of building 200,000 ORM objects. Metric names and scored counts
come from the aggregates a finished run stored (else one ``GROUP BY`` over the JSON keys of each
run's statistics).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from sqlalchemy import Text, and_, cast, func, select, true, type_coerce
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement

from evalharness.judges import JUDGE_PREFIX
from evalharness.store import AggregateRow, Sample, Store


def same_question(store: Store, a: type[Sample], b: type[Sample]) -> ColumnElement[bool]:
    """The pairing rule in SQL: same task and index, and the same input row (compared as JSON
    text on SQLite, as ``jsonb`` on PostgreSQL)."""
    as_json = JSONB if store.engine.dialect.name == "postgresql" else Text
    return and_(a.task == b.task, a.idx == b.idx, cast(a.input, as_json) == cast(b.input, as_json))


def run_tasks(store: Store, run_id: str) -> set[str]:
    """The tasks a run has samples of (one index scan); StoreError for an unknown run."""
    store.get_run(run_id)
    with store.session() as s:
        return set(s.scalars(select(Sample.task).where(Sample.run_id == run_id).distinct()))


def scored_counts(store: Store, run_id: str) -> dict[tuple[str, str], int]:
    """{(task, metric): samples that finished without error and carry the metric}: the ``n``
    a finished run stored with each task's aggregates, else counted from the samples."""
    stored = _stored_counts(store, run_id)
    return stored if stored is not None else counted_scores(store, run_id)


def _stored_counts(store: Store, run_id: str) -> dict[tuple[str, str], int] | None:
    """From the aggregate rows (judged metrics aside), when the run finished and every task it
    has samples of has them; None otherwise."""
    if store.get_run(run_id).status != "finished":
        return None
    query = select(AggregateRow.task, AggregateRow.metric, AggregateRow.n)
    with store.session() as s:
        rows = s.execute(query.where(AggregateRow.run_id == run_id)).all()
    tasks = run_tasks(store, run_id)
    found = {(task, metric): n for task, metric, n in rows
             if task in tasks and n and not metric.startswith(JUDGE_PREFIX)}  # fmt: skip
    return found if {task for task, _ in found} == tasks else None


def counted_scores(store: Store, run_id: str) -> dict[tuple[str, str], int]:
    """``scored_counts`` from the samples: one ``GROUP BY`` over the keys of their statistics."""
    if store.engine.dialect.name == "postgresql":
        key = func.json_object_keys(Sample.stats).label("key")
        inner = select(Sample.task, key).where(Sample.run_id == run_id, Sample.error.is_(None))
        keys = inner.subquery()
        query = select(keys.c.task, keys.c.key, func.count()).group_by(keys.c.task, keys.c.key)
    else:
        each = func.json_each(Sample.stats).table_valued("key")
        query = (
            select(Sample.task, each.c.key, func.count())
            .select_from(Sample)
            .join(each, true())  # json_each(samples.stats): a lateral join on SQLite
            .where(Sample.run_id == run_id, Sample.error.is_(None))
            .group_by(Sample.task, each.c.key)
        )
    with store.session() as s:
        return {(task, key): int(n) for task, key, n in s.execute(query)}


@dataclass(frozen=True)
class TaskPairs:
    """The scored pairs of one task: dataset indices and both runs' statistics, by index."""

    idx: list[int]
    stats_a: list[dict]
    stats_b: list[dict]
    mismatched: list[tuple[int, dict, dict]]  # shared indices whose input rows differ

    def rows(self, metric: str) -> tuple[np.ndarray, np.ndarray, tuple[int, ...], int]:
        """(rows of a, rows of b, indices, mismatched count) of the pairs scored by ``metric``."""
        keep = [i for i, (x, y) in enumerate(zip(self.stats_a, self.stats_b, strict=True))
                if metric in x and metric in y]  # fmt: skip
        off = sum(1 for _, x, y in self.mismatched if metric in x and metric in y)
        if not keep:
            return np.zeros((0, 0)), np.zeros((0, 0)), (), off
        a = np.array([self.stats_a[i][metric] for i in keep], dtype=float)
        b = np.array([self.stats_b[i][metric] for i in keep], dtype=float)
        return a, b, tuple(self.idx[i] for i in keep), off


def _decoded(texts: list[str | None]) -> list[dict]:
    """Many JSON objects in one parse (the C scanner once, not a call per row)."""
    return json.loads("[" + ",".join(t or "{}" for t in texts) + "]")


def _as_text(store: Store, column: ColumnElement) -> ColumnElement:
    """A JSON column as its stored text (PostgreSQL's driver would decode it row by row)."""
    return cast(column, Text) if store.engine.dialect.name == "postgresql" else column


def task_pairs(store: Store, run_a: str, run_b: str, task: str) -> TaskPairs:
    """Both runs' samples of ``task`` that finished without error, joined on the index."""
    a, b = aliased(Sample, name="a"), aliased(Sample, name="b")
    query = (
        select(
            a.idx,
            type_coerce(_as_text(store, a.stats), Text).label("stats_a"),
            type_coerce(_as_text(store, b.stats), Text).label("stats_b"),
            same_question(store, a, b).label("same"),
        )
        .select_from(a)
        .join(b, and_(a.task == b.task, a.idx == b.idx))
        .where(a.run_id == run_a, b.run_id == run_b, a.task == task)
        .where(a.error.is_(None), b.error.is_(None))
        .order_by(a.idx)
    )
    with store.engine.connect() as conn:  # plain rows: no ORM bookkeeping per pair
        found = conn.execute(query).all()
    same = [row for row in found if row[3]]
    stats_a, stats_b = _decoded([r[1] for r in same]), _decoded([r[2] for r in same])
    off = [row for row in found if not row[3]]
    mismatched = list(
        zip([r[0] for r in off], _decoded([r[1] for r in off]), _decoded([r[2] for r in off]),
            strict=True)
    )  # fmt: skip
    return TaskPairs([r[0] for r in same], stats_a, stats_b, mismatched)


def metrics_by_task(counts: dict[tuple[str, str], int]) -> Iterator[tuple[str, list[str]]]:
    """(task, its metric names sorted) from ``scored_counts``."""
    tasks: dict[str, list[str]] = {}
    for task, metric in sorted(counts):
        tasks.setdefault(task, []).append(metric)
    yield from tasks.items()
