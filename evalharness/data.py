"""Dataset loading (local JSONL/JSON/CSV/Parquet/text or a Hugging Face dataset); few-shot rows."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from evalharness.config import DatasetSpec, FewShotSpec
from evalharness.errors import DataError
from evalharness.jsonl import read_jsonl
from evalharness.resources import read_data_text

Row = dict[str, Any]


def load_rows(spec: DatasetSpec, base: Path) -> list[Row]:
    """The rows of a dataset; an unreadable, malformed or empty file is a ``DataError``."""
    rows = _load_hf(spec) if spec.hf else _load_local(spec, base)
    if spec.convert:
        from evalharness.lmeval.hub_data import CONVERTERS

        rows = [CONVERTERS[spec.convert](row) for row in rows]
    return rows


def _load_local(spec: DatasetSpec, base: Path) -> list[Row]:
    path = (base / spec.path).resolve() if spec.path else base
    if not path.is_file() and not path.with_name(path.name + ".gz").is_file():
        raise DataError(f"data file not found: {path}")  # bundled data is stored as path.gz
    fmt = spec.format or {
        ".jsonl": "jsonl",
        ".json": "json",
        ".csv": "csv",
        ".parquet": "parquet",
    }.get(path.suffix, "text")
    try:
        rows = _load_file(path, fmt)
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    if not rows:
        raise DataError(f"{path}: no rows (an empty dataset)")
    return rows


def _load_file(path: Path, fmt: str) -> list[Row]:
    if fmt == "jsonl":
        return _load_jsonl(path)
    if fmt == "json":
        try:
            data = json.loads(read_data_text(path))
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}: line {exc.lineno}: invalid JSON ({exc.msg})") from None
        rows = data.get("data", data) if isinstance(data, dict) else data
        return _check_mappings(rows, path)
    if fmt in ("csv", "parquet"):
        return _load_table(path, fmt)
    return [{"text": line} for line in read_data_text(path).splitlines()]


def _load_table(path: Path, fmt: str) -> list[Row]:
    """CSV or Parquet through pandas; its parser errors become one line naming the file."""
    import pandas as pd

    try:
        frame = pd.read_csv(path, encoding="utf-8") if fmt == "csv" else pd.read_parquet(path)
    except pd.errors.EmptyDataError:
        return []
    except UnicodeDecodeError:
        raise
    except (pd.errors.ParserError, ValueError, OSError) as exc:  # ArrowInvalid is a ValueError
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{path}: malformed {fmt} file: {reason}") from None
    return frame.to_dict(orient="records")


def _load_jsonl(path: Path) -> list[Row]:
    return [row for _, row in read_jsonl(path)]


def _check_mappings(rows: Any, path: Path) -> list[Row]:
    if not isinstance(rows, list):
        raise DataError(f"{path}: expected a list of rows")
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, dict):
            raise DataError(f"{path}: row {number} is not an object with fields")
    return rows


def _load_hf(spec: DatasetSpec) -> list[Row]:
    rows = _load_hub(spec)
    if not rows:
        raise DataError(f"hf:{spec.hf} split {spec.split!r}: no rows (an empty dataset)")
    return rows


def _load_hub(spec: DatasetSpec) -> list[Row]:
    try:
        import datasets
    except ImportError:
        raise DataError(
            f"dataset hf:{spec.hf} needs the 'datasets' package: pip install datasets"
        ) from None
    try:
        data = datasets.load_dataset(spec.hf, spec.hf_config, split=spec.split)
    except Exception as exc:  # network, missing split, ...: report, don't crash
        raise DataError(f"could not load hf:{spec.hf} split {spec.split!r}: {exc}") from None
    return [dict(row) for row in data]


class FewShotSampler:
    """Chooses the k example rows shown before row ``index`` (never the row itself)."""

    def __init__(self, spec: FewShotSpec, rows: list[Row], base: Path) -> None:
        self.spec = spec
        if spec.samples:
            self.pool: list[Row] = [dict(row) for row in spec.samples]
        else:
            self.pool = _load_jsonl_or_spec(spec, base) if spec.path else rows
        self.own_rows = spec.path is None and not spec.samples
        if spec.k > len(self.pool) - (1 if self.own_rows else 0):
            source = base / spec.path if spec.path else "the task's own dataset"
            raise DataError(
                f"fewshot k={spec.k} but only {len(self.pool)} example rows in {source}"
            )

    def shots(self, index: int) -> list[Row]:
        k = self.spec.k
        candidates = [i for i in range(len(self.pool)) if not (self.own_rows and i == index)]
        if self.spec.sampler == "random":
            chosen = random.Random(self.spec.seed + index).sample(candidates, k)
        else:
            chosen = candidates[:k]
        return [self.pool[i] for i in chosen]


def _load_jsonl_or_spec(spec: FewShotSpec, base: Path) -> list[Row]:
    return load_rows(DatasetSpec(path=spec.path), base)
