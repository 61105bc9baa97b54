"""Building the HTTP jobs ``OpenAIModel`` sends: request bodies and the parser of each reply.

A generate request becomes a ``/v1/chat/completions`` job (chat prompt) or a
``/v1/completions`` job (string prompt); a scoring request becomes a ``/v1/completions`` job
that echoes the prompt's log-probabilities. Reading the replies is ``openai_scoring``'s.
"""

from __future__ import annotations

import functools
from typing import Any

from evalharness.models.http_retry import AttemptError, Job
from evalharness.models.openai_scoring import (
    assemble_stream,
    choice_texts,
    continuation_score,
    echoed_tokens,
    rolling_score,
    stream_has_content,
)
from evalharness.models.openai_structured import apply as apply_schema
from evalharness.requests import GenerateRequest

IGNORES_N = "the server ignores n"
CHAT, COMPLETIONS = "chat/completions", "completions"


def generate_job(
    model: str, request: GenerateRequest, n: int, seed: int | None, stream: bool, mode: str
) -> Job:
    """``n`` samples of ``request`` with ``seed``; ``mode`` sends its ``json_schema``."""
    s = request.sampling
    chat = not isinstance(request.prompt, str)
    body: dict[str, Any] = {
        "model": model,
        "temperature": s.temperature,
        "max_tokens": s.max_tokens,
    }
    body["messages" if chat else "prompt"] = list(request.prompt) if chat else request.prompt
    if s.top_p is not None:
        body["top_p"] = s.top_p
    if s.stop:
        body["stop"] = list(s.stop)
    if seed is not None:
        body["seed"] = seed
    if n > 1:
        body["n"] = n
    if s.top_k is not None:
        body["top_k"] = s.top_k
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    if s.json_schema is not None:
        body = apply_schema(body, s.json_schema, mode, chat)

    def parse(data: dict[str, Any]) -> tuple[str, ...]:
        texts = choice_texts(data, chat)
        if len(texts) == 1 and n > 1:
            why = f"server returned 1 choice for n={n}: {IGNORES_N}"
            raise AttemptError(why, retryable=False)
        if len(texts) != n:
            raise AttemptError(
                f"server returned {len(texts)} choice(s) for n={n} (does it support n?)",
                retryable=False,
            )
        return tuple(texts)

    job = Job(CHAT if chat else COMPLETIONS, body, parse)
    if stream:
        job.assemble = functools.partial(assemble_stream, chat=chat)
        job.has_content = stream_has_content
    return job


def loglikelihood_job(model: str, context: str, continuation: str) -> Job:
    """Parses to ``(logprob, is_greedy, n_tokens)`` of the tokens past the context."""

    def parse(data: dict[str, Any]) -> Any:
        return continuation_score(echoed_tokens(data, context + continuation), len(context))

    return Job(COMPLETIONS, echo_body(model, context + continuation), parse)


def rolling_job(model: str, text: str) -> Job:
    """Parses to ``(logprob, n_tokens)``: every echoed token with a log-probability."""

    def parse(data: dict[str, Any]) -> Any:
        return rolling_score(echoed_tokens(data, text))

    return Job(COMPLETIONS, echo_body(model, text), parse)


def echo_body(model: str, prompt: str) -> dict[str, Any]:
    # max_tokens 1, not 0: llama.cpp reads 0 as "until the context is full".
    return {
        "model": model,
        "prompt": prompt,
        "max_tokens": 1,
        "temperature": 0.0,
        "echo": True,
        "logprobs": 1,
    }
