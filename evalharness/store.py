"""The store: SQLAlchemy tables and the few functions that read and write them.

SQLite file by default; any SQLAlchemy URL (PostgreSQL) for a team. Sample rows are written
as they finish, so a crash loses nothing finished and a resumed run does only what is missing.
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    cast,
    create_engine,
    delete,
    event,
    false,
    func,
    or_,
    select,
    text,
    true,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError, IntegrityError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, load_only, mapped_column
from sqlalchemy.sql.elements import ColumnElement

from evalharness.errors import StoreError
from evalharness.schema import upgrade

DEFAULT_URL = "sqlite:///evalharness.db"


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class Run(Base):
    __tablename__ = "runs"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    model: Mapped[str] = mapped_column(String(512))  # the spec the user gave
    model_name: Mapped[str] = mapped_column(String(512), default="")  # identity incl. revision
    status: Mapped[str] = mapped_column(String(16), default="running")
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    versions: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    git_revision: Mapped[str | None] = mapped_column(String(64), nullable=True)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now, index=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    duration_s: Mapped[float | None] = mapped_column(Float, nullable=True)


FAILED = text("error IS NOT NULL")  # the partial index of failed samples (migration 0004)
SCORED = text("error IS NULL")  # the covering index of scored samples (migration 0007)
SCORED_INDEX = "ix_samples_scored"
SCORED_KEY = ("run_id", "task", "idx", "input", "stats", "error")  # its columns, on SQLite


def scored_index() -> Index:
    """On SQLite, the samples that finished with their input row and statistics, in an index
    that pairing two runs reads alone (not the wide rows with prompts and outputs); ``error``
    is in the key too, or SQLite (3.40 here) reads the table to test it. Not on PostgreSQL: a
    B-tree entry there holds at most 2,704 bytes, and input rows (a news article) are longer."""
    return Index(SCORED_INDEX, *SCORED_KEY, sqlite_where=SCORED).ddl_if(dialect="sqlite")


class Sample(Base):
    __tablename__ = "samples"
    __table_args__ = (
        UniqueConstraint("run_id", "task", "idx"),
        Index("ix_samples_failed", "run_id", "task", "idx", sqlite_where=FAILED,
              postgresql_where=FAILED),
        scored_index(),
    )  # fmt: skip
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"), index=True)
    task: Mapped[str] = mapped_column(String(128))
    idx: Mapped[int] = mapped_column(Integer)  # row index in the task's dataset
    input: Mapped[dict[str, Any]] = mapped_column(JSON)
    prompt: Mapped[str] = mapped_column(Text)
    output: Mapped[str | None] = mapped_column(Text, nullable=True)  # generation, as text
    reference: Mapped[Any] = mapped_column(JSON, nullable=True)
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # log-likelihoods, raw texts
    scores: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)  # per-sample metric values
    stats: Mapped[dict[str, list[float]]] = mapped_column(JSON, default=dict)  # sufficient stats
    latency_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    prompt_tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    completion_tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)


class AggregateRow(Base):
    __tablename__ = "aggregates"
    __table_args__ = (UniqueConstraint("run_id", "task", "metric"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"), index=True)
    task: Mapped[str] = mapped_column(String(128))
    metric: Mapped[str] = mapped_column(String(128))
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    ci_low: Mapped[float | None] = mapped_column(Float, nullable=True)
    ci_high: Mapped[float | None] = mapped_column(Float, nullable=True)
    n: Mapped[int] = mapped_column(Integer)
    n_failed: Mapped[int] = mapped_column(Integer, default=0)


@dataclass(frozen=True)
class SampleFilter:
    """Filters of a run's samples, as SQL conditions (``Store.sample_page``)."""

    task: str | None = None
    search: str = ""
    metric: str | None = None
    score_range: tuple[float, float] | None = None
    failed_only: bool = False
    only_ids: frozenset[int] | None = None
    ok_only: bool = False

    def where(self, run_id: str) -> list[ColumnElement[bool]]:
        out: list[ColumnElement[bool]] = [Sample.run_id == run_id]
        if self.task:
            out.append(Sample.task == self.task)
        if self.failed_only:
            out.append(Sample.error.is_not(None))
        if self.ok_only:
            out.append(Sample.error.is_(None))
        if self.only_ids is not None:
            out.append(Sample.id.in_(sorted(self.only_ids)) if self.only_ids else false())
        if self.metric and self.score_range is not None:
            out.append(Sample.scores[self.metric].as_float().between(*self.score_range))
        if needle := self.search.strip():
            out.append(or_(*_contains(needle)))
        return out


