"""Where a run's items go: ``--shard I/N`` processes for batch schedulers, ``--executor ray``.

Shard ``I`` of ``N`` owns the items whose dataset index ``idx % N == I``, so N processes
anywhere (a Slurm array, Kubernetes Jobs) write disjoint sample rows into one shared store.
The first shard to start creates the run; the others join it and must ask for the same
model, tasks, limit and settings. Whichever shard finds every item stored computes the
aggregates and judges once; ``evalharness finalize ID`` does the same by hand.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from evalharness.errors import ConfigError
from evalharness.modelref import ModelRef
from evalharness.models.base import Model

_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")
# Config keys every shard of one run must agree on (they decide which samples exist and how).
SHARED_CONFIG = ("tasks", "limit", "sampling", "model_args", "judge_model")


@dataclass(frozen=True)
class Shard:
    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``"1/4"`` -> ``Shard(1, 4)``; anything else is a ``ConfigError``."""
        match = _SHARD.match(text)
        if not match:
            raise ConfigError(f"--shard: expected I/N such as 0/4, got {text!r}")
        index, count = int(match[1]), int(match[2])
        if count < 1 or not 0 <= index < count:
            raise ConfigError(f"--shard {text}: need 0 <= I < N")
        return cls(index, count)

    def owns(self, idx: int) -> bool:
        return idx % self.count == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


@dataclass(frozen=True)
class Executor:
    """``local`` (this process) or ``ray`` (``replicas`` Ray actors, see ``ray_pool.py``)."""

    kind: str = "local"
    replicas: int = 1
    address: str | None = None  # a Ray cluster; None: $RAY_ADDRESS, else a local Ray

    def __post_init__(self) -> None:
        if self.kind not in ("local", "ray"):
            raise ConfigError(f"--executor: expected local or ray, got {self.kind!r}")
        if self.replicas < 1:
            raise ConfigError(f"--replicas must be at least 1, got {self.replicas}")
        if self.kind == "local" and (self.replicas != 1 or self.address):
            raise ConfigError("--replicas and --ray-address need --executor ray")

    def record(self) -> dict[str, object]:
        return {"kind": self.kind, "replicas": self.replicas}

    def load(self, ref: ModelRef) -> Model:
        """``ref`` in this process, or as a pool of Ray replicas (evaluated, judge and selector
        models alike)."""
        if self.kind == "local":
            return ref.load()
        from evalharness.ray_pool import RayPoolModel  # ray is an optional extra

        return RayPoolModel(ref, replicas=self.replicas, address=self.address)


def check_joinable(
    run_id: str, stored: dict[str, Any], wanted: dict[str, Any], model: str, stored_model: str
) -> None:
    """A shard joining an existing run must describe the same run, else one clear line."""
    if model != stored_model:
        raise ConfigError(
            f"--run-id {run_id}: the run evaluates {stored_model!r}, this shard {model!r}"
        )
    for key in SHARED_CONFIG:
        if stored.get(key) != wanted.get(key):
            raise ConfigError(
                f"--run-id {run_id}: {key} differs from the stored run's "
                f"({wanted.get(key)!r} here, {stored.get(key)!r} stored)"
            )
