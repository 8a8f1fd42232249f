"""Candidate search against brute force, side by side in one run.

    python benchmarks/bench_decontam.py [--train-frames 300000] [--bench-videos 5]

Training hashes are random 64-bit codes (the worst case for an index: no structure to
exploit, every bucket at its chance size) in videos of 344 s; each benchmark video of 300 s
has 40 s copied, with 4–10 bits of noise, into a training video. Times:
  ours        FrameIndex.build + search (candidates, then the paper's verification)
  faiss-flat  FAISS IndexBinaryFlat over every 20-frame window (1280 bits), top-10 per
              benchmark window, then the same verification (the exact brute force)
and checks both find every planted copy.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    from videokr.decontam.search import FrameIndex, verify_alignment
    from videokr.decontam.settings import DecontamSettings

    ap = argparse.ArgumentParser()
    ap.add_argument("--train-frames", type=int, default=300_000)
    ap.add_argument("--bench-videos", type=int, default=5)
    ap.add_argument("--max-distance", type=int, default=14, help="verification radius (30 = paper, loose on random codes)")
    args = ap.parse_args()
    settings = DecontamSettings(max_distance=args.max_distance)
    rng = np.random.default_rng(0)
    video_len = 344
    n_videos = args.train_frames // video_len
    trains = [rng.integers(0, 2**64 - 1, video_len, dtype=np.uint64) for _ in range(n_videos)]
    benches, planted = [], set()
    for b in range(args.bench_videos):
        q = rng.integers(0, 2**64 - 1, 300, dtype=np.uint64)
        v, start, src = int(rng.integers(n_videos)), int(rng.integers(0, video_len - 40)), int(rng.integers(0, 260))
        copy = q[src : src + 40].copy()
        for i in range(40):
            for bit in rng.choice(64, int(rng.integers(4, 11)), replace=False):
                copy[i] ^= np.uint64(1) << np.uint64(int(bit))
        trains[v][start : start + 40] = copy
        benches.append(q)
        planted.add((b, v))
    print(f"{n_videos} training videos, {n_videos * video_len:,} frames, "
          f"{n_videos * (video_len - 19):,} windows; {len(benches)} benchmark videos of 300 s")

    t0 = time.perf_counter()
    index = FrameIndex.build([(str(i), h) for i, h in enumerate(trains)], settings)
    t_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    ours = {(b, v.train_video) for b, q in enumerate(benches) for v in index.search(q) if v.flagged}
    t_ours = time.perf_counter() - t0
    print(f"ours: build {t_build:.2f} s, search {t_ours:.2f} s ({t_ours / len(benches) * 1000:.0f} ms per benchmark video); "
          f"found {len(ours & planted)}/{len(planted)} planted, {len(ours - planted)} others")

    import faiss

    faiss.omp_set_num_threads(2)
    t0 = time.perf_counter()
    windows = []
    owner = []
    for i, h in enumerate(trains):
        w = np.lib.stride_tricks.sliding_window_view(h, 20)
        windows.append(w.astype(">u8").view(np.uint8).reshape(len(w), 160))
        owner.append(np.stack([np.full(len(w), i), np.arange(len(w))], 1))
    windows = np.ascontiguousarray(np.concatenate(windows))
    owner = np.concatenate(owner)
    flat = faiss.IndexBinaryFlat(1280)
    flat.add(windows)
    t_fbuild = time.perf_counter() - t0
    t0 = time.perf_counter()
    brute = set()
    for b, q in enumerate(benches):
        qw = np.ascontiguousarray(np.lib.stride_tricks.sliding_window_view(q, 20).astype(">u8").view(np.uint8).reshape(-1, 160))
        _, ids = flat.search(qw, 10)
        cands = {(int(owner[j][0]), int(owner[j][1]) - s) for s, row in enumerate(ids) for j in row if j >= 0}
        for v, delta in cands:
            r = verify_alignment(q, trains[v], delta, settings)
            if r is not None and r.flagged:
                brute.add((b, v))
    t_brute = time.perf_counter() - t0
    print(f"faiss-flat: build {t_fbuild:.2f} s, search {t_brute:.2f} s ({t_brute / len(benches) * 1000:.0f} ms per benchmark video); "
          f"found {len(brute & planted)}/{len(planted)} planted, {len(brute - planted)} others")
    print(f"ratio: search {t_brute / t_ours:.1f}x faster than FAISS IndexBinaryFlat; "
          f"ours per benchmark frame {t_ours / (len(benches) * 300) * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
