"""Vega-Lite charts of the view frames: each a ``Chart`` (the rows, a spec naming their columns).

Written as plain specs, not Altair objects: building and validating Altair's objects cost the
Leaderboard ~0.2 s a run and importing Altair 0.25 s at its first view. Text in charts is drawn
by Vega as text, never as HTML.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

Spec = dict[str, Any]


@dataclass(frozen=True)
class Chart:
    """``st.vega_lite_chart(chart.data, chart.spec)``: the spec's layers read ``data``'s columns
    unless they carry rows of their own (a reference line)."""

    data: pd.DataFrame
    spec: Spec


def _kind(series: pd.Series) -> str:
    """The Vega-Lite type of a column: dates temporal, numbers (not booleans) quantitative."""
    if pd.api.types.is_datetime64_any_dtype(series):
        return "temporal"
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        return "quantitative"
    return "nominal"


def _tooltip(data: pd.DataFrame, columns: list[str]) -> list[Spec]:
    return [{"field": c, "type": _kind(data[c])} for c in columns]


def _q(field: str, **extra: Any) -> Spec:
    return {"field": field, "type": "quantitative", **extra}


def _n(field: str, **extra: Any) -> Spec:
    return {"field": field, "type": "nominal", **extra}


def _empty(message: str) -> Chart:
    spec = {"mark": "text", "encoding": {"text": _n("message")}}
    return Chart(pd.DataFrame({"message": [message]}), spec)


def error_bars(board: pd.DataFrame, task: str, metric: str) -> Chart:
    """One task metric per model: a point at the value and a bar over the 95% CI."""
    data = board[(board["task"] == task) & (board["metric"] == metric)]
    data = data[["model", "value", "ci_low", "ci_high", "n", "run_id"]].dropna(subset=["value"])
    if data.empty:
        return _empty(f"no values of {task} · {metric}")
    by_value = {"field": "value", "order": "descending"}
    shared = {
        "y": _n("model", sort=by_value, title=None, axis={"labelLimit": 220}),
        "color": _n("model", legend=None),
        "tooltip": _tooltip(data, ["model", "value", "ci_low", "ci_high", "n", "run_id"]),
    }
    title = f"{metric} (point: value, bar: 95% CI)"
    bars = {"mark": {"type": "rule", "strokeWidth": 3},
            "encoding": {"x": _q("ci_low", title=title), "x2": {"field": "ci_high"}}}  # fmt: skip
    points = {"mark": {"type": "point", "filled": True, "size": 90, "color": "black"},
              "encoding": {"x": _q("value")}}  # fmt: skip
    spec = {"title": f"{task} · {metric}", "height": {"step": 36}, "encoding": shared,
            "layer": [bars, points]}  # fmt: skip
    return Chart(data, spec)


def tradeoff(board: pd.DataFrame, task: str, metric: str, x: str = "latency_s") -> Chart:
    """Quality vs ``x`` (``latency_s``: s/sample, or ``cost_usd``): one point per model."""
    data = board[(board["task"] == task) & (board["metric"] == metric)]
    data = data[["model", "value", "ci_low", "ci_high", x, "run_id"]].dropna(subset=["value", x])
    if data.empty:
        return _empty(f"no {x} recorded for {task}")
    title = {"latency_s": "latency (s per sample)", "cost_usd": "cost (USD)"}.get(x, x)
    shared = {
        "x": _q(x, title=title, scale={"zero": False}),
        "color": _n("model"),
        "tooltip": _tooltip(data, ["model", "value", "ci_low", "ci_high", x, "run_id"]),
    }
    bars = {"mark": "rule", "encoding": {"y": _q("ci_low"), "y2": {"field": "ci_high"}}}
    points = {"mark": {"type": "circle", "size": 120}, "encoding": {"y": _q("value", title=metric)}}
    spec = {"title": f"{task} · {metric} vs {title}", "encoding": shared, "layer": [bars, points]}
    return Chart(data, spec)


def trend_chart(frame: pd.DataFrame, model: str, task: str, metric: str) -> Chart:
    """A metric over one model's runs: line through the values, band over the CIs."""
    data = frame.dropna(subset=["value"])
    if data.empty:
        return _empty(f"no runs of {model} with {task} · {metric}")
    shared = {
        "x": {"field": "created_at", "type": "temporal", "title": "run started"},
        "tooltip": _tooltip(data, ["run_id", "created_at", "value", "ci_low", "ci_high", "n"]),
    }
    band = {"mark": {"type": "area", "opacity": 0.2},
            "encoding": {"y": _q("ci_low", title=metric), "y2": {"field": "ci_high"}}}  # fmt: skip
    bars = {"mark": "rule", "encoding": {"y": _q("ci_low"), "y2": {"field": "ci_high"}}}
    line = {"mark": {"type": "line", "point": {"filled": True, "size": 70}},
            "encoding": {"y": _q("value")}}  # fmt: skip
    spec = {"title": f"{model}: {task} · {metric} over runs", "encoding": shared,
            "layer": [band, bars, line]}  # fmt: skip
    return Chart(data, spec)


