"""Tasks x model -> requests -> results -> scores, written to the store as samples finish.

A run is resumable: items whose sample rows are already stored are not sent again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

from evalharness.aggregates import aggregate_groups, store_aggregates
from evalharness.config import TaskSpec
from evalharness.errors import StoreError
from evalharness.filters import task_metrics
from evalharness.items import Item, build_items
from evalharness.leases import acquire
from evalharness.modelref import ModelRef
from evalharness.models.base import Model
from evalharness.progress import progress
from evalharness.runner.plan import (
    PlannedTask,
    check_capabilities,
    expand,
    load_specs,
    task_judges,
)
from evalharness.runner.provenance import git_revision, new_run_id, versions
from evalharness.runner.responders import RESPONDERS, score
from evalharness.shards import Executor, Shard, check_joinable
from evalharness.shots import with_num_fewshot
from evalharness.store import Run, Sample, Store, now
from evalharness.usage import record_task_usage


@dataclass
class RunOptions:
    tasks: list[str] = field(default_factory=lambda: ["all"])
    limit: int | None = None
    chunk_size: int = 64  # samples per model call; each chunk is stored before the next starts
    sampling: dict[str, Any] = field(default_factory=dict)  # overrides; lists are sweeps
    tags: list[str] = field(default_factory=list)
    progress: bool | None = None  # None: only on a terminal
    judge_model: str | None = None  # replaces the model of every task judge
    retry_failed: bool = False  # a resume re-sends the samples that failed (error set)
    judge_model_args: dict[str, Any] = field(default_factory=dict)  # its backend options
    num_fewshot: int | None = None  # shots for every task (None: each task's own fewshot.k)
    shard: Shard | None = None  # only this shard's items; aggregates once every shard is done
    executor: Executor = field(default_factory=Executor)  # where judge and selector models run


def start_run(
    store: Store,
    model_spec: str,
    model: Model,
    options: RunOptions,
    config: dict[str, Any],
    run_id: str | None = None,
) -> Run:
    """A new run, or with ``run_id`` the stored run of that id if it asks for the same work
    (shards of one run each call this; the first creates it)."""
    config = {"tasks": options.tasks, "limit": options.limit, **config}
    if run_id is not None and (existing := store.find_run(run_id)) is not None:
        check_joinable(run_id, existing.config, config, model_spec, existing.model)
        return existing
    run = Run(
        id=run_id or new_run_id(),
        model=model_spec,
        model_name=model.name,
        config=config,
        versions=versions(),
        git_revision=git_revision(),
        tags=list(options.tags),
    )
    stored = store.add_run(run, exist_ok=run_id is not None)
    if stored is not run:  # another shard created it between our look and our insert
        check_joinable(run.id, stored.config, config, model_spec, stored.model)
    return stored


def plan(options: RunOptions) -> list[PlannedTask]:
    """The run's tasks as its options ask for them (task files read and checked here)."""
    specs = with_num_fewshot(load_specs(options.tasks), options.num_fewshot)
    return expand(specs, options.sampling)


def execute(
    store: Store,
    run: Run,
    model: Model,
    options: RunOptions,
    tasks: list[PlannedTask] | None = None,
) -> dict[str, dict[str, Any]]:
    """Run (or resume) every task of ``run``; returns {task: {metric: aggregate dict}}.

    ``tasks``: the run's tasks as ``plan`` and ``preflight.build_all`` made them (the specs
    read once, the items built); a resume plans them from the stored options.
    """
    tasks = plan(options) if tasks is None else tasks
    check_capabilities(model, tasks)
    scope = f"shard:{options.shard}" if options.shard else "run"
    lease = acquire(store, run.id, scope)  # a second process on these items is refused here
    try:
        return _execute(store, run, model, options, tasks)
    finally:
        lease.release()


def _execute(
    store: Store, run: Run, model: Model, options: RunOptions, tasks: list[PlannedTask]
) -> dict[str, dict[str, Any]]:
    started = time.perf_counter()
    if options.retry_failed:  # under the lease: no other process is writing this run
        forget_failed(store, run.id)
    store.update_run(run.id, status="running")
    planned: list[tuple[TaskSpec, int]] = []
    selectors: dict[str, Model] = {}
    try:
        for task in tasks:
            items = task.items
            if items is None:
                items = build_items(task.spec, task.base, task.path, options.limit)
            done = store.done_indices(run.id, task.spec.name)
            shard = options.shard
            pending = [
                item
                for item in items
                if item.idx not in done and (shard is None or shard.owns(item.idx))
            ]
            if pending:
                task = with_selector(task, options, selectors)
            _run_items(store, run.id, task, model, pending, options)
            planned.append((task.spec, len(items)))
        if options.shard is not None and missing(store, run.id, planned):
            return {}  # other shards still have items to do; the last one aggregates
        results = finish_tasks(store, run, [spec for spec, _ in planned], model, options)
    except BaseException:
        if options.shard is None:  # a failed shard leaves the run to its other shards
            store.update_run(run.id, status="failed")
        raise
    store.update_run(
        run.id, status="finished", finished_at=now(), duration_s=time.perf_counter() - started
    )
    return results


