"""Task groups: a YAML in ``tasks/groups/`` listing member tasks or groups (``--tasks mmlu``).

A group's score is that of its members' samples pooled (``aggregate: size_weighted``): every
question counts once, so a subject of 1,534 questions weighs 15 times one of 100. That is how
lm-evaluation-harness 0.4.13 aggregates ``mmlu`` and its categories (``weight_by_size: True``).
The CI is a percentile bootstrap over the pooled samples.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from evalharness.aggregates import store_aggregates
from evalharness.config import Spec, TaskSpec, parse_spec
from evalharness.errors import ConfigError
from evalharness.resources import search_path
from evalharness.store import Store

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
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read group: {exc}") from None
    spec = parse_spec(GroupSpec, data, path)
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


def aggregate_groups(
    store: Store, run_id: str, names: list[str], specs: dict[str, TaskSpec]
) -> dict[str, dict[str, Any]]:
    """Scores of the requested groups from their run tasks' stored samples, stored beside the
    tasks' aggregates (a group is a row of ``aggregates`` whose task is the group's name)."""
    results: dict[str, dict[str, Any]] = {}
    for group, leaves in requested_groups(names):
        members = [specs[name] for name in leaves if name in specs]
        if not members:
            continue
        metrics = [m for m in members[0].metrics if all(m in s.metrics for s in members)]
        samples = [s for spec in members for s in store.samples(run_id, spec.name)]
        summary = store_aggregates(store, run_id, group.group, metrics, samples)
        for value in summary.values():
            value["aggregate"] = group.aggregate
        results[group.group] = summary
    return results
