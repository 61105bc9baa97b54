"""transformers backend: a causal LM from a local folder or a hub id, run in this process.

Scoring follows lm-evaluation-harness exactly (pair encoding, truncation, rolling windows) so its
numbers can be reproduced. Three things differ for speed and memory, not for results: choices of
a multiple-choice item share one forward pass (one packed row: the context once, then each choice
with its own positions and a mask that hides the other choices); log-probabilities are computed
from hidden states in position chunks, only where a target is scored, so a long batch never holds
a full-vocabulary fp32 tensor; and generation prompts that share a prefix (few-shot examples, one
passage with several questions) run that prefix once per batch.
"""

from __future__ import annotations

import inspect
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    DynamicCache,
    LogitsProcessorList,
    StoppingCriteriaList,
)

from evalharness.errors import ModelError
from evalharness.models.hf_batching import (
    RowSampler,
    ScoreRow,
    StopOnStrings,
    check_local,
    cut_at_stop,
    cut_at_tokens,
    encode_pair,
    pack_continuations,
    packed_inputs,
    pad,
    prefix_order,
    rolling_windows,
    split_prefixes,
    token_batches,
)
from evalharness.requests import (
    GenerateRequest,
    Generation,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    Prompt,
    RollingRequest,
    RollingResult,
    Sampling,
    stream_seed,
)

HEAD_CHUNK = 512  # positions per output-embedding matmul; bounds the fp32 log-softmax buffer
MIN_SHARED_PREFIX = 32  # prompt tokens two generation requests must share to prefill them once


