"""The transformers backend against hand computations on the real embedded model (no mocks).

References are plain full forward passes (or ``model.generate`` calls) of a separately loaded
``AutoModelForCausalLM``, so the batching, padding, KV-cache sharing and chunked log-softmax of
``HFModel`` are all checked against the simplest possible computation.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from evalharness.errors import ModelError
from evalharness.models.embedded import embedded_model_dir
from evalharness.models.hf import HFModel
from evalharness.models.hf_batching import (
    cut_at_stop,
    encode_pair,
    group_families,
    pack_continuations,
    pack_family,
    packed_inputs,
    prefix_order,
    rolling_windows,
    split_prefixes,
    token_batches,
)
from evalharness.requests import (
    GenerateRequest,
    LoglikelihoodRequest,
    RollingRequest,
    Sampling,
)
from tests.support.helpers import data_lines, data_text

os.environ.setdefault("HF_HUB_OFFLINE", "1")
TOL = 1e-4


@pytest.fixture(scope="module")
def model_dir() -> str:
    return str(embedded_model_dir())


@pytest.fixture(scope="module")
def hf(model_dir: str) -> HFModel:
    return HFModel(model_dir, batch_size=4)


@pytest.fixture(scope="module")
def hf_small(model_dir: str) -> HFModel:
    """max_length 64, so a few hundred tokens need several rolling windows."""
    return HFModel(model_dir, batch_size=4, max_length=64)


@pytest.fixture(scope="module")
def ref(model_dir: str):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    return model.eval()


def tokens(hf: HFModel, text: str) -> list[int]:
    return hf.tokenizer(text, add_special_tokens=False).input_ids


@torch.inference_mode()
def manual_score(ref, inputs: list[int], targets: list[int]) -> tuple[float, bool]:
    """One full forward; targets are predicted by the last len(targets) input positions."""
    logits = ref(torch.tensor([inputs])).logits[0, len(inputs) - len(targets) :]
    logprobs = logits.float().log_softmax(-1)
    wanted = torch.tensor(targets)
    picked = logprobs.gather(1, wanted[:, None]).sum().item()
    return picked, bool((logits.argmax(-1) == wanted).all())


def wiki_text(n_chars: int, skip: int = 0) -> str:
    raw = data_text("wikitext-2-raw", "wiki.test.raw")
    return raw[skip : skip + n_chars]


def lm_eval_windows(token_list: list[int], prefix: int, max_seq_len: int):
    """lm-evaluation-harness's get_rolling_token_windows (context_len=1) + make_disjoint_window."""

    def rolling():
        if not token_list:
            return
        pred_len, predicted = max_seq_len, 0
        first = min(max_seq_len, len(token_list))
        yield [prefix] + token_list[: first - 1], token_list[:first]
        predicted += first
        while predicted < len(token_list):
            window_pred_len = min(len(token_list) - predicted, pred_len)
            end = predicted + window_pred_len
            yield (
                token_list[end - max_seq_len - 1 : end - 1],
                token_list[end - window_pred_len : end],
            )
            predicted += window_pred_len

    for ctx, cont in rolling():
        yield ctx[: len(ctx) - (len(cont) - 1)], cont


# -- rolling windows -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "m", "expected"),
    [
        (0, 8, []),
        (1, 8, [(0, 0, 1)]),
        (8, 8, [(0, 0, 8)]),
        (9, 8, [(0, 0, 8), (1, 8, 9)]),
        (20, 8, [(0, 0, 8), (8, 8, 16), (12, 16, 20)]),
        (3, 1, [(0, 0, 1), (1, 1, 2), (2, 2, 3)]),
    ],
)
def test_rolling_window_plan_edges(n: int, m: int, expected: list[tuple[int, int, int]]) -> None:
    assert [tuple(w) for w in rolling_windows(n, m)] == expected


@pytest.mark.parametrize("m", [1, 2, 5, 64])
def test_rolling_window_plan_scores_each_token_once_like_lm_eval(m: int) -> None:
    for n in range(0, 3 * m + 3):
        windows = rolling_windows(n, m)
        predicted = [i for w in windows for i in range(w.pred_start, w.end)]
        assert predicted == list(range(n))
        tokens_ = list(range(100, 100 + n))
        seq = [-1, *tokens_]
        ours = [(seq[w.input_start : w.end], tokens_[w.pred_start : w.end]) for w in windows]
        theirs = [
            ((ctx + cont)[-(m + 1) :][:-1], cont) for ctx, cont in lm_eval_windows(tokens_, -1, m)
        ]
        assert ours == theirs
        assert all(len(inp) <= m for inp, _ in ours)


