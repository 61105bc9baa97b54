"""Calibration: how far each judge can be trusted, per rubric and criterion, against humans.

Agreement with 95% CIs, the human ceiling (human-human agreement), the confusion matrix and
scatter, the calibration curve, and bias probes; every statistic from ``evalharness.meta``.
"""

from __future__ import annotations

import streamlit as st

from evalharness.views.calibration import (
    TABLES,
    calibration_curve,
    ceiling_table,
    confusion_table,
    human_sets,
    is_label_scale,
    judge_agreement,
    judge_bias,
    pairs,
    position_table,
    ppi_table,
    probe_table,
)
from evalharness.views.charts import curve_chart, judge_scatter
from evalharness.views.ui import chart, of_unchanged, page, row_marks, store

page("Calibration")
db = store()
marks = row_marks(db, TABLES)  # a widget change recomputes nothing while these are the same
sets = of_unchanged(human_sets, db, marks)
if sets.empty:
    st.info("No human ratings yet: rate items on the Annotate page or import a dataset.")
    st.stop()

st.caption("Human ratings in the store")
st.dataframe(sets, hide_index=True)
with st.sidebar:
    st.header("What to calibrate")
    dataset = st.selectbox("Dataset or task", sorted(sets["dataset"].unique()))
    rubrics = sorted(sets[sets["dataset"] == dataset]["rubric"].unique())
    rubric = st.selectbox("Rubric", rubrics)
    chosen = sets[(sets["dataset"] == dataset) & (sets["rubric"] == rubric)]
    criterion = st.selectbox("Criterion", sorted(chosen["criterion"].unique()))
    n_boot = st.select_slider("Bootstrap resamples", [200, 500, 1000, 2000], value=500)

frame = of_unchanged(pairs, db, marks, dataset, rubric, criterion)
st.subheader("Human ceiling (agreement among humans)")
ceiling = of_unchanged(ceiling_table, db, marks, dataset, rubric, criterion, n_boot=n_boot)
if ceiling.empty:
    st.info("Fewer than two humans rated the same items: no ceiling yet.")
else:
    st.dataframe(ceiling, hide_index=True)

whole_runs = of_unchanged(ppi_table, db, marks, dataset, rubric, criterion)
if not whole_runs.empty:
    st.subheader("Whole runs: what people would say (prediction-powered inference)")
    st.caption(
        "The judge on every sample, corrected by its gap to people on the rated ones; valid when "
        "the rated samples are a random part of the run (the desk's order, `ratings plan`)."
    )
    st.dataframe(whole_runs, hide_index=True)

st.subheader("Judges vs humans")
if frame.empty:
    st.info("No judge scored the items humans rated under this rubric and criterion.")
    st.stop()
agreement = of_unchanged(judge_agreement, db, marks, dataset, rubric, criterion, n_boot=n_boot)
st.dataframe(agreement, hide_index=True)

judge = st.selectbox("Judge", sorted(frame["judge"].unique()))
left, right = st.columns(2)
with left:
    st.caption("Confusion matrix (rows: human, columns: judge)")
    st.dataframe(confusion_table(frame, judge))
if not is_label_scale(frame[frame["judge"] == judge]):
    with right:
        chart(judge_scatter(frame, judge))
    chart(curve_chart(calibration_curve(frame, judge)))

st.subheader("Bias probes")
systems = sorted(str(s) for s in frame["system_id"].dropna().unique())
own = st.selectbox(
    "The judge's own model (self-preference)", [None, *systems], format_func=lambda s: s or "none"
)
biases = of_unchanged(
    judge_bias, db, marks, dataset, rubric, criterion, judge, own_system=own, n_boot=n_boot
)
positions = of_unchanged(position_table, db, marks, rubric, n_boot=n_boot)
probes = of_unchanged(probe_table, db, marks, rubric)
if biases.empty and positions.empty and probes.empty:
    st.info("Too few items for bias probes; `evalharness bias RUN --rubric R` runs them.")
else:
    st.dataframe(biases, hide_index=True)
    if not positions.empty:
        st.caption("Position bias of pairwise judgments (both orders)")
        st.dataframe(positions, hide_index=True)
    if not probes.empty:
        st.caption(
            "Probes run by `evalharness bias` (padded: filler appended; injected: an "
            "instruction to the judge appended; a fair judge shifts by 0 or less)"
        )
        st.dataframe(probes, hide_index=True)
