"""Streamlit helpers shared by the pages in ``app/`` (the only module here importing streamlit).

Safety rule of the app: text that comes from a model, a dataset or a user (outputs, prompts,
references, rationales, model names, tags) is drawn with ``st.text``/``st.code``/
``st.dataframe``/``st.json`` only, never with ``st.markdown``/``st.write`` or in a widget
label, so HTML and Markdown in it show as literal characters.
"""

from __future__ import annotations

import hmac
import json
import math
import os
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
    _require_token()
    st.title(title)


def _require_token() -> None:
    """With ``$EVALHARNESS_APP_TOKEN`` set (``evalharness app --token``, required beyond
    127.0.0.1), a session must open a link with ``?token=…`` once; otherwise the page stops."""
    expected = os.environ.get("EVALHARNESS_APP_TOKEN")
    if not expected or st.session_state.get("evalharness_token_ok"):
        return
    given = st.query_params.get("token") or ""
    if hmac.compare_digest(given.encode(), expected.encode()):
        st.session_state["evalharness_token_ok"] = True
        return
    st.error("This evalharness app needs its access token: open the link with ?token=…")
    st.stop()


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
