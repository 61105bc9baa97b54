"""What a run will do, checked before any model loads: task specs (loaded once), their sampling
variants, the judge models and the capabilities the model must offer."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from evalharness.catalog import resolve_tasks
from evalharness.config import TaskSpec, load_task
from evalharness.errors import ConfigError, ModelError
from evalharness.items import Item, build_items
from evalharness.lmeval.convert import is_lm_eval_task, load_lm_eval_task
from evalharness.models import check_spec
from evalharness.models.base import GENERATE, LOGLIKELIHOOD, ROLLING, Model
from evalharness.preflight import check_unique_names
from evalharness.sampling import BestOfN, variants

NEEDS = {"generate": GENERATE, "multiple_choice": LOGLIKELIHOOD, "perplexity": ROLLING}


@dataclass(frozen=True)
class PlannedTask:
    """One task of a run as it runs: a sweep gives one per point (``gsm8k[temperature=0.7]``)."""

    spec: TaskSpec  # the run's sampling applied
    base: Path  # the folder its relative data paths resolve against
    path: Path  # its YAML file
    best_of_n: BestOfN | None = None
    items: list[Item] | None = None  # built before the run is stored (preflight), else when run
    selector: Model | None = None  # best-of-N's judge model, loaded once when the task starts


def load_specs(names: list[str]) -> list[tuple[TaskSpec, Path, Path]]:
    """(spec, data folder, file) for each task; every file is validated before anything runs."""
    loaded = []
    for path in resolve_tasks(names):
        spec, base = load_lm_eval_task(path) if is_lm_eval_task(path) else load_task(path)
        loaded.append((spec, base, path))
    check_unique_names(loaded)
    return loaded


def expand(
    tasks: list[tuple[TaskSpec, Path, Path]], overrides: dict[str, Any]
) -> list[PlannedTask]:
    """Each task with its sampling settings applied; a sweep gives one named variant per point."""
    out = []
    for spec, base, path in tasks:
        if spec.output_type != "generate":
            out.append(PlannedTask(spec, base, path))
            continue
        for suffix, sampling, best in variants(spec.generation, overrides):
            update = {"name": spec.name + suffix, "generation": sampling}
            out.append(PlannedTask(spec.model_copy(update=update), base, path, best))
    return out


def check_judge_models(
    tasks: list[tuple[TaskSpec, Path, Path]], evaluated: str, judge_model: str | None
) -> None:
    """Every judge model a run will load is a known spec (the evaluated model's name is too):
    checked before any model loads, not after the generations."""
    if judge_model is not None:
        if judge_model != evaluated:
            check_spec(judge_model)
        return
    for spec, _, path in tasks:
        for i, judge in enumerate(spec.judges):
            if judge.model != evaluated:
                try:
                    check_spec(judge.model)
                except ConfigError as exc:
                    raise ConfigError(f"{path}: judges.{i}.model: {exc}") from None


def check_capabilities(model: Model, tasks: list[PlannedTask]) -> None:
    for task in tasks:
        spec = task.spec
        by_logprob = task.best_of_n is not None and task.best_of_n.rubric is None
        needs = {NEEDS[spec.output_type]} | ({LOGLIKELIHOOD} if by_logprob else set())
        for need in sorted(needs - model.capabilities):
            why = "best-of-n selection by log-likelihood" if need != NEEDS[spec.output_type] else ""
            raise ModelError(
                f"task {spec.name!r} needs {need}{f' ({why})' if why else ''} but model "
                f"{model.name!r} offers only {', '.join(sorted(model.capabilities))}"
            )


def task_judges(
    spec: TaskSpec, judge_model: str | None, judge_model_args: dict[str, Any] | None = None
) -> tuple[Any, ...]:
    """The task's judges, all judged by ``judge_model`` when given (one per rubric then)."""
    if judge_model is None:
        return spec.judges
    by_rubric = {}
    update = {"model": judge_model, "model_args": dict(judge_model_args or {})}
    for judge in spec.judges:
        by_rubric.setdefault(judge.rubric, judge.model_copy(update=update))
    return tuple(by_rubric.values())


def build_all(tasks: list[PlannedTask], limit: int | None) -> list[PlannedTask]:
    """Every task with its items, built before the run is stored (a bad row or template fails
    here, and nothing is stored)."""
    return [replace(t, items=build_items(t.spec, t.base, t.path, limit)) for t in tasks]