class HFModel:
    """A ``transformers`` causal LM implementing the Model protocol."""

    capabilities = frozenset({"generate", "loglikelihood", "loglikelihood_rolling"})

    def __init__(
        self,
        path: str,
        *,
        device: str = "auto",
        dtype: str = "auto",
        batch_size: int = 8,
        max_length: int | None = None,
        revision: str | None = None,
        share_context: bool = True,
        max_batch_tokens: int | None = None,
        name: str | None = None,
        grammar: str = "xgrammar",
    ) -> None:
        if batch_size < 1:
            raise ModelError(f"batch_size must be >= 1, got {batch_size}")
        self.path = path
        self.device = torch.device(
            ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
        )
        if dtype == "auto":
            self.dtype = torch.bfloat16 if self.device.type == "cuda" else torch.float32
        elif isinstance(getattr(torch, dtype, None), torch.dtype):
            self.dtype = getattr(torch, dtype)
        else:
            raise ModelError(f"unknown dtype {dtype!r} for model {path}")
        self.batch_size = batch_size
        # Padded tokens per forward pass: long rows run in smaller batches than short ones.
        self.max_batch_tokens = max_batch_tokens or (65536 if self.device.type == "cuda" else 8192)
        self.share_context = share_context
        self.grammar_engine = grammar  # json_schema requests: see hf_grammar.py
        self._grammar: Any = None
        self.name = name or f"hf:{path}" + (f"@{revision}" if revision else "")
        self.fingerprint = self.name  # the path and revision are its whole identity
        check_local(path)
        try:  # transformers raises OSError, ValueError, KeyError, ImportError... on bad input
            self.tokenizer = AutoTokenizer.from_pretrained(path, revision=revision)
            self.model = AutoModelForCausalLM.from_pretrained(
                path,
                revision=revision,
                dtype=self.dtype,
                attn_implementation="sdpa",
                device_map=self.device,
            )
        except Exception as exc:
            raise ModelError(f"cannot load model {path!r}: {exc}") from exc
        self.model.eval()
        self.body = self.model.get_decoder()
        self.head = self.model.get_output_embeddings()
        text_config = self.model.config.get_text_config()
        self.softcap = getattr(text_config, "final_logit_softcapping", None)
        self.max_length = (
            max_length or getattr(text_config, "max_position_embeddings", None) or 2048
        )
        # A packed row's own mask replaces the model's: only rows that fit inside a sliding or
        # chunked attention window (where that mask would change nothing) are packed.
        windows = [
            getattr(text_config, k, None) for k in ("sliding_window", "attention_chunk_size")
        ]
        self.pack_limit = min([w for w in windows if isinstance(w, int)], default=None)
        # transformers 5 renamed ``past_key_values`` to ``cache``; accept models on either side.
        params = inspect.signature(self.body.forward).parameters
        self.cache_kwarg = "cache" if "cache" in params else "past_key_values"
        tok = self.tokenizer
        self.prefix_token = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
        self.pad_id = next(i for i in (tok.pad_token_id, tok.eos_token_id, 0) if i is not None)
        eos = self.model.generation_config.eos_token_id
        eos = eos if eos is not None else tok.eos_token_id
        self.eos_ids = set(eos) if isinstance(eos, list) else {eos}

    # -- prompts --------------------------------------------------------------------------

    def _render(self, prompt: Prompt) -> str:
        if isinstance(prompt, str):
            return prompt
        if not self.tokenizer.chat_template:
            raise ModelError(f"model {self.path} has no chat template; use a completion prompt")
        return self.tokenizer.apply_chat_template(
            list(prompt), tokenize=False, add_generation_prompt=True
        )

    def _encode(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False).input_ids

    # -- generation -----------------------------------------------------------------------

    @torch.inference_mode()
    def generate(self, requests: list[GenerateRequest]) -> list[Generation]:
        """Batches requests with equal sampling settings, left padded.

        Prompts sharing a prefix (few-shot examples, several questions on one passage, a chat
        template) are batched together and the prefix is run once per batch (``_prefill``);
        otherwise longest prompts come first. A seeded request's k-th sample draws from its own
        stream, keyed on (seed, ``request.item`` or its list position, k) (``RowSampler``), so it
        does not depend on the batch, the other requests or the cache.
        """
        encoded = [self._encode(self._render(r.prompt)) or [self.prefix_token] for r in requests]
        groups: dict[Sampling, list[int]] = defaultdict(list)
        for i, request in enumerate(requests):
            groups[request.sampling].append(i)
        results: list[Generation | None] = [None] * len(requests)
        for sampling, indices in groups.items():
            keep = max(1, self.max_length - sampling.max_tokens)  # lm-eval truncates from the left
            prompts = {i: encoded[i][-keep:] for i in indices}
            if self._can_prefill(sampling):
                indices = prefix_order(prompts, indices, MIN_SHARED_PREFIX)
            else:
                indices.sort(key=lambda i: -len(prompts[i]))
            width = {i: len(prompts[i]) + sampling.max_tokens for i in indices}
            for batch in self._batches(indices, width.__getitem__):
                started = time.perf_counter()
                inputs = [prompts[i] for i in batch]
                outputs = self._fitting(
                    batch,
                    lambda b, s=sampling, p=prompts: self._generate_batch(
                        [p[i] for i in b], s, [_key(requests[i], i) for i in b]
                    ),
                )
                latency = time.perf_counter() - started
                meta = {"structured_output": self.grammar_engine} if sampling.json_schema else {}
                for i, prompt, (texts, n_completion) in zip(batch, inputs, outputs, strict=True):
                    results[i] = Generation(texts, len(prompt), n_completion, latency, meta=meta)
        return results  # type: ignore[return-value]

    def grammar(self) -> Any:
        """The constrained-decoding engine, built on the first ``json_schema`` request."""
        if self._grammar is None:
            from evalharness.models.hf_grammar import SchemaGrammar

            self._grammar = SchemaGrammar(
                self.tokenizer,
                vocab_size=self.head.out_features,
                stop_ids=self.eos_ids,
                engine=self.grammar_engine,
            )
        return self._grammar

    def _can_prefill(self, sampling: Sampling) -> bool:
        # generate() does not replicate a given cache for several samples per prompt, and a
        # sliding-window cache would need the window applied across the two passes.
        return (sampling.greedy or sampling.n == 1) and self.pack_limit is None

    def _prefill(self, prompts: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor, Any] | None:
        """Cache of the batch's shared prefixes, run once each: ``(ids, mask, cache)`` for
        ``generate``, or None when no prefix is shared.

        Each row is ``[left padding][its prefix][padding][its suffix]``: positions follow the
        mask, so every token sees exactly what it sees in the plain left-padded batch.
        """
        split = split_prefixes(prompts, MIN_SHARED_PREFIX)
        if split is None:
            return None
        prefixes, owner, suffixes = split
        pre_ids, pre_mask = pad(prefixes, self.pad_id, "left", self.device)
        cache = DynamicCache(config=self.model.config)
        self.body(
            input_ids=pre_ids,
            attention_mask=pre_mask,
            position_ids=(pre_mask.cumsum(-1) - 1).clamp(min=0),
            use_cache=True,
            **{self.cache_kwarg: cache},
        )
        rows = torch.tensor(owner, device=self.device)
        cache.batch_select_indices(rows)
        ids, mask = pad(suffixes, self.pad_id, "left", self.device)
        return torch.cat([pre_ids[rows], ids], 1), torch.cat([pre_mask[rows], mask], 1), cache

    def _generate_batch(
        self, prompts: list[list[int]], sampling: Sampling, keys: list[int]
    ) -> list[tuple[tuple[str, ...], int]]:
        prefilled = self._prefill(prompts) if self._can_prefill(sampling) else None
        if prefilled is None:
            ids, mask = pad(prompts, self.pad_id, "left", self.device)
            extra: dict[str, object] = {}
        else:
            ids, mask, cache = prefilled
            extra = {self.cache_kwarg: cache}
        n = 1 if sampling.greedy else sampling.n  # greedy samples are identical: decode once
        kwargs: dict[str, object] = {
            **extra,
            "max_new_tokens": sampling.max_tokens,
            "do_sample": not sampling.greedy,
            "pad_token_id": self.pad_id,
            "eos_token_id": sorted(self.eos_ids),
            "num_return_sequences": n,
        }
        if not sampling.greedy:  # explicit values so the model's generation_config cannot add any
            kwargs.update(
                temperature=sampling.temperature,
                top_k=sampling.top_k or 0,
                top_p=sampling.top_p if sampling.top_p is not None else 1.0,
            )
        processors: list[Any] = []
        if sampling.json_schema is not None:  # the grammar masks before any sampler draws
            processors.append(
                self.grammar().processor(
                    sampling.json_schema, rows=len(prompts) * n, prompt_len=ids.shape[1]
                )
            )
        if not sampling.greedy and sampling.seed is not None:  # one stream per row: RowSampler
            seeds = [stream_seed(sampling.seed, key, k) for key in keys for k in range(n)]
            processors.append(
                RowSampler(sampling.temperature, sampling.top_k, sampling.top_p, seeds, self.device)
            )
            kwargs.update(temperature=1.0, top_k=0, top_p=1.0)
        if processors:
            kwargs["logits_processor"] = LogitsProcessorList(processors)
        if sampling.stop:
            stop = StopOnStrings(self.tokenizer, sampling.stop, ids.shape[1])
            kwargs["stopping_criteria"] = StoppingCriteriaList([stop])
        out = self.model.generate(input_ids=ids, attention_mask=mask, **kwargs)
        stop_ids = self.eos_ids | {self.pad_id}
        samples = [cut_at_tokens(row, stop_ids) for row in out[:, ids.shape[1] :].tolist()]
        texts = [
            cut_at_stop(t, sampling.stop)
            for t in self.tokenizer.batch_decode(samples, skip_special_tokens=True)
        ]
        results = []
        for row in range(len(prompts)):
            mine = range(row * n, (row + 1) * n)
            row_texts = tuple(texts[j] for j in mine) * (sampling.n // n)
            results.append((row_texts, sum(len(samples[j]) for j in mine) * (sampling.n // n)))
        return results

    # -- scoring --------------------------------------------------------------------------

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
        for ctx in [ctx for ctx, members in shared.items() if len(members) == 1]:
            single += shared.pop(ctx)  # nothing to share: one plain pass is cheaper
        rows = [self._pair_row(*pairs[i]) for i in single]
        for i, score in zip(single, self._score_rows(rows), strict=True):
            scores[i] = score
        if shared:
            conts = {i: pairs[i][1] for members in shared.values() for i in members}
            for i, score in self._score_shared(shared, conts).items():
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

    def _score_shared(
        self, groups: dict[tuple[int, ...], list[int]], conts: dict[int, list[int]]
    ) -> dict[int, tuple[float, bool]]:
        """Score all continuations of a context in one packed row (``pack_continuations``).

        The context is run once; each continuation follows it with positions restarting at the
        context's end and a 4D mask that hides the other continuations, so every request sees
        exactly the tokens of its own plain pass. The first continuation token is predicted
        from the context's last position, the rest from the continuation's own segment.
        """
        rows = [
            pack_continuations(list(ctx), [(i, conts[i]) for i in members])
            for ctx, members in groups.items()
        ]
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

    def _batches(self, order: list[Any], length: Callable[[Any], int]) -> Iterator[list[Any]]:
        return token_batches(order, length, self.batch_size, self.max_batch_tokens)

    def _fitting(self, batch: list[Any], run: Callable[[list[Any]], list[Any]]) -> list[Any]:
        """``run(batch)``; out of device memory, run it in halves and halve the token budget.

        The budget starts large on CUDA (65,536 padded tokens), so the batches settle at the
        largest that fits. The retry happens outside the ``except`` block, so the failed
        attempt's tensors are already freed.
        """
        try:
            return run(batch)
        except torch.OutOfMemoryError:
            if len(batch) == 1:
                raise
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        self.max_batch_tokens = max(1, self.max_batch_tokens // 2)
        half = len(batch) // 2
        return self._fitting(batch[:half], run) + self._fitting(batch[half:], run)

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


def _key(request: GenerateRequest, position: int) -> int:
    """The item a request's random stream is keyed on: its row index, else its list position."""
    return request.item if request.item is not None else position
