"""Judging stored runs: pointwise scores per criterion, pairwise win rates, best-of-N selection.

Nothing is re-generated: the judge reads the stored samples (``Sample.output``, the dataset
row ``Sample.input``, ``Sample.reference``, ``Sample.prompt``). Judging is resumable: samples
that the same judge model already judged with the same rubric are skipped (unparsed ones too;
they are stored as such). Each chunk of samples goes to the judge as one batch and is stored
before the next starts. Aggregates are means with percentile-bootstrap 95% CIs over samples
(``metrics.stats.summarize``), with ``n`` parsed samples and ``n_unparsed`` alongside.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from evalharness.errors import ConfigError, StoreError
from evalharness.judges.judge import Combine, Judge
from evalharness.judges.records import (
    JUDGE_PREFIX,
    Judgment,
    add_judgments,
    judged_indices,
    judgments,
    set_judge_aggregates,
)
from evalharness.judges.render import Subject
from evalharness.judges.rubric import Rubric
from evalharness.judges.stored import (
    aggregate_values,
    as_model,
    as_rubric,
    distribution_aggregates,
    finite,
    pair_rates,
    panel,
    rows_of,
    subject_of,
    values_of,
)
from evalharness.models.base import Model
from evalharness.store import AggregateRow, Sample, Store

if TYPE_CHECKING:
    from evalharness.config import JudgeSpec, TaskSpec

log = logging.getLogger(__name__)

__all__ = ["compare_pairwise", "judge_run", "judge_task", "select_best", "select_best_of_n"]


def _show_reference(rubric: Rubric, mode: str | None) -> bool | None:
    if mode == "pairwise" or rubric.mode == "pairwise":
        raise ConfigError(
            f"rubric {rubric.name!r} / mode {mode or rubric.mode!r}: pairwise judging compares "
            "two runs; use compare_pairwise (evalharness judge-pairwise)"
        )
    if mode not in (None, "pointwise", "reference_guided"):
        raise ConfigError(f"unknown judge mode {mode!r} (pointwise, reference_guided, pairwise)")
    return None if mode is None else mode == "reference_guided"


def _progress(total: int, desc: str) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="sample", disable=not sys.stderr.isatty(), leave=False)


def judge_run(
    store: Store,
    run_id: str,
    rubric: str | Path | Rubric,
    judge_model: str | Model,
    *,
    task: str | None = None,
    mode: str | None = None,
    n: int = 1,
    combine: Combine = "mean",
    max_reasks: int = 2,
    max_tokens: int | None = None,
    source: str | None = None,
    limit: int | None = None,
    chunk_size: int = 64,
) -> dict[str, dict[str, dict[str, Any]]]:
    """Judge a stored run's samples; returns ``{task: {criterion: aggregate}}``.

    An aggregate has ``value``, ``ci_low``, ``ci_high``, ``n`` (parsed samples) and
    ``n_unparsed``. ``mode``: None (the rubric's), ``pointwise`` (no reference) or
    ``reference_guided`` (reference shown where the sample has one). ``limit``: the first N
    samples of each task. Samples whose generation failed are not judged.
    """
    rubric = as_rubric(rubric)
    show_reference = _show_reference(rubric, mode)
    store.get_run(run_id)
    judge = Judge(
        as_model(judge_model),
        rubric,
        n=n,
        combine=combine,
        max_reasks=max_reasks,
        max_tokens=max_tokens,
    )
    by_task: dict[str, list[Sample]] = {}
    for sample in store.samples(run_id, task):
        by_task.setdefault(sample.task, []).append(sample)
    if not by_task:
        raise StoreError(f"run {run_id!r} has no samples" + (f" of task {task!r}" if task else ""))
    results = {}
    for name, samples in by_task.items():
        samples = samples[:limit] if limit else samples
        done = judged_indices(store, run_id, name, rubric.name, judge.name)
        pending = [
            s for s in samples if s.idx not in done and s.error is None and s.output is not None
        ]
        started = time.perf_counter()
        with _progress(len(pending), f"judge {name}") as bar:
            for start in range(0, len(pending), chunk_size):
                chunk = pending[start : start + chunk_size]
                verdicts = judge.judge(
                    [subject_of(s, source) for s in chunk], show_reference=show_reference
                )
                add_judgments(
                    store,
                    [
                        row
                        for s, v in zip(chunk, verdicts, strict=True)
                        for row in rows_of(v, s, rubric, judge.name)
                    ],
                )
                bar.update(len(chunk))
                log.info(  # progress in a log too, where no terminal shows the bar
                    "judge %s (%s, %s): %d/%d samples, %d unparsed, %.0f s",
                    name,
                    rubric.name,
                    judge.name,
                    start + len(chunk),
                    len(pending),
                    sum(not v.parsed for v in verdicts),
                    time.perf_counter() - started,
                )
        rows = judgments(store, run_id, task=name, rubric=rubric.name, judge=judge.name)
        idxs = {s.idx for s in samples}
        values = values_of(rows, idxs)
        results[name] = aggregate_values({c: list(v.values()) for c, v in values.items()}, rubric)
        results[name] |= distribution_aggregates(rows, rubric, idxs)
    return results


def judge_task(
    store: Store,
    run_id: str,
    task_spec: TaskSpec,
    judge_specs: Sequence[JudgeSpec] | None = None,
    *,
    models: Mapping[str, Model] | None = None,
) -> dict[str, dict[str, Any]]:
    """Run a task's judges on its stored samples; store and return judge aggregates.

    Call it after the task's samples are stored and after ``aggregate_task`` (which replaces
    the task's aggregate rows). ``judge_specs`` defaults to ``task_spec.judges``; ``models``
    maps model spec strings to already-loaded models (e.g. the evaluated model) so they are
    not loaded twice. Returns ``{"judge:<rubric>.<criterion>": aggregate}`` (the judges of
    one rubric combined by their ``combine``), plus ``"judge:<rubric>.<criterion>[<judge>]"``
    for each judge when a rubric has several; the same rows go to the aggregates table.
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
            loaded[key] = as_model(spec.model, spec.model_args)
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
        )
        rubrics[rubric.name] = rubric
        by_rubric.setdefault(rubric.name, []).append((model.name, spec.combine))
    out: dict[str, dict[str, Any]] = {}
    for name, judges in by_rubric.items():
        rubric, found = rubrics[name], {}
        per_judge = {
            judge: values_of(
                judgments(store, run_id, task=task_spec.name, rubric=name, judge=judge)
            )
            for judge, _ in judges
        }
        combined = panel(per_judge, rubric, judges[0][1])
        for crit, agg in aggregate_values(combined, rubric).items():
            found[f"{JUDGE_PREFIX}{name}.{crit}"] = agg
        if len(judges) == 1:  # expected and argmax scores of the score distributions
            rows_one = judgments(
                store, run_id, task=task_spec.name, rubric=name, judge=judges[0][0]
            )
            for crit, agg in distribution_aggregates(rows_one, rubric).items():
                found[f"{JUDGE_PREFIX}{name}.{crit}"] = agg
        if len(per_judge) > 1:
            for judge, values in per_judge.items():
                lists = {c: list(v.values()) for c, v in values.items()}
                for crit, agg in aggregate_values(lists, rubric).items():
                    found[f"{JUDGE_PREFIX}{name}.{crit}[{judge}]"] = agg
        rows = [
            AggregateRow(
                run_id=run_id,
                task=task_spec.name,
                metric=metric,
                value=finite(a["value"]),
                ci_low=finite(a["ci_low"]),
                ci_high=finite(a["ci_high"]),
                n=a["n"],
                n_failed=a["n_unparsed"],
            )
            for metric, a in found.items()
        ]
        set_judge_aggregates(store, run_id, task_spec.name, name, rows)
        out |= found
    return out


