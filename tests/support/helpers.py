"""Helpers shared by tests."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from evalharness.resources import read_data_text

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "data"  # the bundled human-judgment sets and test data (gzip-compressed)

ECHO_TASK = """\
name: echo
dataset:
  path: rows.jsonl
output_type: generate
prompt: "Say {{ word }}"
references: "[word]"
metrics: [exact_match]
"""


def write_echo_task(folder: Path, rows: int, metrics: str = "exact_match, bleu") -> Path:
    """``ECHO_TASK`` with ``metrics`` over ``rows`` rows ``{"word": "w<i>"}``, in ``folder``."""
    (folder / "rows.jsonl").write_text(
        "".join(json.dumps({"word": f"w{i}"}) + "\n" for i in range(rows))
    )
    task = folder / "echo.yaml"
    task.write_text(ECHO_TASK.replace("[exact_match]", f"[{metrics}]"))
    return task


def data_text(dataset: str, file: str) -> str:
    """The text of a bundled data file (``data/<dataset>/<file>``, stored as ``<file>.gz``)."""
    return read_data_text(DATA / dataset / file)


def data_lines(dataset: str, file: str) -> list[str]:
    return data_text(dataset, file).splitlines()


def run_cli(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """The real console entry point in a subprocess, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "evalharness.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        timeout=600,
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop(process: subprocess.Popen) -> None:
    """Terminate a server started by a test; kill it if it has not exited after 20 s."""
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
