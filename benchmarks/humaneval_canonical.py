"""All 164 HumanEval canonical solutions through the sandbox: pass@1 must be 1.0 (empty: 0.0).

flock /tmp/heavy.lock .venv/bin/python benchmarks/humaneval_canonical.py
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from evalharness.metrics import get_metric  # noqa: E402
from evalharness.metrics.base import Outcome  # noqa: E402
from evalharness.resources import read_data_text  # noqa: E402


def main() -> None:
    text = read_data_text(REPO / "data" / "humaneval" / "HumanEval.jsonl")
    problems = [json.loads(line) for line in text.split("\n") if line.strip()]
    metric = get_metric("pass@1")
    for label, field in (("canonical", "canonical_solution"), ("empty", None)):
        outcomes = [
            Outcome(
                prediction=p[field] if field else "",
                references=(p["prompt"], p["test"], p["entry_point"]),
            )
            for p in problems
        ]
        started = time.perf_counter()
        stats = metric.stats(outcomes)
        seconds = time.perf_counter() - started
        failed = [p["task_id"] for p, row in zip(problems, stats, strict=True) if row[0] < 1]
        print(
            f"{label}: pass@1 = {metric.value(stats):.4f} over {len(problems)} problems "
            f"in {seconds:.1f} s; not passing: {len(failed)}"
        )
        if label == "canonical" and failed:
            print("  ", ", ".join(failed))
            sys.exit(1)


if __name__ == "__main__":
    main()
