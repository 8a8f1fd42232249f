"""Precision and recall of decontamination settings on the generated labelled set.

    python benchmarks/calibrate_decontam.py [--bench-per-style 6] [--negatives-per-style 10] [--seed 0]

Builds the calibration set (videokr.decontam.calibration: by default 36 benchmark videos in
six footage styles, 180 planted copies over five transforms, 60 hard negatives), hashes it
once per way of hashing (cached), then scores the named settings (`paper`, `calibrated`,
the default marked) and, unless --no-grid, a grid around them, with recall broken down by
transform and by style and the hard negatives flagged per style. Precision is given per
flagged training video and per (training, benchmark) pair; see `calibration.Scores`.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from pathlib import Path


def main() -> None:
    from videokr.decontam.cache import HashCache
    from videokr.decontam.calibration import build_calibration_set, recall_by_transform, score
    from videokr.decontam.run import VideoRef, decontaminate, flags
    from videokr.decontam.settings import CALIBRATED, DEFAULT_SETTINGS, PAPER, SETTINGS
    from videokr.store import Store

    ap = argparse.ArgumentParser()
    ap.add_argument("--bench-per-style", type=int, default=6)
    ap.add_argument("--negatives-per-style", type=int, default=10)
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
        style_of = {t.id: t.id.split("-")[1] for t in cset.train}
        copies = sum(t.bench_id is not None for t in cset.train)
        geometry = {
            "plain": {"strip_bars": False, "bench_crops": ()},
            "bars": {"strip_bars": True, "bench_crops": ()},
            "bars+crops": {"strip_bars": True, "bench_crops": CALIBRATED.bench_crops},
        }
        grid = list(SETTINGS.values())
        if not args.no_grid:
            grid += [
                PAPER.model_copy(update={"name": f"{g}-d{d}", "max_distance": d, **extra})
                for g, extra in geometry.items()
                for d in ((30, 16, 12, 10, 8, 6) if g == "plain" else (12, 10, 8, 6))
            ] + [
                CALIBRATED.model_copy(update={"name": f"crops-d{d}-p{p}{'-all' if cap else ''}", "max_distance": d,
                                              "min_pictures": p, "pictures_shown_cap": cap})
                for d in (12, 10, 8, 6)
                for p, cap in ((3, False), (2, True), (3, True))
            ]
        print(f"{len(bench)} benchmark videos, {copies} planted copies, {len(train) - copies} hard negatives "
              f"(built in {built:.0f} s); default setting: {DEFAULT_SETTINGS}")
        print(f"{'setting':20s} {'dist':>4s} {'pics':>5s} {'prec':>6s} {'pair-p':>6s} {'recall':>6s} "
              f"{'neg flagged':>11s} {'s':>5s}  recall by transform | by style | negatives flagged by style")
        for s in grid:
            start = time.perf_counter()
            found = set(flags(decontaminate(train, bench, settings=s, cache=cache, workers=args.workers)))
            took = time.perf_counter() - start
            sc = score(cset, found, s)
            by_transform = " ".join(f"{k}={hit}/{n}" for k, (hit, n) in sorted(recall_by_transform(cset, found).items()))
            hits, totals = Counter(), Counter()
            for t in cset.train:
                if t.bench_id is not None:
                    totals[style_of[t.id]] += 1
                    hits[style_of[t.id]] += (t.id, t.bench_id) in found
            by_style = " ".join(f"{k}={hits[k]}/{totals[k]}" for k in totals)
            negs = Counter(style_of[t] for t in {t for t, _ in found} if t.startswith("neg-"))
            pictures = f"{s.min_pictures}{'*' if s.pictures_shown_cap and s.min_pictures > 1 else ''}"
            mark = "*" if s.name == DEFAULT_SETTINGS else " "
            print(f"{s.name + mark:20s} {s.max_distance:4d} {pictures:>5s} {sc.precision:6.3f} {sc.pair_precision:6.3f} "
                  f"{sc.recall:6.3f} {sc.negatives_flagged:5d}/{sc.negatives:<5d} {took:5.1f}  {by_transform} | "
                  f"{by_style} | {' '.join(f'{k}={v}' for k, v in sorted(negs.items())) or '-'}")
        print("pics: distinct benchmark pictures a window's matches must show (*: or every picture the window shows)")


if __name__ == "__main__":
    main()
