"""Throughput of the OpenAI-compatible backend against a server with a fixed latency.

A loopback fake OpenAI API (``tests/support/faulty_proxy.py``, in its own process so it does
not share this process's GIL) answers every request after ``--latency`` seconds. ``--requests``
generate requests go through ``OpenAIModel.generate`` at ``--concurrency``; the ideal rate is
concurrency / latency (160 req/s for 32 and 200 ms). Prints the achieved rate and its ratio
to the ideal for each repeat; the target is >= 90%. A bare asyncio-socket client (no HTTP
library, no retries) runs the same load first: on a shared machine its ratio is the ceiling
the machine allows at that moment, so compare against it rather than only against 100%.

    .venv/bin/python benchmarks/remote_throughput.py [--requests 640] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from evalharness.models.openai_api import OpenAIModel  # noqa: E402
from evalharness.requests import GenerateRequest, Sampling  # noqa: E402


def _schedstat() -> tuple[float, float] | None:
    """(seconds on a CPU, seconds runnable but waiting for one) of this process (Linux)."""
    tasks = Path("/proc/self/task")
    if not tasks.is_dir():
        return None
    on_cpu = waiting = 0
    for task in tasks.iterdir():
        try:
            fields = (task / "schedstat").read_text().split()
        except OSError:
            continue
        on_cpu, waiting = on_cpu + int(fields[0]), waiting + int(fields[1])
    return on_cpu / 1e9, waiting / 1e9


async def _bare_client(base_url: str, n: int, concurrency: int) -> float:
    """Seconds for ``n`` completions over ``concurrency`` keep-alive sockets, no HTTP library."""
    host, port = base_url.split("//")[1].split("/")[0].split(":")
    todo = iter(range(n))

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        for i in todo:
            body = json.dumps({"model": "fake", "prompt": f"Request number {i} says w{i}"})
            head = (
                f"POST /v1/completions HTTP/1.1\r\nHost: {host}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            )
            writer.write((head + body).encode())
            reply = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower()
            length = int(reply.split("content-length:")[1].split("\r\n")[0])
            json.loads(await reader.readexactly(length))
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=640)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency", type=float, default=0.2, help="server seconds per request")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--stream", action="store_true", help="stream the responses")
    args = parser.parse_args()

    server = subprocess.Popen(
        [sys.executable, "-m", "tests.support.faulty_proxy", "--latency", str(args.latency)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        base_url = server.stdout.readline().strip()
        model = OpenAIModel(
            "fake", base_url=base_url, max_concurrency=args.concurrency, stream=args.stream
        )
        requests = [
            GenerateRequest(f"Request number {i} says w{i}", Sampling(max_tokens=16))
            for i in range(args.requests)
        ]
        ideal = args.concurrency / args.latency
        print(
            f"{args.requests} requests, concurrency {args.concurrency}, server latency "
            f"{args.latency * 1000:.0f} ms: ideal {ideal:.1f} req/s"
        )
        bare = args.requests / asyncio.run(_bare_client(base_url, args.requests, args.concurrency))
        print(f"bare asyncio client: {bare:.1f} req/s = {bare / ideal:.1%} of ideal")
        rates = []
        for repeat in range(args.repeats):
            before = _schedstat()
            started = time.perf_counter()
            results = model.generate(requests)
            elapsed = time.perf_counter() - started
            after = _schedstat()
            failed = sum(r.error is not None for r in results)
            rate = args.requests / elapsed
            rates.append(rate)
            latencies = sorted(r.latency_s for r in results)
            print(
                f"run {repeat + 1}: {elapsed:.2f} s, {rate:.1f} req/s = {rate / ideal:.1%} of "
                f"ideal; p50 latency {latencies[len(latencies) // 2] * 1000:.0f} ms; "
                f"{failed} failed"
            )
            if before and after:
                print(
                    f"  client on a CPU {after[0] - before[0]:.2f} s, runnable but waiting for "
                    f"a CPU {after[1] - before[1]:.2f} s (load from other processes)"
                )
        median = statistics.median(rates)
        print(
            f"median: {median:.1f} req/s = {median / ideal:.1%} of concurrency / latency "
            f"({median / bare:.1%} of the bare client)"
        )
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
