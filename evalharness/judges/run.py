"""Judging stored runs: pointwise scores per criterion of one run, pairwise win rates of two.

Nothing is re-generated: the judge reads the stored samples (``Sample.output``, the dataset
row ``Sample.input``, ``Sample.reference``, ``Sample.prompt``). Judging is resumable: samples
that the same judge model already judged with the same rubric are skipped (unparsed ones too;
they are stored as such). Each chunk of samples goes to the judge as one batch and is stored
before the next starts. Aggregates are means with percentile-bootstrap 95% CIs over samples
(``metrics.stats.summarize``), with ``n`` parsed samples and ``n_unparsed`` alongside.
A task's judges (``task.py``) and best-of-N selection (``best_of_n.py``) build on this.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any

from evalharness.errors import ConfigError, StoreError
from evalharness.gate.compare import pair_samples
from evalharness.judges.judge import Combine, Judge
from evalharness.judges.records import Judgment, add_judgments, judged_indices, judgments
from evalharness.judges.render import Subject
from evalharness.judges.rubric import Rubric
from evalharness.judges.stored import (
    aggregate_values,
    as_model,
    as_rubric,
    distribution_aggregates,
    pair_rates,
    rows_of,
    subject_of,
    values_of,
)
from evalharness.models.base import Model
from evalharness.store import Sample, Store

log = logging.getLogger(__name__)

__all__ = ["compare_pairwise", "judge_run"]


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
    output: str | None = None,
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
                    [subject_of(s, source, output) for s in chunk], show_reference=show_reference
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
    a, b, shared = _shared_samples(store, run_a, run_b, task, limit)
    judge = Judge(as_model(judge_model), rubric, n=n, combine=combine, max_reasks=max_reasks)
    done = judged_indices(store, run_a, task, rubric.name, judge.name, other_run_id=run_b)
    pending = [i for i in shared if i not in done]
    for start in range(0, len(pending), chunk_size):
        chunk = pending[start : start + chunk_size]
        add_judgments(store, _pair_rows(judge, rubric, chunk, a, b, run_b, source))
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


def _shared_samples(
    store: Store, run_a: str, run_b: str, task: str, limit: int | None
) -> tuple[dict[int, Sample], dict[int, Sample], list[int]]:
    """Both runs' successful samples of ``task`` by index, and the indices they share (same
    input), the first ``limit`` of them."""
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
    shared = [sa.idx for sa, _ in pair_samples(a.values(), b.values())[0]][:limit]
    if not shared:
        raise StoreError(f"runs {run_a} and {run_b} share no successful samples of task {task!r}")
    return a, b, shared


def _pair_rows(
    judge: Judge,
    rubric: Rubric,
    chunk: list[int],
    a: dict[int, Sample],
    b: dict[int, Sample],
    run_b: str,
    source: str | None,
) -> list[Judgment]:
    """Judge one chunk of shared samples in both orders; the stored rows (AB and BA each)."""
    subjects = []
    for i in chunk:
        s = subject_of(a[i], source)
        subjects.append(Subject(s.source, s.output, s.reference, b[i].output))
    rows: list[Judgment] = []
    for i, pv in zip(chunk, judge.judge_pairs(subjects), strict=True):
        extra = {c: {"winner": pv.winners[c], "consistent": pv.consistent[c]} for c in pv.winners}
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
    return rows
