"""The ``judgments`` table (on the store's ``Base``) and the few functions that use it.

One row per (sample, rubric criterion, judge, presentation order): the parsed score and/or
label with its rationale, or ``parsed = False`` with no score, always with the rendered judge
prompt and the raw answer. Pointwise rows have ``order`` and ``other_run_id`` None; pairwise
rows store the two orders "AB" and "BA", ``run_id`` being the run shown as A in "AB".
``judge_bias`` holds the bias probes of ``evalharness bias`` (``judges/probes.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    delete,
    select,
)
from sqlalchemy.orm import Mapped, mapped_column

from evalharness.judges import JUDGE_PREFIX
from evalharness.store import AggregateRow, Base, Store, now


class Judgment(Base):
    __tablename__ = "judgments"
    __table_args__ = (
        Index("ix_judgments_lookup", "run_id", "task", "rubric", "judge"),
        Index("ix_judgments_sample", "run_id", "task", "idx"),  # migration 0008
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"))
    task: Mapped[str] = mapped_column(String(128))
    idx: Mapped[int] = mapped_column(Integer)  # the sample's row index in its task
    rubric: Mapped[str] = mapped_column(String(128))
    criterion: Mapped[str] = mapped_column(String(128))
    judge: Mapped[str] = mapped_column(String(512))  # judge model name (identity)
    mode: Mapped[str] = mapped_column(String(32))  # pointwise | reference_guided | pairwise
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    label: Mapped[str | None] = mapped_column(String(64), nullable=True)
    rationale: Mapped[str | None] = mapped_column(Text, nullable=True)
    prompt: Mapped[str] = mapped_column(Text)  # the rendered judge prompt
    raw_output: Mapped[str] = mapped_column(Text)  # the final answer (of the first sample)
    parsed: Mapped[bool] = mapped_column(Boolean)
    order: Mapped[str | None] = mapped_column(String(2), nullable=True)  # AB | BA (pairwise)
    other_run_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # n, the samples' values and raw answers, parse errors, attempts, MQM errors, winner
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)


class JudgeBias(Base):
    __tablename__ = "judge_bias"
    __table_args__ = (Index("ix_judge_bias_lookup", "judge", "rubric"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    judge: Mapped[str] = mapped_column(String(512))
    rubric: Mapped[str] = mapped_column(String(128))
    criterion: Mapped[str] = mapped_column(String(128))
    probe: Mapped[str] = mapped_column(String(32))  # padded | injected | position
    statistic: Mapped[str] = mapped_column(String(64))
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    ci_low: Mapped[float | None] = mapped_column(Float, nullable=True)
    ci_high: Mapped[float | None] = mapped_column(Float, nullable=True)
    n: Mapped[int] = mapped_column(Integer)
    run_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    task: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)


def add_judgments(store: Store, rows: Iterable[Judgment]) -> None:
    with store.session() as s, s.begin():
        s.add_all(list(rows))


def judged_indices(
    store: Store,
    run_id: str,
    task: str,
    rubric: str,
    judge: str,
    *,
    other_run_id: str | None = None,
) -> set[int]:
    """Samples of a task that this judge already judged with this rubric (parsed or not)."""
    query = select(Judgment.idx).where(
        Judgment.run_id == run_id,
        Judgment.task == task,
        Judgment.rubric == rubric,
        Judgment.judge == judge,
    )
    if other_run_id is None:
        query = query.where(Judgment.other_run_id.is_(None))
    else:
        query = query.where(Judgment.other_run_id == other_run_id)
    with store.session() as s:
        return set(s.scalars(query))


def judgments(
    store: Store,
    run_id: str,
    *,
    task: str | None = None,
    rubric: str | None = None,
    judge: str | None = None,
    other_run_id: str | None = None,
    pairwise: bool = False,
) -> list[Judgment]:
    """Stored judgments of a run: pointwise ones, or (``pairwise``) those against another run."""
    query = select(Judgment).where(Judgment.run_id == run_id)
    for column, value in (
        (Judgment.task, task),
        (Judgment.rubric, rubric),
        (Judgment.judge, judge),
        (Judgment.other_run_id, other_run_id),
    ):
        if value is not None:
            query = query.where(column == value)
    if not pairwise:
        query = query.where(Judgment.other_run_id.is_(None))
    with store.session() as s:
        return list(s.scalars(query.order_by(Judgment.task, Judgment.idx, Judgment.id)))


def set_judge_aggregates(
    store: Store, run_id: str, task: str, rubric: str, rows: list[AggregateRow]
) -> None:
    """Replace this rubric's ``judge:<rubric>.*`` aggregate rows of a task; others stay."""
    prefix = f"{JUDGE_PREFIX}{rubric}."
    with store.session() as s, s.begin():
        s.execute(
            delete(AggregateRow).where(
                AggregateRow.run_id == run_id,
                AggregateRow.task == task,
                AggregateRow.metric.startswith(prefix, autoescape=True),
            )
        )
        s.add_all(rows)