def compare_pairwise(
    store: Store,
    run_a: str,
    run_b: str,
    rubric: str | Path | Rubric,
    judge_model: str | Model,
    task: str,
    *,
    n: int = 1,
    combine: Combine = "majority",
    max_reasks: int = 2,
    source: str | None = None,
    limit: int | None = None,
    chunk_size: int = 64,
) -> dict[str, Any]:
    """Judge run B against run A on their shared samples of ``task``, in both orders.

    Returns ``{"criteria": {criterion: {"win", "tie", "loss", "consistency", "n",
    "n_unparsed"}}, ...}``: win = B preferred over A, loss = A preferred, each a rate with a
    bootstrap 95% CI over the pairs; a pair whose two orders disagree counts as a tie;
    ``consistency`` is the share of parsed pairs whose two orders agree.
    """
    rubric = as_rubric(rubric)
    if rubric.mode != "pairwise":
        raise ConfigError(
            f"rubric {rubric.name!r} is pointwise; compare_pairwise needs a pairwise one"
        )
    runs = []
    for run_id in (run_a, run_b):
        store.get_run(run_id)
        runs.append(
            {
                s.idx: s
                for s in store.samples(run_id, task)
                if s.error is None and s.output is not None
            }
        )
    a, b = runs
    shared = sorted(i for i in a.keys() & b.keys() if a[i].input == b[i].input)[:limit]
    if not shared:
        raise StoreError(f"runs {run_a} and {run_b} share no successful samples of task {task!r}")
    judge = Judge(as_model(judge_model), rubric, n=n, combine=combine, max_reasks=max_reasks)
    done = judged_indices(store, run_a, task, rubric.name, judge.name, other_run_id=run_b)
    pending = [i for i in shared if i not in done]
    for start in range(0, len(pending), chunk_size):
        chunk = pending[start : start + chunk_size]
        subjects = []
        for i in chunk:
            s = subject_of(a[i], source)
            subjects.append(Subject(s.source, s.output, s.reference, b[i].output))
        rows: list[Judgment] = []
        for i, pv in zip(chunk, judge.judge_pairs(subjects), strict=True):
            extra = {
                c: {"winner": pv.winners[c], "consistent": pv.consistent[c]} for c in pv.winners
            }
            for order, verdict in (("AB", pv.ab), ("BA", pv.ba)):
                rows += rows_of(
                    verdict,
                    a[i],
                    rubric,
                    judge.name,
                    mode="pairwise",
                    order=order,
                    other_run_id=run_b,
                    extra=extra,
                )
        add_judgments(store, rows)
    stored = judgments(
        store,
        run_a,
        task=task,
        rubric=rubric.name,
        judge=judge.name,
        other_run_id=run_b,
        pairwise=True,
    )
    return {
        "run_a": run_a,
        "run_b": run_b,
        "task": task,
        "rubric": rubric.name,
        "judge": judge.name,
        "criteria": pair_rates(stored, rubric, set(shared)),
    }


