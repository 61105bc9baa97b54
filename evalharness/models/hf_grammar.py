"""Grammar-constrained decoding for the transformers backend: a JSON Schema as a logits mask.

A request whose ``Sampling.json_schema`` is set is decoded under that schema: before each
step, every batched row (each of the n samples of each prompt) gets its own matcher state, the
matcher computes the bitmask of tokens that keep the text a prefix of a valid document, and
the other tokens' logits are set to -inf. Once the document is complete only a stop token is
allowed. Two maintained engines are wired in (``grammar=`` model option): ``xgrammar``
(default; MLC's, compiled grammars with a token-mask cache, the fastest per-token mask here)
and ``llguidance`` (Microsoft's, lazily built lexer automata). Both take the schema with
compact separators (no free whitespace: a small model would otherwise loop on newlines).

``stats`` accumulates the masking time and the steps masked, so the overhead per token is
measurable (``benchmarks/judge_valid.py``). Example::

    grammar = SchemaGrammar(tokenizer, vocab_size=49152, stop_ids=[2], engine="xgrammar")
    processor = grammar.processor(schema_text, rows=8, prompt_len=ids.shape[1])
    model.generate(ids, logits_processor=LogitsProcessorList([processor]))
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import torch
from transformers import LogitsProcessor, PreTrainedTokenizerBase

from evalharness.errors import ConfigError, ModelError

ENGINES = ("xgrammar", "llguidance")


class _XGrammar:
    """xgrammar: compiled once per schema; one ``GrammarMatcher`` per row."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, vocab_size: int, stop_ids: list[int]):
        import xgrammar as xgr

        self.xgr = xgr
        info = xgr.TokenizerInfo.from_huggingface(
            tokenizer, vocab_size=vocab_size, stop_token_ids=stop_ids
        )
        self.compiler = xgr.GrammarCompiler(info)
        self.vocab_size = vocab_size
        self.compile = lru_cache(maxsize=32)(self._compile)

    def _compile(self, schema: str) -> Any:
        return self.compiler.compile_json_schema(
            schema, any_whitespace=False, separators=(",", ":"), strict_mode=True
        )

    def matchers(self, schema: str, rows: int) -> list[Any]:
        compiled = self.compile(schema)
        return [self.xgr.GrammarMatcher(compiled) for _ in range(rows)]

    def bitmask(self, rows: int) -> torch.Tensor:
        return self.xgr.allocate_token_bitmask(rows, self.vocab_size)

    def fill(self, matcher: Any, bitmask: torch.Tensor, row: int) -> None:
        matcher.fill_next_token_bitmask(bitmask, row)

    def accept(self, matcher: Any, token: int) -> bool:
        return bool(matcher.accept_token(token))

    def done(self, matcher: Any) -> bool:
        return bool(matcher.is_terminated())

    def apply(self, scores: torch.Tensor, bitmask: torch.Tensor) -> None:
        self.xgr.apply_token_bitmask_inplace(scores, bitmask.to(scores.device))


class _LLGuidance:
    """llguidance: one ``LLMatcher`` per row over a lazily built lexer and parser."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, vocab_size: int, stop_ids: list[int]):
        import llguidance
        import llguidance.hf
        import llguidance.torch

        self.ll = llguidance
        self.tokenizer = llguidance.hf.from_tokenizer(
            tokenizer, n_vocab=vocab_size, eos_token=stop_ids[0] if stop_ids else None
        )
        self.grammar = lru_cache(maxsize=32)(self._grammar)

    def _grammar(self, schema: str) -> str:
        return self.ll.LLMatcher.grammar_from_json_schema(
            schema,
            defaults={"whitespace_flexible": False, "item_separator": ",", "key_separator": ":"},
        )

    def matchers(self, schema: str, rows: int) -> list[Any]:
        grammar = self.grammar(schema)
        return [self.ll.LLMatcher(self.tokenizer, grammar) for _ in range(rows)]

    def bitmask(self, rows: int) -> torch.Tensor:
        return self.ll.torch.allocate_token_bitmask(rows, self.tokenizer.vocab_size)

    def fill(self, matcher: Any, bitmask: torch.Tensor, row: int) -> None:
        self.ll.torch.fill_next_token_bitmask(matcher, bitmask, row)

    def accept(self, matcher: Any, token: int) -> bool:
        return bool(matcher.consume_token(token))

    def done(self, matcher: Any) -> bool:
        return bool(matcher.is_stopped())

    def apply(self, scores: torch.Tensor, bitmask: torch.Tensor) -> None:
        self.ll.torch.apply_token_bitmask_inplace(scores, bitmask.to(scores.device))


class SchemaGrammar:
    """One engine bound to one tokenizer; hands out a logits processor per generate batch."""

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase,
        *,
        vocab_size: int,
        stop_ids: Sequence[int],
        engine: str = "xgrammar",
    ) -> None:
        if engine not in ENGINES:
            raise ConfigError(f"grammar must be one of {', '.join(ENGINES)}, got {engine!r}")
        kind = _XGrammar if engine == "xgrammar" else _LLGuidance
        try:
            self.engine = kind(tokenizer, vocab_size, sorted(stop_ids))
        except ImportError as exc:
            raise ModelError(
                f"constrained decoding needs {engine} (pip install 'evalharness[grammar]'): {exc}"
            ) from exc
        self.name = engine
        self.stats = {"steps": 0, "rows": 0, "mask_s": 0.0}

    def processor(self, schema: str, *, rows: int, prompt_len: int) -> SchemaLogitsProcessor:
        try:
            matchers = self.engine.matchers(schema, rows)
        except Exception as exc:  # the engines raise their own types for unsupported schemas
            raise ModelError(f"{self.name} cannot compile the JSON schema: {exc}") from exc
        return SchemaLogitsProcessor(self, matchers, prompt_len)


class SchemaLogitsProcessor(LogitsProcessor):
    """Masks each row's logits with its own matcher; a finished row is left alone."""

    def __init__(self, grammar: SchemaGrammar, matchers: list[Any], prompt_len: int) -> None:
        self.grammar = grammar
        self.engine = grammar.engine
        self.matchers = matchers
        self.prompt_len = prompt_len
        self.finished = [False] * len(matchers)
        self.bitmask = self.engine.bitmask(len(matchers))

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.Tensor:
        started = time.perf_counter()
        if input_ids.shape[0] != len(self.matchers):
            raise ModelError(f"grammar: {input_ids.shape[0]} rows for {len(self.matchers)} states")
        last = input_ids[:, -1].tolist() if input_ids.shape[1] > self.prompt_len else None
        self.bitmask.fill_(-1)  # every token allowed, for rows that are finished
        active = 0
        for row, matcher in enumerate(self.matchers):
            if self.finished[row]:
                continue
            if last is not None and (
                not self.engine.accept(matcher, last[row]) or self.engine.done(matcher)
            ):
                self.finished[row] = True  # a stop token, or padding after one
                continue
            self.engine.fill(matcher, self.bitmask, row)
            active += 1
        if active:
            self.engine.apply(scores, self.bitmask)
        stats = self.grammar.stats
        stats["steps"] += 1
        stats["rows"] += active
        stats["mask_s"] += time.perf_counter() - started
        return scores
