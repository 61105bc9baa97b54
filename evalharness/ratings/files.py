"""Ratings from and to files: ``evalharness ratings import FILE`` / ``ratings export OUT.csv``.

One rating per row, CSV (header row) or JSONL (one object per line). Column mapping:

required
    ``item_id``    the rated item's id (any string, unique across datasets)
    ``annotator``  who rated (an id such as ``alice`` or ``gpt-4``)
    ``criterion``  what was rated (``coherence``, ``overall``, ``preference``...)
    ``score`` and/or ``label``  a number, and/or a label (``"1"``, ``"2"``, ``"tie"``...);
                   every row needs at least one of the two
optional, about the rating
    ``rubric`` (default ``default``), ``comment``,
    ``annotator_kind`` (``human`` | ``judge`` | ``metric``; default ``human``),
    ``annotator_name``
optional, about the item (read from the first row of an item that is not stored yet)
    ``dataset`` (default: the ``--dataset`` option, else the file name without extension),
    ``group_id`` (document / prompt), ``system_id``, ``source``, ``context``, ``response``,
    ``response_b`` (pairwise), ``reference`` (a string, or a JSON list of strings),
    ``extra`` (a JSON object), ``run_id`` / ``task`` / ``sample_idx`` (a stored run sample)

Empty cells are missing values; unknown columns are ignored. A rating whose annotator, item,
rubric and criterion are already stored with a different score/label/comment is added as a new
row that supersedes the stored one; an identical one is skipped. ``export`` writes these
columns (plus ``rating_id``, ``created_at`` and ``supersedes_id`` for audit, ignored on import),
so an export imports back unchanged.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from evalharness.errors import DataError
from evalharness.jsonl import read_jsonl
from evalharness.ratings.checks import check_on_rubric
from evalharness.ratings.importers import ImportResult
from evalharness.ratings.records import (
    ANNOTATOR_KINDS,
    ITEM_COLUMNS,
    NewRating,
    RatedItem,
    add_items,
    add_ratings,
    annotators,
    ensure_annotator,
    items,
    ratings,
)
from evalharness.store import Store

REQUIRED = ("item_id", "annotator", "criterion")
ITEM_FIELDS = ("group_id", "system_id", "source", "context", "response", "response_b")
EXPORT_COLUMNS = [
    "item_id",
    "dataset",
    "annotator",
    "annotator_kind",
    "annotator_name",
    "rubric",
    "criterion",
    "score",
    "label",
    "comment",
    *ITEM_COLUMNS,
    "rating_id",
    "created_at",
    "supersedes_id",
]


def _missing(value: Any) -> bool:
    return value is None or value == "" or (isinstance(value, float) and math.isnan(value))


def read_rows(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise DataError(f"no ratings file {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        return [row for _, row in read_jsonl(path, text)]
    import io

    import pandas as pd

    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        return []
    except (pd.errors.ParserError, ValueError) as exc:
        raise DataError(f"{path}: malformed CSV: {str(exc).strip().splitlines()[0]}") from None
    return frame.to_dict(orient="records")


def _json_field(path: Path, row_no: int, column: str, value: Any, kind: type) -> Any:
    """A list/dict cell: native in JSONL, JSON text in CSV. A reference that does not start
    with ``[`` is a plain string."""
    if _missing(value):
        return None
    if isinstance(value, kind) or (
        kind is list and isinstance(value, str) and not value.lstrip().startswith("[")
    ):
        return value
    try:
        parsed = json.loads(value)
    except (TypeError, json.JSONDecodeError):
        raise DataError(f"{path}: row {row_no}: {column} is not valid JSON") from None
    if not isinstance(parsed, kind):
        raise DataError(f"{path}: row {row_no}: {column} must be a JSON {kind.__name__}")
    return parsed


def _sample_idx(where: str, value: Any) -> int | None:
    if _missing(value):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not number.is_integer() or number < 0 or isinstance(value, bool):
        raise DataError(f"{where}: sample_idx {value!r} is not a non-negative integer")
    return int(number)


def import_file(store: Store, path: str | Path, dataset: str | None = None) -> ImportResult:
    """Import a CSV/JSONL ratings file (see the module docstring for the columns)."""
    path = Path(path)
    rows = read_rows(path)
    default_dataset = dataset or path.stem
    if not rows:
        raise DataError(f"{path}: no rows")
    missing = [c for c in REQUIRED if c not in rows[0]]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)}")
    new_items: dict[str, RatedItem] = {}
    new_ratings: list[NewRating] = []
    kinds: dict[str, tuple[str, str]] = {}
    datasets_seen: set[str] = set()
    for row_no, row in enumerate(rows, start=2 if path.suffix.lower() == ".csv" else 1):
        where = f"{path}: row {row_no}"
        for column in REQUIRED:
            if _missing(row.get(column)):
                raise DataError(f"{where}: empty {column}")
        score, label = row.get("score"), row.get("label")
        if _missing(score) and _missing(label):
            raise DataError(f"{where}: needs a score or a label")
        try:
            score = None if _missing(score) else float(score)
        except (TypeError, ValueError):
            raise DataError(f"{where}: score {score!r} is not a number") from None
        if score is not None and not math.isfinite(score):
            raise DataError(f"{where}: score {score!r} is not a finite number")
        check_on_rubric(
            where,
            str(row.get("rubric") or "default"),
            str(row["criterion"]),
            score,
            None if _missing(label) else str(label),
        )
        kind = row.get("annotator_kind") or "human"
        if kind not in ANNOTATOR_KINDS:
            raise DataError(f"{where}: annotator_kind must be one of {ANNOTATOR_KINDS}")
        annotator = str(row["annotator"])
        kinds.setdefault(annotator, (str(row.get("annotator_name") or annotator), kind))
        item_id = str(row["item_id"])
        if item_id not in new_items:
            ds = str(row.get("dataset") or default_dataset)
            datasets_seen.add(ds)
            sample_idx = row.get("sample_idx")
            new_items[item_id] = RatedItem(
                id=item_id,
                dataset=ds,
                reference=_json_field(path, row_no, "reference", row.get("reference"), list),
                extra=_json_field(path, row_no, "extra", row.get("extra"), dict) or {},
                run_id=row.get("run_id") or None,
                task=row.get("task") or None,
                sample_idx=_sample_idx(where, sample_idx),
                **{f: (None if _missing(row.get(f)) else str(row[f])) for f in ITEM_FIELDS},
            )
        new_ratings.append(
            NewRating(
                annotator,
                item_id,
                str(row.get("rubric") or "default"),
                str(row["criterion"]),
                score,
                None if _missing(label) else str(label),
                None if _missing(row.get("comment")) else str(row["comment"]),
            )
        )
    for annotator, (name, kind) in kinds.items():
        ensure_annotator(store, annotator, name, kind)
    written_items = add_items(store, new_items.values())
    written = add_ratings(store, new_ratings)
    name = ",".join(sorted(datasets_seen))
    return ImportResult(name, len(new_items), written_items, len(new_ratings), written)


def export_csv(
    store: Store, path: str | Path, dataset: str | None = None, all_versions: bool = False
) -> int:
    """Write ratings (latest only unless ``all_versions``) with their items' fields to CSV."""
    frame = ratings(store, dataset=dataset, latest=not all_versions)
    meta = items(store, dataset).set_index("id")
    names = {a.id: a.name for a in annotators(store)}
    out = frame.copy()
    out["annotator_name"] = out["annotator"].map(names)
    joined = meta.loc[out["item_id"]].reset_index(drop=True)
    for column in ("source", "context", "response", "response_b", "run_id", "task"):
        out[column] = joined[column].to_numpy()
    out["sample_idx"] = joined["sample_idx"].astype("Int64").to_numpy()
    out["reference"] = [
        None if r is None else (r if isinstance(r, str) else json.dumps(r, ensure_ascii=False))
        for r in joined["reference"]
    ]
    out["extra"] = [json.dumps(e, ensure_ascii=False) if e else None for e in joined["extra"]]
    out["supersedes_id"] = out["supersedes_id"].astype("Int64")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out[EXPORT_COLUMNS].to_csv(path, index=False)
    return len(out)
