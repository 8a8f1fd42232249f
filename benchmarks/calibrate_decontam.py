"""Precision and recall of decontamination settings on the generated labelled set.

    python benchmarks/calibrate_decontam.py [--bench-per-style 4] [--negatives-per-style 10]

Builds the calibration set (videokr.decontam.calibration), hashes it once, then scores the
paper's setting, the calibrated one and a grid of (max_distance, min_matched_fraction), with
recall broken down by transform.
"""

from __future__ import annotations

import argparse
import tempfile
from collections import Counter
from pathlib import Path


def main() -> None:
    from videokr.decontam.cache import HashCache
    from videokr.decontam.calibration import build_calibration_set, score
    from videokr.decontam.run import VideoRef, decontaminate, flags
    from videokr.decontam.settings import CALIBRATED, PAPER, DecontamSettings
    from videokr.store import Store

    ap = argparse.ArgumentParser()
    ap.add_argument("--bench-per-style", type=int, default=4)
    ap.add_argument("--negatives-per-style", type=int, default=10)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cset = build_calibration_set(Path(tmp), bench_per_style=args.bench_per_style, negatives_per_style=args.negatives_per_style)
        cache = HashCache(Store(Path(tmp) / "cache.sqlite"))
        bench = [VideoRef(i, str(p)) for i, p in cset.bench]
        train = [VideoRef(t.id, str(t.path)) for t in cset.train]
        positives = Counter(t.transform for t in cset.train if t.bench_id)
        grid = [PAPER, CALIBRATED] + [
            DecontamSettings(name=f"d{d}-f{f}", max_distance=d, min_matched_fraction=f)
            for d in (30, 24, 20, 16, 12, 8) for f in (0.5, 0.7, 0.9)
        ]
        print(f"{len(bench)} benchmark videos, {sum(positives.values())} planted copies, "
              f"{len(train) - sum(positives.values())} hard negatives")
        print(f"{'setting':14s} {'dist':>4s} {'frac':>4s} {'prec':>6s} {'recall':>6s} {'neg flagged':>11s}  recall by transform")
        for s in grid:
            result = decontaminate(train, bench, settings=s, cache=cache, workers=args.workers)
            found = set(flags(result))
            sc = score(cset, found, s)
            by_t = Counter(t.transform for t in cset.train if t.bench_id and (t.id, t.bench_id) in found)
            detail = " ".join(f"{k}={by_t[k]}/{n}" for k, n in sorted(positives.items()))
            print(f"{s.name:14s} {s.max_distance:4d} {s.min_matched_fraction:4.1f} {sc.precision:6.3f} {sc.recall:6.3f} "
                  f"{sc.negatives_flagged:5d}/{sc.negatives:<5d}  {detail}")


if __name__ == "__main__":
    main()
