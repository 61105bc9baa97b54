"""Sampling settings on top of a task's own: overrides, sweeps and best-of-N selection.

Precedence, lowest first: the task's ``generation:`` block, the run's ``sampling:`` (the settings
the model will ship with), the CLI's ``--sampling``. A list value is a sweep: one task variant per
value (``gsm8k[temperature=0.7]``), so users can pick shipping settings from the results.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import yaml
from pydantic import ValidationError

from evalharness.errors import ConfigError
from evalharness.models import check_spec
from evalharness.requests import Sampling

RUN_KEYS = ("best_of_n", "selector", "selector_model")  # the runner's, not sent to backends
SELECTORS = ("logprob", "judge:<rubric>")


def parse_overrides(text: str, where: str = "--sampling") -> dict[str, Any]:
    """``temperature=0.7,top_p=0.9,stop=["\\n"],temperature=[0,0.7]`` -> typed values (YAML)."""
    parts, depth, current = [], 0, ""
    for char in text:
        if char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    out: dict[str, Any] = {}
    for part in filter(str.strip, parts):
        key, sep, value = part.partition("=")
        if not sep:
            raise ConfigError(f"{where}: expected key=value, got {part.strip()!r}")
        try:
            out[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError:
            raise ConfigError(f"{where}: {key.strip()}: cannot read value {value!r}") from None
    return out


def variants(
    generation: Sampling, overrides: dict[str, Any], where: str = "sampling"
) -> list[tuple[str, Sampling, dict[str, Any]]]:
    """(name suffix, sampling, run-level settings) per sweep point; suffix '' without a sweep."""
    swept = {k: v for k, v in overrides.items() if isinstance(v, list) and k != "stop"}
    fixed = {k: v for k, v in overrides.items() if k not in swept}
    out = []
    for values in itertools.product(*swept.values()) if swept else [()]:
        point = dict(zip(swept, values, strict=True))
        settings = {**fixed, **point}
        run_level = {k: settings.pop(k) for k in RUN_KEYS if k in settings}
        merged = {**dataclasses.asdict(generation), **settings}
        if "best_of_n" in run_level:
            best = run_level["best_of_n"]
            if not isinstance(best, int) or best < 1:
                raise ConfigError(f"{where}: best_of_n: expected a positive integer, got {best!r}")
            merged["n"] = best
            _check_selector(run_level.setdefault("selector", "logprob"), where)
            if "selector_model" in run_level:
                try:
                    check_spec(str(run_level["selector_model"]))
                except ConfigError as exc:
                    raise ConfigError(f"{where}: selector_model: {exc}") from None
        try:
            sampling = Sampling(**merged)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()
            )
            raise ConfigError(f"{where}: {problems}") from None
        suffix = ",".join(f"{k}={v}" for k, v in point.items())
        out.append((f"[{suffix}]" if suffix else "", sampling, run_level))
    return out


def _check_selector(selector: object, where: str) -> None:
    if selector == "logprob":
        return
    if isinstance(selector, str) and selector.startswith("judge:"):
        from evalharness.judges.stored import as_rubric  # lazy: judges import the config

        try:  # an unknown rubric fails here, not mid-run
            as_rubric(selector.removeprefix("judge:"))
        except ConfigError as exc:
            raise ConfigError(f"{where}: selector: {exc}") from None
        return
    raise ConfigError(f"{where}: selector: unknown {selector!r} (known: {', '.join(SELECTORS)})")


def mean_logprob_choice(candidates: list[str], logprobs: list[float], n_tokens: list[int]) -> int:
    """Best-of-N by mean token log-likelihood: the candidate the model itself finds likeliest."""
    scores = [lp / max(1, n) for lp, n in zip(logprobs, n_tokens, strict=True)]
    return max(range(len(candidates)), key=scores.__getitem__)
