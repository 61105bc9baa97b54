"""Compare data: per-metric paired deltas of two runs (``compare_runs``) and flipped samples."""

from __future__ import annotations

import math
from dataclasses import asdict

import pandas as pd
from sqlalchemy import select

from evalharness.gate.compare import compare_runs, pair_samples
from evalharness.store import Sample, Store
from evalharness.views.samples import _text, preview, score_names


def comparison(store: Store, run_a: str, run_b: str, *, n_boot: int = 1000) -> pd.DataFrame:
    """``compare_runs`` as a table: per task × metric, A, B, delta (B - A), paired CI, p, verdict.

    ``verdict`` is ``better``/``worse`` (in the metric's own direction) when the 95% CI of the
    delta excludes 0, otherwise ``no significant change``.
    """
    rows = []
    for r in compare_runs(store, run_a, run_b, n_boot=n_boot):
        significant = math.isfinite(r.ci_low) and (r.ci_low > 0 or r.ci_high < 0)
        improved = (r.delta > 0) == r.higher_is_better
        verdict = ("better" if improved else "worse") if significant else "no significant change"
        if r.n_shared == 0:
            verdict = "not comparable"
        rows.append({**asdict(r), "significant": significant, "verdict": verdict})
    columns = [
        "task", "metric", "value_a", "value_b", "delta", "ci_low", "ci_high", "p_value",
        "significant", "verdict", "n_shared", "n_a", "n_b", "higher_is_better", "note",
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def shared_tasks(store: Store, run_a: str, run_b: str) -> list[str]:
    query = select(Sample.run_id, Sample.task).where(Sample.run_id.in_([run_a, run_b])).distinct()
    with store.session() as s:
        pairs = s.execute(query).all()
    in_a = {task for run, task in pairs if run == run_a}
    return sorted(in_a & {task for run, task in pairs if run == run_b})


def flipped(
    store: Store, run_a: str, run_b: str, task: str, metric: str, *, threshold: float = 0.5
) -> pd.DataFrame:
    """Samples of ``task`` whose outcome differs between the runs, by dataset index.

    The outcome of a sample is ``pass`` when ``metric`` >= ``threshold`` and ``fail`` otherwise;
    a sample that errored counts as ``error``. Samples whose dataset row differs between the
    runs are not the same question and are left out (as in ``compare_runs``).
    """
    pairs, _ = pair_samples(store.samples(run_a, task), store.samples(run_b, task))
    rows = []
    for sa, sb in pairs:
        idx = sa.idx
        oa, ob = _outcome(sa, metric, threshold), _outcome(sb, metric, threshold)
        if oa == ob or "n/a" in (oa, ob):
            continue
        rows.append(
            {
                "idx": idx, "change": "fixed" if ob == "pass" else "broken", "outcome_a": oa,
                "outcome_b": ob, "score_a": (sa.scores or {}).get(metric),
                "score_b": (sb.scores or {}).get(metric), "sample_a": sa.id, "sample_b": sb.id,
                "input": preview(sa.input, 120), "output_a": sa.output, "output_b": sb.output,
                "reference": _text(sa.reference),
            }
        )  # fmt: skip
    columns = [
        "idx", "change", "outcome_a", "outcome_b", "score_a", "score_b", "sample_a", "sample_b",
        "input", "output_a", "output_b", "reference",
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def _outcome(sample: Sample, metric: str, threshold: float) -> str:
    if sample.error is not None:
        return "error"
    value = (sample.scores or {}).get(metric)
    if value is None:
        return "n/a"
    return "pass" if value >= threshold else "fail"


def per_sample_metrics(store: Store, run_a: str, run_b: str, task: str) -> list[str]:
    """Metrics with a per-sample score in both runs for ``task`` (for the flip selector)."""
    names_a = score_names(store.samples(run_a, task))
    names_b = set(score_names(store.samples(run_b, task)))
    return [n for n in names_a if n in names_b]


def default_pair(store: Store, run_ids: list[str]) -> tuple[str, str]:
    """(A, B) to open with: B the newest run, A the newest older run sharing a task with it.

    ``run_ids`` are newest first (as ``runs_frame`` lists them).
    """
    b = run_ids[0]
    for a in run_ids[1:]:
        if shared_tasks(store, a, b):
            return a, b
    return run_ids[1], b
