"""Compare data: per-metric paired deltas of two runs (``compare_runs``) and flipped samples."""

from __future__ import annotations

import math
from dataclasses import asdict

import pandas as pd
from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement

from evalharness.gate.compare import compare_runs
from evalharness.gate.paired_sql import same_question
from evalharness.store import Sample, Store
from evalharness.views.samples import _text, preview


def comparison(store: Store, run_a: str, run_b: str, *, n_boot: int = 1000) -> pd.DataFrame:
    """``compare_runs`` as a table: per task × metric, A, B, delta (B - A), paired CI, p, verdict.

    ``verdict`` is ``better``/``worse`` (in the metric's own direction) when the 95% CI of the
    delta excludes 0, otherwise ``no significant change``.
    """
    rows = []
    for r in compare_runs(store, run_a, run_b, n_boot=n_boot):
        significant = math.isfinite(r.ci_low) and (r.ci_low > 0 or r.ci_high < 0)
        improved = (r.delta > 0) == r.higher_is_better
        verdict = ("better" if improved else "worse") if significant else "no significant change"
        if r.n_shared == 0:
            verdict = "not comparable"
        rows.append({**asdict(r), "significant": significant, "verdict": verdict})
    columns = [
        "task", "metric", "value_a", "value_b", "delta", "ci_low", "ci_high", "p_value",
        "significant", "verdict", "n_shared", "n_a", "n_b", "higher_is_better", "note",
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def shared_tasks(store: Store, run_a: str, run_b: str) -> list[str]:
    query = select(Sample.run_id, Sample.task).where(Sample.run_id.in_([run_a, run_b])).distinct()
    with store.session() as s:
        pairs = s.execute(query).all()
    in_a = {task for run, task in pairs if run == run_a}
    return sorted(in_a & {task for run, task in pairs if run == run_b})


FLIP_COLUMNS = [
    "idx", "change", "outcome_a", "outcome_b", "score_a", "score_b", "sample_a", "sample_b",
    "input", "output_a", "output_b", "reference",
]  # fmt: skip


def _outcome(sample: type[Sample], metric: str, threshold: float) -> ColumnElement[str]:
    """A sample's outcome in SQL: ``error``, ``n/a`` (no score), ``pass`` (>= threshold),
    otherwise ``fail``."""
    value = sample.scores[metric].as_float()
    return case(
        (sample.error.is_not(None), "error"),
        (value.is_(None), "n/a"),
        (value >= threshold, "pass"),
        else_="fail",
    )


def _flips(
    store: Store, run_a: str, run_b: str, task: str, metric: str, threshold: float
) -> tuple[Select, tuple[type[Sample], type[Sample]], tuple[ColumnElement, ColumnElement]]:
    """The flipped pairs as SQL: the two runs' samples of ``task`` joined by
    ``paired_sql.same_question`` (same index and same input row)."""
    a, b = aliased(Sample, name="a"), aliased(Sample, name="b")
    same = same_question(store, a, b)
    oa, ob = _outcome(a, metric, threshold), _outcome(b, metric, threshold)
    query = (
        select(a.idx)
        .select_from(a)
        .join(b, same)
        .where(a.run_id == run_a, b.run_id == run_b, a.task == task, oa != ob)
        .where(oa != "n/a", ob != "n/a")
    )
    return query, (a, b), (oa, ob)


def flip_counts(
    store: Store, run_a: str, run_b: str, task: str, metric: str, *, threshold: float = 0.5
) -> tuple[int, int]:
    """(flipped, fixed in B) over every pair of the task: one ``COUNT`` over the SQL join."""
    query, _, (_, ob) = _flips(store, run_a, run_b, task, metric, threshold)
    fixed = func.coalesce(func.sum(case((ob == "pass", 1), else_=0)), 0)
    counted = query.with_only_columns(func.count(), fixed)
    with store.session() as s:
        n, n_fixed = s.execute(counted).one()
    return int(n), int(n_fixed)


def flipped(
    store: Store,
    run_a: str,
    run_b: str,
    task: str,
    metric: str,
    *,
    threshold: float = 0.5,
    offset: int = 0,
    limit: int | None = None,
) -> pd.DataFrame:
    """Samples of ``task`` whose outcome differs between the runs, by dataset index.

    The outcome of a sample is ``pass`` when ``metric`` >= ``threshold`` and ``fail`` otherwise;
    a sample that errored counts as ``error``. Samples whose dataset row differs between the
    runs are not the same question and are left out (as in ``compare_runs``). The pairs are
    joined, compared and paged (``offset``, ``limit``) in SQL.
    """
    query, (a, b), (oa, ob) = _flips(store, run_a, run_b, task, metric, threshold)
    query = query.with_only_columns(
        a.idx, oa, ob, a.scores[metric].as_float(), b.scores[metric].as_float(), a.id, b.id,
        a.input, a.output, b.output, a.reference,
    ).order_by(a.idx).offset(max(offset, 0))  # fmt: skip
    if limit is not None:
        query = query.limit(max(limit, 0))
    with store.session() as s:
        found = s.execute(query).all()
    rows = [
        {
            "idx": idx, "change": "fixed" if out_b == "pass" else "broken", "outcome_a": out_a,
            "outcome_b": out_b, "score_a": score_a, "score_b": score_b, "sample_a": id_a,
            "sample_b": id_b, "input": preview(row_input, 120), "output_a": output_a,
            "output_b": output_b, "reference": _text(reference),
        }
        for (idx, out_a, out_b, score_a, score_b, id_a, id_b, row_input, output_a, output_b,
             reference) in found
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=FLIP_COLUMNS)


def per_sample_metrics(store: Store, run_a: str, run_b: str, task: str) -> list[str]:
    """Metrics with a per-sample score in both runs for ``task`` (for the flip selector)."""
    names_b = set(store.score_names(run_b, task))
    return [n for n in store.score_names(run_a, task) if n in names_b]


def default_pair(store: Store, run_ids: list[str]) -> tuple[str, str]:
    """(A, B) to open with: B the newest run, A the newest older run sharing a task with it.

    ``run_ids`` are newest first (as ``runs_frame`` lists them).
    """
    b = run_ids[0]
    for a in run_ids[1:]:
        if shared_tasks(store, a, b):
            return a, b
    return run_ids[1], b
