"""Frame sampling cost on one long video, every method side by side in one run.

    python benchmarks/bench_sampling.py [--seconds 344] [--height 360] [--gop 250]

Makes a procedural H.264 video (25 fps) unless --video is given, then times:
  decode-all   decode every frame to RGB, then pick (what LLaMA-Factory does)
  sequential   decode every frame, convert only the picked ones
  exact        videokr exact mode (seek only into new GOPs)
  keyframe     videokr keyframe mode
  hash-1fps    videokr 1 fps exact pHash (decontamination's per-video cost)
  decode-1fps  the same 1 fps frames decoded without hashing
  one-pass     1 fps + 0.2 fps + 16 uniform frames from one decode (sample_many)
and prints each time and its ratio to the baselines.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def make_video(path: Path, seconds: float, height: int, gop: int) -> Path:
    from videokr.video.synth import scene_frames, write_video

    width = height * 16 // 9 // 16 * 16
    frames = scene_frames(7, seconds, fps=25, width=width, height=height)
    return write_video(path, frames, fps=25, gop=gop, options={"preset": "veryfast"})


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def decode_all_then_pick(path: Path, targets: list[float]) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as c:
        frames = [(f.time, f.to_ndarray(format="rgb24")) for f in c.decode(video=0)]
    times = np.array([t for t, _ in frames])
    return [frames[max(0, int(np.searchsorted(times, t + 1e-9)) - 1)][1] for t in targets]


def sequential_pick(path: Path, targets: list[float]) -> list[np.ndarray]:
    import av

    out, i = [], 0
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        s.codec_context.thread_count = 1
        prev = None
        for f in c.decode(s):
            while i < len(targets) and f.time > targets[i] + 1e-9:
                out.append(prev.to_ndarray(format="rgb24", threads=1))
                i += 1
            prev = f
        while i < len(targets):
            out.append(prev.to_ndarray(format="rgb24", threads=1))
            i += 1
    return out


def main() -> None:
    from videokr.video.phash import hash_video
    from videokr.video.probe import probe
    from videokr.video.sampling import decode_at, sample_frames, sample_many, times_by_rate

    ap = argparse.ArgumentParser()
    ap.add_argument("--video", type=Path)
    ap.add_argument("--seconds", type=float, default=344)
    ap.add_argument("--height", type=int, default=360)
    ap.add_argument("--gop", type=int, default=250)
    ap.add_argument("--skip-decode-all", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.video or make_video(Path(tmp) / "long.mp4", args.seconds, args.height, args.gop)
        t_probe, info = timed(lambda: probe(path))
        print(f"video: {info.width}x{info.height} {info.duration_s:.0f} s {info.frame_count} frames "
              f"{len(info.keyframe_pts)} keyframes; probe {t_probe:.2f} s")
        targets = times_by_rate(info.duration_s, 0.2)
        rows = {}
        if not args.skip_decode_all:
            rows["decode-all (0.2 fps)"], _ = timed(lambda: decode_all_then_pick(path, targets))
        rows["sequential (0.2 fps)"], seq = timed(lambda: sequential_pick(path, targets))
        rows["exact (0.2 fps)"], exact = timed(lambda: sample_frames(path, fps=0.2, info=info))
        rows["keyframe (0.2 fps)"], _ = timed(lambda: sample_frames(path, fps=0.2, mode="keyframe", info=info))
        assert all(np.array_equal(a, b.image) for a, b in zip(seq, exact)), "exact differs from sequential"
        rows["decode-1fps"], _ = timed(lambda: decode_at(path, info, times_by_rate(info.duration_s, 1.0), convert=lambda f, i: None))
        rows["hash-1fps exact"], _ = timed(lambda: hash_video(path, info=info))
        rows["hash-1fps fast"], _ = timed(lambda: hash_video(path, info=info, method="fast"))
        rows["one-pass 1fps+0.2fps+16"], _ = timed(
            lambda: sample_many(path, {"hash": {"fps": 1.0}, "prompt": {"fps": 0.2}, "train": {"n": 16}})
        )
        rows["1fps RGB alone"], _ = timed(lambda: sample_frames(path, fps=1.0, info=info))
        for name, t in rows.items():
            print(f"{name:28s} {t:7.2f} s")
        base = rows.get("decode-all (0.2 fps)")
        print("ratios:")
        if base:
            print(f"  exact    vs decode-all  {base / rows['exact (0.2 fps)']:.1f}x faster")
            print(f"  keyframe vs decode-all  {base / rows['keyframe (0.2 fps)']:.1f}x faster")
        print(f"  exact    vs sequential  {rows['sequential (0.2 fps)'] / rows['exact (0.2 fps)']:.2f}x faster")
        print(f"  keyframe vs exact       {rows['exact (0.2 fps)'] / rows['keyframe (0.2 fps)']:.1f}x faster")
        print(f"  hash-1fps vs decode-1fps  {rows['hash-1fps exact'] / rows['decode-1fps']:.2f}x the decoding cost")
        print(f"  one-pass  vs 1fps alone   {rows['one-pass 1fps+0.2fps+16'] / rows['1fps RGB alone']:.2f}x")


if __name__ == "__main__":
    main()
