"""Answer extractors: turn a raw generation into the answer a metric compares."""

from __future__ import annotations

import re
from collections.abc import Callable

_NUMBER = re.compile(r"-?[$]?\d[\d,]*(?:\.\d+)?")


def last_number(text: str) -> str:
    """The last number in the text, without '$', thousands separators or a trailing '.0'."""
    matches = _NUMBER.findall(text)
    if not matches:
        return ""
    number = matches[-1].replace("$", "").replace(",", "")
    if "." in number:
        number = number.rstrip("0").rstrip(".")
    return number


def first_line(text: str) -> str:
    stripped = text.strip()
    return stripped.splitlines()[0].strip() if stripped else ""


EXTRACTORS: dict[str, Callable[[str], str]] = {
    "none": lambda text: text,
    "strip": str.strip,
    "first_line": first_line,
    "last_number": last_number,
}
