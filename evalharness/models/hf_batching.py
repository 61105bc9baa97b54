"""Pure helpers for the transformers backend: token bookkeeping, batching, padding, stop strings.

Kept apart from the model (``hf.py``, ``hf_generation.py``, ``hf_scoring.py``) so the index
arithmetic that must match lm-evaluation-harness (pair encoding, rolling windows) can be read
and tested without loading a model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple, TypeVar

import torch
from transformers import (
    LogitsProcessor,
    PreTrainedTokenizerBase,
    StoppingCriteria,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from evalharness.errors import ModelError

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


class PackedRow(NamedTuple):
    """Requests that share a prefix, scored in one forward pass as a tree of segments.

    Segment 0 is the shared prefix; each context's own remainder is a segment whose parent is
    0, and each continuation a segment whose parent is its context's remainder (or 0 when the
    context is the prefix itself). ``positions`` continue from the parent's end, so a token sees
    exactly the tokens, at the positions, of its own plain pass; ``parents`` (one per segment,
    -1 for the prefix) keep sibling segments from attending to each other. ``members`` holds,
    per request, its index, the input indices whose hidden states predict its tokens (its
    context's last index, then its own segment) and those target tokens.
    """

    input_ids: list[int]
    positions: list[int]
    segments: list[int]
    parents: list[int]
    members: list[tuple[int, list[int], list[int]]]


Family = tuple[list[int], Sequence[tuple[int, list[int]]]]  # (context, [(request index, cont)])


def pack_family(prefix: list[int], family: Sequence[Family]) -> PackedRow:
    """``prefix + rest_1 + conts_1[:-1]... + rest_2 + ...``: each context starts with ``prefix``."""
    ids, positions = list(prefix), list(range(len(prefix)))
    segments, parents = [0] * len(prefix), [-1]
    members = []
    for context, conts in family:
        rest = context[len(prefix) :]
        parent, last = 0, len(prefix) - 1
        if rest:
            parent, start = len(parents), len(ids)
            parents.append(0)
            ids += rest
            positions += range(len(prefix), len(context))
            segments += [parent] * len(rest)
            last = start + len(rest) - 1
        for index, cont in conts:
            seg, start = len(parents), len(ids)
            parents.append(parent)
            ids += cont[:-1]
            positions += range(len(context), len(context) + len(cont) - 1)
            segments += [seg] * (len(cont) - 1)
            members.append((index, [last, *range(start, len(ids))], list(cont)))
    return PackedRow(ids, positions, segments, parents, members)


def pack_continuations(context: list[int], conts: Sequence[tuple[int, list[int]]]) -> PackedRow:
    """``context + cont_1[:-1] + cont_2[:-1] + ...`` for ``(request index, cont)`` pairs."""
    return pack_family(context, [(context, conts)])


def group_families(
    families: Sequence[Family], budget: int, min_shared: int
) -> list[tuple[list[int], list[Family]]]:
    """Contexts with a long common prefix (few-shot examples of one subject) put in one row.

    In token order, a context joins the row before it when the row's common prefix stays at
    least ``min_shared`` tokens and at least as long as what the context adds after it (a short
    shared prefix would save fewer tokens than the wider attention costs), and the row stays
    within ``budget`` tokens. Returns ``(common prefix, members)`` per row.
    """
    rows: list[tuple[list[int], list[Family]]] = []
    size = 0
    for family in sorted(families, key=lambda f: f[0]):
        context, conts = family
        own = len(context) + sum(len(c) - 1 for _, c in conts)
        if rows:
            prefix, members = rows[-1]
            shared = common_prefix_len(prefix, context)
            grown = size + (len(members) - 1) * (len(prefix) - shared) + own - shared
            if shared >= min_shared and shared >= len(context) - shared and grown <= budget:
                rows[-1] = (prefix[:shared], [*members, family])
                size = grown
                continue
        rows.append((list(context), [family]))
        size = own
    return rows


def packed_inputs(
    rows: Sequence[PackedRow], pad_id: int, device: torch.device | str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(input_ids, position_ids, 4D boolean attention mask)`` for right-padded packed rows.

    A query attends to an earlier key of its own segment or of one of its segment's ancestors.
    Padding is a segment of its own that sees only the prefix and that no real token sees, so
    no query row is fully masked (that would give NaN states, and NaN times a zero weight is NaN).
    """
    width = max(len(r.input_ids) for r in rows)
    n_seg = max(len(r.parents) for r in rows) + 1  # the last one is padding
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    positions = torch.zeros((len(rows), width), dtype=torch.long)
    segments = torch.full((len(rows), width), n_seg - 1, dtype=torch.long)
    sees = torch.zeros((len(rows), n_seg, n_seg), dtype=torch.bool)
    sees[:, n_seg - 1, 0] = True
    for b, row in enumerate(rows):
        n = len(row.input_ids)
        ids[b, :n] = torch.tensor(row.input_ids, dtype=torch.long)
        positions[b, :n] = torch.tensor(row.positions, dtype=torch.long)
        segments[b, :n] = torch.tensor(row.segments, dtype=torch.long)
        for seg in range(len(row.parents)):
            ancestor = seg
            while ancestor >= 0:
                sees[b, seg, ancestor] = True
                ancestor = row.parents[ancestor]
    index = torch.arange(width)
    causal = index[None, :] <= index[:, None]
    batch = torch.arange(len(rows))[:, None, None]
    mask = causal[None] & sees[batch, segments[:, :, None], segments[:, None, :]]
    return ids.to(device), positions.to(device), mask[:, None].to(device)


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
    widest = 0
    for item in order:
        width = max(widest, length(item))
        if batch and (len(batch) >= max_rows or width * (len(batch) + 1) > max_tokens):
            yield batch
            batch, width = [], length(item)
        batch.append(item)
        widest = width
    if batch:
        yield batch


def common_prefix_len(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def prefix_order(
    prompts: Mapping[int, Sequence[int]], indices: Sequence[int], min_shared: int
) -> list[int]:
    """``indices`` with prompts that share a prefix of ``min_shared``+ tokens next to each other.

    Clusters of such prompts (few-shot examples, one passage with several questions, a chat
    template) come longest first, and so do the prompts inside a cluster.
    """
    if not indices:
        return []
    lexical = sorted(indices, key=lambda i: list(prompts[i]))
    clusters = [[lexical[0]]]
    for prev, cur in zip(lexical, lexical[1:], strict=False):
        if common_prefix_len(prompts[prev], prompts[cur]) >= min_shared:
            clusters[-1].append(cur)
        else:
            clusters.append([cur])
    for cluster in clusters:
        cluster.sort(key=lambda i: -len(prompts[i]))
    clusters.sort(key=lambda c: -len(prompts[c[0]]))
    return [i for cluster in clusters for i in cluster]


def split_prefixes(
    prompts: Sequence[list[int]], min_shared: int
) -> tuple[list[list[int]], list[int], list[list[int]]] | None:
    """Shared prefixes of a batch: ``(distinct prefixes, prefix index per row, suffixes)``.

    Neighbouring prompts (in ``prefix_order``) sharing ``min_shared``+ tokens get their common
    prefix; every suffix keeps at least one token so that each row's next-token logits come
    from its own last prompt token. None when no prefix is shared by two rows.
    """
    groups: list[list[int]] = []
    for row, prompt in enumerate(prompts):
        if groups and common_prefix_len(prompts[groups[-1][0]], prompt) >= min_shared:
            groups[-1].append(row)
        else:
            groups.append([row])
    if all(len(group) == 1 for group in groups):
        return None
    prefixes: list[list[int]] = []
    owner = [0] * len(prompts)
    suffixes: list[list[int]] = [[] for _ in prompts]
    for g, group in enumerate(groups):
        first = prompts[group[0]]
        n = min(len(prompts[r]) - 1 for r in group)
        for r in group[1:]:
            n = min(n, common_prefix_len(first, prompts[r]))
        prefixes.append(first[:n])
        for r in group:
            owner[r] = g
            suffixes[r] = prompts[r][n:]
    if not all(prefixes):  # a one-token prompt: nothing to prefill
        return None
    return prefixes, owner, suffixes


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


class RowSampler(LogitsProcessor):
    """Draws every row's next token with that row's own generator, after temperature, top-k
    and top-p, and returns scores that leave ``generate`` only that token to pick.

    ``generate`` samples a whole batch from the global generator, so a seeded row's tokens
    would depend on its batch; here a row's draws depend only on its own stream (and its
    logits, so a row can still differ across batch compositions where float noise in the
    logits moves a draw across a probability boundary). ``generate`` must be called with
    temperature 1, top_k 0 and top_p 1 so that it applies no warper of its own.
    """

    def __init__(
        self, temperature: float, top_k: int | None, top_p: float | None, seeds: Sequence[int],
        device: torch.device | str,
    ) -> None:  # fmt: skip
        self.warpers: list[LogitsProcessor] = [TemperatureLogitsWarper(temperature)]
        if top_k:
            self.warpers.append(TopKLogitsWarper(top_k))
        if top_p is not None and top_p < 1.0:
            self.warpers.append(TopPLogitsWarper(top_p))
        self.generators = [torch.Generator(device=device).manual_seed(s) for s in seeds]

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.Tensor:
        for warper in self.warpers:
            scores = warper(input_ids, scores)
        probs = scores.float().softmax(-1)
        picks = [
            torch.multinomial(probs[row], 1, generator=gen)
            for row, gen in enumerate(self.generators)
        ]
        out = torch.full_like(scores, -float("inf"))
        return out.scatter_(1, torch.stack(picks), 0.0)


def check_local(path: str) -> None:
    """A path that can only be a folder (``./m``, ``/m``, ``~/m``, ``a/b/c``) must exist;
    transformers would report it as a malformed hub id."""
    folder = Path(path).expanduser()
    looks_local = path.startswith((".", "/", "~", "\\")) or path.count("/") > 1
    if looks_local and not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise ModelError(
            f"model folder {path} {what} (a hub model is named 'namespace/name'; "
            "a local one needs its folder with config.json and the weights)"
        )
