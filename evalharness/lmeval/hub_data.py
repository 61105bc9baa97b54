"""Hub datasets of lm-eval task files → the bundled files that hold the same rows.

``HUB_DATA`` maps (hub path, config name, split) to a bundled file whose rows have the hub
layout, or get it from a named converter (``CONVERTERS``, applied by ``data.load_rows``).
A dataset not in the table is read from the hub with ``datasets.load_dataset`` when the hub
is reachable; offline (``HF_HUB_OFFLINE`` / ``HF_DATASETS_OFFLINE``) it is one error line.
This module imports nothing of the package (``data.py`` and ``config.py`` use it).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

Row = dict[str, Any]


def ai2_arc(row: Row) -> Row:
    """AI2's ARC-V1-Feb2018 layout → ``allenai/ai2_arc``'s (question text, choices columns)."""
    choices = row["question"]["choices"]
    return {
        "id": row["id"],
        "question": row["question"]["stem"],
        "choices": {"text": [c["text"] for c in choices], "label": [c["label"] for c in choices]},
        "answerKey": row["answerKey"],
    }


CONVERTERS: dict[str, Callable[[Row], Row]] = {"ai2_arc": ai2_arc}


class Local(NamedTuple):
    file: str  # relative to the bundled resources folder (``data/...`` or ``tasks/data/...``)
    convert: str | None = None


_ARC = {("ARC-Easy", "test"): "Easy-Test", ("ARC-Easy", "validation"): "Easy-Dev"}
_ARC |= {
    ("ARC-Challenge", "test"): "Challenge-Test",
    ("ARC-Challenge", "validation"): "Challenge-Dev",
}

HUB_DATA: dict[tuple[str, str | None, str], Local] = {
    **{
        ("allenai/ai2_arc", name, split): Local(f"data/arc/ARC-{file}.jsonl", "ai2_arc")
        for (name, split), file in _ARC.items()
    },
    ("baber/piqa", None, "validation"): Local("tasks/data/piqa/valid.jsonl"),
    ("openai/gsm8k", "main", "test"): Local("tasks/data/gsm8k/test.jsonl"),
}
MMLU_SPLITS = {"test": "test", "dev": "dev"}  # cais/mmlu SUBJECT SPLIT → data/mmlu/SPLIT/SUBJECT


def local_data(path: str, name: str | None, split: str) -> Local | None:
    """The bundled file of a hub dataset's split, or None."""
    if path == "cais/mmlu" and name and split in MMLU_SPLITS:
        return Local(f"data/mmlu/{MMLU_SPLITS[split]}/{name}.jsonl")
    return HUB_DATA.get((path, name, split))


def offline() -> bool:
    """The hub is off: either of the Hugging Face offline switches is set."""
    return any(
        os.environ.get(var, "").lower() in ("1", "true", "yes", "on")
        for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
    )


def bundled_file(local: Local) -> Path:
    """The absolute path of a ``Local`` file (``data/...`` or ``tasks/data/...``)."""
    from evalharness.resources import bundled

    top, _, rest = local.file.partition("/")
    return bundled(top) / rest
