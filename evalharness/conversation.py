"""Multi-turn chat: each follow-up turn is asked after the model's own previous answer.

Every round sends all conversations that are still going as ONE list to the backend.
"""

from __future__ import annotations

from evalharness.models.base import Model
from evalharness.requests import GenerateRequest, Generation, Message


def converse(
    model: Model, requests: list[GenerateRequest], followups: list[tuple[str, ...]]
) -> list[Generation]:
    """One Generation per conversation: the last answer, with every turn's answer in meta."""
    histories: list[list[Message]] = [list(r.prompt) for r in requests]  # chat prompts
    answers: list[list[str]] = [[] for _ in requests]
    totals = [Generation(texts=()) for _ in requests]
    active = list(range(len(requests)))
    for turn in range(1 + max((len(f) for f in followups), default=0)):
        asked = [
            GenerateRequest(tuple(histories[i]), requests[i].sampling, requests[i].item)
            for i in active
        ]
        for i, gen in zip(active, model.generate(asked), strict=True):
            before = totals[i]
            totals[i] = Generation(
                texts=gen.texts,
                prompt_tokens=before.prompt_tokens + gen.prompt_tokens,
                completion_tokens=before.completion_tokens + gen.completion_tokens,
                latency_s=before.latency_s + gen.latency_s,
                error=gen.error and f"turn {turn + 1}: {gen.error}",
                meta={**gen.meta, "turns": [*answers[i], *gen.texts[:1]]},
            )
            if gen.error is None:
                answers[i].append(gen.texts[0])
                histories[i].append({"role": "assistant", "content": gen.texts[0]})
        active = [i for i in active if totals[i].error is None and len(followups[i]) > turn]
        for i in active:
            histories[i].append({"role": "user", "content": followups[i][turn]})
    return totals