def test_rolling_single_window_matches_full_forward(hf: HFModel, ref) -> None:
    text = "The Eiffel Tower is a wrought-iron lattice tower in Paris, France."
    toks = tokens(hf, text)
    [result] = hf.loglikelihood_rolling([RollingRequest(text)])
    expected, _ = manual_score(ref, [hf.tokenizer.bos_token_id, *toks[:-1]], toks)
    assert result.n_tokens == len(toks)
    assert result.logprob == pytest.approx(expected, abs=TOL)


def test_rolling_long_document_uses_disjoint_windows(hf_small: HFModel, ref) -> None:
    text = wiki_text(1300, skip=100)
    toks = tokens(hf_small, text)
    assert 250 <= len(toks) <= 400
    seq = [hf_small.prefix_token, *toks]
    expected = 0.0
    for start in range(0, len(toks), 64):
        end = min(start + 64, len(toks))
        expected += manual_score(ref, seq[max(0, end - 64) : end], toks[start:end])[0]
    [result] = hf_small.loglikelihood_rolling([RollingRequest(text)])
    assert result.n_tokens == len(toks)
    assert result.logprob == pytest.approx(expected, abs=TOL)


def test_rolling_batched_equals_one_at_a_time(hf_small: HFModel) -> None:
    texts = [wiki_text(600, skip=3000), "Short one.", "", wiki_text(250, skip=9000), "A b c"]
    together = hf_small.loglikelihood_rolling([RollingRequest(t) for t in texts])
    for text, batched in zip(texts, together, strict=True):
        [alone] = hf_small.loglikelihood_rolling([RollingRequest(text)])
        assert batched.n_tokens == alone.n_tokens
        assert batched.logprob == pytest.approx(alone.logprob, abs=TOL)
    assert together[2].logprob == 0.0 and together[2].n_tokens == 0


