"""The one JSONL reader: every JSONL file evalharness reads (datasets, ratings, corpora,
bundled judgment sets) goes through ``read_jsonl``, so a bad file fails the same way everywhere:
a ``DataError`` naming the file and the line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from evalharness.errors import DataError
from evalharness.resources import read_data_text


def read_jsonl(path: Path, text: str | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` for each non-blank line of ``path`` (or of ``text``, already
    read from it). The file may be stored gzip-compressed as ``path.gz``. A missing file, text
    that is not UTF-8, a line that is not JSON or not a JSON object is a ``DataError``."""
    if text is None:
        try:
            text = read_data_text(path)
        except FileNotFoundError:
            raise DataError(f"data file not found: {path}") from None
        except UnicodeDecodeError as exc:
            raise DataError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    row_no = 0
    for line_no, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        row_no += 1
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}: line {line_no}: invalid JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise DataError(f"{path}: line {line_no}: row {row_no} is not a JSON object")
        yield line_no, row
