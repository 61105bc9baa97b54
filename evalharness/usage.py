"""Tokens, cost and sample counts per run and task, stored once when a task finishes.

Pages (the Leaderboard, reports, ``run --json``) read these rows instead of scanning every
sample. A sample's cost is ``result["meta"]["cost_usd"]``, computed by the backend from the
model's ``prices``; a task's ``cost_usd`` is None when no sample had one (no prices given).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import (
    Float,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
    case,
    delete,
    func,
    select,
)
from sqlalchemy.orm import Mapped, mapped_column

from evalharness.store import Base, Run, Sample, Store

USAGE_FIELDS = ("samples", "failed", "prompt_tokens", "completion_tokens", "cost_usd")


class TaskUsage(Base):
    """One row per (run, task): totals over the task's stored samples."""

    __tablename__ = "task_usage"
    __table_args__ = (UniqueConstraint("run_id", "task"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"), index=True)
    task: Mapped[str] = mapped_column(String(128))
    samples: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost_usd: Mapped[float | None] = mapped_column(Float, nullable=True)
    latency_s: Mapped[float | None] = mapped_column(Float, nullable=True)  # mean, ok samples


def sample_cost(result: dict[str, Any] | None) -> float | None:
    """The backend's cost of one sample, or None when it recorded none."""
    meta = (result or {}).get("meta")
    cost = meta.get("cost_usd") if isinstance(meta, dict) else None
    return float(cost) if isinstance(cost, int | float) else None


def _totals(rows: Iterable[tuple[Any, ...]]) -> dict[str, Any]:
    """(error, prompt_tokens, completion_tokens, latency_s, result) rows -> totals."""
    out: dict[str, Any] = {"samples": 0, "failed": 0, "prompt_tokens": 0, "completion_tokens": 0}
    costs: list[float] = []
    latencies: list[float] = []
    for error, prompt, completion, latency, result in rows:
        out["samples"] += 1
        out["failed"] += error is not None
        out["prompt_tokens"] += prompt or 0
        out["completion_tokens"] += completion or 0
        if (cost := sample_cost(result)) is not None:
            costs.append(cost)
        if error is None and latency is not None:
            latencies.append(latency)
    out["cost_usd"] = sum(costs) if costs else None
    out["latency_s"] = sum(latencies) / len(latencies) if latencies else None
    return out


def sample_totals(store: Store, run_ids: Iterable[str], task: str | None = None) -> dict:
    """{(run, task): totals} added up in SQL from the samples (for runs stored before
    ``task_usage``, and when a task finishes): one ``GROUP BY`` row per task, no sample rows."""
    ok = Sample.error.is_(None)
    cost = Sample.result["meta"]["cost_usd"].as_float()
    query = select(
        Sample.run_id, Sample.task, func.count(), func.count(Sample.error),
        func.coalesce(func.sum(Sample.prompt_tokens), 0),
        func.coalesce(func.sum(Sample.completion_tokens), 0),
        func.sum(cost), func.avg(case((ok, Sample.latency_s))),
    ).where(Sample.run_id.in_(list(run_ids)))  # fmt: skip
    if task is not None:
        query = query.where(Sample.task == task)
    out: dict[tuple[str, str], dict[str, Any]] = {}
    with store.session() as s:
        for run_id, name, n, failed, prompt, completion, spent, latency in s.execute(
            query.group_by(Sample.run_id, Sample.task)
        ):
            out[(run_id, name)] = {
                "samples": int(n), "failed": int(failed), "prompt_tokens": int(prompt),
                "completion_tokens": int(completion),
                "cost_usd": None if spent is None else float(spent),
                "latency_s": None if latency is None else float(latency),
            }  # fmt: skip
    return out


def record_task_usage(store: Store, run_id: str, task: str) -> dict[str, Any]:
    """Store (replace) the totals of ``task`` in ``run_id``; returns them."""
    totals = sample_totals(store, [run_id], task).get((run_id, task)) or _totals([])
    with store.session() as s, s.begin():
        s.execute(delete(TaskUsage).where(TaskUsage.run_id == run_id, TaskUsage.task == task))
        s.add(TaskUsage(run_id=run_id, task=task, **totals))
    return totals


def usage_by_task(store: Store, run_ids: Iterable[str]) -> dict[tuple[str, str], dict[str, Any]]:
    """{(run, task): totals} from ``task_usage``; runs without rows fall back to their samples."""
    wanted = set(run_ids)
    with store.session() as s:
        stored = list(s.scalars(select(TaskUsage).where(TaskUsage.run_id.in_(wanted))))
    out = {
        (u.run_id, u.task): {k: getattr(u, k) for k in (*USAGE_FIELDS, "latency_s")} for u in stored
    }
    missing = wanted - {run_id for run_id, _ in out}
    if missing:
        out.update(sample_totals(store, missing))
    return out


def add_up(parts: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The sum of several totals; cost stays None only when no part had a cost."""
    total: dict[str, Any] = {k: 0 for k in USAGE_FIELDS}
    costs = []
    for part in parts:
        for key in ("samples", "failed", "prompt_tokens", "completion_tokens"):
            total[key] += part.get(key) or 0
        if part.get("cost_usd") is not None:
            costs.append(part["cost_usd"])
    total["cost_usd"] = sum(costs) if costs else None
    return total


def run_usage(store: Store, run_id: str) -> dict[str, Any]:
    """``{"tasks": {task: totals}, "total": totals}`` of one run."""
    tasks = {
        task: {k: v[k] for k in USAGE_FIELDS}
        for (_, task), v in sorted(usage_by_task(store, [run_id]).items())
    }
    return {"tasks": tasks, "total": add_up(tasks.values())}


def run_record(store: Store, run_id: str) -> dict[str, Any]:
    """What ``run --json`` adds to the results: model, its options, settings, time, usage."""
    run: Run = store.get_run(run_id)
    config = dict(run.config or {})
    settings = {k: v for k, v in config.items() if k != "model_args"}
    return {
        "model": run.model,
        "model_name": run.model_name,
        "model_args": config.get("model_args", {}),
        "settings": settings,
        "status": run.status,
        "started": run.created_at.isoformat() if run.created_at else None,
        "duration_s": run.duration_s,
        "usage": run_usage(store, run_id),
    }


def all_failed(usage: dict[str, Any]) -> list[str]:
    """Tasks of a ``run_usage`` whose every sample failed (exit code 3)."""
    return [
        task for task, u in usage["tasks"].items() if u["samples"] and u["failed"] == u["samples"]
    ]
