"""Release gates: rules on a stored run, each giving a verdict of pass, fail or error.

A gate file lists rules under ``gates:``; each names a ``task`` and, for metric checks, a
``metric``. Checks: absolute thresholds (``min``/``max`` on the run's value), a regression
check against a baseline run (``max_drop``: fail only when the drop exceeds ``max_drop`` and
a one-sided paired bootstrap rejects H0: drop <= max_drop at ``alpha``), and
``max_failed_rate`` on the share of samples that failed. A ``metric`` may be a judged one
(``judge:<rubric>.<criterion>``) and ``min_judge_agreement`` asks for a stored agreement of its
judge with human ratings (``gate/judged.py``).

Exit codes follow the verdicts: 0 all pass, 1 any failed, 2 any error (a gate that could not
be checked must be fixed, not read as "the model is bad"). A judge without a trusted stored
agreement is a failure (1), not an error: the number is there but not good enough to ship on.
No I/O beyond the store.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field, ValidationInfo, field_validator, model_validator

from evalharness.errors import ConfigError, StoreError
from evalharness.gate.compare import drop_test, paired_rows
from evalharness.gate.judged import MEAN, agreement_problems, judged_samples
from evalharness.judges import JUDGE_PREFIX, JudgedMetric, judged_metric
from evalharness.metrics import METRICS, Metric, get_metric, summarize
from evalharness.specs import Spec, parse_spec, read_yaml
from evalharness.store import Run, Sample, Store, runs_with_tag

Status = Literal["pass", "fail", "error"]
EXIT_CODES: dict[Status, int] = {"pass": 0, "fail": 1, "error": 2}


class GateRule(Spec):
    task: str = Field(min_length=1)
    # declared before ``metric`` so that its validator sees it
    min_judge_agreement: float | None = Field(None, ge=-1, le=1)
    metric: str | None = None
    min: float | None = None
    max: float | None = None
    max_drop: float | None = Field(None, ge=0)  # against --baseline
    relative: bool = False  # max_drop is a fraction of the baseline value
    alpha: float = Field(0.05, gt=0, lt=1)
    max_failed_rate: float | None = Field(None, ge=0, le=1)

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, name: str | None, info: ValidationInfo) -> str | None:
        if name is None or name in METRICS or judged_metric(name):
            return name
        if info.data.get("min_judge_agreement") is not None or name.startswith(JUDGE_PREFIX):
            raise ValueError(f"expected judge:<rubric>.<criterion>, got {name!r}")
        raise ValueError(f"unknown metric {name!r} (known: {', '.join(sorted(METRICS))})")

    @model_validator(mode="after")
    def _checks(self) -> GateRule:
        metric_checks = [k for k in ("min", "max", "max_drop") if getattr(self, k) is not None]
        if self.min_judge_agreement is not None:
            metric_checks.append("min_judge_agreement")
        if not metric_checks and self.max_failed_rate is None:
            raise ValueError(
                "give at least one check: min, max, max_drop, max_failed_rate "
                "or min_judge_agreement"
            )
        if metric_checks and self.metric is None:
            raise ValueError(f"'{metric_checks[0]}' needs 'metric'")
        if self.min_judge_agreement is not None and not judged_metric(self.metric or ""):
            raise ValueError("min_judge_agreement needs metric: judge:<rubric>.<criterion>")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        stray = sorted({"relative", "alpha"} & self.model_fields_set)
        if self.max_drop is None and stray:
            raise ValueError(f"'{stray[0]}' applies only to a 'max_drop' rule")
        return self

    def describe(self) -> str:
        """A short name for the rule, e.g. ``rougeL >= 0.2, drop <= 0.01 (alpha 0.05)``."""
        parts = []
        if self.min is not None:
            parts.append(f"{self.metric} >= {self.min:g}")
        if self.max is not None:
            parts.append(f"{self.metric} <= {self.max:g}")
        if self.max_drop is not None:
            size = f"{self.max_drop:.4g} of baseline" if self.relative else f"{self.max_drop:g}"
            parts.append(f"{self.metric} drop <= {size} (alpha {self.alpha:g})")
        if self.min_judge_agreement is not None:
            parts.append(f"{self.metric} judge agreement >= {self.min_judge_agreement:g}")
        if self.max_failed_rate is not None:
            parts.append(f"failed rate <= {self.max_failed_rate:g}")
        return ", ".join(parts)


class GateSpec(Spec):
    gates: tuple[GateRule, ...] = Field(min_length=1)
    n_boot: int = Field(2000, ge=100, le=100_000)  # resamples of the regression test
    seed: int = 0


def load_gate(path: Path) -> GateSpec:
    return parse_spec(GateSpec, read_yaml(path), path)


@dataclass
class Verdict:
    task: str
    rule: str  # the rule's description
    status: Status = "pass"
    reasons: list[str] = field(default_factory=list)
    value: float | None = None  # metric on all scored samples of the candidate
    ci_low: float | None = None
    ci_high: float | None = None
    n: int | None = None
    failed_rate: float | None = None
    baseline: float | None = None  # metric on the shared samples of the baseline
    delta: float | None = None  # candidate - baseline on the shared samples
    delta_ci_low: float | None = None
    delta_ci_high: float | None = None
    drop: float | None = None  # as tested: absolute, or a fraction of the baseline
    p_value: float | None = None  # one-sided, H0: drop <= max_drop
    n_shared: int | None = None

    def fail(self, reason: str) -> None:
        if self.status == "pass":
            self.status = "fail"
        self.reasons.append(reason)

    def error(self, reason: str) -> None:
        self.status = "error"
        self.reasons.append(reason)


@dataclass
class GateReport:
    source: str  # the gate file
    run_id: str
    model: str
    baseline_id: str | None
    baseline_note: str  # how the baseline was chosen, or why there is none
    n_boot: int
    verdicts: list[Verdict]

    def count(self, status: Status) -> int:
        return sum(v.status == status for v in self.verdicts)

    @property
    def status(self) -> Status:
        for worst in ("error", "fail"):
            if self.count(worst):
                return worst
        return "pass"

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]


def _finished(run: Run, role: str) -> Run:
    if run.status != "finished":
        raise StoreError(
            f"{role} run {run.id} is {run.status!r}, not finished; "
            f"complete it with `evalharness run --resume {run.id}`"
        )
    return run


def resolve_baseline(store: Store, run: Run, ref: str | None) -> tuple[Run | None, str]:
    """The baseline run for ``ref`` (a run id or ``latest:TAG``) and how it was chosen."""
    if ref is None:
        return None, "no --baseline given"
    if not ref.startswith("latest:"):
        return _finished(store.get_run(ref), "baseline"), "given by --baseline"
    tag = ref.removeprefix("latest:")
    if not tag:
        raise ConfigError(f"--baseline {ref!r}: give a tag after 'latest:', e.g. latest:release")
    found = runs_with_tag(store, tag, model=run.model, exclude=run.id)
    if not found:
        return None, (
            f"no finished run tagged {tag!r} with model {run.model!r} other than {run.id}"
        )
    return found[0], f"latest run tagged {tag!r} with model {run.model!r}"


def _by_task(samples: list[Sample]) -> dict[str, list[Sample]]:
    tasks: dict[str, list[Sample]] = {}
    for sample in samples:
        tasks.setdefault(sample.task, []).append(sample)
    return tasks


@dataclass(frozen=True)
class _Runs:
    """What every rule is checked against."""

    spec: GateSpec
    store: Store
    run: Run
    cand: dict[str, list[Sample]]
    base_run: Run | None
    base: dict[str, list[Sample]]
    note: str  # why there is no baseline, when there is none


def evaluate_gate(
    store: Store, spec: GateSpec, run_id: str, baseline: str | None = None, source: str = "gate"
) -> GateReport:
    """Check every rule of ``spec`` on the stored run ``run_id``.

    Raises for a missing or unfinished run; every problem of a single rule (task or metric
    absent, no baseline, nothing shared with the baseline) becomes that rule's "error".
    """
    run = _finished(store.get_run(run_id), "candidate")
    base_run, note = resolve_baseline(store, run, baseline)
    base = _by_task(store.samples(base_run.id)) if base_run else {}
    runs = _Runs(spec, store, run, _by_task(store.samples(run.id)), base_run, base, note)
    verdicts = []
    for rule in spec.gates:
        verdict = Verdict(rule.task, rule.describe())
        _check(verdict, rule, runs)
        verdicts.append(verdict)
    base_id = base_run.id if base_run else None
    return GateReport(source, run.id, run.model, base_id, note, spec.n_boot, verdicts)


def _check(v: Verdict, rule: GateRule, runs: _Runs) -> None:
    samples = runs.cand.get(rule.task, [])
    if not samples:
        known = ", ".join(sorted(runs.cand)) or "none"
        v.error(f"run {runs.run.id} has no samples of task {rule.task!r} (tasks: {known})")
        return
    if rule.max_failed_rate is not None:
        failed = sum(s.error is not None for s in samples)
        v.failed_rate = failed / len(samples)
        if v.failed_rate > rule.max_failed_rate:
            v.fail(
                f"failed rate {v.failed_rate:.4g} ({failed}/{len(samples)}) > "
                f"{rule.max_failed_rate:g}"
            )
    if rule.metric is None:
        return
    judged = judged_metric(rule.metric)
    try:
        if judged and rule.min_judge_agreement is not None:
            for problem in agreement_problems(
                runs.store, runs.run.id, rule.task, judged, rule.metric, rule.min_judge_agreement
            ):
                v.fail(problem)
        if rule.min is None and rule.max is None and rule.max_drop is None:
            return
        ok, base = _scored(rule, rule.metric, judged, runs, samples)
    except ConfigError as exc:  # the judged metric cannot be read from this run
        v.error(str(exc))
        return
    if ok is None:
        have = sorted({m for s in samples if s.error is None for m in (s.stats or {})})
        v.error(
            f"metric {rule.metric!r} is absent from task {rule.task!r} of run "
            f"{runs.run.id} (has: {', '.join(have) or 'none'})"
        )
        return
    metric = MEAN if judged else get_metric(rule.metric)
    _thresholds(v, rule, metric, ok)
    if rule.max_drop is not None:
        _regression(v, rule, metric, rule.max_drop, ok, base, runs)


def _scored(
    rule: GateRule, name: str, judged: JudgedMetric | None, runs: _Runs, samples: list[Sample]
) -> tuple[list[Sample] | None, list[Sample]]:
    """The candidate's and the baseline's scored samples of ``name`` (candidate None: the
    metric is absent); judged metrics (``judged``) come from each run's judgments."""
    base = runs.base.get(rule.task, [])
    if judged is None:
        ok = [s for s in samples if s.error is None]
        return (None if any(name not in (s.stats or {}) for s in ok) else ok), base
    ok = judged_samples(runs.store, runs.run.id, rule.task, samples, judged, name)
    if runs.base_run is not None and rule.max_drop is not None and base:
        base = judged_samples(runs.store, runs.base_run.id, rule.task, base, judged, name)
    return ok, base


