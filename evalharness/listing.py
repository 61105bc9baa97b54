"""Text tables for ``evalharness list`` and the footer of ``run``: runs, metrics, rubrics, usage."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select

from evalharness.formatting import number
from evalharness.leases import run_state
from evalharness.progress import duration
from evalharness.store import AggregateRow, Run, Store

MEAN_AGGREGATES = ("_mean_of_rows", "_weighted_mean")  # aggregates that average per-sample values


def run_status(store: Store, run: Run) -> str:
    """The status shown for a run: a "running" run whose lease holder died is interrupted."""
    return run_state(store, run)


def table(header: list[str], rows: Iterable[list[str]], right: Iterable[int] = ()) -> list[str]:
    """Columns padded to their widest cell; ``right`` aligns those column indexes right."""
    body = [list(map(str, row)) for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in body)) for i, h in enumerate(header)]
    aligned = set(right)

    def line(cells: list[str]) -> str:
        parts = [
            c.rjust(w) if i in aligned else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    return [line(header), "  ".join("-" * w for w in widths), *map(line, body)]


def _started(when: datetime | None) -> str:
    return f"{when:%Y-%m-%d %H:%M}" if when else "—"


def headlines(store: Store, run_ids: list[str]) -> dict[str, str]:
    """Per run: its first task's first metric, ``task metric=value``, and ``+k`` more tasks."""
    query = select(AggregateRow).where(AggregateRow.run_id.in_(run_ids)).order_by(AggregateRow.id)
    first: dict[str, AggregateRow] = {}
    tasks: dict[str, set[str]] = {}
    with store.session() as s:
        for agg in s.scalars(query):
            first.setdefault(agg.run_id, agg)
            tasks.setdefault(agg.run_id, set()).add(agg.task)
    out = {}
    for run_id, agg in first.items():
        value = number(agg.value)
        more = len(tasks[run_id]) - 1
        out[run_id] = f"{agg.task} {agg.metric}={value}" + (f" (+{more} tasks)" if more else "")
    return out


def runs_table(store: Store) -> list[str]:
    """``list runs``: id, model, tasks, status, started, duration, headline metric, tags."""
    runs = store.runs()
    if not runs:
        return ["no runs stored"]
    heads = headlines(store, [r.id for r in runs])
    rows = [
        [
            r.id,
            r.model,
            ",".join((r.config or {}).get("tasks", [])),
            run_status(store, r),
            _started(r.created_at),
            duration(r.duration_s),
            heads.get(r.id, "—"),
            ",".join(r.tags or []),
        ]
        for r in runs
    ]
    header = ["id", "model", "tasks", "status", "started", "duration", "headline", "tags"]
    return table(header, rows, right=[5])


def metrics_table() -> list[str]:
    """``list metrics``: name, output type, direction, whether the aggregate is corpus-level."""
    from evalharness.metrics import METRICS

    rows = []
    for name, metric in sorted(METRICS.items()):
        corpus = getattr(metric.aggregate, "__name__", "") not in MEAN_AGGREGATES
        rows.append(
            [
                name,
                metric.output_type,
                "yes" if metric.higher_is_better else "no",
                "corpus" if corpus else "mean of samples",
            ]
        )
    return table(["metric", "output type", "higher is better", "aggregate"], rows)


def rubrics_table() -> list[str]:
    """``list rubrics``: name, mode, criteria, file."""
    from evalharness.judges.rubric import load_rubric, rubric_files

    rows = []
    for name, path in sorted(rubric_files().items()):
        rubric = load_rubric(path)
        criteria = ", ".join(c.name for c in rubric.criteria)
        rows.append([name, rubric.mode, criteria, str(path)])
    return table(["rubric", "mode", "criteria", "file"], rows)


def _cost(value: float | None) -> str:
    return "—" if value is None else f"${value:.6f}"


def usage_lines(usage: dict[str, Any]) -> list[str]:
    """The footer of the results table: samples, failed, tokens and cost per task and in all."""
    rows = [
        [task, u["samples"], u["failed"], u["prompt_tokens"], u["completion_tokens"],
         _cost(u["cost_usd"])]
        for task, u in usage["tasks"].items()
    ]  # fmt: skip
    t = usage["total"]
    rows.append(
        ["total", t["samples"], t["failed"], t["prompt_tokens"], t["completion_tokens"],
         _cost(t["cost_usd"])]
    )  # fmt: skip
    header = ["task", "samples", "failed", "prompt tokens", "completion tokens", "cost"]
    return table(header, rows, right=[1, 2, 3, 4, 5])