def select_best_of_n(
    candidates: Sequence[str],
    rubric: str | Path | Rubric,
    judge_model: str | Model,
    *,
    source: str = "",
    reference: str | None = None,
    criterion: str | None = None,
    n: int = 1,
    max_reasks: int = 2,
) -> int:
    """Index of the best candidate answer to ``source`` by the judge (see ``select_best``)."""
    [best] = select_best(
        [(source, candidates)],
        rubric,
        judge_model,
        reference=[reference],
        criterion=criterion,
        n=n,
        max_reasks=max_reasks,
    )
    return best


def select_best(
    groups: Sequence[tuple[str, Sequence[str]]],
    rubric: str | Path | Rubric,
    judge_model: str | Model,
    *,
    reference: Sequence[str | None] | None = None,
    criterion: str | None = None,
    n: int = 1,
    max_reasks: int = 2,
) -> list[int]:
    """Per ``(source, candidates)`` group, the index of the candidate the judge rates best.

    All groups go to the judge as one batch (a pairwise rubric: one batch per knockout round).
    Pointwise rubric: the highest score of ``criterion`` (default: the mean of the score
    criteria; MQM penalties count negatively); unparsed candidates rank last. Pairwise rubric:
    a knockout in rounds, each pair asked in both orders; a tie or an unparsed pair keeps the
    earlier candidate. Ties go to the earlier index, and index 0 when nothing parsed.
    """
    rubric = as_rubric(rubric)
    if any(not candidates for _, candidates in groups):
        raise ValueError("no candidates")
    refs = list(reference) if reference is not None else [None] * len(groups)
    judge = Judge(as_model(judge_model), rubric, n=n, max_reasks=max_reasks)
    crits = [rubric.criterion(criterion)] if criterion else list(rubric.criteria)
    if rubric.mode == "pointwise":
        return _best_by_score(judge, rubric, crits, groups, refs)
    key = crits[0].name
    alive = [list(range(len(candidates))) for _, candidates in groups]
    while any(len(a) > 1 for a in alive):
        pairs = [(g, a[k], a[k + 1]) for g, a in enumerate(alive) for k in range(0, len(a) - 1, 2)]
        subjects = [
            Subject(groups[g][0], groups[g][1][x], refs[g], groups[g][1][y]) for g, x, y in pairs
        ]
        verdicts = iter(judge.judge_pairs(subjects))
        winners: list[list[int]] = [[] for _ in groups]
        for g, x, y in pairs:
            winners[g].append(y if next(verdicts).winners[key] == "b" else x)
        alive = [w + ([a[-1]] if len(a) % 2 else []) for w, a in zip(winners, alive, strict=True)]
    return [a[0] for a in alive]


def _best_by_score(
    judge: Judge,
    rubric: Rubric,
    crits: list[Any],
    groups: Sequence[tuple[str, Sequence[str]]],
    refs: list[str | None],
) -> list[int]:
    scored = [c for c in crits if c.kind != "label"]
    if not scored:
        raise ConfigError(f"rubric {rubric.name!r}: best-of-N needs a scored criterion")
    signs = [(-1.0 if c.kind == "errors" else 1.0) for c in scored]
    subjects = [
        Subject(source, text, ref)
        for (source, candidates), ref in zip(groups, refs, strict=True)
        for text in candidates
    ]
    verdicts = iter(judge.judge(subjects))
    chosen = []
    for _, candidates in groups:
        best, best_score = 0, -math.inf
        for i in range(len(candidates)):
            v = next(verdicts)
            if v.results is None:
                continue
            values = [
                s * (v.results[c.name].score or 0.0) for s, c in zip(signs, scored, strict=True)
            ]
            if (score := float(np.mean(values))) > best_score:
                best, best_score = i, score
        chosen.append(best)
    return chosen
