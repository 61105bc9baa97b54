"""lm-eval's ``doc_to_*`` values → our templates and expressions (``prompts.py`` renders both).

lm-eval renders ``doc_to_choice`` / ``doc_to_target`` as Jinja2 text and reads the result back
with ``ast.literal_eval``; a template that is one ``{{ EXPR }}`` becomes the expression EXPR,
which gives the same value without the round trip through text. Text around ``{{ }}`` becomes a
``~`` concatenation (a string). ``{% %}`` blocks and lm-eval's own ``regex_replace`` filter
have no expression form here and are refused by the caller.
"""

from __future__ import annotations

import re
from typing import Any

_OUTPUT = re.compile(r"\{\{(.*?)\}\}", re.S)
_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Untranslatable(ValueError):
    """A value with no expression form; the message says why."""


def is_field(value: str) -> bool:
    """A bare field name (lm-eval reads ``doc[value]`` when the dataset has that column)."""
    return bool(_FIELD.match(value))


def check_template(source: str) -> None:
    if "{%" in source or "{#" in source:
        raise Untranslatable("{% %} and {# #} blocks are not supported here")
    if "regex_replace" in source:
        raise Untranslatable("lm-eval's regex_replace filter is not available")


def to_expression(source: str) -> str:
    """A template as an expression: ``{{ x }}`` → ``x``; ``Q: {{ x }}`` → ``'Q: ' ~ (x)``;
    text without ``{{ }}`` → its string literal."""
    check_template(source)
    if "{{-" in source or "-}}" in source:
        raise Untranslatable("whitespace control ({{- -}}) is not supported here")
    pieces: list[str] = []
    pos = 0
    matches = list(_OUTPUT.finditer(source))
    if len(matches) == 1 and matches[0].span() == (0, len(source)):
        return matches[0].group(1).strip()
    for match in matches:
        if match.start() > pos:
            pieces.append(repr(source[pos : match.start()]))
        pieces.append(f"(({match.group(1).strip()}) | string)")
        pos = match.end()
    if pos < len(source) or not pieces:
        pieces.append(repr(source[pos:]))
    return " ~ ".join(pieces)


def value_expression(value: Any) -> str:
    """A ``doc_to_target`` / ``doc_to_choice`` value: int, field name, template or list."""
    if isinstance(value, bool) or value is None:
        raise Untranslatable(f"expected a field, a template or a list, got {value!r}")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return "[" + ", ".join(_element(v) for v in value) + "]"
    if not isinstance(value, str):
        raise Untranslatable(f"expected a field, a template or a list, got {value!r}")
    return value if is_field(value) else to_expression(value)


def _element(value: Any) -> str:
    """A list element: lm-eval renders each as a template (plain text stays itself)."""
    text = value if isinstance(value, str) else str(value)
    return to_expression(text) if "{{" in text else repr(text)


def prompt_template(value: Any) -> str:
    """``doc_to_text`` as our prompt template (a field name becomes ``{{ name }}``)."""
    if not isinstance(value, str):
        raise Untranslatable(f"expected a template or a field name, got {value!r}")
    check_template(value)
    return f"{{{{ {value} }}}}" if is_field(value) else value
