"""Provenance of a run: its id, the library versions and the git revision it ran with."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import uuid
from datetime import datetime
from importlib import metadata


def new_run_id() -> str:
    return f"{datetime.now():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"


def versions() -> dict[str, str]:
    found = {"python": sys.version.split()[0]}
    for package in ("evalharness", "torch", "transformers", "sacrebleu", "rouge-score"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[package] = metadata.version(package)
    return found


def git_revision() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None
