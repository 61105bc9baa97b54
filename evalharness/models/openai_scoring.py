"""Reading OpenAI-style responses: choice texts, streamed chunks, echoed prompt log-probs.

Every function raises ``AttemptError`` on a payload it cannot read: retryable when the payload
is malformed (a flaky proxy or server), not retryable when it is well formed but cannot give
the number asked for (a truncated prompt, no log-probability for the first token).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from evalharness.models.http_retry import AttemptError


@dataclass(frozen=True)
class EchoToken:
    """One echoed prompt token: its character span, log-probability and argmax flag."""

    start: int
    end: int
    logprob: float | None  # None: the server gives none (the first prompt token)
    greedy: bool | None  # None: no top_logprobs for this position


def _malformed(what: str) -> AttemptError:
    return AttemptError(f"malformed response: {what}", retryable=True)


def choice_texts(data: dict[str, Any], chat: bool) -> list[str]:
    """The text of each choice, in ``index`` order."""
    try:
        choices = sorted(data["choices"], key=lambda c: c.get("index", 0))
        if chat:
            texts = [c["message"].get("content") or "" for c in choices]
        else:
            texts = [c["text"] for c in choices]
    except (KeyError, TypeError, AttributeError) as exc:
        raise _malformed(f"no choices text ({type(exc).__name__}: {exc})") from None
    if not choices or not all(isinstance(t, str) for t in texts):
        raise _malformed("no choices text")
    return texts


def stream_has_content(event: dict[str, Any]) -> bool:
    """Whether a streamed chunk carries generated text (for the time to first token)."""
    for choice in event.get("choices") or []:
        if not isinstance(choice, dict):
            continue
        delta = choice.get("delta")
        if choice.get("text") or (isinstance(delta, dict) and delta.get("content")):
            return True
    return False


def assemble_stream(events: list[dict[str, Any]], chat: bool) -> dict[str, Any]:
    """Streamed chunks -> the non-streamed response shape (choices and usage)."""
    parts: dict[int, list[str]] = {}
    usage: dict[str, Any] = {}
    try:
        for event in events:
            if isinstance(event.get("usage"), dict):
                usage = event["usage"]
            for choice in event.get("choices") or []:
                piece = (choice.get("delta") or {}).get("content") if chat else choice.get("text")
                parts.setdefault(int(choice.get("index", 0)), []).append(piece or "")
    except (TypeError, AttributeError, ValueError) as exc:
        raise _malformed(f"stream chunk ({type(exc).__name__}: {exc})") from None
    choices = [
        {"index": i, "message": {"content": "".join(p)}}
        if chat
        else {"index": i, "text": "".join(p)}
        for i, p in sorted(parts.items())
    ]
    return {"choices": choices, "usage": usage}


def echoed_tokens(data: dict[str, Any], prompt: str) -> list[EchoToken]:
    """The prompt's tokens from an ``echo: true, logprobs: 1`` completion of ``prompt``.

    Generated tokens (offsets at or past the prompt's end) are dropped. Fails when the server
    scored less than the whole prompt (it truncated to its context window).
    """
    try:
        choice = data["choices"][0]
        lp = choice["logprobs"]
        offsets = [int(o) for o in lp["text_offset"]]
        logprobs = [None if x is None else float(x) for x in lp["token_logprobs"]]
        tops = lp.get("top_logprobs") or [None] * len(offsets)
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise _malformed(f"no echoed logprobs ({type(exc).__name__}: {exc})") from None
    if not len(offsets) == len(logprobs) == len(tops):
        raise _malformed("logprobs lists differ in length")
    text = choice.get("text")
    n = sum(1 for o in offsets if o < len(prompt))
    if (isinstance(text, str) and not text.startswith(prompt)) or (n and offsets[0] != 0):
        raise AttemptError(
            "the server echoed a different prompt (truncated to its context window?)",
            retryable=False,
        )
    if n == 0 and prompt:
        raise AttemptError("the server echoed no prompt tokens", retryable=False)
    if any(a > b for a, b in zip(offsets[:n], offsets[1:n], strict=False)):
        raise _malformed("text_offset is not increasing")
    usage = data.get("usage") or {}
    sent = usage.get("prompt_tokens") if isinstance(usage, dict) else None
    if isinstance(sent, int) and n < sent - 1:  # one less: a server may hide the BOS token
        raise AttemptError(
            f"the server echoed {n} of {sent} prompt tokens (truncated to its context window?)",
            retryable=False,
        )
    tokens = []
    for i in range(n):
        end = offsets[i + 1] if i + 1 < n else len(prompt)
        top = tops[i]
        greedy = None
        if logprobs[i] is not None and isinstance(top, dict) and top:
            greedy = logprobs[i] >= max(float(v) for v in top.values()) - 1e-6
        tokens.append(EchoToken(offsets[i], end, logprobs[i], greedy))
    return tokens


def continuation_score(tokens: list[EchoToken], context_chars: int) -> tuple[float, bool, int]:
    """(sum of log-probs, all greedy, n tokens) of the tokens covering text past the context.

    A token that straddles the context's end belongs to the continuation.
    """
    cont = [t for t in tokens if t.end > context_chars]
    if any(t.logprob is None for t in cont):
        raise AttemptError(
            "the server gives no log-probability for the continuation's first token "
            "(empty context?)",
            retryable=False,
        )
    total = sum(t.logprob for t in cont if t.logprob is not None)
    return total, all(t.greedy is True for t in cont), len(cont)


def rolling_score(tokens: list[EchoToken]) -> tuple[float, int]:
    """(sum of log-probs, n scored tokens): tokens without a log-probability are skipped."""
    scored = [t.logprob for t in tokens if t.logprob is not None]
    return sum(scored), len(scored)
