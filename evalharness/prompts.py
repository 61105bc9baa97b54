"""One sandboxed Jinja2 environment for task templates; chat vs completion prompt building.

Templates render text from a row's fields; expressions (``choices: "[sol1, sol2]"``) return
values. A field the row lacks raises ``jinja2.UndefinedError``, which the caller turns into
an error naming the file, row and field.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jinja2 import Template
from jinja2.runtime import Undefined

from evalharness.requests import Message, Prompt
from evalharness.template_budget import TemplateBudgetError, budget, environment, render_stream

ENV = environment()  # the sandbox, with a size and time budget (template_budget.py)


@lru_cache(maxsize=512)
def _template(source: str) -> Template:
    return ENV.from_string(source)


@lru_cache(maxsize=512)
def _expression(source: str) -> Any:
    return ENV.compile_expression(source, undefined_to_none=False)


def render(source: str, row: dict[str, Any]) -> str:
    """The rendered text, streamed under the budget (a ``TemplateBudgetError`` past it)."""
    return render_stream(_template(source), row)


def field_value(source: str, row: dict[str, Any]) -> Any:
    """The value of a task expression over a row's fields (``choices: "[sol1, sol2]"``)."""
    with budget():
        try:
            value = _expression(source)(**row)
        except RecursionError:
            raise TemplateBudgetError("recursion too deep") from None
        except ArithmeticError as exc:
            raise TemplateBudgetError(f"{type(exc).__name__}: {exc}") from None
    _fail_if_undefined(value)
    return value


def _fail_if_undefined(value: Any) -> None:
    """StrictUndefined only fails when used; an undefined field inside a list would slip through."""
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    if isinstance(value, list | tuple):
        for element in value:
            _fail_if_undefined(element)


def build_prompt(
    *,
    prompt: str,
    chat: bool,
    system_prompt: str | None,
    shots: list[tuple[str, str]],
    separator: str,
) -> Prompt:
    """The rendered prompt: a string, or chat messages where shots become user/assistant turns."""
    if not chat:
        parts = [f"{question}{answer}" for question, answer in shots] + [prompt]
        text = separator.join(parts)
        return f"{system_prompt}{separator}{text}" if system_prompt else text
    messages: list[Message] = []
    if system_prompt:
        messages.append({"role": "system", "content": system_prompt})
    for question, answer in shots:
        messages.append({"role": "user", "content": question})
        messages.append({"role": "assistant", "content": answer.strip()})
    messages.append({"role": "user", "content": prompt})
    return tuple(messages)


def prompt_text(prompt: Prompt) -> str:
    """A readable form of a prompt for the store and reports."""
    if isinstance(prompt, str):
        return prompt
    return "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in prompt)
