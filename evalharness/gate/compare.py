"""Run-vs-run comparison on the samples two runs share: paired rows, paired bootstrap tests.

Samples are matched by task and dataset index; only samples scored in both runs count, and
a shared index whose dataset row differs between the runs is never paired (the task's data
changed, so the two samples are not the same question). Every resample draws the same
indices for both runs and recomputes the metric from the resampled column sums of the
sufficient statistics, so corpus metrics (BLEU, perplexity) are resampled at corpus level.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from evalharness.errors import StoreError
from evalharness.gate.paired_sql import (
    TaskPairs,
    metrics_by_task,
    run_pairs,
    run_tasks,
    scored_counts,
)
from evalharness.metrics import Metric, get_metric, paired_bootstrap
from evalharness.metrics.stats import bootstrap_values
from evalharness.store import Sample, Store

# cells of the (resamples, n) counts matrix built at once, as in metrics/stats.py


@dataclass(frozen=True)
class Paired:
    """Aligned sufficient-statistics rows of one metric: row i of ``a`` and ``b`` is ``idx[i]``."""

    a: np.ndarray
    b: np.ndarray
    idx: tuple[int, ...]
    mismatched: tuple[int, ...]  # shared indices whose dataset rows differ (left out)

    @property
    def n(self) -> int:
        return len(self.idx)


def pair_samples(
    a: Iterable[Sample], b: Iterable[Sample]
) -> tuple[list[tuple[Sample, Sample]], tuple[int, ...]]:
    """The one rule pairing two runs' samples of a task (the gate, ``compare``, the app's flips
    and pairwise judging all use it): the same dataset index and the same input row, by index;
    and the shared indices whose rows differ, which are never paired."""
    by_idx_a, by_idx_b = {s.idx: s for s in a}, {s.idx: s for s in b}
    pairs, mismatched = [], []
    for idx in sorted(by_idx_a.keys() & by_idx_b.keys()):
        sa, sb = by_idx_a[idx], by_idx_b[idx]
        if sa.input == sb.input:
            pairs.append((sa, sb))
        else:
            mismatched.append(idx)
    return pairs, tuple(mismatched)


def scored(samples: Sequence[Sample], metric: str) -> dict[int, Sample]:
    """Samples that finished without error and carry ``metric``, by dataset index."""
    return {s.idx: s for s in samples if s.error is None and metric in (s.stats or {})}


def paired_rows(a: Sequence[Sample], b: Sequence[Sample], metric: str) -> Paired:
    """Rows of ``metric`` for the samples of one task scored in both runs, ordered by index."""
    pairs, mismatched = pair_samples(scored(a, metric).values(), scored(b, metric).values())
    if not pairs:
        return Paired(np.zeros((0, 0)), np.zeros((0, 0)), (), mismatched)
    rows_a = np.array([sa.stats[metric] for sa, _ in pairs], dtype=float)
    rows_b = np.array([sb.stats[metric] for _, sb in pairs], dtype=float)
    return Paired(rows_a, rows_b, tuple(sa.idx for sa, _ in pairs), mismatched)


@dataclass(frozen=True)
class DropTest:
    """One-sided paired bootstrap test of H0: drop <= max_drop against H1: drop > max_drop.

    ``drop`` is the worsening from baseline to candidate in the metric's own direction
    (baseline - candidate when higher is better, candidate - baseline otherwise); with
    ``relative`` it is that worsening divided by |baseline|, computed on every resample.
    """

    baseline: float  # metric on the shared samples of the baseline run
    candidate: float  # metric on the same samples of the candidate run
    delta: float  # candidate - baseline, in the metric's units
    delta_ci_low: float
    delta_ci_high: float
    drop: float
    p_value: float
    n: int


def _drops(metric: Metric, base: np.ndarray, cand: np.ndarray, relative: bool) -> np.ndarray:
    sign = 1.0 if metric.higher_is_better else -1.0
    drop = sign * (base - cand)
    if not relative:
        return drop
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(base != 0, drop / np.abs(base), np.nan)


def drop_test(
    metric: Metric,
    base: np.ndarray,
    cand: np.ndarray,
    *,
    max_drop: float,
    relative: bool = False,
    n_boot: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
) -> DropTest:
    """Paired bootstrap of the drop; the p-value shifts the bootstrap drops to the H0 boundary.

    p = (1 + #{b: drop*_b - mean(drop*) >= drop - max_drop}) / (1 + n_boot), the one-sided
    analogue of the shifted test in ``paired_bootstrap``. A single pair gives p = 1 (no
    evidence); an undefined drop (relative to a zero baseline) gives NaNs.
    """
    n = base.shape[0]
    if n == 0 or base.shape != cand.shape:
        raise ValueError(f"need aligned, non-empty rows; got {base.shape} and {cand.shape}")
    b_val, c_val = metric.value(base), metric.value(cand)
    drop = float(_drops(metric, np.array(b_val), np.array(c_val), relative))
    delta = c_val - b_val
    if n == 1 or not math.isfinite(drop):
        p = 1.0 if math.isfinite(drop) else math.nan
        return DropTest(b_val, c_val, delta, delta, delta, drop, p, n)
    boot_b, boot_c = bootstrap_values(metric, [base, cand], n_boot, seed)
    deltas = boot_c - boot_b
    drops = _drops(metric, boot_b, boot_c, relative)
    drops = drops[np.isfinite(drops)]
    tail = 100 * (1 - confidence) / 2
    low, high = np.nanpercentile(deltas, [tail, 100 - tail])
    if drops.size == 0:
        return DropTest(b_val, c_val, delta, float(low), float(high), drop, math.nan, n)
    shifted = drops - drops.mean()
    # the tolerance makes identical systems (all drops 0 up to float noise) give p = 1
    margin = drop - max_drop - 1e-12 * max(1.0, abs(drop))
    p_value = (int((shifted >= margin).sum()) + 1) / (drops.size + 1)
    return DropTest(b_val, c_val, delta, float(low), float(high), drop, p_value, n)


@dataclass(frozen=True)
class ComparisonRow:
    task: str
    metric: str
    higher_is_better: bool
    value_a: float  # on the shared samples
    value_b: float
    delta: float  # value_b - value_a
    ci_low: float
    ci_high: float
    p_value: float  # two-sided, H0: delta == 0
    n_shared: int
    n_a: int  # scored samples of the task in each run
    n_b: int
    note: str = ""


def compare_runs(
    store: Store, run_a: str, run_b: str, *, n_boot: int = 1000, seed: int = 0
) -> list[ComparisonRow]:
    """Every task and metric both runs scored, compared on their shared samples (read with
    SQL, ``paired_sql``: no prompts, outputs or sample objects)."""
    tasks_a, tasks_b = run_tasks(store, run_a), run_tasks(store, run_b)
    if not tasks_a & tasks_b:
        raise StoreError(
            f"runs {run_a} ({', '.join(sorted(tasks_a)) or 'no tasks'}) and {run_b} "
            f"({', '.join(sorted(tasks_b)) or 'no tasks'}) share no task"
        )
    counts_a, counts_b = scored_counts(store, run_a), scored_counts(store, run_b)
    shared = {task: [m for m in names if (task, m) in counts_b]
              for task, names in metrics_by_task(counts_a) if task in tasks_b}  # fmt: skip
    shared = {task: names for task, names in shared.items() if names}
    pairs = run_pairs(store, run_a, run_b, shared)
    return [
        _compare_one(task, name, pairs[task], (counts_a[task, name], counts_b[task, name]),
                     n_boot, seed)
        for task, names in shared.items() for name in names
    ]  # fmt: skip


def _compare_one(
    task: str, name: str, pairs: TaskPairs, n_ab: tuple[int, int], n_boot: int, seed: int
) -> ComparisonRow:
    metric = get_metric(name)
    rows_a, rows_b, idx, mismatched = pairs.rows(name)
    n_a, n_b = n_ab
    note = f"{mismatched} shared samples differ in input, left out" if mismatched else ""
    if not idx:
        nan = math.nan
        note = note or "no shared scored samples"
        return ComparisonRow(
            task, name, metric.higher_is_better, nan, nan, nan, nan, nan, nan, 0, n_a, n_b, note
        )
    test = paired_bootstrap(metric, rows_a, rows_b, n_boot=n_boot, seed=seed)
    return ComparisonRow(
        task,
        name,
        metric.higher_is_better,
        metric.value(rows_a),
        metric.value(rows_b),
        test.delta,
        test.ci_low,
        test.ci_high,
        test.p_value,
        len(idx),
        n_a,
        n_b,
        note,
    )
