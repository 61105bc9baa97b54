"""Throughput of ``--executor ray`` with one replica against the same model in-process.

Both evaluate the embedded model on the same items with the model already loaded (the Ray
replica's load is not counted, nor the in-process one), alternating, median of ``--repeats``:
what the pool adds per request list is pickling, a round trip to the actor and Ray's
scheduling. Writes ``benchmarks/results/ray_overhead_<time>.json``.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/ray_overhead.py --limit 100
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import ray

from evalharness import evaluate
from evalharness.modelref import ModelRef
from evalharness.ray_pool import RayPoolModel


def _timed(model: object, tasks: list[str], limit: int, db: str) -> float:
    started = time.perf_counter()
    evaluate(model, tasks, limit=limit, db=db, cache=False, progress=False)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", default="piqa,flores_en_de")
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    tasks = args.tasks.split(",")
    db = f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    ref = ModelRef("embedded", {"batch_size": 8})
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    local, pool = ref.load(), RayPoolModel(ref, replicas=1)
    evaluate(local, tasks, limit=2, db=db, cache=False, progress=False)  # warm both up
    evaluate(pool, tasks, limit=2, db=db, cache=False, progress=False)
    times: dict[str, list[float]] = {"in_process": [], "ray_1_replica": []}
    for _ in range(args.repeats):
        times["in_process"].append(_timed(local, tasks, args.limit, db))
        times["ray_1_replica"].append(_timed(pool, tasks, args.limit, db))
    medians = {name: statistics.median(values) for name, values in times.items()}
    items = args.limit * len(tasks)
    result = {
        "tasks": tasks,
        "items": items,
        "seconds": times,
        "items_per_s": {name: items / median for name, median in medians.items()},
        "ray_fraction_of_in_process": medians["in_process"] / medians["ray_1_replica"],
    }
    out = Path(__file__).parent / "results" / f"ray_overhead_{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
