"""Leaderboard data: models × tasks × metrics with CIs, filters, latency/cost, trends."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, datetime, time

import pandas as pd
from sqlalchemy import select

from evalharness.formatting import number
from evalharness.judges import JUDGE_PREFIX
from evalharness.ratings.agreement import trust_text, with_agreement
from evalharness.store import AggregateRow, Run, Store
from evalharness.usage import usage_by_task

LEADERBOARD_COLUMNS = [
    "model", "task", "metric", "value", "ci_low", "ci_high", "ci_half", "shown", "n", "n_failed",
    "latency_s", "cost_usd", "judge_agreement", "run_id", "created_at", "tags", "status",
]  # fmt: skip


def shown(value: float | None, low: float | None, high: float | None) -> str:
    """``value ± half-width`` of the CI (the half-width of the wider side, so it never hides)."""
    if value is None or low is None or high is None:
        return number(value)
    if not all(map(math.isfinite, (value, low, high))):
        return number(value)
    half = max(value - low, high - value)
    return f"{number(value)} ± {number(half, '.2g')}"


def run_label(run: Run) -> str:
    """How a run is named in selectors: id, model, tasks (plain text, never Markdown)."""
    tasks = ",".join(run.config.get("tasks", []) if run.config else [])
    return f"{run.id} · {run.model} · {tasks}"


def runs_frame(store: Store) -> pd.DataFrame:
    """Every run, newest first: id, model, model_name, status, tags, created_at, duration_s."""
    rows = [
        {
            "run_id": r.id,
            "model": r.model,
            "model_name": r.model_name,
            "status": r.status,
            "tags": list(r.tags or []),
            "created_at": r.created_at,
            "duration_s": r.duration_s,
            "label": run_label(r),
        }
        for r in store.runs()
    ]
    columns = ["run_id", "model", "model_name", "status", "tags", "created_at", "duration_s"]
    return pd.DataFrame(rows, columns=[*columns, "label"])


def _day(value: date | datetime | None, end: bool) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.combine(value, time.max if end else time.min)


def leaderboard(
    store: Store,
    *,
    tasks: Sequence[str] = (),
    models: Sequence[str] = (),
    tags: Sequence[str] = (),
    metrics: Sequence[str] = (),
    since: date | datetime | None = None,
    until: date | datetime | None = None,
    latest_only: bool = True,
    include_unfinished: bool = False,
    sort_by: str = "rank",
    descending: bool = False,
) -> pd.DataFrame:
    """One row per model × task × metric: rank, value, CI, ± text, n, failed, latency, cost, run.

    ``latest_only`` keeps each model's newest run of each task; empty filters keep everything;
    a run passes ``tags`` when it carries any of them. Latency is the mean per-sample latency,
    or the run's duration over its samples where the backend recorded none (log-likelihoods).
    """
    query = select(AggregateRow, Run).join(Run, Run.id == AggregateRow.run_id)
    if not include_unfinished:
        query = query.where(Run.status == "finished")
    if tasks:
        query = query.where(AggregateRow.task.in_(list(tasks)))
    if models:
        query = query.where(Run.model.in_(list(models)))
    if metrics:
        query = query.where(AggregateRow.metric.in_(list(metrics)))
    if (start := _day(since, end=False)) is not None:
        query = query.where(Run.created_at >= start)
    if (stop := _day(until, end=True)) is not None:
        query = query.where(Run.created_at <= stop)
    with store.session() as s:
        pairs = s.execute(query.order_by(Run.created_at.desc(), AggregateRow.id)).all()
    wanted = set(tags)
    pairs = [(a, r) for a, r in pairs if not wanted or wanted & set(r.tags or [])]
    if latest_only:
        newest: dict[tuple[str, str], str] = {}
        for agg, run in pairs:  # newest first
            newest.setdefault((run.model, agg.task), run.id)
        pairs = [(a, r) for a, r in pairs if newest[(r.model, a.task)] == r.id]
    usage = usage_by_task(store, {r.id for _, r in pairs}) if pairs else {}
    samples_per_run: dict[str, float] = {}
    for (run_id, _), u in usage.items():
        samples_per_run[run_id] = samples_per_run.get(run_id, 0) + (u["samples"] or 0)
    trust = _trust(store, pairs)
    rows = []
    for agg, run in pairs:
        u = usage.get((run.id, agg.task), {})
        latency = u.get("latency_s")
        if latency is None and run.duration_s and samples_per_run.get(run.id):
            latency = run.duration_s / samples_per_run[run.id]
        value, low, high = (_float(x) for x in (agg.value, agg.ci_low, agg.ci_high))
        half = max(value - low, high - value) if math.isfinite(value + low + high) else math.nan
        rows.append(
            {
                "model": run.model, "task": agg.task, "metric": agg.metric, "value": value,
                "ci_low": low, "ci_high": high, "ci_half": half, "shown": shown(value, low, high),
                "n": agg.n, "n_failed": agg.n_failed, "latency_s": latency,
                "cost_usd": u.get("cost_usd"),
                "judge_agreement": trust.get((run.id, agg.task, agg.metric), ""),
                "run_id": run.id, "created_at": run.created_at,
                "tags": ", ".join(run.tags or []), "status": run.status,
            }
        )  # fmt: skip
    frame = pd.DataFrame(rows, columns=LEADERBOARD_COLUMNS)
    frame["cost_usd"] = frame["cost_usd"].astype(float)
    frame["latency_s"] = frame["latency_s"].astype(float)
    frame.insert(0, "rank", _ranks(frame))
    return sort_board(frame, sort_by, descending)


def _trust(store: Store, pairs: Sequence[tuple[AggregateRow, Run]]) -> dict[tuple, str]:
    """Each judged row's judge agreement with people (or ``uncalibrated``), by (run, task,
    metric); other metrics have none."""
    by_run: dict[str, dict[str, dict[str, dict]]] = {}
    for agg, run in pairs:
        if agg.metric.startswith(JUDGE_PREFIX):
            by_run.setdefault(run.id, {}).setdefault(agg.task, {})[agg.metric] = {}
    for run_id, results in by_run.items():
        with_agreement(store, run_id, results)
    return {
        (run_id, task, metric): trust_text(agg)
        for run_id, results in by_run.items()
        for task, metrics in results.items()
        for metric, agg in metrics.items()
    }


def higher_is_better(metric: str) -> bool:
    """The metric's direction; judge scores and unknown names count as higher-is-better."""
    from evalharness.metrics import METRICS

    found = METRICS.get(metric)
    return True if found is None else found.higher_is_better