def _thresholds(v: Verdict, rule: GateRule, metric: Metric, ok: list[Sample]) -> None:
    name = rule.metric
    assert name is not None
    if not ok:
        v.n = 0
        v.fail(f"no scored samples: every sample of {rule.task!r} failed or went unjudged")
        return
    agg = summarize(metric, np.array([s.stats[name] for s in ok], dtype=float))
    v.value, v.ci_low, v.ci_high, v.n = agg.value, agg.ci_low, agg.ci_high, agg.n
    if not math.isfinite(agg.value):
        v.fail(f"{name} is undefined (NaN) on this run")
    elif rule.min is not None and agg.value < rule.min:
        v.fail(f"{name} {agg.value:.4g} is below min {rule.min:g}")
    elif rule.max is not None and agg.value > rule.max:
        v.fail(f"{name} {agg.value:.4g} is above max {rule.max:g}")


def _regression(
    v: Verdict,
    rule: GateRule,
    metric: Metric,
    max_drop: float,
    ok: list[Sample],
    base: list[Sample],
    runs: _Runs,
) -> None:
    name = rule.metric
    assert name is not None
    if runs.base_run is None:
        v.error(f"max_drop needs a baseline run: {runs.note}")
        return
    where = f"task {rule.task!r} of baseline run {runs.base_run.id}"
    paired = paired_rows(base, ok, name)
    v.n_shared = paired.n
    if paired.mismatched:
        v.error(
            f"{len(paired.mismatched)} samples have other inputs in {where} (first idx "
            f"{paired.mismatched[0]}): the task's data changed, the runs are not comparable"
        )
        return
    if paired.n == 0:
        if not base:
            v.error(f"baseline run {runs.base_run.id} has no samples of task {rule.task!r}")
        elif not any(name in (s.stats or {}) for s in base):
            v.error(f"metric {name!r} is absent from {where}")
        else:
            v.error(f"no scored sample with {name!r} is shared with {where}")
        return
    test = drop_test(
        metric,
        paired.a,
        paired.b,
        max_drop=max_drop,
        relative=rule.relative,
        n_boot=runs.spec.n_boot,
        seed=runs.spec.seed,
    )
    v.baseline, v.delta, v.drop, v.p_value = test.baseline, test.delta, test.drop, test.p_value
    v.delta_ci_low, v.delta_ci_high = test.delta_ci_low, test.delta_ci_high
    if not math.isfinite(test.drop):
        v.error(f"relative drop is undefined: {name} is {test.baseline:.4g} on the baseline")
    elif test.drop > max_drop and test.p_value < rule.alpha:
        unit = " of baseline" if rule.relative else ""
        v.fail(
            f"{name} dropped {test.drop:.4g}{unit} > {max_drop:g}{unit} "
            f"(p = {test.p_value:.3g} < {rule.alpha:g}, n = {test.n})"
        )
