"""Loopback HTTP servers for testing remote backends: a fake OpenAI API and a faulty proxy.

``FakeOpenAI`` answers ``/v1/completions`` and ``/v1/chat/completions`` instantly (or after a
fixed ``latency_s``) and deterministically from the prompt (``fake_answer``); with ``echo``
and ``logprobs`` it returns word-level prompt log-probabilities (``fake_logprob``).

``FaultyProxy`` forwards to an upstream and injects, with a seeded RNG at set rates, 429 with
``Retry-After``, 500, connection resets, hangs past the client's timeout and malformed JSON.

Both are small asyncio HTTP/1.1 servers (keep-alive, ``Content-Length`` request bodies) run
in a background thread. ``python -m tests.support.faulty_proxy --latency 0.2`` serves a fake API
until killed (the throughput benchmark runs it in its own process).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import re
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

FAULTS = ("429", "500", "reset", "timeout", "malformed")


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"{}")


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    chunks: list[bytes] | None = None  # sent with chunked encoding, ``chunk_delay_s`` apart
    chunk_delay_s: float = 0.0


RESET = "reset"  # a handler returns this to abort the connection with a TCP RST


@dataclass
class Hang:
    seconds: float  # hold the connection this long without answering, then close it


Handler = Callable[[Request], Awaitable[Response | Hang | str]]


class LoopbackServer:
    """An asyncio HTTP/1.1 server on 127.0.0.1 in a daemon thread."""

    def __init__(self, handler: Handler, port: int = 0) -> None:
        self.handler = handler
        self.port = port
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LoopbackServer:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._listen(), self.loop)
        future.result(timeout=10)
        return self

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port, backlog=512)
        self.port = self._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    return
                action = await self.handler(request)
                if action == RESET:
                    sock = writer.get_extra_info("socket")
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    writer.transport.abort()
                    return
                if isinstance(action, Hang):
                    await asyncio.sleep(action.seconds)
                    return
                assert isinstance(action, Response)
                await _write_response(writer, action)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            return
        finally:
            writer.close()


async def _read_request(reader: asyncio.StreamReader) -> Request | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            key, value = line.split(":", 1)
            headers[key.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return Request(method, path, headers, body)


async def _write_response(writer: asyncio.StreamWriter, response: Response) -> None:
    headers = {"content-type": "application/json", **response.headers}
    if response.chunks is None:
        headers["content-length"] = str(len(response.body))
    else:
        headers["transfer-encoding"] = "chunked"
    head = f"HTTP/1.1 {response.status} X\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in headers.items()
    )
    writer.write(head.encode("latin-1") + b"\r\n")
    if response.chunks is None:
        writer.write(response.body)
    else:
        for chunk in response.chunks:
            writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            await writer.drain()
            await asyncio.sleep(response.chunk_delay_s)
        writer.write(b"0\r\n\r\n")
    await writer.drain()


def _json(data: Any, status: int = 200, **headers: str) -> Response:
    return Response(status, json.dumps(data).encode(), headers)


# -- the fake OpenAI-compatible upstream --------------------------------------------------------


def _unit(text: str) -> float:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) / 2**32


def fake_answer(prompt: str) -> str:
    """The fake server's completion: the prompt's last word, or "nope" for about 1 in 4."""
    words = prompt.split()
    return "nope" if not words or _unit(prompt) < 0.25 else words[-1]


def fake_tokens(text: str) -> list[tuple[int, str]]:
    """(offset, token) pairs: a token is a word with its leading whitespace."""
    return [(m.start(), m.group()) for m in re.finditer(r"\s*\S+", text)]


def fake_logprob(prefix: str, token: str) -> float:
    return -4.0 * _unit(prefix + "\x00" + token) - 0.01


class FakeOpenAI:
    """A deterministic OpenAI-compatible API; ``bodies`` keeps every request body received."""

    def __init__(self, latency_s: float = 0.0, port: int = 0) -> None:
        self.latency_s = latency_s
        self.bodies: list[dict[str, Any]] = []
        self.server = LoopbackServer(self.handle, port)

    @property
    def url(self) -> str:
        return self.server.url + "/v1"

    def __enter__(self) -> FakeOpenAI:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()

    async def handle(self, request: Request) -> Response:
        if request.method == "GET" and request.path == "/v1/models":
            return _json({"object": "list", "data": [{"id": "fake", "object": "model"}]})
        if request.method != "POST" or request.path not in (
            "/v1/completions",
            "/v1/chat/completions",
        ):
            return _json({"error": {"message": f"no route {request.path}"}}, 404)
        body = request.json()
        self.bodies.append(body)
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        chat = request.path.endswith("chat/completions")
        prompt = body["messages"][-1]["content"] if chat else body["prompt"]
        text = fake_answer(prompt)
        n = int(body.get("n", 1))
        choice: dict[str, Any] = {"index": 0, "finish_reason": "stop"}
        if chat:
            choice["message"] = {"role": "assistant", "content": text}
        elif body.get("echo"):
            choice["text"] = prompt + " x"
            choice["logprobs"] = _echo_logprobs(prompt)
        else:
            choice["text"] = text
        usage = {"prompt_tokens": len(prompt.split()), "completion_tokens": len(text.split()) * n}
        data = {"object": "chat.completion" if chat else "text_completion", "usage": usage}
        data["choices"] = [{**choice, "index": i} for i in range(n)]
        if body.get("stream"):
            return _stream(text, chat, usage)
        return _json(data)


def _echo_logprobs(prompt: str) -> dict[str, Any]:
    tokens = [*fake_tokens(prompt), (len(prompt), " x")]
    logprobs = [None] + [fake_logprob(prompt[:o], t) for o, t in tokens[1:]]
    tops = [None] + [
        {t: lp, " the": -0.5} for (_, t), lp in zip(tokens[1:], logprobs[1:], strict=True)
    ]
    return {
        "tokens": [t for _, t in tokens],
        "text_offset": [o for o, _ in tokens],
        "token_logprobs": logprobs,
        "top_logprobs": tops,
    }


def _stream(text: str, chat: bool, usage: dict[str, int]) -> Response:
    pieces = [m.group() for m in re.finditer(r"\s*\S+", text)] or [""]
    events = []
    for piece in pieces:
        choice = {"index": 0, "delta": {"content": piece}} if chat else {"index": 0, "text": piece}
        events.append({"choices": [choice]})
    events.append({"choices": [], "usage": usage})
    chunks = [f"data: {json.dumps(e)}\n\n".encode() for e in events] + [b"data: [DONE]\n\n"]
    return Response(200, headers={"content-type": "text/event-stream"}, chunks=chunks)


# -- the faulty proxy ---------------------------------------------------------------------------


class FaultyProxy:
    """Forwards to ``upstream``; injects faults at ``rates`` ({fault: probability}).

    ``script`` lists the faults (or None) for the first requests, before the RNG takes over.
    ``log`` records (monotonic time, fault or None) per request received.
    """

    def __init__(
        self,
        upstream: str,
        rates: dict[str, float] | None = None,
        *,
        seed: int = 0,
        script: list[str | None] | None = None,
        retry_after: str = "1",
        hang_s: float = 2.0,
    ) -> None:
        unknown = set(rates or {}) - set(FAULTS)
        assert not unknown, f"unknown faults {unknown}"
        self.upstream = upstream.rstrip("/")
        self.rates = dict(rates or {})
        self.rng = random.Random(seed)
        self.script = list(script or [])
        self.retry_after = retry_after
        self.hang_s = hang_s
        self.log: list[tuple[float, str | None]] = []
        self.counts: Counter[str] = Counter()
        self.server = LoopbackServer(self.handle)
        self._client: httpx.AsyncClient | None = None

    @property
    def url(self) -> str:
        return self.server.url + "/v1"

    def __enter__(self) -> FaultyProxy:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._client is not None:
            client = self._client
            asyncio.run_coroutine_threadsafe(client.aclose(), self.server.loop).result(10)
        self.server.stop()

    def _pick(self) -> str | None:
        if self.script:
            return self.script.pop(0)
        draw, edge = self.rng.random(), 0.0
        for fault in FAULTS:
            edge += self.rates.get(fault, 0.0)
            if draw < edge:
                return fault
        return None

    async def handle(self, request: Request) -> Response | Hang | str:
        fault = self._pick()
        self.log.append((time.monotonic(), fault))
        self.counts[fault or "ok"] += 1
        if fault == "429":
            error = {"error": {"message": "rate limited"}}
            return _json(error, 429, **{"retry-after": self.retry_after})
        if fault == "500":
            return _json({"error": {"message": "internal error"}}, 500)
        if fault == "reset":
            return RESET
        if fault == "timeout":
            return Hang(self.hang_s)
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=60)
        upstream = await self._client.request(
            request.method,
            self.upstream + request.path.removeprefix("/v1"),
            content=request.body,
            headers={"content-type": request.headers.get("content-type", "application/json")},
        )
        body = upstream.content
        if fault == "malformed":
            body = body[: len(body) // 2]  # JSON cut in half
        return Response(
            upstream.status_code,
            body,
            {"content-type": upstream.headers.get("content-type", "application/json")},
        )


def main() -> None:
    parser = argparse.ArgumentParser(description="serve the fake OpenAI API until killed")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per request")
    args = parser.parse_args()
    fake = FakeOpenAI(latency_s=args.latency, port=args.port)
    with fake:
        print(fake.url, flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    main()
