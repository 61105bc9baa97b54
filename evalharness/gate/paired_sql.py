"""Two runs' paired sufficient statistics, read with SQL: no sample objects, no prompts.

``pair_samples``'s rule (same task, same dataset index, same input row) as a join, so a
comparison of two 100,000-sample runs reads each metric's statistics as a few aggregated
strings instead of building 200,000 ORM objects. Metric names and scored counts
come from the aggregates a finished run stored (else one ``GROUP BY`` over the JSON keys of each
run's statistics).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import compress

import numpy as np
from sqlalchemy import Select, Text, and_, case, cast, func, select, true, type_coerce
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection, Row
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement

from evalharness.judges import JUDGE_PREFIX
from evalharness.store import SCORED_INDEX, AggregateRow, Sample, Store

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
class MetricRows:
    """One metric's statistics over a task's pairs in either run; ``has_a``/``has_b`` mark the
    pairs whose sample carries the metric (other rows are zeros)."""

    a: np.ndarray
    b: np.ndarray
    has_a: np.ndarray
    has_b: np.ndarray


@dataclass(frozen=True)
class TaskPairs:
    """The pairs of one task that finished without error in both runs, ordered by index, and
    whether their input rows match."""

    idx: np.ndarray
    same: np.ndarray
    metrics: dict[str, MetricRows]

    def rows(self, metric: str) -> tuple[np.ndarray, np.ndarray, tuple[int, ...], int]:
        """(rows of a, rows of b, indices, mismatched count) of the pairs scored by ``metric``;
        pairs whose input rows differ are only counted."""
        m = self.metrics.get(metric)
        if m is None:  # no pairs at all
            return np.zeros((0, 0)), np.zeros((0, 0)), (), 0
        both = m.has_a & m.has_b
        keep = both & self.same
        off = int(np.count_nonzero(both & ~self.same))
        if not keep.any():
            return np.zeros((0, 0)), np.zeros((0, 0)), (), off
        return m.a[keep], m.b[keep], tuple(self.idx[keep].tolist()), off


def _matrix(joined: str, rows: int) -> np.ndarray:
    """``rows`` JSON rows of numbers joined by ``_ROW`` as one float matrix: equal-width rows
    parsed by numpy in one pass (no Python object per number), anything else by ``json``."""
    codes = np.frombuffer(joined.encode(), dtype=np.uint8)
    ends = np.append(np.flatnonzero(codes == ord(_ROW)), codes.size - 1)
    commas = np.diff(np.cumsum(codes == ord(","))[ends], prepend=0)  # per row
    width = int(commas[0]) + 1
    if (commas == width - 1).all():
        numbers = joined.replace("[", "").replace("]", "").replace(_ROW, ",")
        with warnings.catch_warnings():  # numpy < 2.3 warns, then returns what it read
            warnings.simplefilter("error", DeprecationWarning)
            try:
                return np.fromstring(numbers, sep=",").reshape(rows, width)
            except (ValueError, DeprecationWarning):
                pass  # NaN, Infinity: json's spellings
    return np.array(json.loads("[" + joined.replace(_ROW, ",") + "]"), dtype=float)


def _column(text: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    """An aggregated statistics column ("" where the sample lacks the metric) as (n rows,
    zeros where absent; which rows are present)."""
    texts = text.split(_ROW)
    has = np.fromiter(map(bool, texts), dtype=bool, count=n)
    if has.all():
        return _matrix(text, n), has
    if not has.any():
        return np.zeros((n, 0)), has
    found = _matrix(_ROW.join(compress(texts, has)), int(has.sum()))
    rows = np.zeros((n, found.shape[1]))
    rows[has] = found
    return rows, has


def _metric_text(store: Store, column: ColumnElement, metric: str) -> ColumnElement:
    """One metric's statistics row of a JSON ``stats`` column as JSON text, "" if absent."""
    if store.engine.dialect.name == "postgresql":
        found = func.json_extract_path_text(column, metric)
    else:
        found = type_coerce(func.json_extract(column, f'$."{metric}"'), Text)
    return func.coalesce(found, "")


