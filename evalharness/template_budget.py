"""A Jinja2 sandbox with a budget: rendered size and render time are capped *while* rendering.

A hostile or mistaken template (``{{ 'a' * 10**9 }}``, ``'a'.center(10**9)``, two nested
``range(100000)`` loops, a macro doubling a string) must fail fast with one line, not eat
gigabytes or hang. Checks run inside the sandbox, in the thread that renders (no ``SIGALRM``):

* operators ``*``, ``**``, ``+`` and ``%`` are intercepted and their result size is bounded
  before it is computed;
* every call (methods, macros) has its arguments and result measured; padding methods
  (``center``, ``ljust``, ``rjust``, ``zfill``, ``expandtabs``, ``format``) are checked first;
* ``range`` yields lazily and checks the clock on each item; the output is streamed, its size
  counted and the clock checked on each chunk; namespace attributes are measured when set;
* a recursion too deep or an arithmetic error (``1/0``) is a ``TemplateBudgetError`` as well.

Limits: ``EVALHARNESS_MAX_PROMPT_BYTES`` (default 1 MB) and ``EVALHARNESS_RENDER_TIMEOUT_S``
(default 5 s), read at each render, or ``budget(...)`` for a block of code.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined
from jinja2.runtime import Context
from jinja2.sandbox import MAX_RANGE, SandboxedEnvironment
from jinja2.utils import Namespace

from evalharness.errors import ConfigError

DEFAULT_MAX_BYTES = 1_000_000
DEFAULT_TIMEOUT_S = 5.0
_WIDTH_METHODS = {"center", "ljust", "rjust", "zfill"}
_NUMBERS = re.compile(r"\d+")


class TemplateBudgetError(ConfigError):
    """A template went over its size or time budget, recursed too deep or divided by zero."""


@dataclass
class Budget:
    max_bytes: int = DEFAULT_MAX_BYTES
    timeout_s: float = DEFAULT_TIMEOUT_S
    deadline: float = 0.0

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise TemplateBudgetError(f"rendering took longer than {self.timeout_s:g} s")

    def check_size(self, size: int, what: str = "a value") -> None:
        if size > self.max_bytes:
            raise TemplateBudgetError(
                f"{what} would be {size} characters, over the {self.max_bytes}-byte prompt budget"
            )


_local = threading.local()


def current() -> Budget:
    found = getattr(_local, "budget", None)
    if found is None:  # outside render(): a budget from the environment, started now
        found = _from_env()
        found.deadline = time.monotonic() + found.timeout_s
    return found


def _from_env() -> Budget:
    try:
        max_bytes = int(os.environ.get("EVALHARNESS_MAX_PROMPT_BYTES", DEFAULT_MAX_BYTES))
        timeout_s = float(os.environ.get("EVALHARNESS_RENDER_TIMEOUT_S", DEFAULT_TIMEOUT_S))
    except ValueError:
        raise ConfigError(
            "EVALHARNESS_MAX_PROMPT_BYTES / EVALHARNESS_RENDER_TIMEOUT_S must be numbers"
        ) from None
    return Budget(max_bytes=max_bytes, timeout_s=timeout_s)


@contextlib.contextmanager
def budget(max_bytes: int | None = None, timeout_s: float | None = None) -> Iterator[Budget]:
    """Renders inside this block share one budget (defaults: the environment's)."""
    chosen = _from_env()
    if max_bytes is not None:
        chosen.max_bytes = max_bytes
    if timeout_s is not None:
        chosen.timeout_s = timeout_s
    chosen.deadline = time.monotonic() + chosen.timeout_s
    previous = getattr(_local, "budget", None)
    _local.budget = chosen
    try:
        yield chosen
    finally:
        _local.budget = previous


def _size(value: Any) -> int:
    if isinstance(value, str | bytes | list | tuple | dict | set):
        return len(value)
    return 0


class _CheckedRange:
    """``range`` for templates: at most ``MAX_RANGE`` items, the clock checked on each one."""

    def __init__(self, *args: int) -> None:
        try:
            self.values = range(*args)
            size = len(self.values)
        except OverflowError:
            size = MAX_RANGE + 1
        if size > MAX_RANGE:
            raise TemplateBudgetError(f"a range of more than {MAX_RANGE} items")

    def __len__(self) -> int:
        return len(self.values)

    def __iter__(self) -> Iterator[int]:
        spent = current()
        for value in self.values:
            spent.check_time()
            yield value


class _Namespace(Namespace):
    def __setitem__(self, name: str, value: Any) -> None:
        current().check_size(_size(value), f"namespace attribute {name!r}")
        super().__setitem__(name, value)


class BudgetedEnvironment(SandboxedEnvironment):
    """The sandbox plus the size and time checks described in the module docstring."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.globals["range"] = _CheckedRange
        self.globals["namespace"] = _Namespace
        for name in ("center", "indent", "format", "wordwrap", "truncate"):
            self.filters[name] = _checked_filter(self.filters[name])

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        spent = current()
        spent.check_time()
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if _size(seq) and isinstance(times, int):
                    spent.check_size(_size(seq) * max(times, 0), "a repeated string or list")
        elif operator == "**" and isinstance(left, int) and isinstance(right, int):
            bits = abs(left).bit_length() * right if abs(left) > 1 else 0
            spent.check_size(bits // 8, "a power")
        elif operator == "+":
            spent.check_size(_size(left) + _size(right), "a sum of strings or lists")
        elif operator == "%" and isinstance(left, str):
            _check_format_widths(left, spent)
        try:
            return super().call_binop(context, operator, left, right)
        except ArithmeticError as exc:
            raise TemplateBudgetError(f"{operator}: {type(exc).__name__}: {exc}") from None

    def wrap_str_format(self, value: Any) -> Any:
        """``'{:>1000000000}'.format(1)``: the format string's widths are checked at access."""
        wrapped = super().wrap_str_format(value)
        if wrapped is not None:
            _check_format_widths(value.__self__, current())
        return wrapped

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        spent = current()
        spent.check_time()
        for value in (*args, *kwargs.values()):
            spent.check_size(_size(value), "an argument")
        _check_method(__obj, args, kwargs, spent)
        result = super().call(__context, __obj, *args, **kwargs)
        spent.check_size(_size(result), "a call's result")
        return result


def _check_format_widths(text: str, spent: Budget) -> None:
    """A format string's widths (``'%1000000000d'``, ``'{:>1000000000}'``) are sizes too."""
    for number in _NUMBERS.findall(text):
        if len(number) > 9:
            spent.check_size(spent.max_bytes + 1, "a formatted string")
        spent.check_size(int(number), "a formatted string")


def _check_method(obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any], spent: Budget) -> None:
    owner, name = getattr(obj, "__self__", None), getattr(obj, "__name__", "")
    if not isinstance(owner, str):
        return
    if name in _WIDTH_METHODS and args and isinstance(args[0], int):
        spent.check_size(args[0], f"str.{name}()")
    elif name == "expandtabs":
        tab = args[0] if args else kwargs.get("tabsize", 8)
        if isinstance(tab, int):
            spent.check_size(len(owner) * max(tab, 1), "str.expandtabs()")
    elif name == "replace" and len(args) >= 2 and isinstance(args[1], str):
        old = args[0] if isinstance(args[0], str) else ""
        count = owner.count(old) if old else len(owner) + 1
        spent.check_size(len(owner) + count * len(args[1]), "str.replace()")


