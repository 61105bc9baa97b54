"""What people would say of a whole run, from a judge on every sample and people on a few.

A judge scores every sample of a run; people rate part of them. Prediction-powered inference
(``meta/calibration.py: ppi_mean``) estimates the mean human score over the whole run: the
judge's mean over the unrated samples, corrected by the judge-minus-people gap on the rated
ones. It is valid whatever the judge's bias provided the rated samples are a uniformly random
part of the run: the annotation desk offers a run's samples in a hash order of their ids, and
``plan`` names the same ones, so rating in either order keeps the subset random.

``run_ppi`` gives, per judged metric (task, rubric, criterion with numeric scores), the PPI
estimate beside the people-only and the judge-only ones; ``plan`` says which samples to rate
next and how many rated samples a target CI width needs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import sqlalchemy as sa

from evalharness.errors import DataError
from evalharness.judges.records import Judgment
from evalharness.meta.calibration import normal_quantile, ppi_from_subset
from evalharness.meta.statistics import Stat
from evalharness.ratings.records import Annotator, HumanRating, RatedItem
from evalharness.ratings.task_queue import sample_order
from evalharness.store import Store

KEYS = ["task", "rubric", "criterion", "idx"]


@dataclass(frozen=True)
class RunPPI:
    """One judged metric of a run: PPI, people-only and judge-only means with 95% CIs."""

    task: str
    metric: str  # judge:<rubric>.<criterion>
    ppi: Stat
    human_only: Stat
    judge_only: Stat
    rated: int  # samples with both a judge score and a human rating
    judged: int  # samples with a judge score

    def describe(self) -> str:
        """E.g. ``PPI 3.41 [3.20, 3.62] · people only 3.50 [3.10, 3.90] · judge only 3.80
        [3.70, 3.90] · rated 20 of 100``."""
        shown = (("PPI", self.ppi), ("people only", self.human_only),
                 ("judge only", self.judge_only))  # fmt: skip
        parts = [f"{name} {s['value']:.2f} [{s['ci_low']:.2f}, {s['ci_high']:.2f}]"
                 for name, s in shown]  # fmt: skip
        return " · ".join([*parts, f"rated {self.rated} of {self.judged}"])


def judge_scores(store: Store, run_id: str) -> pd.DataFrame:
    """Per task, rubric, criterion and sample: the mean over judges of each judge's latest
    parsed numeric pointwise score (columns ``KEYS`` + ``judge``)."""
    query = (
        sa.select(
            Judgment.task,
            Judgment.rubric,
            Judgment.criterion,
            Judgment.idx,
            Judgment.judge,
            Judgment.score,
        )  # fmt: skip
        .where(Judgment.run_id == run_id, Judgment.other_run_id.is_(None))
        .where(Judgment.parsed.is_(True), Judgment.score.is_not(None))
        .order_by(Judgment.id)
    )
    with store.session() as s:
        rows = [tuple(r) for r in s.execute(query).all()]
    frame = pd.DataFrame(rows, columns=[*KEYS, "judge", "score"])
    latest = frame.groupby([*KEYS, "judge"], as_index=False)["score"].last()
    return latest.groupby(KEYS, as_index=False)["score"].mean().rename(columns={"score": "judge"})


def human_scores(store: Store, run_id: str) -> pd.DataFrame:
    """Per task, rubric, criterion and sample of the run: the mean of the people's latest
    ratings (columns ``KEYS`` + ``human``)."""
    superseded = sa.select(HumanRating.supersedes_id).where(HumanRating.supersedes_id.is_not(None))
    query = (
        sa.select(
            RatedItem.task,
            HumanRating.rubric,
            HumanRating.criterion,
            RatedItem.sample_idx,
            HumanRating.score,
        )  # fmt: skip
        .join(RatedItem, RatedItem.id == HumanRating.item_id)
        .join(Annotator, Annotator.id == HumanRating.annotator_id)
        .where(RatedItem.run_id == run_id, Annotator.kind == "human")
        .where(HumanRating.score.is_not(None), HumanRating.id.not_in(superseded))
    )
    with store.session() as s:
        rows = [tuple(r) for r in s.execute(query).all()]
    frame = pd.DataFrame(rows, columns=[*KEYS, "human"])
    return frame.groupby(KEYS, as_index=False)["human"].mean()


def _scored(store: Store, run_id: str, humans: pd.DataFrame | None = None) -> pd.DataFrame:
    """Judge scores of every judged sample, with the human mean where people rated it."""
    humans = human_scores(store, run_id) if humans is None else humans
    return judge_scores(store, run_id).merge(humans, on=KEYS, how="left")


def run_ppi(store: Store, run_id: str, confidence: float = 0.95) -> list[RunPPI]:
    """PPI of every judged metric of the run where people rated at least 2 of its judged
    samples and left at least 2 unrated; an empty list when there is none."""
    humans = human_scores(store, run_id)
    if humans.empty:  # nobody rated the run: its judgments need not be read (reports)
        return []
    found = []
    for (task, rubric, criterion), block in _scored(store, run_id, humans).groupby(KEYS[:3]):
        human = block["human"].to_numpy(dtype=float)
        rated = int(np.isfinite(human).sum())
        if rated < 2 or len(block) - rated < 2:
            continue
        out = ppi_from_subset(block["judge"].to_numpy(dtype=float), human, confidence)
        found.append(RunPPI(str(task), f"judge:{rubric}.{criterion}", out["ppi"],
                            out["classical"], out["judge_only"], rated, len(block)))  # fmt: skip
    return found


@dataclass(frozen=True)
class CriterionPlan:
    """How wide a criterion's PPI interval is now, after the plan, and what a target needs."""

    metric: str
    rated: int
    judged: int
    half_width_now: float | None  # None: fewer than 2 rated (no rectifier variance yet)
    half_width_after: float | None
    needed_for_target: int | None  # rated samples a target half-width needs (None: no target)


