"""The base of every YAML spec (tasks, rubrics, gates, groups, run files) and its one error path.

A spec is a frozen pydantic model validated once when its file is read; every problem becomes
one ``ConfigError`` line naming the file and the field:
``tasks/piqa.yaml: metrics.1: unknown metric 'acc_nrom'``. This module imports nothing of the
package but ``errors``, so that every module describing a spec can build on it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from evalharness.errors import ConfigError


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# What a generation task's outputs are (a task's ``generates:``), and so which rubrics fit them
# (a rubric's ``fits:``): the annotation desk offers a task's outputs only under those rubrics.
OutputKind = Literal[
    "summary", "translation", "answer", "grounded_answer", "chat", "code", "data_to_text",
    "dialogue_turn", "label", "retrieval",
]  # fmt: skip


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder, not a file") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None


def read_yaml(path: Path) -> Any:
    text = read_text(path)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}:{where}: malformed YAML: {problem}") from None


def validation_message(path: Path | str, exc: ValidationError) -> str:
    """One line: ``file: field.path: message``, problems joined by ``; ``.

    A list whose only invalid entry was dropped also reports ``too_short`` (``Tuple should
    have at least 1 item``); that echo of the real problem is left out.
    """
    errors = exc.errors()
    locs = [tuple(e["loc"]) for e in errors]
    problems = []
    for error, loc in zip(errors, locs, strict=True):
        if error["type"] == "too_short" and any(o[: len(loc)] == loc != o for o in locs):
            continue
        field = ".".join(str(p) for p in loc) or "(top level)"
        problems.append(f"{field}: {error['msg'].removeprefix('Value error, ')}")
    return f"{path}: " + "; ".join(problems)


def parse_spec(model: type[Spec], data: Any, path: Path | str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of fields at the top level")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(validation_message(path, exc)) from None
