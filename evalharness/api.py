"""The Python API: ``evaluate`` runs tasks on a model and returns the same results as ``--json``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from evalharness.cache import CachedModel, ResponseCache
from evalharness.models import load_model
from evalharness.models.base import Model
from evalharness.runner import (
    RunOptions,
    check_judge_models,
    execute,
    expand,
    load_specs,
    start_run,
)
from evalharness.shots import with_num_fewshot
from evalharness.store import open_store


def evaluate(
    model: str | Model = "embedded",
    tasks: Sequence[str] = ("all",),
    *,
    limit: int | None = None,
    db: str | None = None,
    model_args: dict[str, Any] | None = None,
    sampling: dict[str, Any] | None = None,
    tags: Sequence[str] = (),
    cache: bool | ResponseCache = True,
    chunk_size: int = 64,
    progress: bool | None = None,
    judge_model: str | None = None,
    num_fewshot: int | None = None,
) -> dict[str, Any]:
    """Evaluate ``model`` (a spec string or a Model object) and store the run.

    ``sampling`` overrides every generation task's settings (a list value is a sweep);
    ``judge_model`` (a spec string) replaces the model of every task judge;
    ``num_fewshot`` sets every task's number of shots (as lm-eval's ``--num_fewshot``);
    ``cache`` reuses earlier identical responses (True: the shared cache in the user cache dir).
    Returns ``{"run_id": ..., "results": {task: {metric: aggregate}}}`` where an aggregate
    has ``value``, ``ci_low``, ``ci_high``, ``n`` and ``n_failed``.
    """
    options = RunOptions(
        tasks=list(tasks),
        limit=limit,
        tags=list(tags),
        progress=progress,
        sampling=dict(sampling or {}),
        chunk_size=chunk_size,
        judge_model=judge_model,
        num_fewshot=num_fewshot,
    )
    specs = with_num_fewshot(load_specs(options.tasks), num_fewshot)
    expand(specs, options.sampling)  # fail on bad input before loading a model
    check_judge_models(specs, model if isinstance(model, str) else model.name, judge_model)
    store = open_store(db)
    model_args = dict(model_args or {})
    backend = load_model(model, **model_args) if isinstance(model, str) else model
    spec = model if isinstance(model, str) else backend.name
    config = {
        "model_args": model_args,
        "sampling": options.sampling,
        "cache": bool(cache),
        "judge_model": judge_model,
        "num_fewshot": num_fewshot,
    }
    run = start_run(store, spec, backend, options, config)
    return {"run_id": run.id, "results": execute(store, run, _cached(backend, cache), options)}


def resume(
    run_id: str, *, db: str | None = None, model: Model | None = None, progress: bool | None = None
) -> dict[str, Any]:
    """Finish a stored run that was interrupted: only the missing samples are sent to the model."""
    store = open_store(db)
    run = store.get_run(run_id)
    options = RunOptions(
        tasks=list(run.config.get("tasks", ["all"])),
        limit=run.config.get("limit"),
        tags=list(run.tags),
        progress=progress,
        sampling=dict(run.config.get("sampling", {})),
        judge_model=run.config.get("judge_model"),
        num_fewshot=run.config.get("num_fewshot"),
    )
    backend = model or load_model(run.model, **run.config.get("model_args", {}))
    backend = _cached(backend, run.config.get("cache", True))
    return {"run_id": run.id, "results": execute(store, run, backend, options)}


def _cached(model: Model, cache: bool | ResponseCache) -> Model:
    if cache is False:
        return model
    return CachedModel(model, cache if isinstance(cache, ResponseCache) else ResponseCache())
