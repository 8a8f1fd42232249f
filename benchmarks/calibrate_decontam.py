"""Precision and recall of decontamination settings on the generated labelled set.

    python benchmarks/calibrate_decontam.py [--bench-per-style 12] [--negatives-per-style 25]

Builds the calibration set (videokr.decontam.calibration: by default 24 benchmark videos,
120 planted copies over five transforms, 50 hard negatives), hashes it once per way of
hashing (cached), then scores the paper's setting, the calibrated one and a grid over
(max_distance, min_matched_fraction, geometry), with recall broken down by transform.
Precision is given per flagged training video and per (training, benchmark) pair; see
`calibration.Scores` for what each counts.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def main() -> None:
    from videokr.decontam.cache import HashCache
    from videokr.decontam.calibration import build_calibration_set, recall_by_transform, score
    from videokr.decontam.run import VideoRef, decontaminate, flags
    from videokr.decontam.settings import CALIBRATED, PAPER
    from videokr.store import Store

    ap = argparse.ArgumentParser()
    ap.add_argument("--bench-per-style", type=int, default=12)
    ap.add_argument("--negatives-per-style", type=int, default=25)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-grid", action="store_true", help="only the named settings")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        cset = build_calibration_set(
            Path(tmp), bench_per_style=args.bench_per_style, negatives_per_style=args.negatives_per_style, seed=args.seed
        )
        built = time.perf_counter() - start
        cache = HashCache(Store(Path(tmp) / "cache.sqlite"))
        bench = [VideoRef(i, str(p)) for i, p in cset.bench]
        train = [VideoRef(t.id, str(t.path)) for t in cset.train]
        copies = sum(t.bench_id is not None for t in cset.train)
        geometry = {
            "plain": {"strip_bars": False, "bench_crops": ()},
            "bars": {"strip_bars": True, "bench_crops": ()},
            "bars+crops": {"strip_bars": True, "bench_crops": CALIBRATED.bench_crops},
        }
        grid = [PAPER, CALIBRATED]
        if not args.no_grid:
            grid += [
                PAPER.model_copy(update={"name": f"{g}-d{d}-f{f}", "max_distance": d, "min_matched_fraction": f, **extra})
                for g, extra in geometry.items()
                for d in ((30, 16, 12, 10, 8, 6) if g == "plain" else (12, 10, 8, 6))
                for f in (0.7, 0.9)
            ] + [
                CALIBRATED.model_copy(update={"name": f"{g}-d{d}-p3", "max_distance": d, **extra})
                for g, extra in geometry.items()
                for d in (12, 10, 8, 6)
            ]
        print(f"{len(bench)} benchmark videos, {copies} planted copies, {len(train) - copies} hard negatives "
              f"(built in {built:.0f} s)")
        print(f"{'setting':20s} {'dist':>4s} {'frac':>4s} {'prec':>6s} {'pair-p':>6s} {'recall':>6s} "
              f"{'neg flagged':>11s} {'s':>5s}  recall by transform")
        for s in grid:
            start = time.perf_counter()
            found = set(flags(decontaminate(train, bench, settings=s, cache=cache, workers=args.workers)))
            took = time.perf_counter() - start
            sc = score(cset, found, s)
            detail = " ".join(f"{k}={hit}/{n}" for k, (hit, n) in sorted(recall_by_transform(cset, found).items()))
            print(f"{s.name:20s} {s.max_distance:4d} {s.min_matched_fraction:4.1f} {sc.precision:6.3f} "
                  f"{sc.pair_precision:6.3f} {sc.recall:6.3f} {sc.negatives_flagged:5d}/{sc.negatives:<5d} "
                  f"{took:5.1f}  {detail}")


if __name__ == "__main__":
    main()
