"""Scoring for the transformers backend: log-likelihoods of continuations and whole texts.

Encoding, truncation and rolling windows follow lm-evaluation-harness (``hf_batching``). Two
things differ for speed and memory, not for results: choices of a multiple-choice item share
one forward pass, and so do items whose contexts share a long prefix (few-shot examples): one
packed row holds the prefix once, each context's rest and each choice with its own positions,
and a mask that hides siblings from each other; and log-probabilities are computed from hidden
states in position chunks, only where a target is scored, so a long batch never holds a
full-vocabulary fp32 tensor. ``HFScoring`` is a mixin of ``HFModel``, which loads the model and
provides ``_render``, ``_encode``, ``_batches`` and ``_fitting``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import torch

from evalharness.models.hf_batching import (
    PackedRow,
    ScoreRow,
    encode_pair,
    group_families,
    pack_family,
    packed_inputs,
    pad,
    rolling_windows,
)
from evalharness.requests import (
    LoglikelihoodRequest,
    LoglikelihoodResult,
    RollingRequest,
    RollingResult,
)

HEAD_CHUNK = 512  # positions per output-embedding matmul; bounds the fp32 log-softmax buffer
FAMILY_TOKENS = 2048  # a row of contexts sharing a prefix: attention over it grows with its square
FAMILY_MIN_SHARED = 64  # fewer shared tokens save less than the wider attention costs


class HFScoring:
    """``loglikelihood`` and ``loglikelihood_rolling`` of ``HFModel``."""

    @torch.inference_mode()
    def loglikelihood(self, requests: list[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        """log P(continuation | context) with lm-evaluation-harness's encoding and truncation."""
        pairs = [
            encode_pair(self._encode, self._render(r.context), r.continuation, self.prefix_token)
            for r in requests
        ]
        scores: list[tuple[float, bool] | None] = [None] * len(requests)
        shared: dict[tuple[int, ...], list[int]] = defaultdict(list)
        single: list[int] = []
        for i, (ctx, cont) in enumerate(pairs):
            if not cont:
                scores[i] = (0.0, True)
            elif self.share_context and len(ctx) + len(cont) - 1 <= self._share_limit():
                shared[tuple(ctx)].append(i)
            else:
                single.append(i)
        families = group_families(
            [(list(ctx), [(i, pairs[i][1]) for i in members]) for ctx, members in shared.items()],
            self._family_budget(),
            FAMILY_MIN_SHARED,
        )
        packed: list[PackedRow] = []
        for prefix, family in families:
            if len(family) == 1 and len(family[0][1]) == 1:  # nothing to share: a plain pass
                single.append(family[0][1][0][0])
            else:
                packed.append(pack_family(prefix, family))
        rows = [self._pair_row(*pairs[i]) for i in single]
        for i, score in zip(single, self._score_rows(rows), strict=True):
            scores[i] = score
        for i, score in self._score_packed(packed).items():
            scores[i] = score
        return [
            LoglikelihoodResult(logprob, greedy, len(cont), prompt_tokens=len(ctx) + len(cont))
            for (logprob, greedy), (ctx, cont) in zip(scores, pairs, strict=True)  # type: ignore[misc]
        ]

    def _share_limit(self) -> int:
        """Longest context + continuation that a packed row may hold (no truncation needed)."""
        if self.pack_limit is None:
            return self.max_length
        return min(self.max_length, self.pack_limit - 1)

    def _family_budget(self) -> int:
        """Tokens of a row of several contexts; within a sliding window, where one is set."""
        if self.pack_limit is None:
            return FAMILY_TOKENS
        return min(FAMILY_TOKENS, self.pack_limit - 1)

    def _pair_row(self, ctx: list[int], cont: list[int]) -> ScoreRow:
        return ScoreRow((ctx + cont)[-(self.max_length + 1) :][:-1], cont)

    @torch.inference_mode()
    def loglikelihood_rolling(self, requests: list[RollingRequest]) -> list[RollingResult]:
        """log P(text), every token scored once; windows of all documents are batched together."""
        docs = [self._encode(r.text) for r in requests]
        rows: list[ScoreRow] = []
        owner: list[int] = []
        for d, tokens in enumerate(docs):
            seq = [self.prefix_token, *tokens]
            for w in rolling_windows(len(tokens), self.max_length):
                rows.append(ScoreRow(seq[w.input_start : w.end], tokens[w.pred_start : w.end]))
                owner.append(d)
        totals = [0.0] * len(docs)
        for d, (logprob, _) in zip(owner, self._score_rows(rows), strict=True):
            totals[d] += logprob
        return [
            RollingResult(total, len(tokens)) for total, tokens in zip(totals, docs, strict=True)
        ]

    def _score_rows(self, rows: list[ScoreRow]) -> list[tuple[float, bool]]:
        """Sum of target log-probs and all-greedy flag per row; right padded, longest first."""
        results: list[tuple[float, bool]] = [(0.0, True)] * len(rows)
        order = sorted(range(len(rows)), key=lambda i: -len(rows[i].input_ids))

        def run(batch: list[int]) -> list[tuple[float, bool]]:
            ids, mask = pad([rows[i].input_ids for i in batch], self.pad_id, "right", self.device)
            hidden = self.body(
                input_ids=ids, attention_mask=mask, use_cache=False
            ).last_hidden_state
            picks = []
            for b, i in enumerate(batch):
                n_in, n_tgt = len(rows[i].input_ids), len(rows[i].targets)
                picks.append((b, range(n_in - n_tgt, n_in), rows[i].targets))
            return self._pick_scores(hidden, picks)

        for batch in self._batches(order, lambda i: len(rows[i].input_ids)):
            for i, score in zip(batch, self._fitting(batch, run), strict=True):
                results[i] = score
        return results

    def _score_packed(self, rows: list[PackedRow]) -> dict[int, tuple[float, bool]]:
        """Score packed rows (``pack_family``): shared tokens are run once per row.

        The choices of one context, and contexts with a long common prefix (a subject's
        few-shot examples), share a row; the 4D mask and restarted positions give every request
        exactly the tokens of its own plain pass. The first continuation token is predicted
        from its context's last position, the rest from the continuation's own segment.
        """
        order = sorted(range(len(rows)), key=lambda r: -len(rows[r].input_ids))

        def run(batch: list[int]) -> list[list[tuple[float, bool]]]:
            packed = [rows[r] for r in batch]
            ids, positions, mask = packed_inputs(packed, self.pad_id, self.device)
            hidden = self.body(
                input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=False
            ).last_hidden_state
            picks = [
                (b, where, tgt) for b, row in enumerate(packed) for _, where, tgt in row.members
            ]
            scores = iter(self._pick_scores(hidden, picks))
            return [[next(scores) for _ in row.members] for row in packed]

        results: dict[int, tuple[float, bool]] = {}
        for batch in self._batches(order, lambda r: len(rows[r].input_ids)):
            for r, scores in zip(batch, self._fitting(batch, run), strict=True):
                results.update(zip((i for i, _, _ in rows[r].members), scores, strict=True))
        return results

    def _pick_scores(
        self, hidden: torch.Tensor, picks: list[tuple[int, Sequence[int], list[int]]]
    ) -> list[tuple[float, bool]]:
        """Per ``(batch row, predicting positions, targets)``: summed log-prob, all greedy."""
        which = [b for b, where, _ in picks for _ in where]
        where = [p for _, positions, _ in picks for p in positions]
        targets = [t for _, _, tgt in picks for t in tgt]
        states = hidden[torch.tensor(which), torch.tensor(where)]
        logprobs, greedy = self._target_scores(states, targets)
        scores, start = [], 0
        for _, _, tgt in picks:
            end = start + len(tgt)
            scores.append((sum(logprobs[start:end]), all(greedy[start:end])))
            start = end
        return scores

    def _target_scores(
        self, states: torch.Tensor, targets: list[int]
    ) -> tuple[list[float], list[bool]]:
        """Log-prob of each target and whether it is the argmax, a chunk of positions at a time."""
        logprobs: list[float] = []
        greedy: list[bool] = []
        wanted = torch.tensor(targets, device=self.device)
        for start in range(0, len(targets), HEAD_CHUNK):
            logits = self.head(states[start : start + HEAD_CHUNK]).float()
            if self.softcap:
                logits = torch.tanh(logits / self.softcap) * self.softcap
            tgt = wanted[start : start + HEAD_CHUNK]
            picked = logits.log_softmax(-1).gather(1, tgt[:, None]).squeeze(1)
            logprobs += picked.double().tolist()
            greedy += (logits.argmax(-1) == tgt).tolist()
        return logprobs, greedy
