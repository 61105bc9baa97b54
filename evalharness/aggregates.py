"""Stored samples -> aggregate rows: one point value, bootstrap CI and n per metric.

Tasks and task groups both aggregate this way (a group pools its members' samples); failed
samples are counted in ``n_failed`` and never scored.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from evalharness.catalog import requested_groups
from evalharness.config import TaskSpec
from evalharness.metrics import get_metric
from evalharness.metrics.stats import Aggregate, summarize
from evalharness.store import AggregateRow, Sample, Store

NO_SAMPLES = Aggregate(math.nan, math.nan, math.nan, 0)  # every sample failed: nothing to score


def store_aggregates(
    store: Store, run_id: str, task: str, metrics: Sequence[str], samples: Sequence[Sample]
) -> dict[str, dict[str, Any]]:
    """Aggregate ``samples`` for each metric, store them as ``task``'s rows, return them."""
    ok = [s for s in samples if s.error is None]
    n_failed = len(samples) - len(ok)
    rows, summary = [], {}
    for name in metrics:
        stats = [s.stats[name] for s in ok]
        agg = summarize(get_metric(name), np.array(stats, dtype=float)) if stats else NO_SAMPLES
        fields = {"value": agg.value, "ci_low": agg.ci_low, "ci_high": agg.ci_high, "n": agg.n}
        row = AggregateRow(run_id=run_id, task=task, metric=name, n_failed=n_failed, **fields)
        rows.append(row)
        summary[name] = {**fields, "n_failed": n_failed}
    store.set_aggregates(run_id, task, rows)
    return summary


def aggregate_groups(
    store: Store, run_id: str, names: list[str], specs: dict[str, TaskSpec]
) -> dict[str, dict[str, Any]]:
    """Scores of the requested groups from their run tasks' stored samples, stored beside the
    tasks' aggregates (a group is a row of ``aggregates`` whose task is the group's name)."""
    results: dict[str, dict[str, Any]] = {}
    for group, leaves in requested_groups(names):
        members = [specs[name] for name in leaves if name in specs]
        if not members:
            continue
        metrics = [m for m in members[0].metrics if all(m in s.metrics for s in members)]
        samples = [s for spec in members for s in store.samples(run_id, spec.name)]
        summary = store_aggregates(store, run_id, group.group, metrics, samples)
        for value in summary.values():
            value["aggregate"] = group.aggregate
        results[group.group] = summary
    return results
