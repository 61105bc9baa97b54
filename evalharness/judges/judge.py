"""The judge: rubric + judge model -> strict verdicts, pointwise, reference-guided or pairwise.

Every judge request of a batch goes to the model as one list in one ``generate`` call per
round: round 0 asks everything, each later round (at most ``max_reasks``) re-asks only the
answers that failed to parse, with the judge's reply and a short correction appended to the
conversation. What still fails is returned unparsed, with the raw text, never guessed.

Greedy by default; with ``n > 1`` every prompt is sampled n times (temperature 0.7 unless
given) and the parsed samples are combined by ``mean`` or ``majority`` (self-consistency).
Pairwise judging asks every pair in both orders (A/B and B/A); a pair whose two verdicts
disagree after mapping back is a tie, and the share that agree is the position consistency.
Example::

    judge = Judge(load_model("embedded"), load_rubric("summeval"))
    verdicts = judge.judge([Subject(source=article, output=summary)])
    verdicts[0].results["coherence"].score if verdicts[0].parsed else verdicts[0].raws
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from statistics import fmean
from typing import Literal

from evalharness.judges.distribution import distributions
from evalharness.judges.parse import CriterionResult, ParseError, parse_judgment
from evalharness.judges.render import Subject, reask_prompt, render_prompt
from evalharness.judges.rubric import Criterion, Rubric
from evalharness.judges.schema import schema_text, verdict_schema
from evalharness.judges.verdict import PairVerdict, Verdict, Winner
from evalharness.models.base import Model
from evalharness.requests import GenerateRequest, Generation, Message, Sampling

Combine = Literal["mean", "majority"]
COMBINE: tuple[Combine, ...] = ("mean", "majority")
_SWAP: dict[str, Winner] = {"a": "b", "b": "a", "tie": "tie"}

__all__ = ["Judge", "Subject", "combine_values", "winner_of"]


# A server refusing a request longer than its context (llama.cpp, vLLM and OpenAI wordings).
CONTEXT_FULL = re.compile(r"maximum context length|context length exceeded|context window", re.I)


@dataclass
class _Slot:
    conversation: tuple[Message, ...]
    raw: str = ""
    error: str | None = None
    results: dict[str, CriterionResult] | None = None
    attempts: int = 1
    final: bool = False  # a backend error: not re-asked
    replies: list[str] = field(default_factory=list)
    structured: str | None = None


def winner_of(label: str, order: str) -> Winner:
    """Map a judge's label in the presented order (AB or BA) back to 'a', 'b' or 'tie'."""
    w: Winner = label.lower()  # type: ignore[assignment]
    return w if order == "AB" else _SWAP[w]


def combine_values(
    values: Sequence[float | str], criterion: Criterion, how: Combine
) -> float | str:
    """Mean or majority of parsed values. Labels always take the majority.

    Majority ties: labels go to 'tie' when the scale has it (else the first label in scale
    order); numbers go to the lowest of the tied values.
    """
    if not values:
        raise ValueError("nothing to combine")
    if criterion.kind == "label":
        assert criterion.scale is not None
        counts = Counter(values)
        top = max(counts.values())
        tied = [label for label in criterion.scale.labels if counts.get(label) == top]
        if len(tied) > 1 and any(label.lower() == "tie" for label in criterion.scale.labels):
            return next(label for label in criterion.scale.labels if label.lower() == "tie")
        return tied[0]
    numbers = [float(v) for v in values]
    if how == "mean":
        return fmean(numbers)
    counts = Counter(numbers)
    top = max(counts.values())
    return min(v for v, c in counts.items() if c == top)


def _combine_samples(
    samples: list[dict[str, CriterionResult]], rubric: Rubric, how: Combine
) -> dict[str, CriterionResult]:
    if len(samples) == 1:
        return samples[0]
    out = {}
    for c in rubric.criteria:
        results = [s[c.name] for s in samples]
        value = combine_values([r.value for r in results], c, how)  # type: ignore[misc]
        same = [r for r in results if r.value == value]
        rep = same[0] if same else results[0]  # a sample that gave the combined value
        if isinstance(value, str):
            out[c.name] = CriterionResult(c.name, None, value, rep.rationale, rep.errors)
        else:
            out[c.name] = CriterionResult(c.name, float(value), None, rep.rationale, rep.errors)
    return out


