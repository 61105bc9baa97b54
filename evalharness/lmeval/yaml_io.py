"""Reading an lm-evaluation-harness task YAML: ``include:`` inheritance and ``!function`` tags.

``include: parent.yaml`` (or a list) is read relative to the including file, its keys first,
the file's own keys over them, as lm-eval's ``load_yaml_config`` does. A ``!function
module.fn`` value is kept as a ``PythonFunction`` marker: evalharness runs no Python code of a
task folder, so the conversion refuses it with one line naming the file, the key and the
function.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from evalharness.errors import ConfigError
from evalharness.specs import read_text

LM_EVAL_KEYS = ("doc_to_text", "dataset_path", "include")  # beside ``task:``, mark lm-eval files


@dataclass(frozen=True)
class PythonFunction:
    """A ``!function module.fn`` value, read from ``file``."""

    name: str
    file: Path


def _loader(path: Path) -> type[yaml.SafeLoader]:
    class Loader(yaml.SafeLoader):
        pass

    def function(loader: yaml.SafeLoader, node: yaml.Node) -> PythonFunction:
        return PythonFunction(str(loader.construct_scalar(node)), path)  # type: ignore[arg-type]

    Loader.add_constructor("!function", function)
    return Loader


def read_mapping(path: Path) -> dict[str, Any]:
    """One file's own keys (no includes resolved); malformed YAML is one line."""
    text = read_text(path)
    try:
        data = yaml.load(text, Loader=_loader(path))  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}:" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}:{where} malformed YAML: {problem}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of fields at the top level")
    return data


def read_config(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The file's keys over those of the files it includes (recursively, in order)."""
    path = path.resolve()
    if path in seen:
        chain = " -> ".join(p.name for p in (*seen, path))
        raise ConfigError(f"{path}: include: the file includes itself ({chain})")
    own = read_mapping(path)
    includes = own.pop("include", None)
    if includes is None:
        return own
    if isinstance(includes, str):
        includes = [includes]
    if not isinstance(includes, list) or not all(isinstance(i, str) for i in includes):
        raise ConfigError(f"{path}: include: expected a file name or a list of file names")
    merged: dict[str, Any] = {}
    for name in includes:
        parent = Path(name) if Path(name).is_absolute() else path.parent / name
        if not parent.is_file():
            raise ConfigError(f"{path}: include: {name!r} not found next to the file")
        merged.update(read_config(parent, (*seen, path)))
    return {**merged, **own}


def looks_like_lm_eval(path: Path) -> bool:
    """A YAML file with ``task:`` and one of ``doc_to_text`` / ``dataset_path`` / ``include``
    (and no ``name:``, which our own task files have)."""
    try:
        data = read_mapping(path)
    except ConfigError:
        return False
    return "task" in data and "name" not in data and any(k in data for k in LM_EVAL_KEYS)
