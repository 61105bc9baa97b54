"""Streamlit helpers shared by the pages in ``app/`` (the only module here importing streamlit).

Safety rule of the app: text that comes from a model, a dataset or a user (outputs, prompts,
references, rationales, model names, tags) is drawn with ``st.text``/``st.code``/
``st.dataframe``/``st.json`` only, never with ``st.markdown``/``st.write`` or in a widget
label, so HTML and Markdown in it show as literal characters.
"""

from __future__ import annotations

import json
import math
from typing import Any

import streamlit as st

from evalharness.store import Store, database_url, open_store


@st.cache_resource(show_spinner=False)
def _store(url: str) -> Store:
    return open_store(url)  # one engine per URL, shared by every session of the server


def store() -> Store:
    """The store named by ``--db`` of ``evalharness app`` ($EVALHARNESS_DB), opened once."""
    return _store(database_url())


def page(title: str) -> None:
    st.set_page_config(page_title=f"evalharness · {title}", layout="wide")
    st.title(title)


def literal(label: str, value: Any, *, code: bool = True) -> None:
    """An untrusted value under a fixed caption: strings verbatim, other values as JSON."""
    st.caption(label)  # label is always a constant of the page, never data
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        st.text("(none)")
        return
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, indent=2)
    if code:
        st.code(text, language=None, wrap_lines=True)
    else:
        st.text(text)


def query_param(name: str) -> str | None:
    value = st.query_params.get(name)
    return value or None
