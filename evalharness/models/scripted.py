"""A deterministic scripted model: fixed generations and log-likelihoods, no weights.

It keeps unit tests of the runner, store and CLI fast; every backend is also tested against
a real model. Log-likelihoods come from a hash of the text, so they are stable across runs.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping

from evalharness.errors import ConfigError
from evalharness.prompts import prompt_text
from evalharness.requests import (
    GenerateRequest,
    Generation,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    RollingRequest,
    RollingResult,
)


def _unit(text: str) -> float:
    """A stable number in [0, 1) for a text."""
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) / 2**32


def _check_options(answers: object, default: object, delay_s: object, log_path: object) -> None:
    """Options come from YAML or ``k=v`` text: a mistyped one is named, not a traceback later."""
    where = "model 'scripted'"
    if answers is not None and not (
        isinstance(answers, Mapping) and all(isinstance(v, str) for v in answers.values())
    ):
        raise ConfigError(f"{where}: answers must map prompts to answer strings")
    if not isinstance(default, str):
        raise ConfigError(f"{where}: default must be a string, got {default!r}")
    number = isinstance(delay_s, int | float) and not isinstance(delay_s, bool)
    if not number or not 0 <= delay_s < float("inf"):  # type: ignore[operator]
        raise ConfigError(f"{where}: delay_s must be a number of seconds >= 0, got {delay_s!r}")
    if log_path is not None and not isinstance(log_path, str):
        raise ConfigError(f"{where}: log_path must be a file path, got {log_path!r}")


class ScriptedModel:
    capabilities = frozenset({"generate", "loglikelihood", "loglikelihood_rolling"})

    def __init__(
        self,
        answers: Mapping[str, str] | None = None,
        default: str = "",
        name: str = "scripted",
        delay_s: float = 0.0,
        log_path: str | None = None,
    ) -> None:
        _check_options(answers, default, delay_s, log_path)
        self.answers = dict(answers or {})  # rendered prompt text -> generation
        self.default = default
        self.name = name
        self.delay_s = delay_s  # per generate call: lets a test kill a run mid-way
        self.log_path = log_path  # every generated prompt is appended here (one JSON line each)
        self.calls: list[str] = []  # which method was called with how many requests, for tests
        # The cache identity: two scripted models with other answers must not share responses.
        script = json.dumps([sorted(self.answers.items()), default], ensure_ascii=False)
        self.fingerprint = f"{name}#{hashlib.sha256(script.encode()).hexdigest()[:16]}"

    def generate(self, requests: list[GenerateRequest]) -> list[Generation]:
        self.calls.append(f"generate:{len(requests)}")
        time.sleep(self.delay_s)
        if self.log_path:
            with open(self.log_path, "a", encoding="utf-8") as log:
                log.writelines(json.dumps(prompt_text(r.prompt)) + "\n" for r in requests)
        out = []
        for request in requests:
            text = self.answers.get(prompt_text(request.prompt), self.default)
            out.append(
                Generation(texts=(text,) * request.sampling.n, completion_tokens=len(text.split()))
            )
        return out

    def loglikelihood(self, requests: list[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        self.calls.append(f"loglikelihood:{len(requests)}")
        out = []
        for r in requests:
            n = max(1, len(r.continuation.split()))
            logprob = -n * (1.0 + _unit(prompt_text(r.context) + "\x00" + r.continuation))
            out.append(LoglikelihoodResult(logprob=logprob, is_greedy=False, n_tokens=n))
        return out

    def loglikelihood_rolling(self, requests: list[RollingRequest]) -> list[RollingResult]:
        self.calls.append(f"loglikelihood_rolling:{len(requests)}")
        out = []
        for r in requests:
            n = len(r.text.split())
            out.append(RollingResult(logprob=-n * (2.0 + _unit(r.text)), n_tokens=n))
        return out
