"""Rates, agreement checks and the Markdown table of ``bench_vs_lmeval.py``."""

from __future__ import annotations

import math
import statistics
from typing import Any

GOALS = {  # workload: (rate compared, minimum ratio to lm-eval, minimum fraction of forward)
    "perplexity": ("tokens_per_s", 1.5, 0.85),
    "multiple_choice": ("items_per_s", 2.0, None),
    "generate": ("items_per_s", 1.2, None),
}


def summarize(
    workload: str, runs: dict[str, list[dict[str, Any]]], tokens: int
) -> dict[str, dict[str, Any]]:
    """Median evaluation time per harness and the rates derived from it."""
    out: dict[str, dict[str, Any]] = {}
    for harness, results in runs.items():
        eval_s = statistics.median(r["eval_s"] for r in results)
        items = results[-1]["n_items"]
        out[harness] = {
            "eval_s": eval_s,
            "eval_s_runs": [r["eval_s"] for r in results],
            "cpu_s": statistics.median(r["cpu_s"] for r in results),
            "load_s": statistics.median(r["load_s"] for r in results),
            "items": items,
            "items_per_s": items / eval_s,
            "tokens_per_s": tokens / eval_s,
            "peak_rss_mb": max(r["peak_rss_mb"] for r in results),
            "load_avg_1m": [r["load_avg_1m"] for r in results],
        }
    rate = GOALS[workload][0]
    for row in out.values():
        if "lm-eval" in out:
            row["vs_lmeval"] = row[rate] / out["lm-eval"][rate]
        if "forward" in out:
            row["vs_forward"] = row["tokens_per_s"] / out["forward"]["tokens_per_s"]
    return out


def agreement(
    workload: str, runs: dict[str, list[dict[str, Any]]], tol: float, tokens: int = 0
) -> dict[str, Any] | None:
    """Ours against lm-eval on the last run of each; None when one of them did not run.

    For perplexity the tolerance applies to the corpus token perplexity (``tokens`` scored
    tokens): summed log-likelihoods of thousands of tokens differ in the third decimal only
    because lm-eval adds float32 token log-probs in float32.
    """
    if "ours" not in runs or "lm-eval" not in runs:
        return None
    ours, theirs = runs["ours"][-1], runs["lm-eval"][-1]
    if workload == "generate":
        prompts_differ = sum(
            a != b for a, b in zip(ours["prompts"], theirs["prompts"], strict=True)
        )
        differ = [
            i for i, (a, b) in enumerate(zip(ours["texts"], theirs["texts"], strict=True)) if a != b
        ]
        return {
            "identical_prompts": prompts_differ == 0,
            "identical_texts": not differ and len(ours["texts"]) == len(theirs["texts"]),
            "n_differ": len(differ),
            "differ": [
                {"idx": i, "ours": ours["texts"][i], "lm-eval": theirs["texts"][i]}
                for i in differ[:10]
            ],
        }
    if workload == "perplexity":
        pairs = list(zip(ours["logprobs"], theirs["logprobs"], strict=True))
    else:
        pairs = [
            (a, b)
            for mine, other in zip(ours["logprobs"], theirs["logprobs"], strict=True)
            for a, b in zip(mine, other, strict=True)
        ]
    diffs = [abs(a - b) for a, b in pairs]
    out: dict[str, Any] = {
        "n_compared": len(pairs),
        "max_abs_diff": max(diffs),
        "max_rel_diff": max(d / max(abs(b), 1e-12) for d, (_, b) in zip(diffs, pairs, strict=True)),
        "within_tol": max(diffs) <= tol,
        "tol": tol,
    }
    if workload == "perplexity":
        ppl = [math.exp(-sum(r["logprobs"]) / tokens) for r in (ours, theirs)]
        out["perplexity"] = {"ours": ppl[0], "lm-eval": ppl[1]}
        out["within_tol"] = abs(ppl[0] - ppl[1]) <= tol
    if workload == "multiple_choice":
        out["acc"] = {"ours": ours["acc"], "lm-eval": theirs["acc"]}
        out["acc_norm"] = {"ours": ours["acc_norm"], "lm-eval": theirs["acc_norm"]}
        out["identical_acc"] = (
            ours["acc"] == theirs["acc"] and ours["acc_norm"] == theirs["acc_norm"]
        )
    return out


def _fmt(value: float | None, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def markdown(report: dict[str, Any]) -> str:
    s = report["settings"]
    lines = [
        f"batch size {s['batch_size']}, max_length {s['max_length']}, torch threads "
        f"{s.get('threads') or 'default'}, median of {s['repeats']} "
        f"alternating runs; 1-min load average {report['load_avg_start'][0]:.2f} at start, "
        f"{report['load_avg_end'][0]:.2f} at end",
        "",
        "| workload | harness | items | tokens | eval s | CPU s | items/s | tokens/s | × lm-eval "
        "| of bare forward | peak RSS MB | load s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    checks = []
    for workload, data in report["workloads"].items():
        for harness, row in data["summary"].items():
            lines.append(
                f"| {workload} | {harness} | {row['items']} | {data['tokens']} "
                f"| {row['eval_s']:.1f} | {row['cpu_s']:.0f} | {row['items_per_s']:.2f} "
                f"| {row['tokens_per_s']:.0f} "
                f"| {_fmt(row.get('vs_lmeval'), '.2f')} "
                f"| {_fmt(row.get('vs_forward'), '.0%') if workload == 'perplexity' else '–'} "
                f"| {row['peak_rss_mb']:.0f} | {row['load_s']:.1f} |"
            )
        checks += _check_lines(workload, data)
    return "\n".join(lines + [""] + checks)


def _check_lines(workload: str, data: dict[str, Any]) -> list[str]:
    out = []
    agree = data["agreement"]
    if agree is not None:
        if workload == "generate":
            out.append(
                f"- {workload}: prompts identical: {agree['identical_prompts']}; generated texts "
                f"identical: {agree['identical_texts']} ({agree['n_differ']} of {data['limit']} "
                "differ)"
            )
        else:
            line = (
                f"- {workload}: {agree['n_compared']} log-likelihoods, max |ours − lm-eval| "
                f"{agree['max_abs_diff']:.2e} (relative {agree['max_rel_diff']:.1e})"
            )
            if workload == "perplexity":
                ppl = agree["perplexity"]
                line += f"; token perplexity {ppl['ours']:.6f} vs {ppl['lm-eval']:.6f}"
            line += f"; within {agree['tol']:g}: {agree['within_tol']}"
            if workload == "multiple_choice":
                line += (
                    f"; acc {agree['acc']['ours']:.4f} vs {agree['acc']['lm-eval']:.4f}, acc_norm "
                    f"{agree['acc_norm']['ours']:.4f} vs {agree['acc_norm']['lm-eval']:.4f}: "
                    f"identical {agree['identical_acc']}"
                )
            out.append(line)
    rate, ratio_goal, forward_goal = GOALS[workload]
    ours = data["summary"].get("ours", {})
    if "vs_lmeval" in ours:
        met = ours["vs_lmeval"] >= ratio_goal
        out.append(
            f"- goal {workload}: ≥ {ratio_goal}× lm-eval {rate.replace('_per_s', '/s')}: "
            f"{ours['vs_lmeval']:.2f}× ({'met' if met else 'missed'})"
        )
    if forward_goal is not None and "vs_forward" in ours:
        met = ours["vs_forward"] >= forward_goal
        out.append(
            f"- goal {workload}: ≥ {forward_goal:.0%} of the bare forward rate: "
            f"{ours['vs_forward']:.0%} ({'met' if met else 'missed'})"
        )
    return out