def _checked_filter(original: Any) -> Any:
    """A filter whose numeric arguments (widths) are sizes, and whose result is measured."""

    def checked(*args: Any, **kwargs: Any) -> Any:
        spent = current()
        spent.check_time()
        for value in (*args[1:], *kwargs.values()):
            if isinstance(value, int) and not isinstance(value, bool):
                spent.check_size(value, f"the width of filter {original.__name__}")
            if isinstance(value, str):
                _check_format_widths(value, spent)
        if args and isinstance(args[0], str) and original.__name__ == "do_format":
            _check_format_widths(args[0], spent)
        result = original(*args, **kwargs)
        spent.check_size(_size(result), f"filter {original.__name__}")
        return result

    for attribute in ("jinja_pass_arg", "__name__"):
        if hasattr(original, attribute):
            setattr(checked, attribute, getattr(original, attribute))
    return checked


def render_stream(template: Any, context: dict[str, Any]) -> str:
    """Render chunk by chunk under the current budget: stop at the size cap or the deadline."""
    with budget() if getattr(_local, "budget", None) is None else contextlib.nullcontext():
        spent = current()
        parts: list[str] = []
        total = 0
        try:
            for chunk in template.generate(context):
                total += len(chunk)
                spent.check_size(total, "the rendered prompt")
                spent.check_time()
                parts.append(chunk)
        except RecursionError:
            raise TemplateBudgetError("recursion too deep (a macro calling itself?)") from None
        except ArithmeticError as exc:
            raise TemplateBudgetError(f"{type(exc).__name__}: {exc}") from None
        return "".join(parts)


def environment() -> BudgetedEnvironment:
    return BudgetedEnvironment(undefined=StrictUndefined, keep_trailing_newline=True)
