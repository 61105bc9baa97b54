"""Annotate: rate responses against a rubric, blind (no model, run, metric or judge score).

A link can preselect both: ``/Annotate?annotator=NAME&rubric=RUBRIC``.

Every answer is saved to the store on submit; the next item follows. Texts of items are shown
as literal text, never rendered as HTML or Markdown.
"""

from __future__ import annotations

import streamlit as st

from evalharness.errors import EvalHarnessError
from evalharness.judges.rubric import Criterion, load_rubric, rubric_files
from evalharness.ratings.desk import desk_state, prompt_turns, sources, submit
from evalharness.ratings.records import annotators
from evalharness.views.ui import literal, page, query_param, store

NEW = "(new annotator)"
NO_ERROR = "(no error)"

page("Annotate")
db = store()

with st.sidebar:
    st.header("Annotator")
    given = query_param("annotator")
    if given:
        annotator = given
        st.text(f"rating as {annotator}")
    else:
        known = [a.id for a in annotators(db) if a.kind == "human"]
        picked = st.selectbox("Your name", [*known, NEW], index=None, placeholder="choose")
        annotator = st.text_input("New name").strip() if picked == NEW else picked or ""
    rubric_names = list(rubric_files())
    wanted = query_param("rubric")
    start = rubric_names.index(wanted) if wanted in rubric_names else 0
    rubric_name = st.selectbox("Rubric", rubric_names, index=start) if rubric_names else None

if not annotator:
    st.info("Choose your name in the sidebar (or open this page with ?annotator=NAME).")
    st.stop()
if rubric_name is None:
    st.warning("No rubric found under rubrics/.")
    st.stop()
rubric = load_rubric(rubric_name)
options = sources(db, rubric)
if not options:
    fits = ", ".join(rubric.fits) or "any output"
    st.info(
        f"Nothing to rate for this rubric yet: no run outputs of a task that generates {fits} "
        "(a task's `generates:`), and no imported items."
    )
    st.stop()
source = st.sidebar.selectbox("Items", options, format_func=lambda s: s.label)

skip_key = f"skipped:{annotator}:{rubric.name}:{source.label}"
skipped: list[str] = st.session_state.setdefault(skip_key, [])
state = desk_state(db, annotator, rubric, source, skipped=skipped, limit=1)
st.progress(state.done / state.total if state.total else 1.0,
            text=f"{state.done} of {state.total} rated")  # fmt: skip
if (saved := st.session_state.pop("saved", None)) is not None:
    st.success(f"Saved {saved} ratings.")
if not state.todo:
    st.success("All items of this source are rated. Thank you!")
    st.stop()
item = state.todo[0]

st.text(rubric.description)
if rubric.instructions:
    st.text(rubric.instructions)
if rubric.show_source and item.source:
    turns = prompt_turns(item.source)  # a chat prompt: each turn on its own, no role markers
    if turns is None:
        literal(rubric.source_label, item.source)
    for role, text in turns or ():
        literal(role.capitalize(), text)
if rubric.show_source and item.context:
    literal("Context", item.context)
if rubric.mode == "pairwise":
    left, right = st.columns(2)
    with left:
        literal(f"{rubric.output_label} A", item.response)
    with right:
        literal(f"{rubric.output_label} B", item.response_b)
else:
    literal(rubric.output_label, item.response)
if rubric.show_reference and item.reference:
    literal(rubric.reference_label, item.reference)


def ask(criterion: Criterion, key: str) -> object:
    """One criterion's question with every level described; None until answered."""
    st.subheader(criterion.name)
    st.text(criterion.description)
    if criterion.kind != "errors":
        values = list(criterion.scale.values())  # type: ignore[union-attr]
        return st.radio(
            "Your answer",
            values,
            index=None,
            format_func=lambda v: f"{v}: {criterion.levels[v]}",
            key=key,
        )
    scheme = criterion.errors
    assert scheme is not None
    st.text("\n".join(f"{level}: {text}" for level, text in criterion.levels.items()))
    errors = []
    for n in range(scheme.max_errors):
        left, right = st.columns(2)
        category = left.selectbox(
            f"Error {n + 1}", [NO_ERROR, *scheme.categories], key=f"{key}c{n}"
        )
        severity = right.selectbox("Severity", list(scheme.weights), key=f"{key}s{n}")
        if category != NO_ERROR:
            errors.append({"category": category, "severity": severity})
    return errors


with st.form(f"rate:{item.item_id}", clear_on_submit=True):
    answers = {c.name: ask(c, f"{item.item_id}:{c.name}") for c in rubric.criteria}
    comment = st.text_area("Comment (optional)", key=f"{item.item_id}:comment")
    save, skip = st.columns(2)
    submitted = save.form_submit_button("Submit", type="primary")
    skipped_now = skip.form_submit_button("Skip")

if skipped_now:
    skipped.append(item.item_id)
    st.rerun()
if submitted:
    unanswered = [name for name, value in answers.items() if value is None]
    if unanswered:
        st.error(f"Answer every criterion first: {', '.join(unanswered)}.")
        st.stop()
    try:
        st.session_state["saved"] = submit(db, annotator, item, rubric, answers, comment or None)
    except EvalHarnessError as exc:
        st.error("Could not save.")
        st.text(str(exc))
        st.stop()
    st.rerun()
