"""Structured output over OpenAI-compatible APIs: each server's own way to take a JSON Schema.

Forms (model option ``structured_output``):

* ``json_schema``: ``response_format: {"type": "json_schema", "json_schema": {...}}`` (OpenAI,
  vLLM, llama.cpp's C++ server);
* ``json_object``: ``response_format: {"type": "json_object", "schema": {...}}`` on chat and a
  GBNF ``grammar`` on completions (llama-cpp-python's server, which rejects ``json_schema``;
  the GBNF comes from llama-cpp-python's own converter, so that package must be installed);
* ``none``: the schema is not sent; the caller's prompt and re-asks do the work;
* ``auto`` (default): the first constrained request tries ``json_schema``, then
  ``json_object``; the first form the server does not reject (HTTP 400/404/422) is kept for the
  model's life. When it rejects both, the model falls back to ``none``, says so once in the
  log, and every generation's ``meta["structured_output"]`` records the form used.
"""

from __future__ import annotations

import json
import logging
from functools import lru_cache
from typing import Any

from evalharness.errors import ConfigError, ModelError

MODES = ("auto", "json_schema", "json_object", "none")
TRY_ORDER = ("json_schema", "json_object")
FALLBACK = "none (server rejected json_schema and json_object)"
REJECTED = ("HTTP 400", "HTTP 404", "HTTP 422")
log = logging.getLogger(__name__)


def check_mode(where: str, mode: Any) -> str:
    if mode not in MODES:
        raise ConfigError(f"{where}: structured_output must be one of {', '.join(MODES)}")
    return mode


@lru_cache(maxsize=32)
def gbnf_of(schema_text: str) -> str:
    """The GBNF grammar of a JSON Schema, by llama-cpp-python's converter."""
    try:
        from llama_cpp.llama_grammar import json_schema_to_gbnf
    except ImportError as exc:
        raise ModelError(
            "structured_output json_object on a completion prompt needs llama-cpp-python "
            f"installed for its JSON-Schema-to-GBNF converter ({exc}); use a chat prompt"
        ) from exc
    return json_schema_to_gbnf(schema_text)


def apply(body: dict[str, Any], schema_text: str, mode: str, chat: bool) -> dict[str, Any]:
    """``body`` with the schema in form ``mode`` (``json_schema`` or ``json_object``)."""
    schema = json.loads(schema_text)
    if mode == "json_schema":
        name = str(schema.get("title") or "answer")[:64]
        return body | {
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": name, "schema": schema, "strict": True},
            }
        }
    if mode == "json_object":
        if chat:
            return body | {"response_format": {"type": "json_object", "schema": schema}}
        return body | {"grammar": gbnf_of(schema_text)}
    return body


def rejected(error: str | None) -> bool:
    """The server refused the request's form (not a transient fault, not a model error)."""
    return error is not None and error.startswith(REJECTED)


class StructuredState:
    """The form a model uses; ``auto`` settles on the first constrained request."""

    def __init__(self, name: str, mode: str) -> None:
        self.name = name
        self.mode = mode  # auto until detected
        self.fell_back = False

    @property
    def settled(self) -> bool:
        return self.mode != "auto"

    def candidates(self) -> tuple[str, ...]:
        return TRY_ORDER if self.mode == "auto" else (self.mode,)

    def settle(self, mode: str) -> None:
        if self.mode == "auto" and mode == "none":
            self.fell_back = True
            log.warning(
                "%s: the server rejected every structured-output form (json_schema, "
                "json_object); falling back to prompting with re-asks",
                self.name,
            )
        self.mode = mode

    def label(self) -> str:
        return FALLBACK if self.fell_back else self.mode
