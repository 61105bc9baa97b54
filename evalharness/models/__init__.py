"""Model spec strings -> backends. Heavy libraries load only when a backend is built.

``embedded`` (the offline default, SmolLM2-135M-Instruct), ``hf:<path-or-hub-id>``,
``openai:<model>`` (any OpenAI-compatible API, see ``models/openai_api.py``),
``scripted`` (a deterministic stand-in for fast tests). Each backend names the options it
takes; any other option is a ``ConfigError`` naming it.
"""

from __future__ import annotations

from typing import Any

from evalharness.errors import ConfigError
from evalharness.models.base import Model

HF_OPTIONS = (
    "device",
    "dtype",
    "batch_size",
    "max_batch_tokens",
    "max_length",
    "revision",
    "share_context",
    "grammar",
)
OPENAI_OPTIONS = (
    "base_url",
    "api_key_env",
    "max_concurrency",
    "timeout_s",
    "max_attempts",
    "backoff_s",
    "logprobs",
    "prices",
    "stream",
    "extra_sampling",
    "deadline_s",
    "structured_output",
)
SCRIPTED_OPTIONS = ("answers", "default", "delay_s", "log_path")
SPECS = "embedded, hf:<path-or-hub-id>, openai:<model> or scripted"


def _check_options(spec: str, options: dict[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = set(options) - set(allowed)
    if unknown:
        known = f"known: {', '.join(allowed)}" if allowed else "it takes none"
        raise ConfigError(
            f"model {spec!r}: unknown option(s) {', '.join(sorted(unknown))} ({known})"
        )


HF_TYPES: dict[str, tuple[type, ...]] = {
    "device": (str, int),
    "dtype": (str,),
    "batch_size": (int,),
    "max_batch_tokens": (int,),
    "max_length": (int,),
    "revision": (str, int),
    "share_context": (bool,),
}


def _check_hf_types(spec: str, options: dict[str, Any]) -> None:
    """A mistyped option (``batch_size: eight``) is named here, not deep in transformers."""
    for key, value in options.items():
        types = HF_TYPES.get(key)
        wrong_bool = isinstance(value, bool) and bool not in (types or ())
        if types and (not isinstance(value, types) or wrong_bool):
            names = " or ".join(t.__name__ for t in types)
            raise ConfigError(f"model {spec!r}: option {key} must be {names}, got {value!r}")
        if key in ("batch_size", "max_batch_tokens", "max_length") and value < (
            2 if key == "max_length" else 1
        ):
            raise ConfigError(f"model {spec!r}: option {key} is too small: {value!r}")


def check_spec(spec: str) -> str:
    """``spec`` if it names a backend (nothing is loaded), else a ``ConfigError``."""
    kind, _, target = spec.partition(":")
    if spec in ("embedded", "scripted") or (kind in ("hf", "openai") and target):
        return spec
    raise ConfigError(f"unknown model spec {spec!r} (use {SPECS})")


def load_model(spec: str, **options: Any) -> Model:
    kind, _, target = check_spec(spec).partition(":")
    if spec == "embedded":
        _check_options(spec, options, HF_OPTIONS)
        _check_hf_types(spec, options)
        from evalharness.models.embedded import embedded_model_dir
        from evalharness.models.hf import HFModel

        folder = embedded_model_dir()
        return HFModel(str(folder), name=f"embedded:{folder.name}", **options)
    if kind == "hf":
        _check_options(spec, options, HF_OPTIONS)
        _check_hf_types(spec, options)
        from evalharness.models.hf import HFModel

        return HFModel(target, **options)
    if kind == "openai":
        _check_options(spec, options, OPENAI_OPTIONS)
        from evalharness.models.openai_api import OpenAIModel

        return OpenAIModel(target, **options)
    if spec == "scripted":
        _check_options(spec, options, SCRIPTED_OPTIONS)
        from evalharness.models.scripted import ScriptedModel

        return ScriptedModel(**options)
    raise AssertionError(spec)  # check_spec admits only the kinds above