def with_selector(task: PlannedTask, options: RunOptions, loaded: dict[str, Model]) -> PlannedTask:
    """The task with its best-of-N judge loaded (the selector model, else the run's judge
    model; none: the evaluated model judges), each model once per run."""
    best = task.best_of_n
    if best is None or best.rubric is None:
        return task
    ref = best.selector_model
    if ref is None and options.judge_model:
        ref = ModelRef(options.judge_model, options.judge_model_args)
    if ref is None:
        return task
    key = repr(ref)
    if key not in loaded:
        loaded[key] = options.executor.load(ref)
    return replace(task, selector=loaded[key])


def missing(store: Store, run_id: str, planned: list[tuple[TaskSpec, int]]) -> dict[str, int]:
    """{task: how many of its items have no stored sample yet}, for the incomplete tasks."""
    gaps = {spec.name: n - len(store.done_indices(run_id, spec.name)) for spec, n in planned}
    return {task: gap for task, gap in gaps.items() if gap > 0}


def finish_tasks(
    store: Store, run: Run, specs: list[TaskSpec], model: Model | None, options: RunOptions
) -> dict[str, dict[str, Any]]:
    """Aggregate every task from its stored samples, run its judges, store its usage; then
    the groups the run asked for."""
    results: dict[str, dict[str, Any]] = {}
    for spec in specs:
        results[spec.name] = aggregate_task(store, run.id, spec)
        if spec.judges:
            from evalharness.judges.task import judge_task

            judges = task_judges(spec, options.judge_model, options.judge_model_args)
            models = {run.model: model} if model is not None else {}
            load = options.executor.load
            results[spec.name].update(
                judge_task(store, run.id, spec, judges, models=models, load=load)
            )
        record_task_usage(store, run.id, spec.name)
    by_name = {spec.name: spec for spec in specs}
    results.update(aggregate_groups(store, run.id, options.tasks, by_name))
    return results


def finalize_run(store: Store, run: Run, options: RunOptions) -> dict[str, dict[str, Any]]:
    """Aggregate and judge a run whose shards have all finished; refuse while items are missing."""
    planned = [
        (task.spec, len(build_items(task.spec, task.base, task.path, options.limit)))
        for task in plan(options)
    ]
    gaps = missing(store, run.id, planned)
    if gaps:
        listed = ", ".join(f"{task}: {gap} missing" for task, gap in gaps.items())
        raise StoreError(f"run {run.id} is not complete ({listed}); run its unfinished shards")
    results = finish_tasks(store, run, [spec for spec, _ in planned], None, options)
    store.update_run(run.id, status="finished", finished_at=now())
    return results


def forget_failed(store: Store, run_id: str) -> int:
    """Delete the run's failed samples so that they count as pending; returns how many."""
    from sqlalchemy import delete

    with store.session() as s, s.begin():
        query = delete(Sample).where(Sample.run_id == run_id, Sample.error.is_not(None))
        return s.execute(query).rowcount


def _run_items(
    store: Store,
    run_id: str,
    task: PlannedTask,
    model: Model,
    items: list[Item],
    options: RunOptions,
) -> None:
    spec = task.spec
    metrics = task_metrics(spec.metrics, spec.match)
    with progress(len(items), spec.name, options.progress) as bar:
        for start in range(0, len(items), options.chunk_size):
            chunk = items[start : start + options.chunk_size]
            pairs = RESPONDERS[spec.output_type](task, model, chunk)
            score(pairs, metrics)
            for sample, _ in pairs:
                sample.run_id = run_id
            store.add_samples(sample for sample, _ in pairs)
            bar.update(len(chunk))


def aggregate_task(store: Store, run_id: str, spec: TaskSpec) -> dict[str, Any]:
    samples = store.samples(run_id, spec.name)
    return store_aggregates(store, run_id, spec.name, spec.metrics, samples)
