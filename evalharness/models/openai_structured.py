"""Structured output over OpenAI-compatible APIs: each server's own way to take a JSON Schema.

Forms (model option ``structured_output``):

* ``json_schema``: ``response_format: {"type": "json_schema", "json_schema": {...}}`` (OpenAI,
  vLLM, llama.cpp's C++ server);
* ``json_object``: ``response_format: {"type": "json_object", "schema": {...}}`` on chat and a
  GBNF ``grammar`` on completions (llama-cpp-python's server, which rejects ``json_schema``;
  the GBNF comes from llama-cpp-python's own converter, so that package must be installed);
* ``none``: the schema is not sent; the caller's prompt and re-asks do the work;
* ``auto`` (default): the first constrained request tries ``json_schema``, then
  ``json_object``; the first form whose answer is a JSON object with the schema's required
  keys is kept for the model's life. A form counts as refused when the server rejects it
  (HTTP 400/404/422) or silently ignores it (llama-cpp-python 0.3.36 accepts
  ``json_schema`` and decodes freely). When both are refused the model falls back to
  ``none`` and says so once in the log; every generation's ``meta["structured_output"]``
  records the form used.
"""

from __future__ import annotations

import json
import logging
import re
from functools import lru_cache
from typing import Any

from evalharness.errors import ConfigError, ModelError

MODES = ("auto", "json_schema", "json_object", "none")
TRY_ORDER = ("json_schema", "json_object")
FALLBACK = "none (server rejected json_schema and json_object)"
# A refused form: "<path>: HTTP 400: ..." (not retried), or a server that validates the body only
# after accepting it (llama-cpp-python 0.3.36 answers json_schema with an HTTP 500 whose message
# is pydantic's: "('body', 'response_format', 'type') ... Input should be 'text' or 'json_object'").
REJECTED = re.compile(r"\bHTTP (400|404|422)\b|\bHTTP 500\b.*'response_format'")
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


def conforms(text: str, schema_text: str) -> bool:
    """``text`` is a JSON object with the schema's required keys: the form was honoured."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return False
    required = json.loads(schema_text).get("required", [])
    return isinstance(value, dict) and set(required) <= set(value)


def rejected(error: str | None) -> bool:
    """The server refused the request's form (not a transient fault, not a model error)."""
    return error is not None and REJECTED.search(error) is not None


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
