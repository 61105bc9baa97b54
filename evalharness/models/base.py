"""The Model protocol every backend implements.

Backends take whole lists so they can sort, batch and parallelise; results come back in
request order, one per request. Example::

    class Echo:
        name = "echo"
        fingerprint = "echo"
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
    """A backend: three list-in, list-out methods, each named by one capability.

    Every method returns exactly one result per request, in request order, whatever order
    the backend ran them in. A request that fails while it is served (a timeout, a server
    error, an unreadable reply) comes back as its result with ``error`` set (no texts, a zero
    score), which the runner stores as a failed sample; it is not raised, so one bad request
    does not lose the others. A backend raises (``ModelError``) only for a list it cannot
    serve at all: a method outside ``capabilities``, a request it can never honour (a chat
    prompt without a chat template, a sampling setting the API cannot send), or a fault of
    its own (out of device memory on a single request).
    """

    # Shown to people and stored with a run: the spec and where it points (``hf:<path>@rev``,
    # ``openai:<model>@host:port``, ``embedded:<folder>``).
    name: str
    # The response cache's key for this model: two models that could answer a request
    # differently must differ here. Backends with no stronger identity use ``name``; the
    # scripted model adds a hash of its script.
    fingerprint: str
    # The methods this backend serves, of GENERATE, LOGLIKELIHOOD and ROLLING; the runner
    # refuses a task that needs another before any request is sent.
    capabilities: frozenset[str]

    def generate(self, requests: list[GenerateRequest]) -> list[Generation]:
        """One ``Generation`` per request, in request order, with ``sampling.n`` texts each.

        Where the backend draws the samples itself (transformers), a seeded request's k-th
        sample comes from its own stream keyed on (seed, ``request.item`` or its position, k)
        (``requests.stream_seed``), so it does not depend on the batch it ran in; a remote
        backend passes the seed on to the server. A failed request has ``error`` set and no
        texts.
        """
        ...

    def loglikelihood(self, requests: list[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        """log P(continuation | context) per request, in request order.

        The continuation is scored as written after the context: nothing is inserted between
        them, so a continuation that starts a new word carries its own leading space
        (context ``"Answer:"``, continuation ``" Paris"``). Where the token boundary falls
        is the backend's tokenizer's: the transformers backend moves the context's trailing
        whitespace onto the continuation and takes the continuation's tokens from the joint
        encoding of context + continuation (lm-evaluation-harness's ``_encode_pair``); the
        OpenAI backend sends context + continuation as one text and counts every token that
        ends past the context (a token straddling the boundary belongs to the continuation).
        An empty context is scored after the BOS token (else EOS) by the transformers backend;
        a remote server gives the first prompt token no log-probability, so there it is an
        ``error`` unless the server prepends a BOS token. ``n_tokens`` is the number of
        continuation tokens scored; ``is_greedy`` says each was the argmax. A failed request
        has ``error`` set. A chat context is rendered with the chat template first
        (transformers); ``/v1/completions`` scores text only, so the OpenAI backend refuses it.
        """
        ...

    def loglikelihood_rolling(self, requests: list[RollingRequest]) -> list[RollingResult]:
        """log P(text) per request, in request order, every token scored once.

        Texts longer than the context window are scored in windows. ``n_tokens`` counts the
        tokens scored (a remote server leaves the first one unscored). A failed request has
        ``error`` set.
        """
        ...
