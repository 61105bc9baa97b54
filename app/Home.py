"""evalharness app: the home page (store summary and where to go)."""

from __future__ import annotations

import streamlit as st

from evalharness.views import runs_frame
from evalharness.views.ui import page, store

page("evalharness")
db = store()
runs = runs_frame(db)
st.caption("Store")
# plain text: a code block's highlighter took ~0.4 s of a new tab's first view
st.text(db.engine.url.render_as_string(hide_password=True))
finished = int((runs["status"] == "finished").sum()) if not runs.empty else 0
left, middle, right = st.columns(3)
left.metric("runs", len(runs))
middle.metric("finished runs", finished)
right.metric("models", runs["model"].nunique() if not runs.empty else 0)

st.subheader("Pages")
st.page_link("pages/1_Leaderboard.py", label="Leaderboard: models × tasks × metrics with CIs")
st.page_link("pages/2_Samples.py", label="Samples: one run's samples, searched and filtered")
st.page_link("pages/3_Compare.py", label="Compare: two runs, paired deltas, flipped samples")
st.page_link("pages/4_Annotate.py", label="Annotate: rate responses against a rubric")
st.page_link("pages/5_Calibration.py", label="Calibration: how far each judge can be trusted")

st.subheader("Runs")
if runs.empty:
    st.info("No runs yet: `evalharness run --model embedded --tasks piqa --limit 20`.")
else:
    st.dataframe(runs.drop(columns=["label"]), hide_index=True)
