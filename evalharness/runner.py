"""Tasks x model -> requests -> results -> scores, written to the store as samples finish.

A run is resumable: items whose sample rows are already stored are not sent again.
"""

from __future__ import annotations

import contextlib
import functools
import re
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from evalharness.aggregates import store_aggregates
from evalharness.config import TaskSpec, load_task, resolve_tasks
from evalharness.conversation import converse
from evalharness.errors import ConfigError, ModelError, StoreError
from evalharness.extract import EXTRACTORS
from evalharness.groups import aggregate_groups
from evalharness.leases import acquire
from evalharness.metrics import get_metric
from evalharness.metrics.base import Outcome
from evalharness.models import check_spec
from evalharness.models.base import GENERATE, LOGLIKELIHOOD, ROLLING, Model
from evalharness.preflight import check_unique_names
from evalharness.progress import progress
from evalharness.prompts import prompt_text
from evalharness.rag.pipeline import rag_record
from evalharness.requests import GenerateRequest, LoglikelihoodRequest, RollingRequest
from evalharness.samples import Item, build_items
from evalharness.sampling import mean_logprob_choice, variants
from evalharness.shards import Shard, check_joinable
from evalharness.shots import with_num_fewshot
from evalharness.store import Run, Sample, Store, now
from evalharness.usage import record_task_usage

NEEDS = {"generate": GENERATE, "multiple_choice": LOGLIKELIHOOD, "perplexity": ROLLING}
_WHITESPACE = re.compile(r"\s+")


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


def new_run_id() -> str:
    return f"{datetime.now():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"


