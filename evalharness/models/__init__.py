"""Model spec strings -> backends. Heavy libraries load only when a backend is built.

``embedded`` (the offline default, SmolLM2-135M-Instruct), ``hf:<path-or-hub-id>``,
``scripted`` (a deterministic stand-in for fast tests).
"""

from __future__ import annotations

from typing import Any

from evalharness.errors import ConfigError
from evalharness.models.base import Model

HF_OPTIONS = ("device", "dtype", "batch_size", "max_length", "revision", "share_context")


def load_model(spec: str, **options: Any) -> Model:
    kind, _, target = spec.partition(":")
    unknown = set(options) - set(HF_OPTIONS)
    if unknown:
        raise ConfigError(f"model {spec!r}: unknown option(s) {', '.join(sorted(unknown))}")
    if spec == "embedded":
        from evalharness.models.embedded import embedded_model_dir
        from evalharness.models.hf import HFModel

        folder = embedded_model_dir()
        return HFModel(str(folder), name=f"embedded:{folder.name}", **options)
    if kind == "hf" and target:
        from evalharness.models.hf import HFModel

        return HFModel(target, **options)
    if spec == "scripted":
        from evalharness.models.scripted import ScriptedModel

        return ScriptedModel()
    raise ConfigError(
        f"unknown model spec {spec!r} (use embedded, hf:<path-or-hub-id> or scripted)"
    )
