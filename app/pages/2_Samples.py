"""Samples: one run's samples with search and filters, and everything stored of one sample.

Model outputs, prompts, references and rationales are shown as literal text (st.code/st.text/
st.dataframe/st.json), never rendered as HTML or Markdown.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from evalharness.views import filter_samples, runs_frame, sample_view, samples_frame, score_names
from evalharness.views.samples import disagreements, human_scores, judgments_frame
from evalharness.views.ui import literal, page, query_param, store

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
samples = db.samples(run_id)
judged = judgments_frame(db, run_id, samples)

with st.sidebar:
    st.header("Filters")
    tasks = sorted({s.task for s in samples})
    task = st.selectbox("Task", ["(all)", *tasks])
    search = st.text_input("Search input, prompt, output, reference")
    metrics = score_names(samples if task == "(all)" else [s for s in samples if s.task == task])
    metric = st.selectbox("Score", ["(any)", *metrics])
    score_range = None
    if metric != "(any)":
        values = [s.scores[metric] for s in samples if metric in (s.scores or {})]
        low, high = float(min(values)), float(max(values))
        if low < high:
            score_range = st.slider("Score range", low, high, (low, high))
        else:
            score_range = (low, high)
    failed_only = st.checkbox("Failed samples only")
    disagree_only = False
    if not judged.empty:
        disagree_only = st.checkbox("Judge disagreement only")

only = disagreements(judged, human_scores(db, run_id)) if disagree_only else None
shown = filter_samples(
    samples,
    task=None if task == "(all)" else task,
    search=search,
    metric=None if metric == "(any)" else metric,
    score_range=score_range,
    failed_only=failed_only,
    only_ids=only,
)
st.caption(f"{len(shown)} of {len(samples)} samples")
table = samples_frame(shown, judged)
st.dataframe(table, hide_index=True)
if not shown:
    st.stop()

st.subheader("Sample")
by_id = {s.id: s for s in shown}
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
