"""The store: SQLAlchemy tables and the few functions that read and write them.

SQLite file by default; any SQLAlchemy URL (PostgreSQL) for a team. Sample rows are written
as they finish, so a crash loses nothing finished and a resumed run does only what is missing.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    delete,
    event,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError, IntegrityError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

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
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    duration_s: Mapped[float | None] = mapped_column(Float, nullable=True)


class Sample(Base):
    __tablename__ = "samples"
    __table_args__ = (UniqueConstraint("run_id", "task", "idx"),)
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

    def samples(self, run_id: str, task: str | None = None) -> list[Sample]:
        with self.session() as s:
            query = select(Sample).where(Sample.run_id == run_id)
            if task is not None:
                query = query.where(Sample.task == task)
            return list(s.scalars(query.order_by(Sample.task, Sample.idx)))

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


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers (the app) never block the runner
    cursor.execute("PRAGMA busy_timeout=30000")
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
