"""Any OpenAI-compatible HTTP API (vLLM, TGI, llama.cpp server, Ollama, OpenAI) as a Model.

Spec ``openai:<model>``; chat prompts go to ``/v1/chat/completions``, string prompts to
``/v1/completions``. Requests run concurrently (``max_concurrency``) with per-request timeouts
and retries (see ``http_retry``); a request that still fails comes back as a result with
``error`` set, which the runner stores as a failed sample. The API key is read from the
environment variable named by ``api_key_env`` at each call and is never stored or logged.
Options are checked in ``openai_options``, request bodies built in ``openai_requests``, replies
read in ``openai_scoring`` and ``json_schema`` forms chosen in ``openai_structured``; this
module holds the model: which jobs to send, and the results made from their replies.

Log-likelihoods (``logprobs=True``) need a server that echoes prompt log-probabilities from
``/v1/completions`` with ``echo: true, logprobs: 1`` (llama.cpp, vLLM; not chat-only hosted
APIs). The server's tokenizer decides the token boundaries, so a token that straddles the end
of the context is counted in the continuation. Servers report no log-probability for the
first prompt token, so a continuation scored after an empty context gets an error unless the
server prepends a BOS token; a rolling log-likelihood leaves that first token unscored (its
``n_tokens`` counts only scored tokens). Check a server's scores against a local backend once
before trusting them: llama-cpp-python 0.3.36 echoes them one position late for models that add
no BOS token (SmolLM2), a server bug no client can undo. Example::

    model = OpenAIModel("smollm2", base_url="http://127.0.0.1:8000/v1", logprobs=True)
    model.generate([GenerateRequest("The capital of France is")])
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from evalharness.errors import ConfigError, ModelError
from evalharness.models.base import GENERATE, LOGLIKELIHOOD, ROLLING
from evalharness.models.http_retry import Job, Reply, RetryPolicy, run_sync, send_all
from evalharness.models.openai_options import (
    check_api_key_env,
    check_base_url,
    check_flags,
    check_number,
    check_prices,
)
from evalharness.models.openai_requests import (
    IGNORES_N,
    generate_job,
    loglikelihood_job,
    rolling_job,
)
from evalharness.models.openai_structured import (
    StructuredState,
    check_mode,
    conforms,
    rejected,
)
from evalharness.requests import (
    GenerateRequest,
    Generation,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    RollingRequest,
    RollingResult,
    Sampling,
    stream_seed,
)

log = logging.getLogger(__name__)


class OpenAIModel:
    """A model behind an OpenAI-compatible API. Options are described in ``__init__``."""

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        max_concurrency: int = 32,
        timeout_s: float = 600.0,
        max_attempts: int = 5,
        backoff_s: float = 0.5,
        logprobs: bool = False,
        prices: dict[str, float] | None = None,
        stream: bool = False,
        extra_sampling: bool = False,
        deadline_s: float | None = None,
        structured_output: str = "auto",
    ) -> None:
        """``base_url``: else ``$OPENAI_BASE_URL``, else OpenAI (``/v1`` is added to a bare
        host). ``api_key_env``: the NAME of the variable holding the key. ``timeout_s``: per
        attempt, without progress. ``backoff_s``: base of the exponential backoff.
        ``logprobs``: the server echoes prompt log-probabilities (enables scoring).
        ``prices``: $ per 1M tokens, ``{"prompt": .., "completion": ..}``. ``stream``: stream
        generations and record the time to first token. ``extra_sampling``: send ``top_k``
        (vLLM, llama.cpp accept it); without it a request with ``top_k`` is refused.
        ``deadline_s``: an attempt's whole duration (default 4 x ``timeout_s``).
        ``structured_output``: how a ``json_schema`` request is sent (``openai_structured``).
        """
        where = f"model openai:{model}"
        if not model:
            raise ConfigError("model spec 'openai:' needs a model name: openai:<model>")
        check_api_key_env(where, api_key_env)
        check_number(where, "max_concurrency", max_concurrency, 1, integer=True)
        check_number(where, "timeout_s", timeout_s, 1e-3)
        check_number(where, "max_attempts", max_attempts, 1, integer=True)
        check_number(where, "backoff_s", backoff_s, 0.0)
        if deadline_s is not None:
            check_number(where, "deadline_s", deadline_s, 1e-3)
        self.deadline_s = None if deadline_s is None else float(deadline_s)
        check_flags(where, logprobs, stream, extra_sampling)
        self.prices = check_prices(where, prices)
        mode = check_mode(where, structured_output)
        self.base_url, host, port = check_base_url(where, base_url)
        self.model = model
        self.name = f"openai:{model}@{host}:{port}"
        self.fingerprint = self.name  # nothing stronger is known about a remote model
        self.api_key_env = api_key_env
        self.max_concurrency = max_concurrency
        self.timeout_s = float(timeout_s)
        self.policy = RetryPolicy(max_attempts=max_attempts, backoff_s=float(backoff_s))
        self.stream = stream
        self.extra_sampling = extra_sampling
        self.structured = StructuredState(self.name, mode)
        scoring = {LOGLIKELIHOOD, ROLLING} if logprobs else set()
        self.capabilities = frozenset({GENERATE, *scoring})
        # Running totals over this object's life, for a caller that wants them in a run record.
        self.usage = {"requests": 0, "failed": 0, "prompt_tokens": 0, "completion_tokens": 0}
        self.cost_usd = 0.0
        self.honours_n: bool | None = None  # False once the server answered n > 1 with one choice

    def __repr__(self) -> str:
        return f"OpenAIModel({self.name!r})"

    # -- generation -----------------------------------------------------------------------

    def generate(self, requests: list[GenerateRequest]) -> list[Generation]:
        """One HTTP request per generate request (greedy ``n > 1`` is decoded once).

        A server that answers ``n > 1`` with one choice (the llama.cpp server ignores ``n``)
        is detected on the first such reply; those requests, and every later one, are sent as
        ``n`` requests of one sample each (a seeded request's k-th with its own seed).
        """
        for i, request in enumerate(requests):
            self._check_sampling(i, request.sampling)
        out = self._generate_all(requests)
        ignored = [i for i, gen in enumerate(out) if gen.error and IGNORES_N in gen.error]
        if ignored and self.honours_n is not False:
            self.honours_n = False
            log.info("%s ignores n; sending n requests of one sample instead", self.name)
            again = self._generate_all([requests[i] for i in ignored])
            for i, gen in zip(ignored, again, strict=True):
                out[i] = gen
        return out

    def _generate_all(self, requests: list[GenerateRequest]) -> list[Generation]:
        probed = self._detect_structured(requests)
        jobs, owners = [], []
        for i, request in enumerate(requests):
            if i in probed:
                continue
            s = request.sampling
            n = 1 if s.greedy else s.n  # greedy samples are identical
            if n > 1 and self.honours_n is False:
                for k in range(n):
                    item = request.item if request.item is not None else i
                    seed = None if s.seed is None else stream_seed(s.seed, item, k) % 2**31
                    jobs.append(self._generate_job(request, 1, seed))
                    owners.append(i)
            else:
                jobs.append(self._generate_job(request, n, s.seed))
                owners.append(i)
        grouped: list[list[Reply]] = [[] for _ in requests]
        for i, reply in probed.items():
            grouped[i].append(reply)
        for owner, reply in zip(owners, self._send(jobs), strict=True):
            grouped[owner].append(reply)
        return [self._generation(r, rs) for r, rs in zip(requests, grouped, strict=True)]

    def _detect_structured(self, requests: list[GenerateRequest]) -> dict[int, Reply]:
        """``auto``: send the first constrained request in each form until one is honoured."""
        first = next((i for i, r in enumerate(requests) if r.sampling.json_schema), None)
        if first is None or self.structured.settled:
            return {}
        s = requests[first].sampling
        n = 1 if s.greedy else s.n
        kept: dict[int, Reply] = {}
        for mode in self.structured.candidates():
            [reply] = self._send([self._generate_job(requests[first], n, s.seed, mode)])
            if rejected(reply.error):
                continue
            if reply.error is not None:  # a fault, not a verdict on the form: ask again later
                return {first: reply}
            if conforms(reply.value[0], s.json_schema or ""):
                self.structured.settle(mode)
                return {first: reply}
            kept = {first: reply}  # the server ignored the form; keep its free answer
        self.structured.settle("none")
        return kept

    def _check_sampling(self, index: int, sampling: Sampling) -> None:
        if sampling.top_k is not None and not self.extra_sampling:
            raise ModelError(
                f"{self.name}: request {index} sets top_k={sampling.top_k}, which the OpenAI API "
                "cannot honour; set the model option extra_sampling: true for servers that "
                "accept top_k (vLLM, llama.cpp) or remove top_k"
            )

    def _generate_job(
        self, request: GenerateRequest, n: int, seed: int | None, mode: str | None = None
    ) -> Job:
        mode = mode or self.structured.mode
        return generate_job(self.model, request, n, seed, self.stream, mode)

    def _generation(self, request: GenerateRequest, replies: list[Reply]) -> Generation:
        """One Generation from the reply (or the n one-sample replies) of a request."""
        total_s = max(r.total_s for r in replies)
        meta: dict[str, Any] = {"attempts": sum(r.attempts for r in replies), "total_s": total_s}
        if len(replies) > 1:
            meta["requests"] = len(replies)
        if self.stream:
            ttfts = [r.ttft_s for r in replies if r.ttft_s is not None]
            meta["ttft_s"] = min(ttfts) if ttfts else None
        if request.sampling.json_schema is not None:
            meta["structured_output"] = self.structured.label()
        error = next((r.error for r in replies if r.error is not None), None)
        if error is not None:
            return Generation(texts=(), latency_s=total_s, error=error, meta=meta)
        usage = {
            key: sum(int(r.usage.get(key) or 0) for r in replies)
            for key in ("prompt_tokens", "completion_tokens")
        }
        texts = tuple(text for r in replies for text in r.value)
        s = request.sampling
        completion_tokens = usage["completion_tokens"]
        if s.greedy and s.n > 1:
            completion_tokens *= s.n
            texts = texts * s.n
        if self.prices is not None:
            meta["cost_usd"] = self._cost(usage)
        return Generation(
            texts=texts,
            prompt_tokens=usage["prompt_tokens"],
            completion_tokens=completion_tokens,
            latency_s=max(r.latency_s for r in replies),
            meta=meta,
        )

    # -- scoring --------------------------------------------------------------------------

    def loglikelihood(self, requests: list[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        """log P(continuation | context) from the echoed log-probabilities of context+cont."""
        self._require(LOGLIKELIHOOD)
        for i, request in enumerate(requests):
            if not isinstance(request.context, str):
                raise ModelError(
                    f"{self.name}: request {i} has a chat context; /v1/completions scores text "
                    "only, so use a task with format: completion with this backend"
                )
        jobs = [
            loglikelihood_job(self.model, r.context, r.continuation)  # type: ignore[arg-type]
            for r in requests  # every context is a string: checked above
        ]
        out = []
        for reply in self._send(jobs):
            if reply.error is not None:
                out.append(LoglikelihoodResult(0.0, False, 0, reply.error, **self._billing(reply)))
            else:
                logprob, greedy, n_tokens = reply.value
                out.append(LoglikelihoodResult(logprob, greedy, n_tokens, **self._billing(reply)))
        return out

    def loglikelihood_rolling(self, requests: list[RollingRequest]) -> list[RollingResult]:
        """log P(text): the sum of every echoed token log-probability the server reports."""
        self._require(ROLLING)
        jobs = [rolling_job(self.model, r.text) for r in requests]
        out = []
        for reply in self._send(jobs):
            if reply.error is not None:
                out.append(RollingResult(0.0, 0, reply.error, **self._billing(reply)))
            else:
                out.append(RollingResult(*reply.value, **self._billing(reply)))
        return out

    def _billing(self, reply: Reply) -> dict[str, Any]:
        """Tokens the server reports for a scoring request, and their cost under ``prices``."""
        meta = {"cost_usd": self._cost(reply.usage)} if self.prices is not None else {}
        return {
            "prompt_tokens": int(reply.usage.get("prompt_tokens") or 0),
            "completion_tokens": int(reply.usage.get("completion_tokens") or 0),
            "meta": meta,
        }

    def _require(self, capability: str) -> None:
        if capability not in self.capabilities:
            raise ModelError(
                f"{self.name} cannot score {capability}: enable the option logprobs: true if "
                "the server returns prompt log-probabilities (echo with logprobs)"
            )

    # -- transport ------------------------------------------------------------------------

    def _send(self, jobs: list[Job]) -> list[Reply]:
        if not jobs:
            return []
        started = time.perf_counter()
        key = os.environ.get(self.api_key_env)
        replies = run_sync(
            lambda: send_all(
                jobs,
                base_url=self.base_url,
                headers={"Authorization": f"Bearer {key}"} if key else {},
                max_concurrency=self.max_concurrency,
                timeout_s=self.timeout_s,
                policy=self.policy,
                deadline_s=self.deadline_s,
            )
        )
        failed = 0
        for reply in replies:
            if reply.error is not None:
                failed += 1
                if key:
                    reply.error = reply.error.replace(key, "***")
            self.usage["prompt_tokens"] += int(reply.usage.get("prompt_tokens") or 0)
            self.usage["completion_tokens"] += int(reply.usage.get("completion_tokens") or 0)
            self.cost_usd += self._cost(reply.usage) if self.prices else 0.0
        self.usage["requests"] += len(jobs)
        self.usage["failed"] += failed
        log.info(
            "%s: %d request(s), %d failed, %.1f s",
            self.name,
            len(jobs),
            failed,
            time.perf_counter() - started,
        )
        return replies

    def _cost(self, usage: dict[str, Any]) -> float:
        prices = self.prices or {}
        prompt = int(usage.get("prompt_tokens") or 0) * prices.get("prompt", 0.0)
        completion = int(usage.get("completion_tokens") or 0) * prices.get("completion", 0.0)
        return (prompt + completion) / 1e6
