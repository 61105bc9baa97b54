"""Judge prompts rendered from a rubric with the shipped Jinja2 templates (sandboxed).

``templates/pointwise.j2`` and ``templates/pairwise.j2`` are used unless the rubric gives its
own ``template``. A template sees ``rubric`` (name, description, instructions, labels),
``criteria`` (name, description, kind, scale, levels, and for MQM categories/max_errors),
``source``, ``output`` / ``output_a`` / ``output_b``, ``reference`` (None when not shown),
``examples`` (each with ``answer``, the expected JSON) and ``answer_format`` (the JSON shape
to answer in). Prompts are chat messages: a fixed system message plus the rendered user turn.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import TemplateError

from evalharness.errors import ConfigError
from evalharness.judges.rubric import Criterion, Rubric
from evalharness.prompts import render
from evalharness.requests import Message
from evalharness.template_budget import TemplateBudgetError

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
SYSTEM_PROMPT = (
    "You are a careful, impartial expert evaluator. Follow the rubric exactly and answer "
    "with one JSON object only."
)


@dataclass(frozen=True)
class Subject:
    """What one judgment is about: the input, the response(s) and an optional reference."""

    source: str = ""
    output: str = ""
    reference: str | None = None
    output_b: str | None = None  # pairwise: the response shown second (as B)


@cache
def shipped_template(mode: str) -> str:
    return (TEMPLATES_DIR / f"{mode}.j2").read_text(encoding="utf-8")


def template_source(rubric: Rubric) -> str:
    return rubric.template if rubric.template is not None else shipped_template(rubric.mode)


def _slot(c: Criterion) -> str:
    if c.kind == "score":
        assert c.scale is not None
        return f"<{c.scale.describe()}>"
    if c.kind == "label":
        assert c.scale is not None
        return '"<' + " | ".join(c.scale.labels) + '>"'
    assert c.errors is not None
    return (
        '[{"span": "<the wrong words>", "category": "<a category>", '
        '"severity": "<' + " | ".join(c.errors.weights) + '>"}]'
    )


def answer_format(rubric: Rubric) -> str:
    """The JSON shape the judge must answer in, one line per criterion."""
    lines = []
    for c in rubric.criteria:
        key = {"score": "score", "label": "label", "errors": "errors"}[c.kind]
        lines.append(
            f'  "{c.name}": {{"rationale": "<one or two sentences>", "{key}": {_slot(c)}}}'
        )
    return "{\n" + ",\n".join(lines) + "\n}"


def _criterion_context(c: Criterion) -> dict[str, Any]:
    levels = [{"level": k, "description": v.strip()} for k, v in c.levels.items()]
    if c.scale is not None:
        order = c.scale.values()
        levels.sort(key=lambda item: order.index(item["level"]))
    context: dict[str, Any] = {
        "name": c.name,
        "description": c.description.strip(),
        "kind": c.kind,
        "scale": c.scale.describe() if c.scale else "",
        "levels": levels,
    }
    if c.errors is not None:
        context |= {
            "categories": list(c.errors.categories),
            "max_errors": c.errors.max_errors,
            "weights": dict(c.errors.weights),
        }
    return context


def _text(value: str | None) -> str | None:
    return value if value is not None and value.strip() else None


def context(rubric: Rubric, subject: Subject, *, show_reference: bool | None = None) -> dict:
    """The template variables for one subject (``show_reference`` overrides the rubric)."""
    show_ref = rubric.show_reference if show_reference is None else show_reference
    examples = [
        {
            "source": _text(ex.source) if rubric.show_source else None,
            "output": ex.output,
            "output_a": ex.output,
            "output_b": ex.output_b,
            "reference": _text(ex.reference) if show_ref else None,
            "answer": json.dumps(ex.judgment, ensure_ascii=False),
        }
        for ex in rubric.examples
    ]
    return {
        "rubric": {
            "name": rubric.name,
            "description": rubric.description.strip(),
            "instructions": rubric.instructions.strip(),
            "source_label": rubric.source_label,
            "output_label": rubric.output_label,
            "reference_label": rubric.reference_label,
        },
        "criteria": [_criterion_context(c) for c in rubric.criteria],
        "source": _text(subject.source) if rubric.show_source else None,
        "output": subject.output,
        "output_a": subject.output,
        "output_b": subject.output_b,
        "reference": _text(subject.reference) if show_ref else None,
        "examples": examples,
        "answer_format": answer_format(rubric),
    }


def render_prompt(
    rubric: Rubric, subject: Subject, *, show_reference: bool | None = None
) -> tuple[Message, ...]:
    """System + user messages for one judgment; a template error names the rubric."""
    try:
        user = render(
            template_source(rubric), context(rubric, subject, show_reference=show_reference)
        )
    except (TemplateError, TemplateBudgetError) as exc:
        raise ConfigError(f"rubric {rubric.name!r}: template: {exc}") from None
    return ({"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user.strip()})


def correction(error: str, rubric: Rubric) -> str:
    """The short re-ask sent after an invalid answer."""
    return (
        f"Your answer could not be used: {error}. Reply with only the JSON object, "
        f"exactly in this form:\n{answer_format(rubric)}"
    )


REASK_REPLY_CHARS = 600  # of an invalid reply quoted back in a re-ask


def reask_prompt(
    prompt: tuple[Message, ...], reply: str, error: str, rubric: Rubric
) -> tuple[Message, ...]:
    """The first prompt, the judge's last invalid reply (cut short) and the correction.

    Re-asks restart from the first prompt instead of growing the conversation, and quote at
    most ``REASK_REPLY_CHARS`` of the reply: a re-ask is then never more than about 250
    tokens longer than the first ask, which fitted the judge's context (a growing
    conversation got ``HTTP 400 ... maximum context length`` from llama.cpp).
    """
    if len(reply) > REASK_REPLY_CHARS:
        reply = reply[:REASK_REPLY_CHARS] + " ..."
    return (
        *prompt,
        {"role": "assistant", "content": reply},
        {"role": "user", "content": correction(error, rubric)},
    )
