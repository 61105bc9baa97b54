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
from sqlalchemy import Text, and_, case, cast, func, select, true, type_coerce
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement

from evalharness.judges import JUDGE_PREFIX
from evalharness.store import AggregateRow, Sample, Store

_ROW = ";"  # between the rows of an aggregated column (JSON rows of numbers have none)


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
    """The pairs of one task that finished without error in both runs, by index: whether their
    input rows match, and each metric's statistics row in either run as JSON text ("" where
    the sample lacks the metric)."""

    idx: list[int]
    same: list[bool]
    texts: dict[str, tuple[list[str], list[str]]]

    def rows(self, metric: str) -> tuple[np.ndarray, np.ndarray, tuple[int, ...], int]:
        """(rows of a, rows of b, indices, mismatched count) of the pairs scored by ``metric``;
        pairs whose input rows differ are only counted."""
        in_a, in_b = self.texts[metric]
        both = [i for i, (x, y) in enumerate(zip(in_a, in_b, strict=True)) if x and y]
        keep = [i for i in both if self.same[i]]
        off = len(both) - len(keep)
        if not keep:
            return np.zeros((0, 0)), np.zeros((0, 0)), (), off
        a, b = _matrix([in_a[i] for i in keep]), _matrix([in_b[i] for i in keep])
        return a, b, tuple(self.idx[i] for i in keep), off


def _matrix(texts: list[str]) -> np.ndarray:
    """JSON rows of numbers as one float matrix: equal-width rows split and converted by numpy
    (no Python list per row), anything else through ``json``."""
    width = texts[0].count(",") + 1
    if all(t.count(",") == width - 1 for t in texts):
        flat = ",".join(texts).replace("[", "").replace("]", "").split(",")
        try:
            return np.array(flat, dtype=float).reshape(len(texts), width)
        except ValueError:
            pass
    return np.array(json.loads("[" + ",".join(texts) + "]"), dtype=float)


def _metric_text(store: Store, column: ColumnElement, metric: str) -> ColumnElement:
    """One metric's statistics row of a JSON ``stats`` column as JSON text, "" if absent."""
    if store.engine.dialect.name == "postgresql":
        found = func.json_extract_path_text(column, metric)
    else:
        found = type_coerce(func.json_extract(column, f'$."{metric}"'), Text)
    return func.coalesce(found, "")


def task_pairs(store: Store, run_a: str, run_b: str, task: str, metrics: list[str]) -> TaskPairs:
    """Both runs' samples of ``task`` that finished without error, joined on the index, with
    the statistics of ``metrics`` extracted by the database.

    Each column comes back as one string aggregated over the pairs (the aggregates of one query
    see the rows in one order), so 100,000 pairs cost a few strings rather than a row tuple
    each, which the cyclic GC would walk again and again.
    """
    a, b = aliased(Sample, name="a"), aliased(Sample, name="b")
    same = case((same_question(store, a, b), "1"), else_="0")
    columns = [cast(a.idx, Text), same]
    columns += [_metric_text(store, s.stats, m) for m in metrics for s in (a, b)]
    query = (
        select(*(func.aggregate_strings(c, _ROW) for c in columns))
        .select_from(a)
        .join(b, and_(a.task == b.task, a.idx == b.idx))
        .where(a.run_id == run_a, b.run_id == run_b, a.task == task)
        .where(a.error.is_(None), b.error.is_(None))
    )
    with store.engine.connect() as conn:
        found = conn.execute(query).one()
    if found[0] is None:  # no pairs
        return TaskPairs([], [], {m: ([], []) for m in metrics})
    idx = np.array(found[0].split(_ROW), dtype=np.int64)
    order = np.argsort(idx, kind="stable").tolist()
    split = [[values[i] for i in order] for values in (text.split(_ROW) for text in found[1:])]
    texts = {m: (split[1 + 2 * k], split[2 + 2 * k]) for k, m in enumerate(metrics)}
    return TaskPairs(idx[order].tolist(), [x == "1" for x in split[0]], texts)


def metrics_by_task(counts: dict[tuple[str, str], int]) -> Iterator[tuple[str, list[str]]]:
    """(task, its metric names sorted) from ``scored_counts``."""
    tasks: dict[str, list[str]] = {}
    for task, metric in sorted(counts):
        tasks.setdefault(task, []).append(metric)
    yield from tasks.items()
