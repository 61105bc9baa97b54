"""Plain request/result records passed between the runner and model backends.

A prompt is either a string (completion format) or a tuple of chat messages
``({"role": ..., "content": ...}, ...)`` that the backend renders with its chat template.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import ConfigDict, field_validator
from pydantic.dataclasses import dataclass as checked_dataclass

Message = dict[str, str]
Prompt = str | tuple[Message, ...]


@checked_dataclass(frozen=True, config=ConfigDict(extra="forbid"))
class Sampling:
    """Decoding settings for one generate request. ``temperature == 0`` means greedy.

    Validated on construction, so a task's ``generation:`` block maps onto it directly.
    ``json_schema``: the answer must be JSON matching this schema (given as a mapping or its
    JSON text, kept as compact JSON text so the settings stay hashable); backends constrain
    decoding to it (see ``models/hf_grammar.py``, ``models/openai_structured.py``).
    """

    temperature: float = 0.0
    top_k: int | None = None
    top_p: float | None = None
    max_tokens: int = 256
    stop: tuple[str, ...] = ()
    seed: int | None = None
    n: int = 1
    json_schema: str | None = None

    @field_validator("json_schema", mode="before")
    @classmethod
    def _schema_text(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        if isinstance(value, str):
            try:
                parsed = json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError(f"json_schema is not valid JSON ({exc.msg})") from None
            if not isinstance(parsed, dict):
                raise ValueError("json_schema must be a JSON object")
        return value

    @property
    def schema(self) -> dict[str, Any] | None:
        """``json_schema`` as a mapping (None when unconstrained)."""
        return json.loads(self.json_schema) if self.json_schema else None

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0


@dataclass(frozen=True)
class GenerateRequest:
    prompt: Prompt
    sampling: Sampling = field(default_factory=Sampling)


@dataclass(frozen=True)
class Generation:
    # n samples; texts[0] is the answer scored unless a best-of-n selector picks another
    texts: tuple[str, ...]
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    error: str | None = None
    # Backend extras (remote: attempts, total_s, ttft_s, cost_usd); not part of equality.
    meta: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class LoglikelihoodRequest:
    """log P(continuation | context). Choices of one multiple-choice item share ``context``."""

    context: Prompt
    continuation: str


@dataclass(frozen=True)
class LoglikelihoodResult:
    logprob: float
    is_greedy: bool  # every continuation token is the argmax
    n_tokens: int
    error: str | None = None


@dataclass(frozen=True)
class RollingRequest:
    """log P(text) under the model, every token scored exactly once (windows if needed)."""

    text: str


@dataclass(frozen=True)
class RollingResult:
    logprob: float
    n_tokens: int
    error: str | None = None