def run_pairs(
    store: Store, run_a: str, run_b: str, metrics: dict[str, list[str]]
) -> dict[str, TaskPairs]:
    """Both runs' samples of each task in ``metrics`` that finished without error, joined on
    the index, with the statistics of the task's metrics extracted by the database.

    One query for every task, and each column comes back as one string aggregated over a
    task's pairs (the aggregates of one group see its rows in one order), so 100,000 pairs
    cost a few strings rather than a row tuple each, which the cyclic GC would walk.
    """
    names = sorted({m for task_metrics in metrics.values() for m in task_metrics})
    with store.engine.connect() as conn:
        rows = _execute(conn, _pairs_query(store, run_a, run_b, metrics, names))
        found = {row[0]: row[1:] for row in rows}
    empty = TaskPairs(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool), {})
    return {task: _task_pairs(found[task], names, metrics[task]) if task in found else empty
            for task in metrics}  # fmt: skip


def _pairs_query(
    store: Store, run_a: str, run_b: str, metrics: dict[str, list[str]], names: list[str]
) -> Select[tuple]:
    """``run_pairs``' query: per task, its aggregated columns (index, same input, then each of
    ``names``' statistics in a and in b); on SQLite, from the covering ``ix_samples_scored``."""
    a, b = aliased(Sample, name="a"), aliased(Sample, name="b")
    columns = [cast(a.idx, Text), case((same_question(store, a, b), "1"), else_="0")]
    for name in names:  # extracted only on the rows of the tasks that want it
        tasks = [task for task, wanted in metrics.items() if name in wanted]
        columns += [case((a.task.in_(tasks), _metric_text(store, s.stats, name)), else_="")
                    for s in (a, b)]  # fmt: skip
    return (
        select(a.task, *(func.aggregate_strings(c, _ROW) for c in columns))
        .select_from(a)
        .join(b, and_(a.task == b.task, a.idx == b.idx))
        .where(a.run_id == run_a, b.run_id == run_b, a.task.in_(list(metrics)))
        .where(a.error.is_(None), b.error.is_(None))
        .group_by(a.task)
    )


def _execute(conn: Connection, query: Select[tuple]) -> Iterable[Row]:
    """``conn.execute(query)``, on SQLite with ``INDEXED BY ix_samples_scored`` on both sides
    (which SQLAlchemy does not render): without ``ANALYZE`` statistics, SQLite reads the
    second run's wide rows through the unique key instead of the narrow covering index."""
    if conn.dialect.name != "sqlite":
        return conn.execute(query)
    compiled = query.compile(conn, compile_kwargs={"render_postcompile": True})
    sql = str(compiled)
    for table in ("FROM samples AS a ", "JOIN samples AS b "):
        sql = sql.replace(table, f"{table}INDEXED BY {SCORED_INDEX} ", 1)
    params = tuple(compiled.params[name] for name in compiled.positiontup or ())
    return conn.exec_driver_sql(sql, params)


def _task_pairs(texts: tuple[str, ...], names: list[str], wanted: list[str]) -> TaskPairs:
    """One task's aggregated columns (index, same input, then each name's a and b) as pairs
    ordered by index."""
    idx = np.fromstring(texts[0], dtype=np.int64, sep=_ROW)
    order = np.argsort(idx, kind="stable")
    same = (np.array(texts[1].split(_ROW)) == "1")[order]
    metrics = {}
    for k, name in enumerate(names):
        if name in wanted:
            (a, has_a), (b, has_b) = (_column(t, len(idx)) for t in texts[2 + 2 * k : 4 + 2 * k])
            metrics[name] = MetricRows(a[order], b[order], has_a[order], has_b[order])
    return TaskPairs(idx[order], same, metrics)


def metrics_by_task(counts: dict[tuple[str, str], int]) -> Iterator[tuple[str, list[str]]]:
    """(task, its metric names sorted) from ``scored_counts``."""
    tasks: dict[str, list[str]] = {}
    for task, metric in sorted(counts):
        tasks.setdefault(task, []).append(metric)
    yield from tasks.items()
