"""Strict parsing of a judge's answer: one JSON object, every criterion, values on the scale.

The answer must contain a JSON object whose keys are exactly the rubric's criteria; each value
is an object with a non-empty ``rationale`` and, by the criterion's kind, an integer ``score``
on the scale, a ``label`` from the label set (case-insensitive, stored as the rubric spells
it) or a list of ``errors`` (MQM: ``span``, ``category``, ``severity``). Anything else raises
``ParseError`` with a short message that is sent back to the judge as the correction; nothing
is ever guessed. Example of a valid answer::

    {"coherence": {"rationale": "Well organised.", "score": 4}}
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from evalharness.judges.criteria import Criterion, HasCriteria

# strict=False admits raw control characters (a newline) inside strings: llama.cpp's grammar for
# a JSON string lets them through, and they change no value. Everything else stays strict JSON.
_DECODER = json.JSONDecoder(strict=False)


class ParseError(ValueError):
    """The judge's answer is not a valid verdict; the message says why, in one sentence."""


@dataclass(frozen=True)
class CriterionResult:
    criterion: str
    score: float | None  # integer scale value, or the MQM penalty (lower is better)
    label: str | None  # label scales
    rationale: str
    errors: tuple[dict[str, str], ...] = ()  # MQM errors

    @property
    def value(self) -> float | str | None:
        return self.label if self.label is not None else self.score


def extract_json(text: str) -> dict[str, Any]:
    """The first JSON object in ``text`` (prose and code fences around it are ignored)."""
    first_error: str | None = None
    start = text.find("{")
    while start != -1:
        try:
            obj, _ = _DECODER.raw_decode(text, start)
        except json.JSONDecodeError as exc:
            first_error = first_error or exc.msg
        else:
            if isinstance(obj, dict):
                return obj
        start = text.find("{", start + 1)
    if first_error is None:
        raise ParseError("the answer contains no JSON object")
    raise ParseError(f"the JSON object is malformed ({first_error})")


def parse_judgment(text: str, rubric: HasCriteria) -> dict[str, CriterionResult]:
    return validate_judgment(extract_json(text), rubric)


def validate_judgment(obj: Any, rubric: HasCriteria) -> dict[str, CriterionResult]:
    if not isinstance(obj, dict):
        raise ParseError("the answer must be a JSON object")
    names = [c.name for c in rubric.criteria]
    missing = [n for n in names if n not in obj]
    if missing:
        raise ParseError(f"the key {missing[0]!r} is missing (give every criterion: {names})")
    extra = [k for k in obj if k not in names]
    if extra:
        raise ParseError(f"{extra[0]!r} is not a criterion of this rubric (use only {names})")
    return {c.name: _criterion(c, obj[c.name]) for c in rubric.criteria}


def _criterion(c: Criterion, value: Any) -> CriterionResult:
    key = {"score": "score", "label": "label", "errors": "errors"}[c.kind]
    if not isinstance(value, dict):
        raise ParseError(f'{c.name!r} must be an object with "rationale" and "{key}"')
    keys = set(value)
    if keys != {"rationale", key}:
        raise ParseError(
            f'{c.name!r} must have exactly the keys "rationale" and "{key}", got {sorted(keys)}'
        )
    rationale = value["rationale"]
    if not isinstance(rationale, str) or not rationale.strip():
        raise ParseError(f'{c.name!r}: "rationale" must be a non-empty string')
    rationale = rationale.strip()
    if c.kind == "score":
        return CriterionResult(c.name, _score(c, value["score"]), None, rationale)
    if c.kind == "label":
        return CriterionResult(c.name, None, _label(c, value["label"]), rationale)
    errors = _errors(c, value["errors"])
    assert c.errors is not None
    return CriterionResult(c.name, c.errors.penalty(errors), None, rationale, errors)


def _score(c: Criterion, raw: Any) -> float:
    assert c.scale is not None and c.scale.min is not None and c.scale.max is not None
    is_number = isinstance(raw, int | float) and not isinstance(raw, bool)
    if not is_number or (isinstance(raw, float) and not raw.is_integer()):
        raise ParseError(f'{c.name!r}: "score" must be {c.scale.describe()}, got {raw!r}')
    if not c.scale.min <= int(raw) <= c.scale.max:
        raise ParseError(f'{c.name!r}: "score" must be {c.scale.describe()}, got {raw!r}')
    return float(int(raw))


def _label(c: Criterion, raw: Any) -> str:
    assert c.scale is not None
    if isinstance(raw, str):
        for label in c.scale.labels:
            if raw.strip().lower() == label.lower():
                return label
    raise ParseError(f'{c.name!r}: "label" must be {c.scale.describe()}, got {raw!r}')


def _errors(c: Criterion, raw: Any) -> tuple[dict[str, str], ...]:
    scheme = c.errors
    assert scheme is not None
    if not isinstance(raw, list):
        raise ParseError(f'{c.name!r}: "errors" must be a list (empty when there is no error)')
    if len(raw) > scheme.max_errors:
        raise ParseError(f"{c.name!r}: list at most {scheme.max_errors} errors, the most severe")
    severities = {s.lower(): s for s in scheme.weights}
    categories = {s.lower(): s for s in scheme.categories}
    out = []
    for i, error in enumerate(raw):
        where = f"{c.name!r}: error {i + 1}"
        if not isinstance(error, dict) or set(error) != {"span", "category", "severity"}:
            raise ParseError(f'{where} must have exactly "span", "category" and "severity"')
        if not all(isinstance(v, str) for v in error.values()):
            raise ParseError(f"{where}: every value must be a string")
        category = categories.get(error["category"].strip().lower())
        if category is None:
            raise ParseError(f"{where}: unknown category {error['category']!r}")
        severity = severities.get(error["severity"].strip().lower())
        if severity is None:
            raise ParseError(f"{where}: severity must be one of {list(scheme.weights)}")
        out.append({"span": error["span"], "category": category, "severity": severity})
    return tuple(out)
