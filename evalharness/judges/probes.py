"""Bias probes a user runs against a judge (``evalharness bias``).

Probes are stored in the ``judge_bias`` table (``judges/records.py``).

- **verbosity** (``padded``) and **injection** (``injected``): each sample of a run is judged as
  it is, with content-free filler appended, and followed by an instruction to the judge
  (``meta/bias.py: probe_variants``), all three in one batch; per numeric criterion the paired
  score shift and the share of samples scored higher (``probe_effect``). A fair judge shifts by
  0 or less.
- **position** (pairwise rubrics, against a second run): both presentation orders of every
  shared sample (``compare_pairwise``, stored as usual); per criterion how often the judge
  picks whichever response it saw first, and how often the two orders agree
  (``position_bias``). Labels are analysed as labels, never as numbers.

Self-preference needs people's ratings of several systems, so it is measured on the app's
Calibration page from the ratings, not by a probe.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import sqlalchemy as sa

from evalharness.errors import ConfigError, StoreError
from evalharness.judges.judge import Judge
from evalharness.judges.records import JudgeBias, Judgment, judgments
from evalharness.judges.render import Subject
from evalharness.judges.rubric import Rubric
from evalharness.judges.stored import as_model, as_rubric, subject_of
from evalharness.meta.bias import position_bias, probe_effect, probe_variants
from evalharness.meta.pairwise import swap
from evalharness.models.base import Model
from evalharness.store import Store

VARIANTS = ("padded", "injected")


@dataclass(frozen=True)
class Probe:
    """One statistic of one probe of a judge on one criterion, with its 95% CI and n."""

    judge: str
    rubric: str
    criterion: str
    probe: str
    statistic: str
    value: float | None
    ci_low: float | None
    ci_high: float | None
    n: int
    run_id: str | None = None
    task: str | None = None

    def describe(self) -> str:
        def num(v: float | None) -> str:
            return "—" if v is None else f"{v:.3f}"

        where = f"{self.probe} {self.rubric}.{self.criterion} {self.statistic}"
        return f"{where} {num(self.value)} [{num(self.ci_low)}, {num(self.ci_high)}], n {self.n}"


def _finite(v: Any) -> float | None:
    return None if v is None or not np.isfinite(v) else float(v)


def _probes(judge: str, rubric: str, criterion: str, probe: str, stats: dict[str, Any],
            run_id: str, task: str) -> list[Probe]:  # fmt: skip
    return [Probe(judge, rubric, criterion, probe, name, _finite(s["value"]), _finite(s["ci_low"]),
                  _finite(s["ci_high"]), int(s["n"]), run_id, task)
            for name, s in stats.items()]  # fmt: skip


def variant_probes(
    store: Store,
    run_id: str,
    task: str,
    rubric: Rubric,
    judge: Judge,
    *,
    limit: int | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> list[Probe]:
    """The padded and injected probes of ``judge`` on the run's answered samples of ``task``."""
    samples = [s for s in store.samples(run_id, task) if s.error is None and s.output]
    samples = samples[:limit] if limit else samples
    if len(samples) < 2:
        raise StoreError(f"run {run_id!r} task {task!r}: bias probes need 2+ answered samples")
    subjects = []
    for sample in samples:
        plain = subject_of(sample)
        for text in probe_variants(plain.output).values():  # original, padded, injected
            subjects.append(Subject(plain.source, text, plain.reference))
    verdicts = judge.judge(subjects)
    found: list[Probe] = []
    for c in rubric.criteria:
        if c.kind != "score":
            continue  # labels and MQM error lists have no paired numeric shift
        scores = np.array([v.results[c.name].score if v.parsed and v.results else np.nan
                           for v in verdicts], dtype=float).reshape(-1, 3)  # fmt: skip
        for k, probe in enumerate(VARIANTS, start=1):
            stats = probe_effect(scores[:, 0], scores[:, k], n_boot, seed)
            found += _probes(judge.name, rubric.name, c.name, probe, stats, run_id, task)
    return found


def pair_orders(rows: list[Judgment]) -> dict[tuple[str, str], tuple[list[Any], list[Any]]]:
    """Per (judge, criterion), the labels of each pair in order AB and in order BA, both in
    the pair's own numbering ("1" = the run shown first in AB), for ``position_bias``."""
    found: dict[tuple[str, str, str, str, str, int], dict[str, str | None]] = {}
    for j in rows:
        key = (j.judge, j.criterion, j.run_id, j.other_run_id or "", j.task, j.idx)
        found.setdefault(key, {})[j.order or ""] = j.label if j.parsed else None
    out: dict[tuple[str, str], tuple[list[Any], list[Any]]] = {}
    for (judge, criterion, *_), orders in found.items():
        ab, ba = out.setdefault((judge, criterion), ([], []))
        ab.append(_numbered(orders.get("AB")))
        ba.append(swap(_numbered(orders.get("BA"))))
    return out


def _numbered(label: str | None) -> str | None:
    """Pairwise labels A/B (the response shown first/second) as the meta module's 1/2."""
    return {"a": "1", "b": "2", "tie": "tie"}.get((label or "").lower())


def position_probes(
    store: Store,
    run_a: str,
    run_b: str,
    task: str,
    rubric: Rubric,
    judge_model: Model,
    *,
    limit: int | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> list[Probe]:
    """Judge run B against run A in both orders (stored as ``judge-pairwise`` stores them) and
    measure the judge's position bias on those pairs."""
    from evalharness.judges.run import compare_pairwise

    result = compare_pairwise(store, run_a, run_b, rubric, judge_model, task, limit=limit)
    rows = judgments(store, run_a, task=task, rubric=rubric.name, judge=result["judge"],
                     other_run_id=run_b, pairwise=True)  # fmt: skip
    found: list[Probe] = []
    for (judge, criterion), (ab, ba) in pair_orders(rows).items():
        stats = position_bias(ab, ba, n_boot=n_boot, seed=seed)
        found += _probes(judge, rubric.name, criterion, "position", stats, run_a, task)
    return found


def run_probes(
    store: Store,
    run_id: str,
    rubric: str | Rubric,
    judge_model: str | Model,
    *,
    task: str | None = None,
    against: str | None = None,
    limit: int | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> list[Probe]:
    """Every probe that fits the rubric (pointwise: padded and injected; pairwise: position
    against the run ``against``), stored in ``judge_bias``; returns what was stored."""
    rubric = as_rubric(rubric)
    model = as_model(judge_model)
    tasks = [task] if task else store.sample_tasks(run_id)
    if rubric.mode == "pairwise" and against is None:
        raise ConfigError(f"rubric {rubric.name!r} is pairwise: give --against RUN_B")
    judge, options = Judge(model, rubric), {"limit": limit, "n_boot": n_boot, "seed": seed}
    found: list[Probe] = []
    for name in tasks:
        if against is not None and rubric.mode == "pairwise":
            found += position_probes(store, run_id, against, name, rubric, model, **options)
        else:
            found += variant_probes(store, run_id, name, rubric, judge, **options)
    with store.session() as s, s.begin():
        s.add_all(JudgeBias(**asdict(p)) for p in found)
    return found


def stored_probes(store: Store, rubric: str | None = None) -> list[Probe]:
    """Every stored probe (of ``rubric``), newest first."""
    query = sa.select(JudgeBias).order_by(JudgeBias.id.desc())
    if rubric is not None:
        query = query.where(JudgeBias.rubric == rubric)
    fields = [f for f in Probe.__dataclass_fields__]
    with store.session() as s:
        return [Probe(**{f: getattr(row, f) for f in fields}) for row in s.scalars(query)]