@dataclass(frozen=True)
class Plan:
    """Which samples of one task and rubric to rate next, in the desk's order."""

    task: str
    rubric: str
    samples: int
    rated: int
    next: list[int]  # sample indices
    criteria: list[CriterionPlan] = field(default_factory=list)


def _half_width(var_f: float, var_r: float, judged: int, rated: int, z: float) -> float | None:
    if rated < 2 or judged - rated < 2:
        return None
    return z * math.sqrt(var_f / (judged - rated) + var_r / rated)


def _needed(var_f: float, var_r: float, judged: int, target: float, z: float) -> int | None:
    """The fewest rated samples whose PPI half-width is within ``target`` (None: never)."""
    for n in range(2, judged - 1):
        width = _half_width(var_f, var_r, judged, n, z)
        if width is not None and width <= target:
            return n
    return None


def _criterion_plan(
    block: pd.DataFrame, budget: int, target: float | None, z: float, metric: str
) -> CriterionPlan:
    judge, human = block["judge"].to_numpy(float), block["human"].to_numpy(float)
    rated = np.isfinite(human)
    rest = judge[~rated] if (~rated).sum() >= 2 else judge  # as ppi_mean: the unrated samples
    var_f = float(rest.var(ddof=1)) if rest.size > 1 else 0.0
    var_r = float((judge[rated] - human[rated]).var(ddof=1)) if rated.sum() >= 2 else None
    n, total, after = int(rated.sum()), int(judge.size), min(int(rated.sum()) + budget, judge.size)
    if var_r is None:
        return CriterionPlan(metric, n, total, None, None, None)
    return CriterionPlan(
        metric, n, total,
        _half_width(var_f, var_r, total, n, z),
        _half_width(var_f, var_r, total, after, z),
        None if target is None else _needed(var_f, var_r, total, target, z),
    )  # fmt: skip


def plan(
    store: Store,
    run_id: str,
    budget: int,
    *,
    target_half_width: float | None = None,
    confidence: float = 0.95,
) -> list[Plan]:
    """Per task and rubric the run was judged under: the next ``budget`` unrated samples in
    the desk's order (a uniformly random choice, so PPI stays valid) and, per criterion, the
    CI half-width now, after rating them, and how many rated samples ``target_half_width``
    needs (projected from the variances seen so far; needs at least 2 rated samples)."""
    if budget < 0:
        raise DataError(f"ratings plan: --budget must be >= 0, got {budget}")
    store.get_run(run_id)  # one clear line for an unknown run
    scored, z = _scored(store, run_id), normal_quantile(confidence)
    plans = []
    for (task, rubric), block in scored.groupby(["task", "rubric"]):
        unrated = sorted(set(block["idx"]) - set(block.loc[block["human"].notna(), "idx"]))
        keys = sample_order(run_id, str(task), np.array(unrated, dtype=np.int64))
        unrated = [unrated[i] for i in np.argsort(keys, kind="stable")]  # the desk's order
        criteria = [_criterion_plan(part, budget, target_half_width, z,
                                    f"judge:{rubric}.{criterion}")
                    for criterion, part in block.groupby("criterion")]  # fmt: skip
        plans.append(Plan(str(task), str(rubric), int(block["idx"].nunique()),
                          int(block.loc[block["human"].notna(), "idx"].nunique()),
                          [int(i) for i in unrated[:budget]], criteria))  # fmt: skip
    return plans


def plan_lines(plans: list[Plan], budget: int, target: float | None) -> list[str]:
    """What ``ratings plan`` prints."""
    lines = []
    for p in plans:
        lines.append(f"{p.task} · {p.rubric}: {p.rated} of {p.samples} judged samples rated")
        shown = ", ".join(map(str, p.next)) or "none left"
        lines.append(f"  rate next ({len(p.next)} of budget {budget}, the desk's order): {shown}")
        for c in p.criteria:
            if c.half_width_now is None:
                lines.append(f"  {c.metric}: rate at least 2 samples to project the CI")
                continue
            text = f"  {c.metric}: PPI ±{c.half_width_now:.3f} now, ±{c.half_width_after:.3f}"
            text += f" with {min(c.rated + budget, c.judged)} rated"
            if target is not None:
                text += f"; ±{target:g} needs " + (
                    f"about {c.needed_for_target} rated" if c.needed_for_target
                    else "more samples than the run has"
                )  # fmt: skip
            lines.append(text)
    return lines or ["no judged samples in this run: judge it first (evalharness judge)"]