@dataclass
class Judge:
    model: Model
    rubric: Rubric
    n: int = 1
    combine: Combine = "mean"
    max_reasks: int = 2
    temperature: float | None = None  # None: greedy when n == 1, else 0.7
    max_tokens: int | None = None  # None: the rubric's max_tokens
    seed: int | None = None
    constrained: bool = True  # send the verdict's JSON Schema (judges/schema.py) with requests
    distributions: bool = True  # score each scale value after the verdict (distribution.py)
    rounds: list[int] = field(default_factory=list)  # requests sent per generate call

    def __post_init__(self) -> None:
        if self.n < 1 or self.max_reasks < 0:
            raise ValueError(f"need n >= 1 and max_reasks >= 0, got {self.n}, {self.max_reasks}")
        if self.combine not in COMBINE:
            raise ValueError(f"combine must be one of {COMBINE}, got {self.combine!r}")

    @property
    def name(self) -> str:
        return self.model.name

    def sampling(self, n: int) -> Sampling:
        temperature = (
            self.temperature if self.temperature is not None else (0.0 if self.n == 1 else 0.7)
        )
        seed = self.seed if self.seed is not None or temperature == 0 else 1234
        schema = verdict_schema(self.rubric, self.max_tokens) if self.constrained else None
        return Sampling(
            temperature=temperature,
            max_tokens=self.max_tokens or self.rubric.max_tokens,
            n=n,
            seed=seed,
            json_schema=schema_text(schema) if schema else None,
        )

    # -- asking ---------------------------------------------------------------------------

    def _parse(self, slot: _Slot) -> None:
        try:
            slot.results, slot.error = parse_judgment(slot.raw, self.rubric), None
        except ParseError as exc:
            slot.results, slot.error = None, str(exc)

    def _generate(self, prompts: list[tuple[Message, ...]], sampling: Sampling) -> list:
        self.rounds.append(len(prompts))
        return self.model.generate([GenerateRequest(p, sampling) for p in prompts])

    def ask(self, prompts: list[tuple[Message, ...]]) -> list[list[_Slot]]:
        """n parsed-or-not answers per prompt: one generate call per round, re-asks bounded."""
        if not prompts:
            return []
        table: list[list[_Slot]] = []
        for prompt, gen in zip(
            prompts, self._generate(prompts, self.sampling(self.n)), strict=True
        ):
            slots = []
            for j in range(self.n):
                slot = _Slot(prompt, structured=self._structured(gen))
                if gen.error is not None or j >= len(gen.texts):
                    slot.error, slot.final = f"model error: {gen.error or 'no text'}", True
                else:
                    slot.raw = gen.texts[j]
                    slot.replies.append(slot.raw)
                    self._parse(slot)
                slots.append(slot)
            table.append(slots)
        retry = self.sampling(1)
        for _ in range(self.max_reasks):
            pending = [s for slots in table for s in slots if s.results is None and not s.final]
            if not pending:
                break
            conversations = [  # from the first ask, so re-asks do not grow (render.py)
                reask_prompt(s.conversation[:2], s.raw, s.error or "", self.rubric) for s in pending
            ]
            for slot, conv, gen in zip(
                pending, conversations, self._generate(conversations, retry), strict=True
            ):
                if gen.error is not None and CONTEXT_FULL.search(gen.error):
                    # The re-ask (first prompt + quoted reply + correction) does not fit where the
                    # first ask did: stop re-asking this one and keep its last parse error.
                    slot.final = True
                    slot.error = f"{slot.error} (no re-ask: it would not fit the judge's context)"
                    continue
                slot.conversation, slot.attempts = conv, slot.attempts + 1
                if gen.error is not None or not gen.texts:
                    slot.error, slot.final = f"model error: {gen.error or 'no text'}", True
                    continue
                slot.raw = gen.texts[0]
                slot.replies.append(slot.raw)
                self._parse(slot)
        return table

    def _structured(self, gen: Generation) -> str | None:
        if not self.constrained:
            return None
        return str(gen.meta.get("structured_output", "unknown"))

    def _verdict(self, prompt: tuple[Message, ...], slots: list[_Slot], shown: bool) -> Verdict:
        parsed = [s.results for s in slots if s.results is not None]
        return Verdict(
            prompt=prompt,
            results=_combine_samples(parsed, self.rubric, self.combine) if parsed else None,
            raws=tuple(s.raw for s in slots),
            samples=tuple(s.results for s in slots),
            errors=tuple(s.error for s in slots),
            attempts=tuple(s.attempts for s in slots),
            replies=tuple(tuple(s.replies) for s in slots),
            reference_shown=shown,
            structured=slots[0].structured if slots else None,
        )

    # -- modes ----------------------------------------------------------------------------

    def _shown(self, subject: Subject, show_reference: bool | None) -> bool:
        show = self.rubric.show_reference if show_reference is None else show_reference
        return show and bool(subject.reference and subject.reference.strip())

    def judge(
        self, subjects: Sequence[Subject], *, show_reference: bool | None = None
    ) -> list[Verdict]:
        """Pointwise (reference-guided where a reference is shown) verdicts, one per subject."""
        if self.rubric.mode != "pointwise":
            raise ValueError(f"rubric {self.rubric.name!r} is pairwise: use judge_pairs")
        shown = [self._shown(s, show_reference) for s in subjects]
        prompts = [
            render_prompt(self.rubric, s, show_reference=sh)
            for s, sh in zip(subjects, shown, strict=True)
        ]
        table = self.ask(prompts)
        verdicts = [self._verdict(p, t, sh) for p, t, sh in zip(prompts, table, shown, strict=True)]
        return self._with_distributions(verdicts)

    def _with_distributions(self, verdicts: list[Verdict]) -> list[Verdict]:
        if not self.distributions:
            return verdicts
        found = distributions(self.model, self.rubric, verdicts)
        return [
            replace(v, distributions=d) if d else v for v, d in zip(verdicts, found, strict=True)
        ]

    def judge_pairs(
        self, subjects: Sequence[Subject], *, show_reference: bool | None = None
    ) -> list[PairVerdict]:
        """Each subject's ``output`` vs ``output_b``, asked in both orders in one batch."""
        if self.rubric.mode != "pairwise":
            raise ValueError(f"rubric {self.rubric.name!r} is pointwise: use judge")
        prompts, shown = [], []
        for s in subjects:
            if s.output_b is None:
                raise ValueError("a pairwise subject needs output_b")
            sh = self._shown(s, show_reference)
            swapped = Subject(s.source, s.output_b, s.reference, s.output)
            prompts += [
                render_prompt(self.rubric, s, show_reference=sh),
                render_prompt(self.rubric, swapped, show_reference=sh),
            ]
            shown.append(sh)
        table = self.ask(prompts)
        pairs = enumerate(zip(prompts, table, strict=True))
        both = self._with_distributions([self._verdict(p, t, shown[k // 2]) for k, (p, t) in pairs])
        out = []
        for i in range(len(shown)):
            ab, ba = both[2 * i], both[2 * i + 1]
            winners: dict[str, Winner | None] = {}
            consistent: dict[str, bool | None] = {}
            for c in self.rubric.criteria:
                if ab.results is None or ba.results is None:
                    winners[c.name] = consistent[c.name] = None
                    continue
                first = winner_of(ab.results[c.name].label or "", "AB")
                second = winner_of(ba.results[c.name].label or "", "BA")
                consistent[c.name] = first == second
                winners[c.name] = first if first == second else "tie"
            out.append(PairVerdict(ab, ba, winners, consistent))
        return out