def versions() -> dict[str, str]:
    found = {"python": sys.version.split()[0]}
    for package in ("evalharness", "torch", "transformers", "sacrebleu", "rouge-score"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[package] = metadata.version(package)
    return found


def git_revision() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def load_specs(names: list[str]) -> list[tuple[TaskSpec, Path, Path]]:
    """(spec, data folder, file) for each task; every file is validated before anything runs."""
    loaded = []
    for path in resolve_tasks(names):
        spec, base = load_task(path)
        loaded.append((spec, base, path))
    check_unique_names(loaded)
    return loaded


def expand(
    tasks: list[tuple[TaskSpec, Path, Path]], overrides: dict[str, Any]
) -> list[tuple[TaskSpec, dict[str, Any], Path, Path]]:
    """Each task with its sampling settings applied; a sweep gives one named variant per point."""
    out = []
    for spec, base, path in tasks:
        if spec.output_type != "generate":
            out.append((spec, {}, base, path))
            continue
        for suffix, sampling, settings in variants(spec.generation, overrides):
            update = {"name": spec.name + suffix, "generation": sampling}
            out.append((spec.model_copy(update=update), settings, base, path))
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


def check_capabilities(model: Model, tasks: list[tuple[TaskSpec, dict[str, Any]]]) -> None:
    for spec, settings in tasks:
        by_logprob = settings.get("selector") == "logprob"
        needs = {NEEDS[spec.output_type]} | ({LOGLIKELIHOOD} if by_logprob else set())
        for need in sorted(needs - model.capabilities):
            why = "best-of-n selection by log-likelihood" if need != NEEDS[spec.output_type] else ""
            raise ModelError(
                f"task {spec.name!r} needs {need}{f' ({why})' if why else ''} but model "
                f"{model.name!r} offers only {', '.join(sorted(model.capabilities))}"
            )


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


def execute(
    store: Store,
    run: Run,
    model: Model,
    options: RunOptions,
    prepared: dict[str, list[Item]] | None = None,
) -> dict[str, dict[str, Any]]:
    """Run (or resume) every task of ``run``; returns {task: {metric: aggregate dict}}.

    ``prepared``: items already built per task (``preflight.build_all``), reused as they are.
    """
    tasks = expand(
        with_num_fewshot(load_specs(options.tasks), options.num_fewshot), options.sampling
    )
    check_capabilities(model, [(spec, settings) for spec, settings, _, _ in tasks])
    scope = f"shard:{options.shard}" if options.shard else "run"
    lease = acquire(store, run.id, scope)  # a second process on these items is refused here
    try:
        return _execute(store, run, model, options, tasks, prepared)
    finally:
        lease.release()


def _execute(
    store: Store,
    run: Run,
    model: Model,
    options: RunOptions,
    tasks: list[tuple[TaskSpec, dict[str, Any], Path, Path]],
    prepared: dict[str, list[Item]] | None,
) -> dict[str, dict[str, Any]]:
    started = time.perf_counter()
    if options.retry_failed:  # under the lease: no other process is writing this run
        forget_failed(store, run.id)
    store.update_run(run.id, status="running")
    planned: list[tuple[TaskSpec, int]] = []
    try:
        for spec, settings, base, path in tasks:
            if options.judge_model and str(settings.get("selector", "")).startswith("judge:"):
                settings = {"selector_model": options.judge_model, **settings}
            if prepared is not None and spec.name in prepared:
                items = prepared[spec.name]
            else:
                items = build_items(spec, base, path, options.limit)
            done = store.done_indices(run.id, spec.name)
            shard = options.shard
            pending = [
                item
                for item in items
                if item.idx not in done and (shard is None or shard.owns(item.idx))
            ]
            _run_items(store, run.id, spec, settings, model, pending, options)
            planned.append((spec, len(items)))
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
        if spec.judges:  # after aggregate_task, which replaces the task's aggregate rows
            from evalharness.judges.task import judge_task

            judges = _judges(spec, options.judge_model, options.judge_model_args)
            models = {run.model: model} if model is not None else {}
            results[spec.name].update(judge_task(store, run.id, spec, judges, models=models))
        record_task_usage(store, run.id, spec.name)
    by_name = {spec.name: spec for spec in specs}
    results.update(aggregate_groups(store, run.id, options.tasks, by_name))
    return results


def finalize_run(store: Store, run: Run, options: RunOptions) -> dict[str, dict[str, Any]]:
    """Aggregate and judge a run whose shards have all finished; refuse while items are missing."""
    tasks = expand(
        with_num_fewshot(load_specs(options.tasks), options.num_fewshot), options.sampling
    )
    planned = [(spec, len(build_items(spec, base, path, options.limit)))
               for spec, _, base, path in tasks]  # fmt: skip
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


def _judges(
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


def _run_items(
    store: Store,
    run_id: str,
    spec: TaskSpec,
    settings: dict[str, Any],
    model: Model,
    items: list[Item],
    options: RunOptions,
) -> None:
    metrics = [get_metric(name) for name in spec.metrics]
    with progress(len(items), spec.name, options.progress) as bar:
        for start in range(0, len(items), options.chunk_size):
            chunk = items[start : start + options.chunk_size]
            pairs = RESPONDERS[spec.output_type](spec, settings, model, chunk)
            _score(pairs, metrics)
            for sample, _ in pairs:
                sample.run_id = run_id
            store.add_samples(sample for sample, _ in pairs)
            bar.update(len(chunk))


def _base_sample(spec: TaskSpec, item: Item, **fields: Any) -> Sample:
    return Sample(task=spec.name, idx=item.idx, input=item.row, **fields)


def _generate(
    spec: TaskSpec, settings: dict[str, Any], model: Model, items: list[Item]
) -> list[tuple[Sample, Outcome | None]]:
    seeded = spec.generation.seed is not None and not spec.generation.greedy
    requests = [
        GenerateRequest(item.prompt, spec.generation, item.idx if seeded else None)
        for item in items
    ]
    extract = EXTRACTORS[spec.answer_extractor]
    if any(item.followups for item in items):
        generations = converse(model, requests, [item.followups for item in items])
    else:
        generations = model.generate(requests)
    chosen = _select_best(settings, model, items, generations) if "best_of_n" in settings else {}
    out = []
    for i, (item, gen) in enumerate(zip(items, generations, strict=True)):
        text = gen.texts[chosen.get(i, 0)] if gen.texts else None
        answer = extract(text) if gen.error is None and text is not None else None
        result: dict[str, Any] = {"texts": list(gen.texts), "answer": answer, **_meta(gen)}
        if i in chosen:
            result["selected"] = chosen[i]
        sample = _base_sample(
            spec,
            item,
            prompt=prompt_text(item.prompt),
            output=text,
            reference=list(item.references),
            result={**result, **rag_record(spec.rag, item.retrieved, item.gold_passages)},
            latency_s=gen.latency_s,
            prompt_tokens=gen.prompt_tokens,
            completion_tokens=gen.completion_tokens,
            error=gen.error,
        )
        outcome = (
            None
            if gen.error
            else Outcome(
                prediction=answer,
                predictions=tuple(extract(t) for t in gen.texts),
                references=item.references,
                retrieved_ids=tuple(hit.id for hit in item.retrieved),
                gold_ids=item.gold_passages,
            )
        )
        out.append((sample, outcome))
    return out


def _meta(gen: Any) -> dict[str, Any]:
    """Backend extras worth keeping per sample: attempts, time to first token, cost."""
    return {"meta": gen.meta} if gen.meta else {}


def _select_best(
    settings: dict[str, Any], model: Model, items: list[Item], generations: list[Any]
) -> dict[int, int]:
    """Best-of-N: per item without error, the index of the candidate the selector prefers.

    ``logprob``: the highest mean token log-likelihood under the evaluated model.
    ``judge:<rubric>``: the rubric judge's favourite (``judges.best_of_n.select_best``),
    judged by ``selector_model``, else the run's judge model, else the evaluated model itself;
    the judge never sees the reference.
    """
    ok = [i for i, gen in enumerate(generations) if gen.error is None]
    selector = settings.get("selector", "logprob")
    if selector.startswith("judge:"):
        from evalharness.judges.best_of_n import select_best

        judge = settings.get("selector_model")
        groups = [(prompt_text(items[i].prompt), generations[i].texts) for i in ok]
        picks = select_best(
            groups, selector.removeprefix("judge:"), _judge_model(judge) if judge else model
        )
        return dict(zip(ok, picks, strict=True))
    asks = [
        LoglikelihoodRequest(items[i].prompt, text) for i in ok for text in generations[i].texts
    ]
    scored = iter(model.loglikelihood(asks))
    chosen = {}
    for i in ok:
        results = [next(scored) for _ in generations[i].texts]
        chosen[i] = mean_logprob_choice(
            list(generations[i].texts), [r.logprob for r in results], [r.n_tokens for r in results]
        )
    return chosen


@functools.lru_cache(maxsize=2)
def _judge_model(spec: str) -> Model:
    """A selector's judge model, loaded once per process rather than once per chunk."""
    from evalharness.models import load_model

    return load_model(spec)


def _multiple_choice(
    spec: TaskSpec, settings: dict[str, Any], model: Model, items: list[Item]
) -> list[tuple[Sample, Outcome | None]]:
    requests = [
        LoglikelihoodRequest(item.prompt, spec.target_delimiter + choice)
        for item in items
        for choice in item.choices
    ]
    results = iter(model.loglikelihood(requests))
    out = []
    for item in items:
        scored = [next(results) for _ in item.choices]
        error = next((r.error for r in scored if r.error), None)
        logprobs = tuple(r.logprob for r in scored)
        costs = [r.meta["cost_usd"] for r in scored if "cost_usd" in r.meta]
        sample = _base_sample(
            spec,
            item,
            prompt=prompt_text(item.prompt),
            output=None if error else item.choices[int(np.argmax(logprobs))],
            reference=item.choices[item.gold],
            result={
                "choices": list(item.choices),
                "logprobs": list(logprobs),
                "is_greedy": [r.is_greedy for r in scored],
                "n_tokens": [r.n_tokens for r in scored],
                "gold": item.gold,
                **({"meta": {"cost_usd": sum(costs)}} if costs else {}),
            },
            prompt_tokens=sum(r.prompt_tokens for r in scored),
            completion_tokens=sum(r.completion_tokens for r in scored),
            error=error,
        )
        outcome = (
            None
            if error
            else Outcome(choices=item.choices, choice_logprobs=logprobs, gold=item.gold)
        )
        out.append((sample, outcome))
    return out


def _perplexity(
    spec: TaskSpec, settings: dict[str, Any], model: Model, items: list[Item]
) -> list[tuple[Sample, Outcome | None]]:
    results = model.loglikelihood_rolling([RollingRequest(item.text) for item in items])
    out = []
    for item, res in zip(items, results, strict=True):
        n_words = len(_WHITESPACE.split(item.count_text))
        n_bytes = len(item.count_text.encode("utf-8"))
        sample = _base_sample(
            spec,
            item,
            prompt="",
            result={
                "logprob": res.logprob,
                "n_tokens": res.n_tokens,
                "n_words": n_words,
                "n_bytes": n_bytes,
                **({"meta": dict(res.meta)} if res.meta else {}),
            },
            prompt_tokens=res.prompt_tokens or res.n_tokens,
            completion_tokens=res.completion_tokens,
            error=res.error,
        )
        outcome = (
            None
            if res.error
            else Outcome(
                logprob=res.logprob, n_tokens=res.n_tokens, n_words=n_words, n_bytes=n_bytes
            )
        )
        out.append((sample, outcome))
    return out


RESPONDERS = {"generate": _generate, "multiple_choice": _multiple_choice, "perplexity": _perplexity}


def _score(rows: list[tuple[Sample, Outcome | None]], metrics: list[Any]) -> None:
    """Attach per-sample sufficient statistics and values; failed samples get none."""
    scored = [(sample, outcome) for sample, outcome in rows if outcome is not None]
    for sample, _ in rows:
        sample.scores, sample.stats = {}, {}
    if not scored:
        return
    outcomes = [outcome for _, outcome in scored]
    for metric in metrics:
        matrix = np.asarray(metric.stats(outcomes), dtype=float)
        for (sample, _), row in zip(scored, matrix, strict=True):
            sample.stats[metric.name] = row.tolist()
            sample.scores[metric.name] = metric.value(row[None, :])


def aggregate_task(store: Store, run_id: str, spec: TaskSpec) -> dict[str, Any]:
    samples = store.samples(run_id, spec.name)
    return store_aggregates(store, run_id, spec.name, spec.metrics, samples)
