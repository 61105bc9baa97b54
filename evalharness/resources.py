"""Where the bundled tasks, rubrics, Streamlit app and data files are.

They live in the repository's top-level ``tasks/``, ``rubrics/``, ``app/`` and ``data/``; the
package reaches them as ``evalharness/bundled/<name>`` (symbolic links in a checkout, real
folders in a built wheel), so one lookup through ``importlib.resources`` serves both.
A team's own folders come first through ``EVALHARNESS_TASK_PATH`` / ``EVALHARNESS_RUBRIC_PATH``
(folders separated by ``os.pathsep``).
"""

from __future__ import annotations

import gzip
import os
from importlib.resources import files
from pathlib import Path

BUNDLED = ("tasks", "rubrics", "app", "data")
SEARCH_PATH_VARS = {"tasks": "EVALHARNESS_TASK_PATH", "rubrics": "EVALHARNESS_RUBRIC_PATH"}


def bundled(name: str) -> Path:
    """The installed folder of a bundled resource (``tasks``, ``rubrics``, ``app`` or ``data``)."""
    if name not in BUNDLED:
        raise ValueError(f"no bundled resource {name!r} (known: {', '.join(BUNDLED)})")
    # A package on the file system (a wheel is installed unzipped) gives a real path.
    return Path(str(files("evalharness") / "bundled" / name))


def search_path(name: str) -> list[Path]:
    """The user's folders for ``name`` (from its environment variable), then the bundled one."""
    extra = os.environ.get(SEARCH_PATH_VARS.get(name, ""), "")
    return [Path(p).expanduser() for p in extra.split(os.pathsep) if p] + [bundled(name)]


def yaml_files(name: str) -> dict[str, Path]:
    """``stem -> file`` of the YAML files on ``name``'s search path; earlier folders win."""
    found: dict[str, Path] = {}
    for folder in reversed(search_path(name)):
        found.update({p.stem: p for p in sorted(folder.glob("*.yaml"))})
    return dict(sorted(found.items()))


def read_data_text(path: Path) -> str:
    """The UTF-8 text of a data file: ``path`` itself or, as bundled, its gzip-compressed
    ``path.gz``. ``FileNotFoundError`` when neither exists."""
    if path.is_file():
        return path.read_text(encoding="utf-8")
    packed = path.with_name(path.name + ".gz")
    if packed.is_file():
        with gzip.open(packed, "rt", encoding="utf-8") as f:
            return f.read()
    raise FileNotFoundError(path)
