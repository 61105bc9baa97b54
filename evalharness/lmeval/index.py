"""``lm-eval:NAME``: the task file of the installed lm-evaluation-harness that defines NAME.

The package is located with ``importlib.util.find_spec`` and never imported; its ``tasks/``
YAML files are indexed by their own ``task:`` line (a plain scan, no YAML parsing: 14k files).
"""

from __future__ import annotations

import difflib
import importlib.util
import re
from functools import cache
from pathlib import Path

from evalharness.errors import ConfigError

PREFIX = "lm-eval:"
INSTALL = "pip install --no-deps lm_eval==0.4.13"
_TASK_LINE = re.compile(r"""^["']?task["']?\s*:\s*["']?([A-Za-z0-9_.\-]+)["']?\s*$""", re.M)


def tasks_dir() -> Path | None:
    """``lm_eval/tasks`` of the installed package, or None when it is not installed."""
    try:
        spec = importlib.util.find_spec("lm_eval")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        folder = Path(location) / "tasks"
        if folder.is_dir():
            return folder
    return None


@cache
def task_index(folder: Path) -> dict[str, Path]:
    """Task name → file, for every YAML file under ``folder`` with a ``task: NAME`` line.

    A name defined twice keeps its first file in path order."""
    found: dict[str, Path] = {}
    for path in sorted(folder.rglob("*.yaml")):
        match = _TASK_LINE.search(path.read_text(encoding="utf-8", errors="replace"))
        if match:
            found.setdefault(match.group(1), path)
    return found


def find_task(name: str) -> Path:
    """The file of lm-eval task ``name``; one line when lm_eval is absent or the name unknown."""
    folder = tasks_dir()
    if folder is None:
        raise ConfigError(f"{PREFIX}{name}: lm-evaluation-harness is not installed ({INSTALL})")
    index = task_index(folder)
    if name in index:
        return index[name]
    close = difflib.get_close_matches(name, index, n=3)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise ConfigError(f"unknown lm-eval task {name!r} (none of the {len(index)} tasks){hint}")
