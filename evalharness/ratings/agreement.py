"""How far a team's own judges agree with people, as stored.

``calibrate --dataset TASK`` (``meta/own_judges.py``) pairs the ``judgments`` of run samples
that people rated with those ratings and stores here, per (judge model, rubric, criterion), the
item-level agreement with its 95% bootstrap CI and n. Gates (``min_judge_agreement``) read the
latest row; a judge nobody has checked against people has none.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from evalharness.judges import judged_metric
from evalharness.judges.records import Judgment
from evalharness.store import Base, Store, now

# The statistic ``min_judge_agreement`` compares with: rank correlation, as G-Eval reports.
GATED_STATISTIC = "spearman"
STORED = ("spearman", "kendall", "pearson", "quadratic_kappa", "exact_agreement")


class JudgeAgreement(Base):
    __tablename__ = "judge_agreement"
    __table_args__ = (sa.Index("ix_judge_agreement_lookup", "judge", "rubric", "criterion"),)
    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    judge: Mapped[str] = mapped_column(sa.String(512))  # the judge model's name
    rubric: Mapped[str] = mapped_column(sa.String(128))
    criterion: Mapped[str] = mapped_column(sa.String(128))
    dataset: Mapped[str] = mapped_column(sa.String(128))  # whose human ratings
    statistic: Mapped[str] = mapped_column(sa.String(32))
    value: Mapped[float | None] = mapped_column(sa.Float, nullable=True)
    ci_low: Mapped[float | None] = mapped_column(sa.Float, nullable=True)
    ci_high: Mapped[float | None] = mapped_column(sa.Float, nullable=True)
    n: Mapped[int] = mapped_column(sa.Integer)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime, default=now)


@dataclass(frozen=True)
class Agreement:
    judge: str
    rubric: str
    criterion: str
    dataset: str
    statistic: str
    value: float | None
    ci_low: float | None
    ci_high: float | None
    n: int

    def describe(self) -> str:
        """E.g. ``ρ 0.42 [0.35, 0.49], n 40``."""
        mark = {"spearman": "ρ", "kendall": "τ"}.get(self.statistic, self.statistic)
        return f"{mark} {_num(self.value)} [{_num(self.ci_low)}, {_num(self.ci_high)}], n {self.n}"


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def store_agreement(store: Store, found: list[Agreement]) -> int:
    with store.session() as s, s.begin():
        s.add_all(JudgeAgreement(**vars(a)) for a in found)
    return len(found)


def stored_agreement(
    store: Store, judge: str, rubric: str, criterion: str, statistic: str = GATED_STATISTIC
) -> Agreement | None:
    """The latest stored agreement of ``judge`` on ``rubric``/``criterion``, or None."""
    query = (
        sa.select(JudgeAgreement)
        .where(JudgeAgreement.judge == judge, JudgeAgreement.rubric == rubric)
        .where(JudgeAgreement.criterion == criterion, JudgeAgreement.statistic == statistic)
        .order_by(JudgeAgreement.id.desc())
        .limit(1)
    )
    with store.session() as s:
        row = s.scalars(query).first()
    if row is None:
        return None
    fields = ("judge", "rubric", "criterion", "dataset", "statistic", "value", "ci_low",
              "ci_high", "n")  # fmt: skip
    return Agreement(**{f: getattr(row, f) for f in fields})


def judges_behind(store: Store, run_id: str, task: str, rubric: str, criterion: str) -> list[str]:
    """The judge models whose verdicts on ``criterion`` of the run's ``task`` are stored."""
    query = (
        sa.select(Judgment.judge)
        .where(Judgment.run_id == run_id, Judgment.task == task, Judgment.rubric == rubric)
        .where(Judgment.criterion == criterion, Judgment.other_run_id.is_(None))
        .distinct()
    )
    with store.session() as s:
        return sorted(s.scalars(query))


def with_agreement(store: Store, run_id: str, results: dict[str, dict[str, Any]]) -> None:
    """Put each judged aggregate's trust beside it: ``agreement`` is, per judge behind it, the
    stored agreement (``asdict(Agreement)``) or None (uncalibrated); other metrics unchanged."""
    for task, metrics in results.items():
        for name, agg in metrics.items():
            judged = judged_metric(name)
            if judged is None or not isinstance(agg, dict):
                continue
            criterion = judged.base_criterion.split(".", 1)[0]  # coherence.expected: coherence
            judges = [judged.judge] if judged.judge else judges_behind(
                store, run_id, task, judged.rubric, criterion
            )  # fmt: skip
            found = {j: stored_agreement(store, j, judged.rubric, criterion) for j in judges}
            agg["agreement"] = {j: asdict(a) if a else None for j, a in found.items()}


def trust_text(agg: dict[str, Any]) -> str:
    """``ρ 0.42 [0.35, 0.49], n 40`` per judge of a judged aggregate, or ``uncalibrated``."""
    shown = [
        (Agreement(**a).describe() if a else "uncalibrated")
        + (f" ({judge})" if len(agg["agreement"]) > 1 else "")
        for judge, a in agg.get("agreement", {}).items()
    ]
    return "; ".join(shown) or "uncalibrated"
