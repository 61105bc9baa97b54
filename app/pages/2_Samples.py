"""Samples: one run's samples with search and filters, and everything stored of one sample.

Model outputs, prompts, references and rationales are shown as literal text (st.code/st.text/
st.dataframe/st.json), never rendered as HTML or Markdown.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from evalharness.views import runs_frame, sample_view, samples_frame
from evalharness.views.samples import (
    disagreements,
    has_judgments,
    human_scores,
    judgments_frame,
)
from evalharness.views.ui import literal, page, query_param, store

PAGE_SIZES = (50, 100, 200, 25)

page("Samples")
db = store()
runs = runs_frame(db)
if runs.empty:
    st.info("No runs in this store yet.")
    st.stop()

ids = runs["run_id"].tolist()
labels = dict(zip(runs["run_id"], runs["label"], strict=True))
wanted = query_param("run")
run_id = st.selectbox(
    "Run", ids, index=ids.index(wanted) if wanted in ids else 0, format_func=labels.get
)
judged_any = has_judgments(db, run_id)

with st.sidebar:
    st.header("Filters")
    task = st.selectbox("Task", ["(all)", *db.sample_tasks(run_id)])
    only_task = None if task == "(all)" else task
    search = st.text_input("Search input, prompt, output, reference")
    metrics = db.score_names(run_id, only_task)
    metric = st.selectbox("Score", ["(any)", *metrics])
    score_range = None
    if metric != "(any)":
        low, high = db.score_bounds(run_id, metric, only_task) or (0.0, 0.0)
        if low < high:
            score_range = st.slider("Score range", low, high, (low, high))
        else:
            score_range = (low, high)
    failed_only = st.checkbox("Failed samples only")
    disagree_only = False
    if judged_any:
        disagree_only = st.checkbox("Judge disagreement only")

only = (
    disagreements(judgments_frame(db, run_id), human_scores(db, run_id)) if disagree_only else None
)
filters = {
    "task": only_task,
    "search": search,
    "metric": None if metric == "(any)" else metric,
    "score_range": score_range,
    "failed_only": failed_only,
    "only_ids": only,
}
# A page of the matching samples, read with LIMIT/OFFSET; new filters start at page 1.
signature = repr((run_id, sorted(filters.items(), key=lambda kv: kv[0])))
if st.session_state.get("samples_filters") != signature:
    st.session_state["samples_filters"] = signature
    st.session_state["samples_page"] = 1
size = st.session_state.get("samples_page_size", PAGE_SIZES[0])
number = max(int(st.session_state.get("samples_page", 1)), 1)
rows, matching = db.sample_page(run_id, offset=(number - 1) * size, limit=size, **filters)
pages = max(-(-matching // size), 1)
if number > pages:  # the last page, when a page number from before is past the end
    number = st.session_state["samples_page"] = pages
    rows, matching = db.sample_page(run_id, offset=(number - 1) * size, limit=size, **filters)
total = db.sample_count(run_id)
st.caption(f"{matching} of {total} samples · page {number} of {pages}")
judged = judgments_frame(db, run_id, samples=rows)  # of this page's samples only
table = samples_frame(rows, judged, names=metrics)
st.dataframe(table, hide_index=True)
left, right, _ = st.columns([1, 1, 4])
left.number_input("Page", min_value=1, max_value=pages, step=1, key="samples_page")
right.selectbox("Rows per page", PAGE_SIZES, key="samples_page_size")
if not rows:
    st.stop()

st.subheader("Sample")
by_id = {s.id: s for s in rows}
chosen = st.selectbox(
    "Show sample", list(by_id), format_func=lambda i: f"{by_id[i].task} #{by_id[i].idx}"
)
view = sample_view(by_id[chosen], judged[judged["sample_id"] == chosen])
st.text(f"task {view.task} · row {view.idx} · sample id {view.id}")
if view.error:
    st.error("This sample failed.")
    literal("Error", view.error)
left, right = st.columns(2)
with left:
    literal("Output", view.output)
    literal("Reference", view.reference)
with right:
    st.caption("Input (dataset row)")
    st.json(view.input, expanded=True)
    literal("Rendered prompt", view.prompt)

st.caption("Per-sample metrics")
metrics_table = pd.DataFrame({"metric": list(view.scores), "value": list(view.scores.values())})
st.dataframe(metrics_table, hide_index=True)
if view.latency_s is not None or view.completion_tokens:
    st.text(
        f"latency {view.latency_s if view.latency_s is not None else '—'} s · "
        f"prompt tokens {view.prompt_tokens} · completion tokens {view.completion_tokens}"
    )
if not view.judgments.empty:
    st.caption("Judge scores")
    columns = ["rubric", "criterion", "judge", "mode", "score", "label", "parsed"]
    st.dataframe(view.judgments[columns], hide_index=True)
    for row in view.judgments.itertuples():
        st.text(f"{row.rubric} · {row.criterion} · {row.judge}")
        literal("Rationale", row.rationale if row.parsed else row.raw_output)
if view.retrieved:
    st.caption(f"Retrieved passages ({len(view.retrieved)})")
    st.dataframe(pd.DataFrame(view.retrieved), hide_index=True)
    for rank, hit in enumerate(view.retrieved, 1):
        st.text(f"#{rank} · {hit.get('id')} · score {hit.get('score', float('nan')):.3f}")
        st.code(str(hit.get("text", "")), language=None, wrap_lines=True)
