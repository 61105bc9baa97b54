"""transformers backend: a causal LM from a local folder or a hub id, run in this process.

Scoring follows lm-evaluation-harness exactly (pair encoding, truncation, rolling windows) so its
numbers can be reproduced. This module loads the model and tokenizer and reads what the other
parts need from its config; the Model methods live in ``hf_generation`` (``generate``) and
``hf_scoring`` (``loglikelihood``, ``loglikelihood_rolling``), the model-free bookkeeping in
``hf_batching``. Both share the batching here: batches bounded by padded tokens, halved when
the device runs out of memory.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from evalharness.errors import ModelError
from evalharness.models.hf_batching import check_local, token_batches
from evalharness.models.hf_generation import HFGeneration
from evalharness.models.hf_scoring import HFScoring
from evalharness.requests import Prompt


class HFModel(HFGeneration, HFScoring):
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
