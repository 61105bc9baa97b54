"""The Model protocol every backend implements.

Backends take whole lists so they can sort, batch and parallelise; results come back in
request order. Example::

    class Echo:
        name = "echo"
        capabilities = frozenset({"generate"})

        def generate(self, requests):
            return [Generation(texts=(str(r.prompt),)) for r in requests]
"""

from __future__ import annotations

from typing import Protocol

from evalharness.requests import (
    GenerateRequest,
    Generation,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    RollingRequest,
    RollingResult,
)

GENERATE = "generate"
LOGLIKELIHOOD = "loglikelihood"
ROLLING = "loglikelihood_rolling"


class Model(Protocol):
    name: str  # identity used in the store and the cache key (includes revision or file hash)
    capabilities: frozenset[str]

    def generate(self, requests: list[GenerateRequest]) -> list[Generation]: ...

    def loglikelihood(self, requests: list[LoglikelihoodRequest]) -> list[LoglikelihoodResult]: ...

    def loglikelihood_rolling(self, requests: list[RollingRequest]) -> list[RollingResult]: ...
