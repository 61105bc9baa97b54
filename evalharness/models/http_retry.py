"""HTTP plumbing for remote backends: concurrent POSTs, one attempt of each, and retries.

``send_all`` runs a list of ``Job``s with ``max_concurrency`` requests in flight and returns one
``Reply`` per job, in order: its value, or the one-line reason it failed for good.

Retries use exponential backoff with full jitter (a uniform delay in ``[0, base * 2**k]``) and
honour ``Retry-After`` (seconds or an HTTP date) on 429/503. Retried: 408, 425, 429 and 5xx
statuses, connection errors and resets, timeouts, malformed JSON or payloads. Anything else
(400 prompt too long, 401 bad key, 404 unknown model) fails at once. Example::

    policy = RetryPolicy(max_attempts=5, backoff_s=0.5)
    data, attempts = await with_retries(
        lambda: post_json(client, "/v1/completions", body), policy, "request 3", rng
    )
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import httpx

T = TypeVar("T")
log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({408, 425, 429})
CLIENT_CONNECTIONS = 8  # per httpx client; see send_all
MAX_REASON = 300  # characters of a server's error message kept in a failure reason


class AttemptError(Exception):
    """One attempt failed; ``retryable`` says whether another attempt may succeed."""

    def __init__(self, reason: str, *, retryable: bool, retry_after: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.retry_after = retry_after


class RequestFailed(Exception):
    """The request failed for good; the message is one line naming the request."""

    def __init__(self, message: str, attempts: int) -> None:
        super().__init__(message)
        self.attempts = attempts


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    backoff_s: float = 0.5  # base of the exponential backoff
    max_backoff_s: float = 30.0
    max_retry_after_s: float = 120.0  # a longer Retry-After is clipped to this

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        ceiling = min(self.max_backoff_s, self.backoff_s * 2 ** (attempt - 1))
        jitter = rng.uniform(0.0, ceiling)
        if retry_after is None:
            return jitter
        return max(min(retry_after, self.max_retry_after_s), jitter)


def one_line(text: str, limit: int = MAX_REASON) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delay-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _status_error(response: httpx.Response, body: str) -> AttemptError:
    status = response.status_code
    retryable = status in RETRY_STATUSES or status >= 500
    retry_after = (
        parse_retry_after(response.headers.get("retry-after")) if status in (429, 503) else None
    )
    detail = _server_message(body)
    reason = f"HTTP {status}" + (f": {detail}" if detail else "")
    return AttemptError(reason, retryable=retryable, retry_after=retry_after)


def _server_message(body: str) -> str:
    """The ``error.message`` of an OpenAI-style error body, else the start of the body."""
    try:
        data = json.loads(body)
    except ValueError:
        return one_line(body, 200)
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return one_line(error["message"], 200)
    if isinstance(error, str):
        return one_line(error, 200)
    detail = data.get("detail") if isinstance(data, dict) else None
    return one_line(json.dumps(detail if detail is not None else data), 200)


def _transport_error(exc: Exception) -> AttemptError:
    if isinstance(exc, httpx.TimeoutException):
        return AttemptError(f"timeout ({type(exc).__name__})", retryable=True)
    text = str(exc)
    return AttemptError(
        f"{type(exc).__name__}" + (f": {one_line(text, 200)}" if text else ""), retryable=True
    )


async def post_json(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """One POST returning a JSON object; every failure is an ``AttemptError``."""
    try:
        response = await client.post(path, json=body)
        text = response.text
    except httpx.HTTPError as exc:
        raise _transport_error(exc) from exc
    if response.status_code != 200:
        raise _status_error(response, text)
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise AttemptError(f"malformed JSON: {one_line(text, 80)!r}", retryable=True) from exc
    if not isinstance(data, dict):
        raise AttemptError("malformed response: not a JSON object", retryable=True)
    return data


async def post_events(
    client: httpx.AsyncClient,
    path: str,
    body: dict[str, Any],
    has_content: Callable[[dict[str, Any]], bool],
) -> tuple[list[dict[str, Any]], float | None]:
    """One streamed POST (server-sent events): the JSON events and the time to first token.

    The time to first token is measured from the request start to the first event for which
    ``has_content`` is true.
    """
    started = time.perf_counter()
    first: float | None = None
    events: list[dict[str, Any]] = []
    try:
        async with client.stream("POST", path, json=body) as response:
            if response.status_code != 200:
                text = (await response.aread()).decode("utf-8", errors="replace")
                raise _status_error(response, text)
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue
                payload = line[5:].strip()
                if payload == "[DONE]":
                    return events, first
                try:
                    event = json.loads(payload)
                except ValueError as exc:
                    raise AttemptError(
                        f"malformed JSON in stream: {one_line(payload, 80)!r}", retryable=True
                    ) from exc
                if not isinstance(event, dict):
                    raise AttemptError("malformed stream event: not a JSON object", retryable=True)
                if first is None and has_content(event):
                    first = time.perf_counter() - started
                events.append(event)
    except httpx.HTTPError as exc:
        raise _transport_error(exc) from exc
    if not events:
        raise AttemptError("stream ended without any event", retryable=True)
    return events, first  # a server that omits [DONE]: accept what it sent


async def with_retries(
    attempt: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    label: str,
    rng: random.Random,
) -> tuple[T, int]:
    """``attempt()`` until it succeeds or the policy gives up; returns (value, attempts).

    Raises ``RequestFailed`` with a one-line reason: ``label``, attempts and the last error.
    """
    for number in range(1, policy.max_attempts + 1):
        try:
            return await attempt(), number
        except AttemptError as exc:
            last = exc
        if not last.retryable:
            raise RequestFailed(f"{label}: {last.reason} (not retried)", number) from None
        if number < policy.max_attempts:
            wait = policy.delay(number, last.retry_after, rng)
            log.debug(
                "%s: attempt %d/%d failed (%s); retrying in %.2f s",
                label,
                number,
                policy.max_attempts,
                last.reason,
                wait,
            )
            await asyncio.sleep(wait)
    attempts = policy.max_attempts
    raise RequestFailed(f"{label}: failed after {attempts} attempt(s): {last.reason}", attempts)


DEADLINE_FACTOR = 4.0  # an attempt's overall deadline, in units of the per-read timeout


@dataclass
class Job:
    """One POST. ``parse`` turns the JSON payload into the value (``AttemptError`` if it
    cannot); a streamed job also has ``assemble`` (events -> payload) and ``has_content``."""

    path: str  # relative to the base URL
    body: dict[str, Any]
    parse: Callable[[dict[str, Any]], Any]
    assemble: Callable[[list[dict[str, Any]]], dict[str, Any]] | None = None
    has_content: Callable[[dict[str, Any]], bool] | None = None


@dataclass
class Reply:
    value: Any = None
    error: str | None = None  # one line naming the request; None when ``value`` is set
    attempts: int = 0
    latency_s: float = 0.0  # the successful attempt
    total_s: float = 0.0  # including failed attempts and waits
    ttft_s: float | None = None  # streamed jobs: time to the first event with content
    usage: dict[str, Any] = field(default_factory=dict)  # the payload's ``usage``


async def send_all(
    jobs: list[Job],
    *,
    base_url: str,
    headers: dict[str, str],
    max_concurrency: int,
    timeout_s: float,
    policy: RetryPolicy,
    deadline_s: float | None = None,
) -> list[Reply]:
    """Every job, ``max_concurrency`` at a time; replies in job order.

    ``deadline_s`` caps each attempt as a whole (default ``DEADLINE_FACTOR * timeout_s``): a
    server trickling a byte at a time never trips the per-read timeout but trips this.

    Workers take jobs in order and each keeps to one ``httpx.AsyncClient`` of at most
    ``CLIENT_CONNECTIONS`` connections: httpcore's pool does O(connections**2) housekeeping
    per request (3.9 ms of CPU per request in one pool of 32, 1.35 ms in pools of 8, measured
    on this project's 2-core machines), which capped throughput. ``timeout_s`` applies to each
    attempt's connect, write and each wait for response bytes.
    """
    workers = min(max_concurrency, len(jobs))
    if not workers:
        return []
    n_clients = -(-workers // CLIENT_CONNECTIONS)
    per_client = -(-workers // n_clients)
    limits = httpx.Limits(max_connections=per_client, max_keepalive_connections=per_client)
    timeout = httpx.Timeout(timeout_s, pool=None)
    deadline = deadline_s if deadline_s is not None else DEADLINE_FACTOR * timeout_s
    # One TLS context for all clients (loading CA certificates costs ~0.2 s); none for http.
    tls: Any = base_url.startswith("https") and httpx.create_ssl_context()
    prefix = httpx.URL(base_url).path.rstrip("/")
    rng = random.Random()
    replies = [Reply() for _ in jobs]
    todo = iter(enumerate(jobs))  # shared by the workers: one event loop, no locking
    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(
                httpx.AsyncClient(
                    base_url=base_url.rstrip("/") + "/",
                    headers=headers,
                    timeout=timeout,
                    limits=limits,
                    verify=tls,
                )
            )
            for _ in range(n_clients)
        ]

        async def worker(client: httpx.AsyncClient) -> None:
            for index, job in todo:
                label = f"request {index} POST {prefix}/{job.path}"
                await _call(client, job, replies[index], label, policy, rng, deadline)

        await asyncio.gather(*(worker(clients[w % n_clients]) for w in range(workers)))
    return replies


async def _call(
    client: httpx.AsyncClient,
    job: Job,
    reply: Reply,
    label: str,
    policy: RetryPolicy,
    rng: random.Random,
    deadline_s: float,
) -> None:
    async def attempt() -> Any:
        try:
            return await asyncio.wait_for(timed(), deadline_s)
        except TimeoutError:  # asyncio.TimeoutError is TimeoutError on 3.11
            raise AttemptError(
                f"deadline: no complete response within {deadline_s:g} s", retryable=True
            ) from None

    async def timed() -> Any:
        begun = time.perf_counter()
        if job.assemble is not None:
            has_content = job.has_content or (lambda event: True)
            events, ttft = await post_events(client, job.path, job.body, has_content)
            data = job.assemble(events)
        else:
            data, ttft = await post_json(client, job.path, job.body), None
        value = job.parse(data)
        reply.latency_s, reply.ttft_s = time.perf_counter() - begun, ttft
        usage = data.get("usage")
        reply.usage = usage if isinstance(usage, dict) else {}
        return value

    started = time.perf_counter()
    try:
        reply.value, reply.attempts = await with_retries(attempt, policy, label, rng)
    except RequestFailed as exc:
        reply.error, reply.attempts = str(exc), exc.attempts
    reply.total_s = time.perf_counter() - started


def run_sync(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion from sync code, also when a loop already runs here."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(make())
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name="evalharness-http")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]
