"""The Python API: ``evaluate`` runs tasks on a model and returns the same results as ``--json``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from evalharness import preflight
from evalharness.cache import CachedModel, ResponseCache
from evalharness.modelref import ModelRef
from evalharness.models.base import Model
from evalharness.ratings.agreement import with_agreement
from evalharness.runner.orchestrate import RunOptions, execute, finalize_run, start_run
from evalharness.runner.plan import (
    build_all,
    check_capabilities,
    check_judge_models,
    expand,
    load_specs,
)
from evalharness.shards import Executor, Shard
from evalharness.shots import with_num_fewshot
from evalharness.store import Run, Store, open_store
from evalharness.usage import run_record


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
    on_start: Callable[[Run, Store], None] | None = None,
    judge_model_args: dict[str, Any] | None = None,
    num_fewshot: int | None = None,
    run_id: str | None = None,
    shard: Shard | None = None,
    executor: Executor | None = None,
) -> dict[str, Any]:
    """Evaluate ``model`` (a spec string or a Model object) and store the run.

    ``sampling`` overrides every generation task's settings (a list value is a sweep);
    ``judge_model`` (a spec string) replaces the model of every task judge, with the
    backend options ``judge_model_args`` (``base_url``, ``structured_output``, ...);
    ``num_fewshot`` sets every task's number of shots (as lm-eval's ``--num_fewshot``);
    ``cache`` reuses earlier identical responses (True: the shared cache in the user cache dir);
    ``on_start(run, store)`` is called once the run is stored, before any sample runs;
    ``run_id`` with ``shard`` makes this process one shard of a run that N processes fill
    (``shards.py``): ``results`` stays empty until the last shard aggregates the run;
    ``executor`` spreads the model over Ray replicas (``Executor("ray", replicas=2)``).
    Returns ``{"run_id": ..., "results": {task: {metric: aggregate}}, ...}`` where an aggregate
    has ``value``, ``ci_low``, ``ci_high``, ``n`` and ``n_failed``; the other keys are
    ``usage.run_record``'s: model, model_args, settings, status, started, duration_s and usage
    (samples, failed, prompt/completion tokens, cost_usd per task and in total).
    """
    options = RunOptions(
        tasks=list(tasks),
        limit=limit,
        tags=list(tags),
        progress=progress,
        sampling=dict(sampling or {}),
        chunk_size=chunk_size,
        judge_model=judge_model,
        judge_model_args=dict(judge_model_args or {}),
        num_fewshot=num_fewshot,
        shard=shard,
        executor=executor or Executor(),
    )
    specs = with_num_fewshot(load_specs(options.tasks), num_fewshot)
    tasks = expand(specs, options.sampling)  # fail on bad input before loading a model
    check_judge_models(specs, model if isinstance(model, str) else model.name, judge_model)
    model_args = dict(model_args or {})
    if isinstance(model, str):
        preflight.check_credentials(model, model_args)
    store = open_store(db)
    backend = (
        options.executor.load(ModelRef(model, model_args)) if isinstance(model, str) else model
    )
    spec = model if isinstance(model, str) else backend.name
    check_capabilities(backend, tasks)
    tasks = build_all(tasks, limit)  # a bad row or template: no run is stored
    config = {
        "model_args": preflight.redact_options(model_args),
        "sampling": options.sampling,
        "cache": bool(cache),
        "judge_model": judge_model,
        **({"judge_model_args": options.judge_model_args} if options.judge_model_args else {}),
        "num_fewshot": num_fewshot,
        **({"executor": executor.record()} if executor and executor.kind != "local" else {}),
        "generates": {t.spec.name: t.spec.generates for t in tasks if t.spec.generates},
    }
    run = start_run(store, spec, backend, options, config, run_id=run_id)
    if on_start is not None:
        on_start(run, store)
    results = execute(store, run, _cached(backend, cache), options, tasks)
    return _returned(store, run, results)


def resume(
    run_id: str,
    *,
    db: str | None = None,
    model: Model | None = None,
    progress: bool | None = None,
    retry_failed: bool = False,
    on_start: Callable[[Run, Store], None] | None = None,
    executor: Executor | None = None,
) -> dict[str, Any]:
    """Finish a stored run that was interrupted: only the missing samples are sent to the model
    (and, with ``retry_failed``, the samples that failed)."""
    store = open_store(db)
    run = store.get_run(run_id)
    options = replace(_stored_options(run, progress, retry_failed), executor=executor or Executor())
    if model is None:
        preflight.check_resumable(run.model, run.config.get("model_args", {}))
        preflight.check_credentials(run.model, run.config.get("model_args", {}))
    backend = model or options.executor.load(ModelRef(run.model, run.config.get("model_args", {})))
    backend = _cached(backend, run.config.get("cache", True))
    if on_start is not None:
        on_start(run, store)
    results = execute(store, run, backend, options)
    return _returned(store, run, results)


def finalize(run_id: str, *, db: str | None = None) -> dict[str, Any]:
    """Aggregate (and judge) a run whose shards have all finished; no model is loaded for it."""
    store = open_store(db)
    run = store.get_run(run_id)
    results = finalize_run(store, run, _stored_options(run, None))
    return _returned(store, run, results)


def _stored_options(run: Run, progress: bool | None, retry_failed: bool = False) -> RunOptions:
    return RunOptions(
        tasks=list(run.config.get("tasks", ["all"])),
        limit=run.config.get("limit"),
        tags=list(run.tags),
        progress=progress,
        sampling=dict(run.config.get("sampling", {})),
        judge_model=run.config.get("judge_model"),
        retry_failed=retry_failed,
        judge_model_args=dict(run.config.get("judge_model_args") or {}),
        num_fewshot=run.config.get("num_fewshot"),
    )


def _returned(store: Store, run: Run, results: dict[str, Any]) -> dict[str, Any]:
    """What ``run --json`` holds; each judged number carries its judge's stored agreement."""
    with_agreement(store, run.id, results)
    return {"run_id": run.id, "results": results, **run_record(store, run.id)}


def _cached(model: Model, cache: bool | ResponseCache) -> Model:
    if cache is False:
        return model
    return CachedModel(model, cache if isinstance(cache, ResponseCache) else ResponseCache())
