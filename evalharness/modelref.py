"""One way to name a model: a spec string plus its options, wherever a model is named.

The evaluated model, a judge and a best-of-N selector are all a ``ModelRef``; on the command
line their options use one ``k=v,…`` format (``--model-args``, ``--judge-model-args``), as
lm-evaluation-harness's ``--model_args`` does. Values are read as YAML scalars, so
``batch_size=8,device=cpu,prices={input: 1.0}`` gives an int, a string and a mapping.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import yaml

from evalharness.errors import ConfigError

if TYPE_CHECKING:
    from evalharness.models.base import Model


def parse_model_args(text: str | None, where: str = "--model-args") -> dict[str, Any]:
    """``k=v,k2=v2`` -> ``{k: v, k2: v2}`` with YAML-typed values; ``None`` or "" -> ``{}``."""
    return parse_overrides(text or "", where=where)


@dataclass(frozen=True)
class ModelRef:
    """A model spec (``embedded``, ``hf:…``, ``openai:…``, ``scripted``) and its options."""

    spec: str
    options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, spec: str, args: str | None = None, where: str = "--model-args") -> ModelRef:
        return cls(spec, parse_model_args(args, where))

    def check(self) -> ModelRef:
        """``self`` if the spec names a backend (nothing loads), else a ``ConfigError``."""
        from evalharness.models import check_spec

        check_spec(self.spec)
        return self

    def load(self) -> Model:
        from evalharness.models import load_model

        return load_model(self.spec, **self.options)

    def with_options(self, **options: Any) -> ModelRef:
        """A copy whose options are these merged over the current ones."""
        return ModelRef(self.spec, {**self.options, **options})


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
