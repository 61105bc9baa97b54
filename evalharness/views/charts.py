"""Altair charts of the view frames. Text in charts is drawn by Vega as text, never as HTML."""

from __future__ import annotations

import altair as alt
import pandas as pd


def _empty(message: str) -> alt.Chart:
    return alt.Chart(pd.DataFrame({"message": [message]})).mark_text().encode(text="message:N")


def error_bars(board: pd.DataFrame, task: str, metric: str) -> alt.Chart:
    """One task metric per model: a point at the value and a bar over the 95% CI."""
    data = board[(board["task"] == task) & (board["metric"] == metric)]
    data = data[["model", "value", "ci_low", "ci_high", "n", "run_id"]].dropna(subset=["value"])
    if data.empty:
        return _empty(f"no values of {task} · {metric}")
    order = alt.EncodingSortField("value", order="descending")
    base = alt.Chart(data).encode(
        y=alt.Y("model:N", sort=order, title=None, axis=alt.Axis(labelLimit=220)),
        color=alt.Color("model:N", legend=None),
        tooltip=["model", "value", "ci_low", "ci_high", "n", "run_id"],
    )
    bars = base.mark_rule(strokeWidth=3).encode(
        x=alt.X("ci_low:Q", title=f"{metric} (point: value, bar: 95% CI)"), x2="ci_high:Q"
    )
    points = base.mark_point(filled=True, size=90, color="black").encode(x="value:Q")
    return (bars + points).properties(title=f"{task} · {metric}", height=alt.Step(36))


def tradeoff(board: pd.DataFrame, task: str, metric: str, x: str = "latency_s") -> alt.Chart:
    """Quality vs ``x`` (``latency_s``: s/sample, or ``cost_usd``): one point per model."""
    data = board[(board["task"] == task) & (board["metric"] == metric)]
    data = data[["model", "value", "ci_low", "ci_high", x, "run_id"]].dropna(subset=["value", x])
    if data.empty:
        return _empty(f"no {x} recorded for {task}")
    title = {"latency_s": "latency (s per sample)", "cost_usd": "cost (USD)"}.get(x, x)
    base = alt.Chart(data).encode(
        x=alt.X(f"{x}:Q", title=title, scale=alt.Scale(zero=False)),
        color=alt.Color("model:N"),
        tooltip=["model", "value", "ci_low", "ci_high", x, "run_id"],
    )
    points = base.mark_circle(size=120).encode(y=alt.Y("value:Q", title=metric))
    bars = base.mark_rule().encode(y="ci_low:Q", y2="ci_high:Q")
    return (bars + points).properties(title=f"{task} · {metric} vs {title}")


def trend_chart(frame: pd.DataFrame, model: str, task: str, metric: str) -> alt.Chart:
    """A metric over one model's runs: line through the values, band over the CIs."""
    data = frame.dropna(subset=["value"])
    if data.empty:
        return _empty(f"no runs of {model} with {task} · {metric}")
    base = alt.Chart(data).encode(
        x=alt.X("created_at:T", title="run started"),
        tooltip=["run_id", "created_at", "value", "ci_low", "ci_high", "n"],
    )
    band = base.mark_area(opacity=0.2).encode(y=alt.Y("ci_low:Q", title=metric), y2="ci_high:Q")
    bars = base.mark_rule().encode(y="ci_low:Q", y2="ci_high:Q")
    line = base.mark_line(point=alt.OverlayMarkDef(filled=True, size=70)).encode(y="value:Q")
    return (band + bars + line).properties(title=f"{model}: {task} · {metric} over runs")


def delta_chart(frame: pd.DataFrame) -> alt.Chart:
    """Compare: each task metric's delta (B - A) with its paired 95% CI, coloured by verdict."""
    data = frame.dropna(subset=["delta"]).assign(row=lambda f: f["task"] + " · " + f["metric"])
    if data.empty:
        return _empty("no shared scored samples")
    base = alt.Chart(data).encode(
        y=alt.Y("row:N", title=None),
        color=alt.Color("verdict:N"),
        tooltip=["task", "metric", "delta", "ci_low", "ci_high", "p_value", "n_shared"],
    )
    zero = alt.Chart(pd.DataFrame({"x": [0.0]})).mark_rule(strokeDash=[4, 4]).encode(x="x:Q")
    bars = base.mark_rule(strokeWidth=2).encode(
        x=alt.X("ci_low:Q", title="delta B − A"), x2="ci_high:Q"
    )
    points = base.mark_point(filled=True, size=80).encode(x="delta:Q")
    return (zero + bars + points).properties(height=alt.Step(32))


def judge_scatter(frame: pd.DataFrame, judge: str) -> alt.Chart:
    """Calibration: each item's judge score against the mean human score (jittered points)."""
    data = frame[frame["judge"] == judge].dropna(subset=["judge_score", "human_score"])
    if data.empty:
        return _empty(f"no numeric scores of {judge}")
    return (
        alt.Chart(data)
        .transform_calculate(jitter="(random() - 0.5) * 0.25")
        .transform_calculate(x="datum.judge_score + datum.jitter")
        .mark_circle(size=60, opacity=0.6)
        .encode(
            x=alt.X("x:Q", title="judge score (jittered)", scale=alt.Scale(zero=False)),
            y=alt.Y("human_score:Q", title="mean human score", scale=alt.Scale(zero=False)),
            tooltip=["judge_score", "human_score", "n_humans"],
        )
        .properties(title="Judge vs humans, per item")
    )


def curve_chart(curve: pd.DataFrame) -> alt.Chart:
    """Calibration curve: mean human score (95% CI) at each judge score, isotonic fit, y = x."""
    if curve.empty:
        return _empty("no numeric scores")
    base = alt.Chart(curve).encode(
        x=alt.X("judge_score:Q", title="judge score", scale=alt.Scale(zero=False))
    )
    low, high = curve[["judge_score", "human_mean"]].min().min(), curve["judge_score"].max()
    diagonal = (
        alt.Chart(pd.DataFrame({"x": [low, high], "y": [low, high]}))
        .mark_line(strokeDash=[4, 4], color="gray")
        .encode(x="x:Q", y="y:Q")
    )
    bars = base.mark_rule().encode(y=alt.Y("ci_low:Q", title="mean human score"), y2="ci_high:Q")
    points = base.mark_point(filled=True, size=80).encode(
        y="human_mean:Q", tooltip=["judge_score", "human_mean", "ci_low", "ci_high", "n"]
    )
    fit = base.mark_line(color="orange").encode(y="isotonic:Q")
    return (diagonal + bars + points + fit).properties(title="Calibration curve (orange: isotonic)")