def test_out_of_memory_runs_the_batch_in_halves(
    hf_small: HFModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A simulated device OOM on batches above 2 rows: same results, smaller budget after."""
    requests = [RollingRequest(wiki_text(400, skip=k * 1000)) for k in range(4)]
    baseline = hf_small.loglikelihood_rolling(requests)
    real, rows = hf_small.body, []

    def body(**kwargs):
        rows.append(kwargs["input_ids"].shape[0])
        if rows[-1] > 2:
            raise torch.OutOfMemoryError("simulated")
        return real(**kwargs)

    budget = hf_small.max_batch_tokens
    monkeypatch.setattr(hf_small, "max_batch_tokens", budget)  # restored after the test
    monkeypatch.setattr(hf_small, "body", body)
    again = hf_small.loglikelihood_rolling(requests)
    assert max(rows) > 2 and hf_small.max_batch_tokens < budget
    for a, b in zip(baseline, again, strict=True):
        assert a.logprob == pytest.approx(b.logprob, abs=TOL)

    def no_memory(**kwargs):
        raise torch.OutOfMemoryError("simulated")

    monkeypatch.setattr(hf_small, "body", no_memory)
    with pytest.raises(torch.OutOfMemoryError, match="simulated"):  # a row that cannot fit
        hf_small.loglikelihood_rolling(requests[:1])


# -- loglikelihood ---------------------------------------------------------------------------


def test_encode_pair_moves_trailing_whitespace(hf: HFModel) -> None:
    ctx, cont = encode_pair(hf._encode, "The capital of France is ", "Paris", hf.prefix_token)
    assert ctx == tokens(hf, "The capital of France is")
    assert cont == tokens(hf, "The capital of France is Paris")[len(ctx) :]
    assert encode_pair(hf._encode, "", "Paris", 7) == ([7], tokens(hf, "Paris"))


def test_loglikelihood_matches_manual_forward(hf: HFModel, ref) -> None:
    bos = hf.tokenizer.bos_token_id
    cases = [  # request, context tokens and continuation tokens written out by hand
        (("Question: What is 2+2?\nAnswer:", " 4"), "Question: What is 2+2?\nAnswer:", " 4"),
        (("The capital of France is ", "Paris"), "The capital of France is", " Paris"),
        (("", "Hello world, how are you?"), None, "Hello world, how are you?"),
        (("Roses are red,", " violets are blue"), "Roses are red,", " violets are blue"),
    ]
    results = hf.loglikelihood([LoglikelihoodRequest(*req) for req, _, _ in cases])
    for (_, ctx_text, cont_text), result in zip(cases, results, strict=True):
        ctx = [bos] if ctx_text is None else tokens(hf, ctx_text)
        whole = tokens(hf, (ctx_text or "") + cont_text)
        cont = tokens(hf, cont_text) if ctx_text is None else whole[len(ctx) :]
        expected, greedy = manual_score(ref, (ctx + cont)[:-1], cont)
        assert result.n_tokens == len(cont)
        assert result.logprob == pytest.approx(expected, abs=TOL)
        assert result.is_greedy == greedy


def test_loglikelihood_truncates_context_from_the_left(hf_small: HFModel, ref) -> None:
    context = wiki_text(600, skip=200)
    ctx = tokens(hf_small, context.rstrip())
    moved = context[len(context.rstrip()) :]
    whole = tokens(hf_small, context.rstrip() + moved + " and so on")
    cont = whole[len(ctx) :]
    assert len(ctx) > 64
    expected, _ = manual_score(ref, (ctx + cont)[-65:][:-1], cont)
    [result] = hf_small.loglikelihood([LoglikelihoodRequest(context, " and so on")])
    assert result.logprob == pytest.approx(expected, abs=TOL)


def test_is_greedy(hf: HFModel, ref) -> None:
    context = "The capital of France is"
    ids = tokens(hf, context)
    with torch.inference_mode():
        out = ref.generate(torch.tensor([ids]), max_new_tokens=3, do_sample=False)
    greedy_text = hf.tokenizer.decode(out[0, len(ids) :])
    assert tokens(hf, context + greedy_text)[len(ids) :] == out[0, len(ids) :].tolist()
    hit, miss = hf.loglikelihood(
        [LoglikelihoodRequest(context, greedy_text), LoglikelihoodRequest(context, " banana")]
    )
    assert hit.is_greedy and hit.n_tokens == 3
    assert not miss.is_greedy
    assert hit.logprob > miss.logprob


def test_shared_context_equals_plain_passes_on_piqa(
    hf: HFModel, model_dir: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = data_lines("piqa", "valid.jsonl")
    rows = [json.loads(line) for line in lines[:20]]
    requests = [
        LoglikelihoodRequest(f"Question: {row['goal']}\nAnswer:", " " + row[sol])
        for row in rows
        for sol in ("sol1", "sol2")
    ]
    calls = []
    real = hf._score_packed
    monkeypatch.setattr(hf, "_score_packed", lambda *a: calls.append(1) or real(*a))
    shared = hf.loglikelihood(requests)
    assert calls, "the packed path was not used"
    plain = HFModel(model_dir, batch_size=4, share_context=False).loglikelihood(requests)
    for a, b in zip(shared, plain, strict=True):
        assert a.n_tokens == b.n_tokens
        assert a.logprob == pytest.approx(b.logprob, abs=TOL)
        assert a.is_greedy == b.is_greedy
    for i in range(0, len(requests), 2):
        pick = [max((0, 1), key=lambda k, r=r: r[i + k].logprob) for r in (shared, plain)]
        assert pick[0] == pick[1]


def test_packed_row_layout_and_mask() -> None:
    row = pack_continuations([1, 2, 3], [(7, [10, 11, 12]), (8, [20]), (9, [30, 31])])
    assert row.input_ids == [1, 2, 3, 10, 11, 30]
    assert row.positions == [0, 1, 2, 3, 4, 3]
    assert row.segments == [0, 0, 0, 1, 1, 3]
    assert row.members == [(7, [2, 3, 4], [10, 11, 12]), (8, [2], [20]), (9, [2, 5], [30, 31])]
    short = pack_continuations([5], [(0, [6, 7])])
    ids, positions, mask = packed_inputs([row, short], pad_id=0, device="cpu")
    assert ids.tolist() == [[1, 2, 3, 10, 11, 30], [5, 6, 0, 0, 0, 0]]
    assert positions[1, :2].tolist() == [0, 1]
    assert mask.shape == (2, 1, 6, 6) and mask.dtype == torch.bool
    allowed = mask[0, 0].nonzero().tolist()
    expected = {(q, k) for q in range(3) for k in range(q + 1)}  # the context: causal
    expected |= {(q, k) for q in (3, 4) for k in range(q + 1)}  # choice 1: context + itself
    expected |= {(5, 0), (5, 1), (5, 2), (5, 5)}  # choice 3 never sees choice 1
    assert set(map(tuple, allowed)) == expected
    assert not mask[1, 0, :2, 2:].any()  # no real token attends to padding
    assert mask.any(-1).all()  # no query row is fully masked (that would give NaN)


def test_family_row_shares_a_prefix_between_contexts() -> None:
    shots = list(range(100, 170))  # 70 shared tokens: at least FAMILY_MIN_SHARED (64)
    one, two = [*shots, 1, 2], [*shots, 3]
    rows = group_families([(one, [(0, [7]), (1, [8, 9])]), (two, [(2, [7])])], 2048, 64)
    assert rows == [(shots, [(one, [(0, [7]), (1, [8, 9])]), (two, [(2, [7])])])]
    row = pack_family(*rows[0])
    assert row.input_ids == [*shots, 1, 2, 8, 3]
    assert row.positions == [*range(70), 70, 71, 72, 70]
    assert row.segments == [0] * 70 + [1, 1, 3, 4]
    assert row.parents == [-1, 0, 1, 1, 0, 4]
    assert row.members == [(0, [71], [7]), (1, [71, 72], [8, 9]), (2, [73], [7])]
    _, _, mask = packed_inputs([row], pad_id=0, device="cpu")
    sees = mask[0, 0]
    assert sees[72, :72].all()  # choice 2 of context one: the prefix and its own context
    assert not sees[73, 70:73].any() and sees[73, :70].all()  # context two: not context one
    # too little shared, too much added after it, or over the budget: rows of their own
    assert len(group_families([(one, [(0, [7])]), ([*shots[:10], 5], [(1, [7])])], 2048, 64)) == 2
    long_rest = [*shots, *range(200, 280)]
    assert len(group_families([(one, [(0, [7])]), (long_rest, [(1, [7])])], 2048, 64)) == 2
    assert len(group_families([(one, [(0, [7])]), (two, [(1, [7])])], 72, 64)) == 2


def test_five_shot_items_of_a_subject_packed_equal_plain_passes(
    hf: HFModel, model_dir: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MMLU 5-shot: the subject's shots are run once per row, each question's choices after."""
    dev = [json.loads(line) for line in data_lines("mmlu", "dev/astronomy.jsonl")]
    test = [json.loads(line) for line in data_lines("mmlu", "test/astronomy.jsonl")[:6]]

    def shown(doc: dict) -> str:
        options = "".join(f"\n{k}. {c}" for k, c in zip("ABCD", doc["choices"], strict=True))
        return f"{doc['question'].strip()}{options}\nAnswer:"

    head = "The following are multiple choice questions (with answers) about astronomy.\n\n"
    shots = "".join(f"{shown(d)} {'ABCD'[d['answer']]}\n\n" for d in dev[:5])
    prompts = [head + shots + shown(d) for d in test]
    requests = [LoglikelihoodRequest(prompt, " " + k) for prompt in prompts for k in "ABCD"]
    widths = []
    real = hf._score_packed
    monkeypatch.setattr(
        hf, "_score_packed", lambda rows: widths.extend(len(r.parents) for r in rows) or real(rows)
    )
    packed = hf.loglikelihood(requests)
    assert max(widths) > 5, "no row held the choices of more than one question"
    plain = HFModel(model_dir, batch_size=4, share_context=False).loglikelihood(requests)
    for a, b in zip(packed, plain, strict=True):
        assert (a.n_tokens, a.is_greedy) == (b.n_tokens, b.is_greedy)
        assert a.logprob == pytest.approx(b.logprob, abs=TOL)


def test_packed_choices_match_manual_forward(hf: HFModel, ref) -> None:
    """Items with 3 to 5 choices, one-token and long ones, against one plain forward each."""
    lines = data_lines("arc", "ARC-Challenge-Test.jsonl")
    rows = [json.loads(line)["question"] for line in lines]
    picked = [next(q for q in rows if len(q["choices"]) == n) for n in (3, 5)] + rows[:3]
    requests = [
        LoglikelihoodRequest(f"Question: {q['stem']}\nAnswer:", " " + c["text"])
        for q in picked
        for c in q["choices"]
    ]
    requests += [LoglikelihoodRequest("Is the sky blue? Answer:", c) for c in (" A", " B")]
    assert {len(q["choices"]) for q in picked} >= {3, 4, 5}
    results = hf.loglikelihood(requests)
    for request, result in zip(requests, results, strict=True):
        ctx, cont = encode_pair(hf._encode, request.context, request.continuation, 0)
        expected, greedy = manual_score(ref, (ctx + cont)[:-1], cont)
        assert result.n_tokens == len(cont)
        assert result.logprob == pytest.approx(expected, abs=TOL)
        assert result.is_greedy == greedy


def test_rows_past_a_sliding_window_are_not_packed(
    hf: HFModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A packed row's mask replaces the model's own, so it must fit inside the window."""
    short = [LoglikelihoodRequest("Pick one:", c) for c in (" yes", " no")]
    long_context = "Question: " + wiki_text(300, skip=500) + "\nAnswer:"
    long = [LoglikelihoodRequest(long_context, c) for c in (" yes", " no")]
    baseline = hf.loglikelihood(short + long)
    packed_sizes = []
    real = hf._score_packed

    def spy(rows: list) -> dict:
        packed_sizes.extend(len(r.members) for r in rows)
        return real(rows)

    monkeypatch.setattr(hf, "_score_packed", spy)
    monkeypatch.setattr(hf, "pack_limit", 32)
    assert len(tokens(hf, long_context)) > 32
    limited = hf.loglikelihood(short + long)
    assert packed_sizes == [2]  # only the short item was packed
    for a, b in zip(baseline, limited, strict=True):
        assert a.logprob == pytest.approx(b.logprob, abs=TOL)
        assert a.is_greedy == b.is_greedy


# -- generation ------------------------------------------------------------------------------


def chat(text: str) -> tuple[dict[str, str], ...]:
    return ({"role": "user", "content": text},)


def test_greedy_batch_matches_unbatched_generate(hf: HFModel, ref) -> None:
    prompts = [
        chat("Name three colours."),
        chat("What is 12 times 3? Reply with the number only, then explain in one sentence."),
        chat("Hi"),
        chat("Translate 'good morning' to French."),
        chat("Write one sentence about cats."),
    ]
    results = hf.generate([GenerateRequest(p, Sampling(max_tokens=12)) for p in prompts])
    for prompt, result in zip(prompts, results, strict=True):
        text = hf.tokenizer.apply_chat_template(
            list(prompt), tokenize=False, add_generation_prompt=True
        )
        ids = tokens(hf, text)
        with torch.inference_mode():
            out = ref.generate(torch.tensor([ids]), max_new_tokens=12, do_sample=False)
        new = out[0, len(ids) :].tolist()
        expected = hf.tokenizer.decode(new, skip_special_tokens=True)
        assert result.texts == (expected,)
        assert result.prompt_tokens == len(ids)
        assert result.completion_tokens == len([t for t in new if t != hf.tokenizer.eos_token_id])


def test_prefix_order_and_split_prefixes() -> None:
    shared = list(range(100, 140))
    prompts = {
        0: [1, 2, 3],
        1: shared + [7, 8],
        2: [9] * 50,
        3: shared + [5],
        4: shared + [6, 6, 6],
    }
    order = prefix_order(prompts, list(prompts), min_shared=32)
    assert order == [2, 4, 1, 3, 0]  # the shared cluster together, longest first inside it
    batch = [prompts[i] for i in order]
    prefixes, owner, suffixes = split_prefixes(batch, min_shared=32)
    assert prefixes == [[9] * 49, shared, [1, 2]]
    assert owner == [0, 1, 1, 1, 2]
    assert suffixes == [[9], [6, 6, 6], [7, 8], [5], [3]]
    rebuilt = [prefixes[o] + suffix for o, suffix in zip(owner, suffixes, strict=True)]
    assert rebuilt == batch
    assert split_prefixes([shared, [1, 2, 3]], min_shared=32) is None  # nothing shared
    assert split_prefixes([shared[:32], shared[:32]], min_shared=32) == (
        [shared[:31]],
        [0, 0],
        [shared[31:32], shared[31:32]],
    )  # identical prompts keep one token each to predict from


def test_token_batches_track_the_widest_row() -> None:
    """Rows in prefix-cluster order are not sorted by width: the budget uses the widest."""
    widths = [3, 10, 2, 2, 9]
    batches = list(token_batches(range(5), widths.__getitem__, max_rows=8, max_tokens=20))
    assert batches == [[0, 1], [2, 3], [4]]


def test_shared_prefix_generation_matches_unbatched(hf: HFModel, ref) -> None:
    """Few-shot prompts: the shared examples are prefilled once, the outputs do not change."""
    shots = "".join(
        f"Q: What is {a} plus {b}?\nA: {a} plus {b} is {a + b}.\n\n"
        for a, b in [(2, 3), (10, 7), (41, 1), (6, 6)]
    )
    prompts = [shots + f"Q: What is {q}?\nA:" for q in ("5 plus 4", "12 plus 30", "3 plus 3")]
    prompts.append("Once upon a time")  # shares nothing: a group of its own in the batch
    sampling = Sampling(max_tokens=10, stop=("\n",))
    used = []
    real = hf._prefill
    hf._prefill = lambda p: used.append(real(p)) or used[-1]
    try:
        results = hf.generate([GenerateRequest(p, sampling) for p in prompts])
    finally:
        del hf._prefill
    assert used and used[0] is not None, "the shared prefix was not prefilled"
    for prompt, result in zip(prompts, results, strict=True):
        ids = tokens(hf, prompt)
        with torch.inference_mode():
            out = ref.generate(torch.tensor([ids]), max_new_tokens=10, do_sample=False)
        expected = hf.tokenizer.decode(out[0, len(ids) :], skip_special_tokens=True)
        assert result.texts == (cut_at_stop(expected, ("\n",)),)
        assert result.prompt_tokens == len(ids)


def test_generate_answers_paris(hf: HFModel) -> None:
    prompt = chat("What is the capital of France? Answer in one word.")
    [result] = hf.generate([GenerateRequest(prompt, Sampling(max_tokens=16))])
    assert "paris" in result.texts[0].lower()
    assert result.latency_s > 0


def test_stop_strings_cut_text_and_stop_early(hf: HFModel) -> None:
    prompt = chat("Count from 1 to 20, separated by commas.")
    full, stopped = hf.generate(
        [
            GenerateRequest(prompt, Sampling(max_tokens=48)),
            GenerateRequest(prompt, Sampling(max_tokens=48, stop=("7", "seven"))),
        ]
    )
    assert "7" in full.texts[0]
    assert stopped.texts[0] == cut_at_stop(full.texts[0], ("7", "seven"))
    assert "7" not in stopped.texts[0]
    assert stopped.completion_tokens < full.completion_tokens


def test_max_tokens_and_request_order(hf: HFModel) -> None:
    prompts = ["Once upon a time", chat("Tell me about the moon in detail."), "1, 2, 3,"]
    limits = [3, 5, 7]
    requests = [
        GenerateRequest(p, Sampling(max_tokens=k)) for p, k in zip(prompts, limits, strict=True)
    ]
    together = hf.generate(requests)
    for request, result, limit in zip(requests, together, limits, strict=True):
        assert result.completion_tokens <= limit
        assert hf.generate([request])[0].texts == result.texts
    assert together[1].completion_tokens == 5  # a long answer is cut by max_tokens


def test_seeded_sampling_is_reproducible(hf: HFModel) -> None:
    sampling = Sampling(temperature=1.0, top_p=0.95, seed=1234, n=2, max_tokens=10)
    request = GenerateRequest(chat("Tell me a story."), sampling)
    first, second = hf.generate([request]), hf.generate([request])
    assert first[0].texts == second[0].texts
    assert len(first[0].texts) == 2
    other = hf.generate([GenerateRequest(request.prompt, replace(sampling, seed=9))])
    assert other[0].texts != first[0].texts


def test_bad_path_is_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=str(tmp_path)):
        HFModel(str(tmp_path / "nope"))


def test_chat_prompt_without_template_is_model_error(
    hf: HFModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hf.tokenizer, "chat_template", None)
    with pytest.raises(ModelError, match="chat template"):
        hf.generate([GenerateRequest(chat("Hi"), Sampling(max_tokens=2))])


def test_empty_inputs(hf: HFModel) -> None:
    assert hf.generate([]) == [] and hf.loglikelihood([]) == []
    [gen] = hf.generate([GenerateRequest("", Sampling(max_tokens=3))])  # starts from BOS
    assert gen.prompt_tokens == 1 and gen.completion_tokens <= 3
    [ll] = hf.loglikelihood([LoglikelihoodRequest("Hello", "")])
    assert (ll.logprob, ll.is_greedy, ll.n_tokens) == (0.0, True, 0)


def test_max_batch_tokens_is_a_model_option() -> None:
    """``--model-args max_batch_tokens=N`` sets the padded-token budget of a forward pass."""
    from evalharness.models import load_model

    assert load_model("embedded", max_batch_tokens=32768).max_batch_tokens == 32768
