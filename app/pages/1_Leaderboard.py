"""Leaderboard: models × tasks × metrics with 95% CIs, filters, charts."""

from __future__ import annotations

import streamlit as st

from evalharness.views import leaderboard, matrix, trend
from evalharness.views.charts import error_bars, tradeoff, trend_chart
from evalharness.views.ui import chart, page, store

page("Leaderboard")
db = store()
everything = leaderboard(db, latest_only=False, include_unfinished=True)
if everything.empty:
    st.info("No aggregates in this store yet: run `evalharness run` first.")
    st.stop()

with st.sidebar:
    st.header("Filters")
    tasks = st.multiselect("Tasks", sorted(everything["task"].unique()))
    models = st.multiselect("Models", sorted(everything["model"].unique()))
    all_tags = sorted({t for tags in everything["tags"] for t in tags.split(", ") if t})
    tags = st.multiselect("Tags (any of)", all_tags)
    first, last = everything["created_at"].min().date(), everything["created_at"].max().date()
    dates = st.date_input("Run dates", value=(first, last))
    latest_only = st.checkbox("Latest run per model and task", value=True)
    unfinished = st.checkbox("Include unfinished runs", value=False)
    columns = ["rank", "value", "ci_half", "n", "n_failed", "latency_s", "model", "created_at"]
    sort_by = st.selectbox("Sort by (within each task and metric)", columns)
    descending = st.checkbox("Descending", value=False)

since, until = (
    (tuple(dates) + (None, None))[:2] if isinstance(dates, tuple | list) else (dates, None)
)
board = leaderboard(
    db,
    tasks=tasks,
    models=models,
    tags=tags,
    since=since,
    until=until,
    latest_only=latest_only,
    include_unfinished=unfinished,
    sort_by=sort_by,
    descending=descending,
)
st.caption(f"{len(board)} rows · value ± half-width of the 95% bootstrap CI")
if board.empty:
    st.warning("No rows match these filters.")
    st.stop()

table = board.drop(columns=["ci_half"])
if table["cost_usd"].isna().all():
    table = table.drop(columns=["cost_usd"])
if not table["judge_agreement"].astype(bool).any():  # no judged metric among the rows
    table = table.drop(columns=["judge_agreement"])
st.dataframe(
    table,
    hide_index=True,
    column_config={
        "shown": st.column_config.TextColumn("value ± CI"),
        "value": st.column_config.NumberColumn(format="%.4f"),
        "ci_low": st.column_config.NumberColumn("CI low", format="%.4f"),
        "ci_high": st.column_config.NumberColumn("CI high", format="%.4f"),
        "n_failed": st.column_config.NumberColumn("failed"),
        "latency_s": st.column_config.NumberColumn("s/sample", format="%.3f"),
        "cost_usd": st.column_config.NumberColumn("cost $", format="%.4f"),
        "judge_agreement": st.column_config.TextColumn("judge vs. people"),
    },
)
with st.expander("Models × tasks (value ± CI)"):
    st.dataframe(matrix(board), hide_index=True)

st.subheader("Charts")
pairs = board[["task", "metric"]].drop_duplicates()
choice = st.selectbox(
    "Task and metric", [f"{t} · {m}" for t, m in pairs.itertuples(index=False)], key="chart_metric"
)
task, metric = choice.split(" · ", 1)
left, right = st.columns(2)
chart(error_bars(board, task, metric), left)
chart(tradeoff(board, task, metric, "latency_s"), right)
if board["cost_usd"].notna().any():
    chart(tradeoff(board, task, metric, "cost_usd"))

having = board[(board["task"] == task) & (board["metric"] == metric)]["model"].unique()
history = everything[(everything["task"] == task) & (everything["metric"] == metric)]
runs_per_model = history[history["status"] == "finished"].groupby("model").size()
models_by_runs = sorted(having, key=lambda m: (-runs_per_model.get(m, 0), m))
model = st.selectbox("Trend over runs of model", models_by_runs, key="trend_model")
chart(trend_chart(trend(db, model, task, metric), model, task, metric))
