"""Progress of a task's samples: a bar on a terminal, one line every N seconds in a log.

A CI log or ``nohup`` file gets ``progress <task>: 120/500 samples (24%), 3.2/s, ETA 1m59s``
lines on stderr every ``EVALHARNESS_PROGRESS_S`` seconds (default 30) and when the task ends.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, TextIO

DEFAULT_INTERVAL_S = 30.0


def interval_s() -> float:
    """Seconds between log lines: ``$EVALHARNESS_PROGRESS_S`` or 30."""
    try:
        return max(0.0, float(os.environ.get("EVALHARNESS_PROGRESS_S", DEFAULT_INTERVAL_S)))
    except ValueError:
        return DEFAULT_INTERVAL_S


def duration(seconds: float | None) -> str:
    """``1h02m``, ``3m05s``, ``12s``; ``—`` when unknown."""
    if seconds is None or seconds != seconds or seconds == float("inf"):
        return "—"
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


class LogProgress:
    """tqdm's ``update``/context protocol, writing a line at most every ``interval`` seconds."""

    def __init__(
        self, total: int, desc: str, interval: float, stream: TextIO | None = None
    ) -> None:
        self.total, self.desc, self.interval = total, desc, interval
        self.stream = stream or sys.stderr
        self.done = 0
        self.started = self.last = time.monotonic()

    def __enter__(self) -> LogProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.total and exc[0] is None:
            self._write(time.monotonic())

    def update(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if now - self.last >= self.interval and self.done < self.total:
            self._write(now)

    def line(self, now: float) -> str:
        elapsed = max(now - self.started, 1e-9)
        rate = self.done / elapsed
        left = (self.total - self.done) / rate if rate > 0 else None
        share = 100 * self.done / self.total if self.total else 100.0
        return (
            f"progress {self.desc}: {self.done}/{self.total} samples ({share:.0f}%), "
            f"{rate:.2f}/s, elapsed {duration(elapsed)}, ETA {duration(left)}"
        )

    def _write(self, now: float) -> None:
        self.last = now
        print(self.line(now), file=self.stream, flush=True)


def progress(total: int, desc: str, enabled: bool | None) -> Any:
    """A bar (``enabled`` True, or None on a terminal), log lines (None off a terminal), or
    nothing (False)."""
    from tqdm import tqdm

    if enabled is None and not sys.stderr.isatty():
        return LogProgress(total, desc, interval_s())
    return tqdm(total=total, desc=desc, unit="sample", disable=enabled is False, leave=False)
