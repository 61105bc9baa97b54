"""A task's judges after its run: ``judge_task`` judges the stored samples with every
``judges:`` entry of the task, combines the judges of one rubric into a panel and stores the
``judge:<rubric>.<criterion>`` aggregates beside the task's own metrics.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from evalharness.judges import JUDGE_PREFIX
from evalharness.judges.judge import Combine
from evalharness.judges.records import judgments, set_judge_aggregates
from evalharness.judges.rubric import Rubric
from evalharness.judges.run import judge_run
from evalharness.judges.stored import (
    aggregate_values,
    as_rubric,
    distribution_aggregates,
    finite,
    panel,
    values_of,
)
from evalharness.modelref import ModelRef
from evalharness.models.base import Model
from evalharness.store import AggregateRow, Store

if TYPE_CHECKING:
    from evalharness.config import JudgeSpec, TaskSpec

__all__ = ["judge_task"]


def judge_task(
    store: Store,
    run_id: str,
    task_spec: TaskSpec,
    judge_specs: Sequence[JudgeSpec] | None = None,
    *,
    models: Mapping[str, Model] | None = None,
    load: Callable[[ModelRef], Model] | None = None,
) -> dict[str, dict[str, Any]]:
    """Run a task's judges on its stored samples; store and return judge aggregates.

    Call it after the task's samples are stored and after ``aggregate_task`` (which replaces
    the task's aggregate rows). ``judge_specs`` defaults to ``task_spec.judges``; ``models``
    maps model spec strings to already-loaded models (e.g. the evaluated model) so they are
    not loaded twice; ``load`` loads the others (in this process by default; the run's Ray
    pool under ``--executor ray``). Returns ``{"judge:<rubric>.<criterion>": aggregate}``
    (the judges of one rubric combined by their ``combine``), plus
    ``"judge:<rubric>.<criterion>[<judge>]"`` for each judge when a rubric has several; the
    same rows go to the aggregates table.
    """
    specs = tuple(task_spec.judges if judge_specs is None else judge_specs)
    loaded = dict(models or {})
    by_rubric: dict[str, list[tuple[str, Combine]]] = {}
    rubrics: dict[str, Rubric] = {}
    for spec in specs:
        key = (
            spec.model if not spec.model_args else f"{spec.model} {sorted(spec.model_args.items())}"
        )
        if key not in loaded:
            loaded[key] = (load or ModelRef.load)(ModelRef(spec.model, dict(spec.model_args)))
        model = loaded[key]
        rubric = as_rubric(spec.rubric)
        judge_run(
            store,
            run_id,
            rubric,
            model,
            task=task_spec.name,
            mode=spec.mode,
            n=spec.n,
            combine=spec.combine,
            max_reasks=spec.max_reasks,
            source=spec.source,
            output=spec.output,
        )
        rubrics[rubric.name] = rubric
        by_rubric.setdefault(rubric.name, []).append((model.name, spec.combine))
    out: dict[str, dict[str, Any]] = {}
    for name, judges in by_rubric.items():
        found = _rubric_aggregates(store, run_id, task_spec.name, rubrics[name], judges)
        rows = _aggregate_rows(run_id, task_spec.name, found)
        set_judge_aggregates(store, run_id, task_spec.name, name, rows)
        out |= found
    return out


def _rubric_aggregates(
    store: Store, run_id: str, task: str, rubric: Rubric, judges: list[tuple[str, Combine]]
) -> dict[str, dict[str, Any]]:
    """The panel's aggregates of one rubric's ``(judge, combine)`` list, keyed by metric name."""
    name, found = rubric.name, {}
    per_judge = {
        judge: values_of(judgments(store, run_id, task=task, rubric=name, judge=judge))
        for judge, _ in judges
    }
    combined = panel(per_judge, rubric, judges[0][1])
    for crit, agg in aggregate_values(combined, rubric).items():
        found[f"{JUDGE_PREFIX}{name}.{crit}"] = agg
    if len(judges) == 1:  # expected and argmax scores of the score distributions
        rows_one = judgments(store, run_id, task=task, rubric=name, judge=judges[0][0])
        for crit, agg in distribution_aggregates(rows_one, rubric).items():
            found[f"{JUDGE_PREFIX}{name}.{crit}"] = agg
    if len(per_judge) > 1:
        for judge, values in per_judge.items():
            lists = {c: list(v.values()) for c, v in values.items()}
            for crit, agg in aggregate_values(lists, rubric).items():
                found[f"{JUDGE_PREFIX}{name}.{crit}[{judge}]"] = agg
    return found


def _aggregate_rows(run_id: str, task: str, found: dict[str, dict[str, Any]]) -> list[AggregateRow]:
    return [
        AggregateRow(
            run_id=run_id,
            task=task,
            metric=metric,
            value=finite(a["value"]),
            ci_low=finite(a["ci_low"]),
            ci_high=finite(a["ci_high"]),
            n=a["n"],
            n_failed=a["n_unparsed"],
        )
        for metric, a in found.items()
    ]
