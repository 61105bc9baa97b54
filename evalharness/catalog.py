"""Which tasks and task groups exist, and the files they are read from.

Tasks are the YAML files of each task folder (``$EVALHARNESS_TASK_PATH``, then the bundled
``tasks/``); ``all`` is the top level, tasks one folder down (``tasks/mmlu/*.yaml``) are found by
name. A group (``tasks/groups/mmlu.yaml``) lists member tasks or groups: ``--tasks mmlu``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from evalharness.errors import ConfigError
from evalharness.lmeval.index import PREFIX, find_task
from evalharness.resources import search_path, yaml_files
from evalharness.specs import Spec, parse_spec, read_yaml

NOT_TASKS = ("groups", "data")  # subfolders of a task folder that hold no tasks


class GroupSpec(Spec):
    group: str
    description: str = ""
    aggregate: Literal["size_weighted"] = "size_weighted"
    tasks: tuple[str, ...] = Field(min_length=1)  # task names or group names


def nested_task_files() -> dict[str, Path]:
    """Tasks one folder down (``tasks/mmlu/*.yaml``): found by name, not part of ``all``."""
    found: dict[str, Path] = {}
    for folder in reversed(search_path("tasks")):
        for sub in sorted(p for p in folder.glob("*/") if p.name not in NOT_TASKS):
            found.update({p.stem: p for p in sorted(sub.glob("*.yaml"))})
    return found


def group_files() -> dict[str, Path]:
    """Group name -> file from the ``groups/`` folder of each task folder; earlier folders win."""
    found: dict[str, Path] = {}
    for folder in reversed(search_path("tasks")):
        found.update({p.stem: p for p in sorted((folder / "groups").glob("*.yaml"))})
    return found


def load_group(path: Path) -> GroupSpec:
    spec = parse_spec(GroupSpec, read_yaml(path), path)
    if spec.group != path.stem:
        raise ConfigError(f"{path}: group: {spec.group!r} differs from the file name {path.stem!r}")
    return spec


def expand_group(name: str, tasks: dict[str, Path], seen: tuple[str, ...] = ()) -> list[Path]:
    """The task files of group ``name``, members in order, nested groups flattened."""
    if name in seen:
        raise ConfigError(f"group {name!r} contains itself ({' -> '.join([*seen, name])})")
    groups = group_files()
    spec = load_group(groups[name])
    paths: list[Path] = []
    for member in spec.tasks:
        if member in groups:
            paths += expand_group(member, tasks, (*seen, name))
        elif member in tasks:
            paths.append(tasks[member])
        else:
            raise ConfigError(f"{groups[name]}: tasks: unknown task or group {member!r}")
    return paths


def requested_groups(names: list[str]) -> list[tuple[GroupSpec, list[str]]]:
    """Each group named in ``names`` and the groups inside it, innermost first, with the
    names of the tasks it pools."""
    groups = group_files()
    out: dict[str, tuple[GroupSpec, list[str]]] = {}

    def visit(name: str) -> list[str]:
        spec = load_group(groups[name])
        leaves: list[str] = []
        for member in spec.tasks:
            leaves += visit(member) if member in groups else [member]
        out.setdefault(name, (spec, leaves))
        return leaves

    for name in names:
        if name in groups:
            visit(name)
    return list(out.values())


def task_files() -> dict[str, Path]:
    """Task name -> file: the folders of ``$EVALHARNESS_TASK_PATH``, then the bundled tasks."""
    return yaml_files("tasks")


def resolve_tasks(names: list[str]) -> list[Path]:
    """Task names, group names (``mmlu``: its member tasks), 'all', paths to YAML files, or
    ``lm-eval:NAME`` (the installed lm-evaluation-harness's task file of NAME).

    'all' is the top-level tasks; tasks in subfolders (``tasks/mmlu/``) are found by name."""
    top = task_files()
    known = {**nested_task_files(), **top}
    groups = group_files()
    paths: list[Path] = []
    for name in names:
        if name == "all":
            paths.extend(top.values())
        elif name.startswith(PREFIX):
            paths.append(find_task(name.removeprefix(PREFIX)))
        elif name.endswith((".yaml", ".yml")):
            paths.append(Path(name))
        elif name in known:
            paths.append(known[name])
        elif name in groups:
            paths.extend(expand_group(name, known))
        else:
            listed = ", ".join([*top, *groups]) or "none"
            raise ConfigError(f"unknown task {name!r} (known: {listed})")
    return list(dict.fromkeys(paths))  # a task named twice (or by two groups) runs once
