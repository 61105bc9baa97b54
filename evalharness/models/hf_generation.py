"""Generation for the transformers backend: batching by sampling settings, shared prefixes.

Prompts that share a prefix (few-shot examples, one passage with several questions, a chat
template) are batched together and the prefix runs once per batch; seeded samples draw from
per-row streams (``RowSampler``), and ``json_schema`` requests are constrained by the grammar
engine (``hf_grammar``). ``HFGeneration`` is a mixin of ``HFModel``, which loads the model and
provides ``_render``, ``_encode``, ``_batches`` and ``_fitting``.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

import torch
from transformers import DynamicCache, LogitsProcessorList, StoppingCriteriaList

from evalharness.models.hf_batching import (
    RowSampler,
    StopOnStrings,
    cut_at_stop,
    cut_at_tokens,
    pad,
    prefix_order,
    split_prefixes,
)
from evalharness.requests import GenerateRequest, Generation, Sampling, stream_seed

MIN_SHARED_PREFIX = 32  # prompt tokens two generation requests must share to prefill them once


class HFGeneration:
    """``generate`` of ``HFModel``, and the constrained-decoding engine it builds on demand."""

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


def _key(request: GenerateRequest, position: int) -> int:
    """The item a request's random stream is keyed on: its row index, else its list position."""
    return request.item if request.item is not None else position
