"""Judged metrics in release gates, and whether the judge behind them can be trusted.

``metric: judge:<rubric>.<criterion>`` gates on the mean judged score of a task's samples, read
from the run's stored judgments (``judge:<rubric>.<criterion>:<label>``: the rate of a label);
a sample whose verdict did not parse has no score, as in the run's own aggregate. A rubric
judged by several models needs one named (``judge:<rubric>.<criterion>[<judge>]``), since the
gate cannot know how the task combined them. ``min_judge_agreement: X`` fails unless every
judge behind the metric has a stored agreement with human ratings (``calibrate``) whose lower
95% bound is at least X: a judged number nobody has checked against people does not ship.
"""

from __future__ import annotations

from collections.abc import Sequence

from evalharness.errors import ConfigError
from evalharness.judges import JudgedMetric
from evalharness.judges.records import judgments
from evalharness.judges.stored import MEAN, values_of
from evalharness.ratings.agreement import GATED_STATISTIC, judges_behind, stored_agreement
from evalharness.store import Sample, Store

__all__ = ["MEAN", "judged_samples", "judges_of", "agreement_problems"]


def judges_of(store: Store, run_id: str, task: str, metric: JudgedMetric, name: str) -> list[str]:
    """The judge models behind ``name`` on ``task`` of the run; a ConfigError if there are none."""
    judges = judges_behind(store, run_id, task, metric.rubric, metric.base_criterion)
    if metric.judge is not None:
        judges = [j for j in judges if j == metric.judge]
    if not judges:
        raise ConfigError(
            f"run {run_id} has no judgments for {name} on task {task!r}: give the task a "
            f"'judges:' entry with rubric {metric.rubric!r}, or run `evalharness judge`"
        )
    return judges


def judged_samples(
    store: Store, run_id: str, task: str, samples: Sequence[Sample], metric: JudgedMetric, name: str
) -> list[Sample]:
    """Unsaved copies of the task's finished samples with a parsed verdict, whose ``stats``
    hold ``name`` as a mean row ``[value, 1]`` (the layout of every metric's statistics)."""
    judges = judges_of(store, run_id, task, metric, name)
    if len(judges) > 1:
        raise ConfigError(
            f"{name} on task {task!r} of run {run_id} is judged by {len(judges)} models "
            f"({', '.join(judges)}): name one, e.g. {name}[{judges[0]}]"
        )
    rows = judgments(store, run_id, task=task, rubric=metric.rubric, judge=judges[0])
    values = values_of([r for r in rows if r.criterion == metric.base_criterion])
    by_idx = values.get(metric.base_criterion, {})
    out = []
    for sample in samples:
        value = by_idx.get(sample.idx)
        if sample.error is not None or value is None:
            continue
        if isinstance(value, str) and metric.label is None:
            raise ConfigError(
                f"{name} is a label criterion: gate on the rate of one label, e.g. {name}:{value}"
            )
        x = float(value == metric.label) if metric.label is not None else float(value)
        out.append(Sample(run_id=sample.run_id, task=task, idx=sample.idx, input=sample.input,
                          error=None, stats={name: [x, 1.0]}))  # fmt: skip
    return out


def agreement_problems(
    store: Store, run_id: str, task: str, metric: JudgedMetric, name: str, minimum: float
) -> list[str]:
    """Why the judges behind ``name`` are not trusted at ``minimum`` (empty: they are)."""
    problems = []
    how = (
        f"rate samples of task {task!r} in the annotation desk (`evalharness app`) or with "
        f"`evalharness ratings import FILE`, then run `evalharness calibrate --dataset {task}`"
    )
    for judge in judges_of(store, run_id, task, metric, name):
        found = stored_agreement(store, judge, metric.rubric, metric.base_criterion)
        where = f"judge {judge} on {metric.rubric}.{metric.base_criterion}"
        if found is None:
            problems.append(f"{where} has no stored agreement with human ratings: {how}")
        elif found.ci_low is None or found.ci_low < minimum:
            low = "undefined" if found.ci_low is None else f"{found.ci_low:.3g}"
            problems.append(
                f"{where}: {found.describe()}, its lower bound {low} is under "
                f"{minimum:g} ({GATED_STATISTIC}): more ratings narrow it: {how}"
            )
    return problems
