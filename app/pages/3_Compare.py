"""Compare: two runs on their shared tasks: paired deltas with 95% CIs and p-values, and the
samples whose outcome flipped, side by side (outputs as literal text)."""

from __future__ import annotations

import streamlit as st

from evalharness.errors import StoreError
from evalharness.views import comparison, flipped, per_sample_metrics, runs_frame, shared_tasks
from evalharness.views.charts import delta_chart
from evalharness.views.compare import default_pair, flip_counts
from evalharness.views.ui import chart, literal, of_finished, page, query_param, store

FLIPS_PER_PAGE = 20

page("Compare")
db = store()
runs = runs_frame(db)
if len(runs) < 2:
    st.info("Comparing needs two runs in the store.")
    st.stop()

ids = runs["run_id"].tolist()
labels = dict(zip(runs["run_id"], runs["label"], strict=True))
default_a, default_b = default_pair(db, ids)
default_a, default_b = query_param("a") or default_a, query_param("b") or default_b
left, right = st.columns(2)
run_a = left.selectbox(
    "Run A (reference)",
    ids,
    index=ids.index(default_a) if default_a in ids else 1,
    format_func=labels.get,
)
run_b = right.selectbox(
    "Run B (delta = B − A)",
    ids,
    index=ids.index(default_b) if default_b in ids else 0,
    format_func=labels.get,
)
if run_a == run_b:
    st.warning("Pick two different runs.")
    st.stop()

n_boot = st.sidebar.select_slider("Bootstrap resamples", [200, 500, 1000, 2000], value=1000)
try:
    table = of_finished(comparison, db, (run_a, run_b), run_a, run_b, n_boot=n_boot)
except StoreError as exc:
    st.error("These runs share no task.")
    st.text(str(exc))
    st.stop()

st.caption("Paired bootstrap on the samples both runs scored; significant: 95% CI excludes 0")
st.dataframe(
    table,
    hide_index=True,
    column_config={
        "value_a": st.column_config.NumberColumn("A", format="%.4f"),
        "value_b": st.column_config.NumberColumn("B", format="%.4f"),
        "delta": st.column_config.NumberColumn("B − A", format="%+.4f"),
        "ci_low": st.column_config.NumberColumn("CI low", format="%+.4f"),
        "ci_high": st.column_config.NumberColumn("CI high", format="%+.4f"),
        "p_value": st.column_config.NumberColumn("p", format="%.3f"),
    },
)
chart(delta_chart(table))

st.subheader("Flipped samples")
tasks = shared_tasks(db, run_a, run_b)
task = st.selectbox("Task", tasks)
metrics = of_finished(per_sample_metrics, db, (run_a, run_b), run_a, run_b, task)
if not metrics:
    st.info("No per-sample metric shared by both runs on this task.")
    st.stop()
metric = st.selectbox("Outcome by", metrics)
threshold = st.number_input("Pass when the score is at least", value=0.5, step=0.1)
n_flips, fixed = of_finished(
    flip_counts, db, (run_a, run_b), run_a, run_b, task, metric, threshold=threshold
)
st.caption(f"{n_flips} flipped: {fixed} fixed in B, {n_flips - fixed} broken in B")
if not n_flips:
    st.stop()
pages = -(-n_flips // FLIPS_PER_PAGE)
number = 1
if pages > 1:  # pairs are joined and paged in SQL, never both runs' samples in Python
    number = int(st.number_input(f"Page (of {pages})", min_value=1, max_value=pages, step=1))
offset = (number - 1) * FLIPS_PER_PAGE
flips = flipped(
    db, run_a, run_b, task, metric, threshold=threshold, offset=offset, limit=FLIPS_PER_PAGE
)
st.dataframe(
    flips[["idx", "change", "outcome_a", "outcome_b", "score_a", "score_b", "input"]],
    hide_index=True,
)
# one flip side by side at a time: twenty pairs of code blocks delayed the table by ~0.5 s
shown = st.selectbox(
    "Side by side",
    range(len(flips)),
    format_func=lambda i: f"row {flips['idx'].iat[i]} · {flips['change'].iat[i]}",
)
row = flips.iloc[shown]
st.text(f"row {row.idx} · {row.change}: A {row.outcome_a} → B {row.outcome_b}")
col_a, col_b = st.columns(2)
with col_a:
    literal("Output of A", row.output_a)
with col_b:
    literal("Output of B", row.output_b)
literal("Reference", row.reference, code=False)