def _contains(needle: str) -> list[ColumnElement[bool]]:
    """Case-insensitive ``needle`` in input, prompt, output, reference or error. JSON columns
    hold non-ASCII text as ``\\u`` escapes, so they are searched for the escaped form too."""
    found = [
        c.icontains(needle, autoescape=True) for c in (Sample.prompt, Sample.output, Sample.error)
    ]
    escaped = json.dumps(needle)[1:-1]
    for column in (cast(Sample.input, Text), cast(Sample.reference, Text)):
        found += [column.icontains(n, autoescape=True) for n in dict.fromkeys((needle, escaped))]
    return found


def database_url(url: str | None = None) -> str:
    return url or os.environ.get("EVALHARNESS_DB") or DEFAULT_URL


@dataclass
class Store:
    engine: Engine

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    # runs
    def add_run(self, run: Run, exist_ok: bool = False) -> Run:
        """Insert ``run``; with ``exist_ok`` a run of that id stored meanwhile (by another
        shard) is returned instead."""
        try:
            with self.session() as s, s.begin():
                s.add(run)
        except IntegrityError:
            if not exist_ok:
                raise
            return self.get_run(run.id)
        return run

    def find_run(self, run_id: str) -> Run | None:
        with self.session() as s:
            return s.get(Run, run_id)

    def update_run(self, run_id: str, **fields: Any) -> None:
        with self.session() as s, s.begin():
            run = s.get(Run, run_id)
            for key, value in fields.items():
                setattr(run, key, value)

    def get_run(self, run_id: str) -> Run:
        with self.session() as s:
            run = s.get(Run, run_id)
        if run is None:
            raise StoreError(f"no run {run_id!r} in {self.engine.url.render_as_string()}")
        return run

    def runs(self) -> list[Run]:
        with self.session() as s:
            return list(s.scalars(select(Run).order_by(Run.created_at.desc())))

    # samples
    def add_samples(self, samples: Iterable[Sample]) -> None:
        with self.session() as s, s.begin():
            s.add_all(list(samples))

    def done_indices(self, run_id: str, task: str) -> set[int]:
        with self.session() as s:
            query = select(Sample.idx).where(Sample.run_id == run_id, Sample.task == task)
            return set(s.scalars(query))

    def samples(
        self, run_id: str, task: str | None = None, *, fields: Sequence[str] = ()
    ) -> list[Sample]:
        """Every sample of a run (or task) by (task, idx); only ``fields`` loaded if given (the
        others must not be touched). Pages read ``sample_page`` instead."""
        with self.session() as s:
            query = select(Sample).where(Sample.run_id == run_id)
            if fields:
                query = query.options(load_only(*(getattr(Sample, f) for f in fields)))
            if task is not None:
                query = query.where(Sample.task == task)
            return list(s.scalars(query.order_by(Sample.task, Sample.idx)))

    # pages of samples: filtered, counted and sliced in SQL (the Samples page, the report)
    def sample_page(
        self,
        run_id: str,
        task: str | None = None,
        *,
        offset: int = 0,
        limit: int = 50,
        search: str = "",
        failed_only: bool = False,
        metric: str | None = None,
        score_range: tuple[float, float] | None = None,
        only_ids: Iterable[int] | None = None,
        ok_only: bool = False,
    ) -> tuple[list[Sample], int]:
        """``limit`` samples from ``offset`` in (task, idx) order, and how many match in all.

        ``search`` is case-insensitive (``LIKE``/``ILIKE``) over input, prompt, output,
        reference and error; ``score_range`` keeps samples whose ``metric`` lies in [low, high];
        ``only_ids`` keeps those sample ids; ``ok_only`` the samples without error. One
        ``LIMIT`` query and one ``COUNT(*)``.
        """
        where = SampleFilter(
            task, search, metric, score_range, failed_only,
            None if only_ids is None else frozenset(only_ids), ok_only,
        ).where(run_id)  # fmt: skip
        page = select(Sample).where(*where).order_by(Sample.task, Sample.idx)
        with self.session() as s:
            rows = list(s.scalars(page.offset(max(offset, 0)).limit(max(limit, 0))))
            total = s.scalar(select(func.count()).select_from(Sample).where(*where)) or 0
        return rows, int(total)

    def sample_count(self, run_id: str, task: str | None = None) -> int:
        return self.sample_page(run_id, task, limit=0)[1]

    def sample_tasks(self, run_id: str) -> list[str]:
        query = select(Sample.task).where(Sample.run_id == run_id).distinct()
        with self.session() as s:
            return sorted(s.scalars(query))

    def score_names(self, run_id: str, task: str | None = None) -> list[str]:
        """Per-sample score names of a run (or task): the first sample's order, then the rest
        sorted. The keys are listed in SQL (``json_each`` / ``json_object_keys``)."""
        where = SampleFilter(task).where(run_id)
        if self.engine.dialect.name == "postgresql":
            where.append(func.json_typeof(Sample.scores) == "object")
            keys = select(func.json_object_keys(Sample.scores)).where(*where)
        else:
            each = func.json_each(Sample.scores).table_valued("key")
            keys = select(each.c.key).select_from(Sample).join(each, true()).where(*where)
        first = select(Sample.scores).where(*where).order_by(Sample.task, Sample.idx).limit(1)
        with self.session() as s:
            found = set(s.scalars(keys.distinct()))
            leading = [k for k in (s.scalar(first) or {}) if k in found]
        return leading + sorted(found - set(leading))

    def score_bounds(
        self, run_id: str, metric: str, task: str | None = None
    ) -> tuple[float, float] | None:
        """(min, max) of a per-sample score over the run (or task); None when no sample has it."""
        value = Sample.scores[metric].as_float()
        query = select(func.min(value), func.max(value)).where(*SampleFilter(task).where(run_id))
        with self.session() as s:
            low, high = s.execute(query).one()
        return None if low is None else (float(low), float(high))

    def failed_samples(self, run_id: str, task: str) -> list[Sample]:
        """The task's failed samples by index (only idx and error loaded; a partial index)."""
        query = (
            select(Sample)
            .options(load_only(Sample.id, Sample.task, Sample.idx, Sample.error))
            .where(*SampleFilter(task, failed_only=True).where(run_id))
            .order_by(Sample.idx)
        )
        with self.session() as s:
            return list(s.scalars(query))

    def median_latency(self, run_id: str, task: str) -> float | None:
        """The upper median of the task's recorded latencies (``ORDER BY … OFFSET n/2``)."""
        where = [*SampleFilter(task).where(run_id), Sample.latency_s.is_not(None)]
        with self.session() as s:
            n = s.scalar(select(func.count()).select_from(Sample).where(*where)) or 0
            if not n:
                return None
            middle = select(Sample.latency_s).where(*where).order_by(Sample.latency_s)
            return s.scalar(middle.offset(n // 2).limit(1))

    # aggregates
    def set_aggregates(self, run_id: str, task: str, rows: list[AggregateRow]) -> None:
        """Replace the task's rows of the metrics in ``rows``; its other rows (a judge's) stay."""
        metrics = [row.metric for row in rows]
        with self.session() as s, s.begin():
            s.execute(
                delete(AggregateRow).where(
                    AggregateRow.run_id == run_id,
                    AggregateRow.task == task,
                    AggregateRow.metric.in_(metrics),
                )
            )
            s.add_all(rows)

    def aggregates(self, run_id: str) -> list[AggregateRow]:
        with self.session() as s:
            query = select(AggregateRow).where(AggregateRow.run_id == run_id)
            return list(s.scalars(query.order_by(AggregateRow.task, AggregateRow.id)))


_MMAP_BYTES = 1 << 31


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers (the app) never block the runner
    cursor.execute("PRAGMA busy_timeout=30000")
    # reads through a memory map (SQLite clamps it to its build's limit): no read() call per
    # page, a third less time on the joins of big runs; writes still go through the journal
    cursor.execute(f"PRAGMA mmap_size={_MMAP_BYTES}")
    cursor.close()


# Modules whose tables live on ``Base`` too; imported before ``create_all`` so every store has them.
TABLE_MODULES: tuple[str, ...] = (
    "evalharness.ratings.records",
    "evalharness.judges.records",
    "evalharness.leases",
    "evalharness.usage",
    "evalharness.ratings.agreement",
)


def open_store(url: str | None = None) -> Store:
    for module in TABLE_MODULES:
        importlib.import_module(module)
    url = database_url(url)
    try:
        engine = create_engine(url)
    except (ArgumentError, ImportError) as exc:
        raise StoreError(f"cannot open store {url!r}: {exc}") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    try:
        upgrade(engine, Base.metadata)  # Alembic migrations, serialised across processes
    except OperationalError as exc:
        raise StoreError(f"cannot open store {url!r}: {exc.orig}") from None
    return Store(engine)


def runs_with_tag(
    store: Store, tag: str, *, model: str | None = None, exclude: str | None = None
) -> list[Run]:
    """Finished runs carrying ``tag`` (optionally with this model spec), most recent first.

    Tags are a JSON list, filtered here rather than in SQL so that SQLite and PostgreSQL agree.
    """
    query = select(Run).where(Run.status == "finished")
    if model is not None:
        query = query.where(Run.model == model)
    if exclude is not None:
        query = query.where(Run.id != exclude)
    query = query.order_by(Run.finished_at.desc().nulls_last(), Run.created_at.desc())
    with store.session() as s:
        return [run for run in s.scalars(query) if tag in (run.tags or [])]
