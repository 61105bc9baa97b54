"""The JSON Schema of a rubric's verdict, for backends that constrain decoding to it.

One object keyed by criterion, in rubric order; each criterion an object with ``rationale``
first (so the score is conditioned on the reasoning, as G-Eval's chain of thought is) and
then, by kind, an integer ``score`` within the scale, a ``label`` from the label enum, or an
``errors`` list (MQM: span, category enum, severity enum, at most ``max_errors``). Strings are
bounded so that a constrained answer always ends inside the judge's token budget: a small
model left free would write one rationale until ``max_tokens`` and never close the object.
``parse.py`` stays the last check: every object this schema admits parses there. Example::

    schema = verdict_schema(load_rubric("summeval"))
    schema["properties"]["coherence"]["properties"]["score"]  # {"type": "integer", ...}
"""

from __future__ import annotations

import json
from typing import Any

from evalharness.judges.rubric import Criterion, Rubric

# Lengths are bounded with maxLength only: xgrammar ignores maxLength next to a ``pattern``, and
# a bounded regex costs 4x more mask time per token than maxLength (benchmarks/grammar_engines).


def rationale_chars(rubric: Rubric, max_tokens: int | None = None) -> int:
    """Longest rationale per criterion: about a third of the budget's characters, shared."""
    budget = max_tokens or rubric.max_tokens
    per_criterion = (budget * 3) // (2 * max(1, len(rubric.criteria)))
    return max(40, min(400, per_criterion))


def _value_schema(c: Criterion, rubric: Rubric) -> tuple[str, dict[str, Any]]:
    if c.kind == "score":
        assert c.scale is not None
        # an enum, not minimum/maximum: llama-cpp-python's schema-to-grammar ignores the bounds
        return "score", {"type": "integer", "enum": list(range(c.scale.min, c.scale.max + 1))}
    if c.kind == "label":
        assert c.scale is not None
        return "label", {"type": "string", "enum": list(c.scale.labels)}
    scheme = c.errors
    assert scheme is not None
    error = {
        "type": "object",
        "properties": {
            "span": {"type": "string", "maxLength": 80},
            "category": {"type": "string", "enum": list(scheme.categories)},
            "severity": {"type": "string", "enum": list(scheme.weights)},
        },
        "required": ["span", "category", "severity"],
        "additionalProperties": False,
    }
    return "errors", {"type": "array", "items": error, "maxItems": scheme.max_errors}


def criterion_schema(c: Criterion, rubric: Rubric, max_tokens: int | None = None) -> dict:
    key, value = _value_schema(c, rubric)
    rationale = {
        "type": "string",
        "minLength": 1,
        "maxLength": rationale_chars(rubric, max_tokens),
    }
    return {
        "type": "object",
        "properties": {"rationale": rationale, key: value},
        "required": ["rationale", key],
        "additionalProperties": False,
    }


def verdict_schema(rubric: Rubric, max_tokens: int | None = None) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12 subset) every valid verdict of ``rubric`` matches;
    ``max_tokens`` (default the rubric's) bounds the rationales."""
    names = [c.name for c in rubric.criteria]
    return {
        "title": f"verdict_{rubric.name}",
        "type": "object",
        "properties": {c.name: criterion_schema(c, rubric, max_tokens) for c in rubric.criteria},
        "required": names,
        "additionalProperties": False,
    }


def schema_text(schema: dict[str, Any]) -> str:
    """Canonical text of a schema: the form requests carry and cache keys hash."""
    return json.dumps(schema, sort_keys=False, separators=(",", ":"), ensure_ascii=False)
