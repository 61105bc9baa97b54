"""Sampling settings on top of a task's own: overrides, sweeps and best-of-N selection.

Precedence, lowest first: the task's ``generation:`` block, the run's ``sampling:`` (the settings
the model will ship with), the CLI's ``--sampling``. A list value is a sweep: one task variant per
value (``gsm8k[temperature=0.7]``), so users can pick shipping settings from the results.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from evalharness.errors import ConfigError
from evalharness.judges import judge_rubric
from evalharness.judges.rubric import load_rubric
from evalharness.modelref import ModelRef
from evalharness.requests import Sampling

# the runner's, not sent to backends
RUN_KEYS = ("best_of_n", "selector", "selector_model", "selector_model_args")
SELECTORS = ("logprob", "judge:<rubric>")


@dataclass(frozen=True)
class BestOfN:
    """Best-of-N: ``n`` candidates per item, the one ``selector`` prefers kept.

    ``logprob``: the highest mean token log-likelihood under the evaluated model.
    ``judge:<rubric>``: the rubric judge's favourite, judged by ``selector_model``, else the
    run's judge model, else the evaluated model itself."""

    n: int
    selector: str = "logprob"
    selector_model: ModelRef | None = None

    @property
    def rubric(self) -> str | None:
        return judge_rubric(self.selector)


def variants(
    generation: Sampling, overrides: dict[str, Any], where: str = "sampling"
) -> list[tuple[str, Sampling, BestOfN | None]]:
    """(name suffix, sampling, best-of-N) per sweep point; suffix '' without a sweep."""
    swept = {k: v for k, v in overrides.items() if isinstance(v, list) and k != "stop"}
    fixed = {k: v for k, v in overrides.items() if k not in swept}
    out = []
    for values in itertools.product(*swept.values()) if swept else [()]:
        point = dict(zip(swept, values, strict=True))
        settings = {**fixed, **point}
        run_level = {k: settings.pop(k) for k in RUN_KEYS if k in settings}
        merged = {**dataclasses.asdict(generation), **settings}
        best = best_of_n(run_level, where)
        if best is not None:
            merged["n"] = best.n
        try:
            sampling = Sampling(**merged)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()
            )
            raise ConfigError(f"{where}: {problems}") from None
        suffix = ",".join(f"{k}={v}" for k, v in point.items())
        out.append((f"[{suffix}]" if suffix else "", sampling, best))
    return out


def best_of_n(settings: dict[str, Any], where: str) -> BestOfN | None:
    """The checked best-of-N of the run-level settings (``best_of_n=4,selector=…``), if any."""
    if "best_of_n" not in settings:
        for key in RUN_KEYS[1:]:
            if key in settings:
                raise ConfigError(f"{where}: {key}: only with best_of_n")
        return None
    n = settings["best_of_n"]
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ConfigError(f"{where}: best_of_n: expected a positive integer, got {n!r}")
    selector = settings.get("selector", "logprob")
    _check_selector(selector, where)
    model = None
    if "selector_model" in settings:
        args = settings.get("selector_model_args") or {}
        if not isinstance(args, dict):
            raise ConfigError(f"{where}: selector_model_args: expected a mapping, got {args!r}")
        try:
            model = ModelRef(str(settings["selector_model"]), args).check()
        except ConfigError as exc:
            raise ConfigError(f"{where}: selector_model: {exc}") from None
    return BestOfN(n, selector, model)


def _check_selector(selector: object, where: str) -> None:
    if selector == "logprob":
        return
    rubric = judge_rubric(selector) if isinstance(selector, str) else None
    if rubric is not None:
        try:  # an unknown rubric fails here, not mid-run
            load_rubric(rubric)
        except ConfigError as exc:
            raise ConfigError(f"{where}: selector: {exc}") from None
        return
    raise ConfigError(f"{where}: selector: unknown {selector!r} (known: {', '.join(SELECTORS)})")


def mean_logprob_choice(candidates: list[str], logprobs: list[float], n_tokens: list[int]) -> int:
    """Best-of-N by mean token log-likelihood: the candidate the model itself finds likeliest."""
    scores = [lp / max(1, n) for lp, n in zip(logprobs, n_tokens, strict=True)]
    return max(range(len(candidates)), key=scores.__getitem__)
