"""Throughput of the GRPO reward on one core, against a naive per-item baseline in the same run.

The baseline is the reward written the plain way, one item at a time: a fresh ROUGE scorer per
open-ended item and the ground truth re-read for every output (what a per-sample
``compute_score`` does). Both sides score the same generated rollouts and must agree.

Our side is timed once, on rollouts it has not seen (caches warmed on a different set), so
repeated texts do not flatter it. The strict rows are compared with the same naive official
baseline.

Usage: python benchmarks/bench_reward.py [--n 20000] [--seed 0]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import time

from videokr.scoring.reward import score_batch

THINK_WORDS = (
    "the video shows a truck leaving a coffee plantation then a roasting plant and a store which "
    "suggests upstream supply risk wait let me check the options again option A is diversification "
    "B vertical integration C horizontal integration D outsourcing"
).split()


def rollouts(n: int, kind: str, seed: int) -> tuple[list[str], list[str]]:
    """n rollouts in groups of 8 per prompt (GRPO's group size), ~150-word reasoning each."""
    rng = random.Random(seed)
    outputs, gts = [], []
    for g in range(0, n, 8):
        if kind == "multiple choice":
            gold = rng.choice("ABCDE")
        else:
            gold = " ".join(rng.sample(THINK_WORDS, 6))
        for _ in range(min(8, n - g)):
            think = " ".join(rng.choice(THINK_WORDS) for _ in range(150))
            answer = rng.choice("ABCDE") if kind == "multiple choice" else " ".join(rng.sample(THINK_WORDS, 5))
            sep = rng.choice(["", "\n"])
            outputs.append(f"<think>{think}</think>{sep}<answer>{answer}</answer>" if rng.random() < 0.9 else think)
            gts.append(f"<answer>{gold}</answer>")
    return outputs, gts


def naive_score(solution: str, ground_truth: str, problem_type: str) -> float:
    def answer(text: str) -> str:
        m = re.search(r"<answer>\s*(.*?)\s*</answer>", text, re.DOTALL)
        return m.group(1).strip() if m else ""

    fmt = 1.0 if re.fullmatch(r"<think>.*?</think>\s*<answer>.*?</answer>", solution, re.DOTALL) else 0.0
    got, want = answer(solution), answer(ground_truth)
    if problem_type == "multiple choice":
        acc = 1.0 if got == want else 0.0
    else:
        from rouge_score import rouge_scorer

        s = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True).score(want, got)
        acc = max(0.0, min(1.0, (s["rouge1"].fmeasure + s["rouge2"].fmeasure + s["rougeL"].fmeasure) / 3))
    return 0.9 * acc + 0.1 * fmt


def timed(fn, repeat: int = 3) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000, help="multiple-choice rollouts (open-ended: n/10)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core

    print(f"reward throughput, one core, {args.n} MC rollouts and {args.n // 10} open-ended (groups of 8)")
    print(f"{'case':<28}{'items/s':>12}{'naive items/s':>16}{'ratio':>8}")
    for kind, n in (("multiple choice", args.n), ("open-ended", args.n // 10)):
        outputs, gts = rollouts(n, kind, args.seed)
        for mode in ("official", "strict"):
            warm_out, warm_gt = rollouts(n, kind, args.seed + 1)
            score_batch(warm_out, warm_gt, kind, mode)  # a trainer's earlier steps: warm word caches
            t = time.perf_counter()
            ours = score_batch(outputs, gts, kind, mode)  # outputs never seen before: no text-cache hits
            t_ours = time.perf_counter() - t
            if mode == "official":
                naive = [naive_score(o, g, kind) for o, g in zip(outputs, gts)]
                assert all(abs(a - b) < 1e-12 for a, b in zip(ours.reward, naive)), "disagrees with baseline"
                t_naive = timed(lambda: [naive_score(o, g, kind) for o, g in zip(outputs, gts)], repeat=1)
            ratio = t_naive / t_ours
            print(f"{kind + ' / ' + mode:<28}{n / t_ours:>12,.0f}{n / t_naive:>16,.0f}{ratio:>7.1f}x")


if __name__ == "__main__":
    main()
