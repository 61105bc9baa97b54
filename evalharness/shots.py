"""``--num-fewshot K``: one shot count for every task of a run, as lm-evaluation-harness has it."""

from __future__ import annotations

from pathlib import Path

from evalharness.config import TaskSpec
from evalharness.errors import ConfigError

Loaded = list[tuple[TaskSpec, Path, Path]]


def with_num_fewshot(tasks: Loaded, k: int | None) -> Loaded:
    """Each task with ``fewshot.k = k``; a task without a ``fewshot:`` block (nowhere to take
    shots from) is refused for k > 0. ``None`` keeps every task's own setting."""
    if k is None:
        return tasks
    if k < 0:
        raise ConfigError(f"--num-fewshot: expected 0 or more, got {k}")
    out = []
    for spec, base, path in tasks:
        if spec.fewshot is None:
            if k:
                raise ConfigError(
                    f"{path}: --num-fewshot {k}: task {spec.name!r} has no fewshot: block "
                    "(no split to take examples from)"
                )
        else:
            spec = spec.model_copy(update={"fewshot": spec.fewshot.model_copy(update={"k": k})})
        out.append((spec, base, path))
    return out
