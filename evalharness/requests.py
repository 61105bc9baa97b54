"""Plain request/result records passed between the runner and model backends.

A prompt is either a string (completion format) or a tuple of chat messages
``({"role": ..., "content": ...}, ...)`` that the backend renders with its chat template.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import ConfigDict, Field, field_validator
from pydantic.dataclasses import dataclass as checked_dataclass

Message = dict[str, str]
Prompt = str | tuple[Message, ...]


@checked_dataclass(frozen=True, config=ConfigDict(extra="forbid"))
class Sampling:
    """Decoding settings for one generate request. ``temperature == 0`` means greedy.

    Validated on construction, so a task's ``generation:`` block maps onto it directly; every
    field is range-checked here (``temperature=-1``, ``top_p=7``, ``n=0``, ``nan`` are refused)
    so that no backend sees a value it would misread.
    ``json_schema``: the answer must be JSON matching this schema (given as a mapping or its
    JSON text, kept as compact JSON text so the settings stay hashable); backends constrain
    decoding to it (see ``models/hf_grammar.py``, ``models/openai_structured.py``).
    """

    temperature: Annotated[float, Field(ge=0.0, allow_inf_nan=False)] = 0.0
    top_k: Annotated[int, Field(ge=1)] | None = None
    top_p: Annotated[float, Field(gt=0.0, le=1.0, allow_inf_nan=False)] | None = None
    max_tokens: Annotated[int, Field(ge=1)] = 256
    stop: tuple[str, ...] = ()
    seed: int | None = None
    n: Annotated[int, Field(ge=1)] = 1
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
    """``item``: the dataset row index; a seeded sample's random stream is keyed on
    (seed, item, sample number), so it does not depend on the batch (None: list position)."""

    prompt: Prompt
    sampling: Sampling = field(default_factory=Sampling)
    item: int | None = None


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
    # Tokens sent and billed (a remote echo request also generates one); not part of equality.
    prompt_tokens: int = field(default=0, compare=False)
    completion_tokens: int = field(default=0, compare=False)
    meta: dict[str, Any] = field(default_factory=dict, compare=False)  # remote: cost_usd


@dataclass(frozen=True)
class RollingRequest:
    """log P(text) under the model, every token scored exactly once (windows if needed)."""

    text: str


@dataclass(frozen=True)
class RollingResult:
    logprob: float
    n_tokens: int
    error: str | None = None
    prompt_tokens: int = field(default=0, compare=False)
    completion_tokens: int = field(default=0, compare=False)
    meta: dict[str, Any] = field(default_factory=dict, compare=False)


def stream_seed(seed: int, item: int, sample: int) -> int:
    """The seed of one sample's random stream: a function of (seed, item, sample) only."""
    digest = hashlib.sha256(f"{seed}:{item}:{sample}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1
