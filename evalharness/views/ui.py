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
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import streamlit as st
from sqlalchemy import func, select
from sqlalchemy import inspect as sa_inspect

from evalharness.store import Store, database_url, open_store
from evalharness.views.charts import Chart


@st.cache_resource(show_spinner=False)
def _store(url: str) -> Store:
    return open_store(url)  # one engine per URL, shared by every session of the server


T = TypeVar("T")


def of_finished(
    fn: Callable[..., T], db: Store, run_ids: Sequence[str], *args: Any, **kwargs: Any
) -> T:
    """``fn(db, *args, **kwargs)``, kept for every session of the server while each run in
    ``run_ids`` is finished and unchanged: a finished run's samples do not change, and one that
    resumes or is finalized again gets a new ``finished_at``. Otherwise computed each call."""
    runs = [db.get_run(run_id) for run_id in run_ids]
    if any(run.status != "finished" for run in runs):
        return fn(db, *args, **kwargs)
    return _keep(fn, db, tuple((run.id, str(run.finished_at)) for run in runs), args, kwargs)


def row_marks(db: Store, tables: Sequence[type]) -> tuple[tuple[Any, Any], ...]:
    """(row count, largest primary key) of each table: for tables whose rows are added, never
    edited (ratings supersede earlier ones; judgments and probes append), they change exactly
    when the tables do."""
    keys = [sa_inspect(table).primary_key[0] for table in tables]
    with db.session() as s:
        return tuple(tuple(s.execute(select(func.count(), func.max(key))).one()) for key in keys)


def of_unchanged(fn: Callable[..., T], db: Store, marks: tuple, *args: Any, **kwargs: Any) -> T:
    """``fn(db, *args, **kwargs)``, kept for every session of the server while the tables it
    reads have the same ``row_marks``."""
    return _keep(fn, db, marks, args, kwargs)


def _keep(fn: Callable[..., T], db: Store, stamps: tuple, args: tuple, kwargs: dict) -> T:
    """``_kept`` keyed on the function's name, the store's URL (its password masked: never
    part of a key) and ``stamps``."""
    name = f"{fn.__module__}.{fn.__qualname__}"
    return _kept(fn, db, name, str(db.engine.url), stamps, args, tuple(sorted(kwargs.items())))


@st.cache_data(show_spinner=False, max_entries=64)
def _kept(
    _fn: Callable[..., T], _db: Store, name: str, url: str, stamps: tuple, args: tuple,
    kwargs: tuple
) -> T:  # fmt: skip
    return _fn(_db, *args, **dict(kwargs))


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


def chart(drawn: Chart, where: Any = st) -> None:
    """A chart across the width of ``where`` (the page, a column)."""
    where.vega_lite_chart(drawn.data, drawn.spec, width="stretch")


def query_param(name: str) -> str | None:
    value = st.query_params.get(name)
    return value or None
