"""The Python API: ``evaluate`` runs tasks on a model and returns the same results as ``--json``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from evalharness.cache import CachedModel, ResponseCache
from evalharness.modelref import ModelRef
from evalharness.models.base import Model
from evalharness.runner import (
    RunOptions,
    check_judge_models,
    execute,
    expand,
    finalize_run,
    load_specs,
    start_run,
)
from evalharness.shards import Executor, Shard
from evalharness.store import Run, open_store


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
    run_id: str | None = None,
    shard: Shard | None = None,
    executor: Executor | None = None,
) -> dict[str, Any]:
    """Evaluate ``model`` (a spec string or a Model object) and store the run.

    ``sampling`` overrides every generation task's settings (a list value is a sweep);
    ``judge_model`` (a spec string) replaces the model of every task judge;
    ``cache`` reuses earlier identical responses (True: the shared cache in the user cache dir).
    ``run_id`` with ``shard`` makes this process one shard of a run that N processes fill
    (``shards.py``): ``results`` stays empty until the last shard aggregates the run.
    ``executor`` spreads the model over Ray replicas (``Executor("ray", replicas=2)``).
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
        shard=shard,
    )
    specs = load_specs(options.tasks)
    expand(specs, options.sampling)  # fail on bad input before loading a model
    check_judge_models(specs, model if isinstance(model, str) else model.name, judge_model)
    store = open_store(db)
    model_args = dict(model_args or {})
    backend = _load(ModelRef(model, model_args), executor) if isinstance(model, str) else model
    spec = model if isinstance(model, str) else backend.name
    config = {
        "model_args": model_args,
        "sampling": options.sampling,
        "cache": bool(cache),
        "judge_model": judge_model,
        **({"executor": executor.record()} if executor else {}),
    }
    run = start_run(store, spec, backend, options, config, run_id=run_id)
    return {"run_id": run.id, "results": execute(store, run, _cached(backend, cache), options)}


def resume(
    run_id: str,
    *,
    db: str | None = None,
    model: Model | None = None,
    progress: bool | None = None,
    executor: Executor | None = None,
) -> dict[str, Any]:
    """Finish a stored run that was interrupted: only the missing samples are sent to the model."""
    store = open_store(db)
    run = store.get_run(run_id)
    backend = model or _load(ModelRef(run.model, run.config.get("model_args", {})), executor)
    backend = _cached(backend, run.config.get("cache", True))
    results = execute(store, run, backend, _stored_options(run, progress))
    return {"run_id": run.id, "results": results}


def finalize(run_id: str, *, db: str | None = None) -> dict[str, Any]:
    """Aggregate (and judge) a run whose shards have all finished; no model is loaded for it."""
    store = open_store(db)
    run = store.get_run(run_id)
    return {"run_id": run.id, "results": finalize_run(store, run, _stored_options(run, None))}


def _stored_options(run: Run, progress: bool | None) -> RunOptions:
    return RunOptions(
        tasks=list(run.config.get("tasks", ["all"])),
        limit=run.config.get("limit"),
        tags=list(run.tags),
        progress=progress,
        sampling=dict(run.config.get("sampling", {})),
        judge_model=run.config.get("judge_model"),
    )


def _load(ref: ModelRef, executor: Executor | None) -> Model:
    if executor is None or executor.kind == "local":
        return ref.load()
    from evalharness.ray_pool import RayPoolModel

    return RayPoolModel(ref, replicas=executor.replicas, address=executor.address)


def _cached(model: Model, cache: bool | ResponseCache) -> Model:
    if cache is False:
        return model
    return CachedModel(model, cache if isinstance(cache, ResponseCache) else ResponseCache())
