"""``--executor ray``: one model replica per Ray actor, driven as a single ``Model``.

``RayPoolModel`` implements the Model protocol by dealing each list of requests out to its
replicas and joining the answers in request order, so the runner, best-of-N by
log-likelihood and judges that use the evaluated model all go through the same pool without
knowing it is there; the runner still stores every chunk as it finishes, so ``--resume``
works as for an in-process run. Requests are dealt longest first, round-robin, so every
replica gets a similar share of the work. A replica whose process dies is restarted by Ray
and its part re-sent (``max_restarts`` / ``max_task_retries``); finished chunks are already
in the store and are never asked for again.

Ray is an optional extra (``pip install evalharness[ray]``); it is imported only here.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, TypeVar

from evalharness.errors import ConfigError, ModelError
from evalharness.modelref import ModelRef
from evalharness.prompts import prompt_text

T = TypeVar("T")
POOL_OPTIONS = ("num_gpus", "num_cpus")  # per-replica resources, not backend options


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError("--executor ray needs Ray: pip install 'evalharness[ray]'") from None
    return ray


class _Replica:
    """The body of one Ray actor: a loaded model answering lists of requests."""

    def __init__(self, ref: ModelRef) -> None:
        self.model = ref.load()

    def identity(self) -> tuple[str, frozenset[str], str, int]:
        return self.model.name, self.model.capabilities, self.model.fingerprint, os.getpid()

    def call(self, method: str, requests: list[Any]) -> list[Any]:
        return getattr(self.model, method)(requests)


def _size(request: Any) -> int:
    """How long a request is, to deal the longest out first."""
    for attr in ("prompt", "context", "text"):
        if hasattr(request, attr):
            extra = len(getattr(request, "continuation", ""))
            return len(prompt_text(getattr(request, attr))) + extra
    return 0


def deal(requests: Sequence[T], n: int) -> list[list[int]]:
    """Request positions for each of ``n`` replicas: longest first, round-robin."""
    order = sorted(range(len(requests)), key=lambda i: -_size(requests[i]))
    return [order[k::n] for k in range(n)]


class RayPoolModel:
    """``replicas`` copies of ``ref`` on a Ray cluster (``address``; a local Ray when None)."""

    def __init__(self, ref: ModelRef, replicas: int = 1, address: str | None = None) -> None:
        ray = _ray()
        resources = {k: ref.options[k] for k in POOL_OPTIONS if k in ref.options}
        backend = ModelRef(ref.spec, {k: v for k, v in ref.options.items() if k not in resources})
        backend.check()
        if not ray.is_initialized():
            ray.init(address=address or os.environ.get("RAY_ADDRESS"), include_dashboard=False,
                     log_to_driver=False)  # fmt: skip
        actor = ray.remote(max_restarts=-1, max_task_retries=-1, **resources)(_Replica)
        self.replicas = [actor.remote(backend) for _ in range(replicas)]
        try:
            identities = ray.get([r.identity.remote() for r in self.replicas])
        except ray.exceptions.RayError as exc:
            raise ModelError(f"model {ref.spec!r} failed to load on a Ray replica: {exc}") from None
        self.name, self.capabilities, self.fingerprint, _ = identities[0]
        self.pids = [pid for *_, pid in identities]  # lets a test kill a replica's process

    def _map(self, method: str, requests: list[T]) -> list[Any]:
        if not requests:
            return []
        ray = _ray()
        shares = [share for share in deal(requests, len(self.replicas)) if share]
        futures = [
            replica.call.remote(method, [requests[i] for i in share])
            for replica, share in zip(self.replicas, shares, strict=False)
        ]
        out: list[Any] = [None] * len(requests)
        for share, answers in zip(shares, ray.get(futures), strict=True):
            for i, answer in zip(share, answers, strict=True):
                out[i] = answer
        return out

    def generate(self, requests: list[Any]) -> list[Any]:
        return self._map("generate", requests)

    def loglikelihood(self, requests: list[Any]) -> list[Any]:
        return self._map("loglikelihood", requests)

    def loglikelihood_rolling(self, requests: list[Any]) -> list[Any]:
        return self._map("loglikelihood_rolling", requests)

    def replica_pids(self) -> list[int]:
        """The OS process of every replica now (a restarted replica has a new one)."""
        return [pid for *_, pid in _ray().get([r.identity.remote() for r in self.replicas])]