def delta_chart(frame: pd.DataFrame) -> Chart:
    """Compare: each task metric's delta (B - A) with its paired 95% CI, coloured by verdict."""
    data = frame.dropna(subset=["delta"]).assign(row=lambda f: f["task"] + " · " + f["metric"])
    if data.empty:
        return _empty("no shared scored samples")
    data = data[["row", "verdict", "task", "metric", "delta", "ci_low", "ci_high", "p_value",
                 "n_shared"]]  # fmt: skip
    shared = {
        "y": _n("row", title=None),
        "color": _n("verdict"),
        "tooltip": _tooltip(
            data, ["task", "metric", "delta", "ci_low", "ci_high", "p_value", "n_shared"]
        ),
    }
    zero = {"data": {"values": [{"x": 0.0}]}, "mark": {"type": "rule", "strokeDash": [4, 4]},
            "encoding": {"x": _q("x")}}  # fmt: skip
    bars = {"mark": {"type": "rule", "strokeWidth": 2}, "encoding": shared | {
        "x": _q("ci_low", title="delta B − A"), "x2": {"field": "ci_high"}}}  # fmt: skip
    points = {"mark": {"type": "point", "filled": True, "size": 80},
              "encoding": shared | {"x": _q("delta")}}  # fmt: skip
    return Chart(data, {"height": {"step": 32}, "layer": [zero, bars, points]})


def judge_scatter(frame: pd.DataFrame, judge: str) -> Chart:
    """Calibration: each item's judge score against the mean human score (jittered points)."""
    data = frame[frame["judge"] == judge].dropna(subset=["judge_score", "human_score"])
    if data.empty:
        return _empty(f"no numeric scores of {judge}")
    data = data[["judge_score", "human_score", "n_humans"]]
    spec = {
        "title": "Judge vs humans, per item",
        "transform": [
            {"calculate": "(random() - 0.5) * 0.25", "as": "jitter"},
            {"calculate": "datum.judge_score + datum.jitter", "as": "x"},
        ],
        "mark": {"type": "circle", "size": 60, "opacity": 0.6},
        "encoding": {
            "x": _q("x", title="judge score (jittered)", scale={"zero": False}),
            "y": _q("human_score", title="mean human score", scale={"zero": False}),
            "tooltip": _tooltip(data, ["judge_score", "human_score", "n_humans"]),
        },
    }
    return Chart(data, spec)


def curve_chart(curve: pd.DataFrame) -> Chart:
    """Calibration curve: mean human score (95% CI) at each judge score, isotonic fit, y = x."""
    if curve.empty:
        return _empty("no numeric scores")
    low, high = curve[["judge_score", "human_mean"]].min().min(), curve["judge_score"].max()
    ends = [{"x": float(v), "y": float(v)} for v in (low, high)]
    x = _q("judge_score", title="judge score", scale={"zero": False})
    diagonal = {"data": {"values": ends},
                "mark": {"type": "line", "strokeDash": [4, 4], "color": "gray"},
                "encoding": {"x": _q("x"), "y": _q("y")}}  # fmt: skip
    y = _q("ci_low", title="mean human score")
    bars = {"mark": "rule", "encoding": {"x": x, "y": y, "y2": {"field": "ci_high"}}}
    tooltip = _tooltip(curve, ["judge_score", "human_mean", "ci_low", "ci_high", "n"])
    points = {"mark": {"type": "point", "filled": True, "size": 80},
              "encoding": {"x": x, "y": _q("human_mean"), "tooltip": tooltip}}  # fmt: skip
    fit = {"mark": {"type": "line", "color": "orange"}, "encoding": {"x": x, "y": _q("isotonic")}}
    spec = {"title": "Calibration curve (orange: isotonic)", "layer": [diagonal, bars, points, fit]}
    return Chart(curve, spec)
