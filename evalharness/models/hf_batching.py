"""Pure helpers for the transformers backend: token bookkeeping, batching, padding, stop strings.

Kept apart from ``hf.py`` so the index arithmetic that must match lm-evaluation-harness (pair
encoding, rolling windows) can be read and tested without loading a model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import NamedTuple, TypeVar

import torch
from transformers import PreTrainedTokenizerBase, StoppingCriteria

T = TypeVar("T")


class ScoreRow(NamedTuple):
    """One forward pass row: ``targets`` are scored at the last ``len(targets)`` input positions."""

    input_ids: list[int]
    targets: list[int]


class RollingWindow(NamedTuple):
    """Predicts ``tokens[pred_start:end]`` from ``seq[input_start:end]``; seq = [prefix, *tokens]"""

    input_start: int
    pred_start: int
    end: int


def rolling_windows(n_tokens: int, max_length: int) -> list[RollingWindow]:
    """lm-evaluation-harness's disjoint rolling windows with ``context_len=1``.

    Consecutive windows predict up to ``max_length`` new tokens each; every token is predicted
    exactly once, and each window sees as much left context as fits in ``max_length`` inputs.
    """
    if max_length < 1:
        raise ValueError(f"max_length must be >= 1, got {max_length}")
    windows = []
    for start in range(0, n_tokens, max_length):
        end = min(start + max_length, n_tokens)
        windows.append(RollingWindow(max(0, end - max_length), start, end))
    return windows


def encode_pair(
    encode: Callable[[str], list[int]], context: str, continuation: str, prefix_token: int
) -> tuple[list[int], list[int]]:
    """lm-evaluation-harness's ``_encode_pair``, so scores are comparable with theirs.

    Trailing whitespace of the context moves to the continuation, and the continuation tokens
    are taken from the joint encoding (merges across the boundary stay on the continuation side).
    """
    if context == "":
        return [prefix_token], encode(continuation)
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces > 0:
        continuation = context[-n_spaces:] + continuation
        context = context[:-n_spaces]
    whole = encode(context + continuation)
    ctx = encode(context)
    return ctx, whole[len(ctx) :]


def chunks(items: Sequence[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def token_batches(
    order: Sequence[T], length: Callable[[T], int], max_rows: int, max_tokens: int
) -> Iterator[list[T]]:
    """Batches of items sorted longest first, capped in rows and in padded tokens.

    A fixed row count would pad short rows up to a long one and run long rows eight at a time;
    on a CPU the attention cost of a padded 8k-token batch is several times that of the real
    tokens, so rows are grouped by length under a token budget (a row longer than the budget
    runs alone).
    """
    batch: list[T] = []
    for item in order:
        width = max(length(batch[0]) if batch else 0, length(item))
        if batch and (len(batch) >= max_rows or width * (len(batch) + 1) > max_tokens):
            yield batch
            batch = []
        batch.append(item)
    if batch:
        yield batch


def pad(
    seqs: Sequence[Sequence[int]], pad_id: int, side: str, device: torch.device | str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad to the longest sequence; returns ``(input_ids, attention_mask)`` as long tensors."""
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for row, seq in enumerate(seqs):
        if not seq:
            continue
        span = slice(width - len(seq), width) if side == "left" else slice(0, len(seq))
        ids[row, span] = torch.tensor(seq, dtype=torch.long)
        mask[row, span] = 1
    return ids.to(device), mask.to(device)


def cut_at_stop(text: str, stops: Sequence[str]) -> str:
    """Text before the earliest occurrence of any stop string."""
    cut = len(text)
    for stop in stops:
        at = text.find(stop)
        if at != -1:
            cut = min(cut, at)
    return text[:cut]


def cut_at_tokens(tokens: list[int], stop_ids: set[int]) -> list[int]:
    """Generated tokens before the first EOS (or padding, which follows a finished row)."""
    for i, token in enumerate(tokens):
        if token in stop_ids:
            return tokens[:i]
    return tokens


class StopOnStrings(StoppingCriteria):
    """Per-row stop once any stop string appears in the row's generated text.

    Only a tail of each row is decoded per step (enough tokens for the longest stop string even
    with byte-level pieces), so the check stays cheap for long generations.
    """

    def __init__(
        self, tokenizer: PreTrainedTokenizerBase, stops: Sequence[str], prompt_len: int
    ) -> None:
        self.tokenizer = tokenizer
        self.stops = [s for s in stops if s]
        self.prompt_len = prompt_len
        self.window = 4 * max((len(s) for s in self.stops), default=0) + 8

    def __call__(
        self, input_ids: torch.LongTensor, scores: object, **kwargs: object
    ) -> torch.Tensor:
        tail = input_ids[:, self.prompt_len :][:, -self.window :]
        texts = self.tokenizer.batch_decode(tail.tolist(), skip_special_tokens=True)
        done = [any(stop in text for stop in self.stops) for text in texts]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)
