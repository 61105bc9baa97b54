"""An overall deadline per attempt beside the per-read timeout: a trickling server is cut off."""

from __future__ import annotations

import socket
import threading
import time

from evalharness.models.openai_api import OpenAIModel
from evalharness.requests import GenerateRequest


def _trickling_server(stop: threading.Event) -> int:
    """An HTTP server that answers 200 and then sends one body byte every 50 ms, forever."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.2)

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=trickle, args=(conn,), daemon=True).start()
        listener.close()

    def trickle(conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
            conn.sendall(b"Content-Length: 100000\r\n\r\n")
            while not stop.is_set():
                try:
                    conn.sendall(b" ")
                except OSError:
                    return
                time.sleep(0.05)

    threading.Thread(target=serve, daemon=True).start()
    return listener.getsockname()[1]


def test_a_trickling_server_fails_at_the_deadline_not_never() -> None:
    stop = threading.Event()
    port = _trickling_server(stop)
    try:
        model = OpenAIModel(
            "x", base_url=f"http://127.0.0.1:{port}/v1", timeout_s=0.5, max_attempts=1
        )
        started = time.perf_counter()
        (gen,) = model.generate([GenerateRequest("hi")])
        took = time.perf_counter() - started
        assert gen.error is not None and "deadline" in gen.error and "2 s" in gen.error
        assert 1.5 < took < 4.0, took  # 4 x timeout_s, not the 5000 s the trickle would take
        fast = OpenAIModel(
            "x",
            base_url=f"http://127.0.0.1:{port}/v1",
            timeout_s=0.5,
            max_attempts=1,
            deadline_s=0.3,
        )
        started = time.perf_counter()
        (gen,) = fast.generate([GenerateRequest("hi")])
        assert "within 0.3 s" in (gen.error or "") and time.perf_counter() - started < 1.5
    finally:
        stop.set()
