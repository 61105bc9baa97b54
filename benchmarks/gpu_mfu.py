"""Rolling-perplexity throughput and model FLOP utilisation of the transformers backend on a GPU.

Speed does not depend on the weights, so the model is a randomly initialised Llama of about
1.1B parameters (TinyLlama's shape, SmolLM2's tokenizer), saved to a temporary folder and loaded
by ``HFModel`` like any local model. Two rates over the same WikiText-2 test tokens:

  ours     ``HFModel.loglikelihood_rolling`` (bf16, token-budget batches, chunked log-softmax);
  forward  the bare ``model(ids)`` plus a full fp32 log-softmax over the same rolling windows,
           in batches of --batch-size: what a plain transformers loop would do.

MFU = 2 × parameters × tokens/s ÷ peak (989 TFLOP/s: H100/H200 dense bf16). ``--config tiny``
runs a 2-layer model on any device to check the script itself.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/gpu_mfu.py                  # on the GPU machine
    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/gpu_mfu.py --config tiny --device cpu --docs 2
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_workloads import rolling_forward_windows, wikitext_articles  # noqa: E402

SHAPES = {  # hidden, intermediate, layers, heads, kv heads
    "1b": (2048, 5632, 22, 32, 4),
    "tiny": (256, 688, 2, 4, 2),
}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", choices=sorted(SHAPES), default="1b")
    p.add_argument("--device", default="cuda")
    p.add_argument("--dtype", default="bfloat16")
    p.add_argument("--max-length", type=int, default=2048)
    p.add_argument("--batch-size", type=int, default=32, help="rows per forward pass at most")
    p.add_argument("--docs", type=int, default=62, help="WikiText-2 test articles (all: 62)")
    p.add_argument("--peak-tflops", type=float, default=989.0)
    p.add_argument("--skip-forward", action="store_true")
    return p.parse_args()


def build_model(args: argparse.Namespace, folder: Path) -> int:
    """Save a random Llama of the chosen shape with SmolLM2's tokenizer; returns its size."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from evalharness.models.embedded import embedded_model_dir

    tokenizer = AutoTokenizer.from_pretrained(str(embedded_model_dir()))
    hidden, inter, layers, heads, kv = SHAPES[args.config]
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=inter,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv,
        max_position_embeddings=max(args.max_length, 2048),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=False,
    )
    torch.manual_seed(0)
    with torch.device(args.device):
        model = LlamaForCausalLM(config).to(getattr(torch, args.dtype))
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return sum(p.numel() for p in model.parameters())


def sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def run_ours(args: argparse.Namespace, folder: Path, docs: list[str]) -> tuple[int, float]:
    from evalharness.models.hf import HFModel
    from evalharness.requests import RollingRequest

    model = HFModel(
        str(folder),
        device=args.device,
        dtype=args.dtype,
        batch_size=args.batch_size,
        max_length=args.max_length,
    )
    model.loglikelihood_rolling([RollingRequest(docs[0][:2000])])  # warm-up
    sync(args.device)
    started = time.perf_counter()
    results = model.loglikelihood_rolling([RollingRequest(t) for t in docs])
    sync(args.device)
    seconds = time.perf_counter() - started
    if errors := [r.error for r in results if r.error]:
        raise SystemExit(f"{len(errors)} documents failed, first: {errors[0]}")
    return sum(r.n_tokens for r in results), seconds


def run_forward(args: argparse.Namespace, folder: Path, docs: list[str]) -> tuple[int, float]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from evalharness.models.hf_batching import chunks, pad

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(
        folder, dtype=getattr(torch, args.dtype), attn_implementation="sdpa"
    ).to(args.device)
    windows, scored = rolling_forward_windows(tokenizer, docs, args.max_length)
    with torch.inference_mode():
        ids, mask = pad(windows[:1], tokenizer.eos_token_id, "right", args.device)
        model(input_ids=ids, attention_mask=mask).logits.float().log_softmax(-1)  # warm-up
        sync(args.device)
        started = time.perf_counter()
        for batch in chunks(windows, args.batch_size):
            ids, mask = pad(batch, tokenizer.eos_token_id, "right", args.device)
            model(input_ids=ids, attention_mask=mask).logits.float().log_softmax(-1)
        sync(args.device)
    return scored, time.perf_counter() - started


def main() -> None:
    import torch

    args = parse_args()
    docs = wikitext_articles(args.docs)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        params = build_model(args, folder)
        print(f"random Llama {args.config}: {params / 1e9:.3f}B parameters, {args.dtype}")
        runs = {"ours": run_ours}
        if not args.skip_forward:
            runs["forward"] = run_forward
        rates = {}
        for name, run in runs.items():
            if args.device.startswith("cuda"):
                torch.cuda.reset_peak_memory_stats()
            tokens, seconds = run(args, folder, docs)
            rates[name] = tokens / seconds
            mfu = 2 * params * rates[name] / (args.peak_tflops * 1e12)
            memory = (
                f", peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB"
                if args.device.startswith("cuda")
                else ""
            )
            print(
                f"{name}: {tokens} tokens in {seconds:.1f} s = {rates[name]:,.0f} tokens/s, "
                f"MFU {mfu:.1%}{memory}",
                flush=True,
            )
        if "forward" in rates:
            print(f"ours / bare forward: {rates['ours'] / rates['forward']:.2f}")


if __name__ == "__main__":
    main()