def _ranks(frame: pd.DataFrame) -> pd.Series:
    """1 = best model of each task × metric, in the metric's own direction (ties share)."""
    if frame.empty:
        return pd.Series([], dtype="Int64")
    signed = frame["value"] * frame["metric"].map(lambda m: 1.0 if higher_is_better(m) else -1.0)
    ranks = signed.groupby([frame["task"], frame["metric"]]).rank(method="min", ascending=False)
    return ranks.astype("Int64")


PER_METRIC = ("rank", "value", "ci_half", "n", "n_failed", "latency_s", "cost_usd")


def sort_board(
    frame: pd.DataFrame, sort_by: str = "rank", descending: bool = False
) -> pd.DataFrame:
    """Numbers of one metric (rank, value, CI, n...) sort within each task × metric; other
    columns (model, task, date) sort the whole table."""
    if frame.empty or sort_by not in frame.columns:
        return frame
    if sort_by in PER_METRIC:
        order, ascending = ["task", "metric", sort_by], [True, True, not descending]
    else:
        order, ascending = [sort_by, "task", "metric"], [not descending, True, True]
    ordered = frame.sort_values(order, ascending=ascending, na_position="last", kind="stable")
    return ordered.reset_index(drop=True)


def _float(value: float | None) -> float:
    return math.nan if value is None else float(value)


def matrix(board: pd.DataFrame) -> pd.DataFrame:
    """The leaderboard as models × (task, metric) cells of ``value ± CI`` text."""
    if board.empty:
        return pd.DataFrame()
    cells = board.assign(column=board["task"] + " · " + board["metric"])
    table = cells.pivot_table(index="model", columns="column", values="shown", aggfunc="first")
    table.columns.name = None
    return table.reset_index()


def trend(store: Store, model: str, task: str, metric: str) -> pd.DataFrame:
    """One model's value of a task metric over its finished runs, oldest first, with CIs."""
    query = (
        select(AggregateRow, Run)
        .join(Run, Run.id == AggregateRow.run_id)
        .where(Run.model == model, Run.status == "finished")
        .where(AggregateRow.task == task, AggregateRow.metric == metric)
        .order_by(Run.created_at)
    )
    with store.session() as s:
        pairs = s.execute(query).all()
    rows = [
        {
            "run_id": run.id,
            "created_at": run.created_at,
            "value": _float(agg.value),
            "ci_low": _float(agg.ci_low),
            "ci_high": _float(agg.ci_high),
            "n": agg.n,
        }
        for agg, run in pairs
    ]
    return pd.DataFrame(rows, columns=["run_id", "created_at", "value", "ci_low", "ci_high", "n"])
