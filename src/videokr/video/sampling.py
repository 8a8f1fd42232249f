"""Frames at chosen times, each with the presentation time it is shown at.

`exact` returns, for every target time, the frame a player shows at that time (the last
frame whose presentation time is not after it). It seeks to the keyframe before a target
only when the target lies beyond the group of pictures being decoded, so a few frames cost
a few GOPs, and dense targets cost one sequential pass; nothing is converted to RGB but the
frames returned, and they are scaled by the decoder's own pixel pipeline.

`keyframe` returns, for every target, the nearest keyframe and its true time: only
keyframes are decoded, an order of magnitude less work, for uses where a few seconds'
offset is acceptable (safety checks, single-frame probes).
"""

from __future__ import annotations

import bisect
import math
import multiprocessing
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from videokr.dataurl import jpeg_bytes
# format_timestamp lives in videokr.timestamps; re-exported here because `videokr video frames` imports it from here
from videokr.timestamps import format_timestamp  # noqa: F401
from videokr.video.probe import VideoError, VideoInfo, configure_decoder, open_video, probe

Mode = Literal["exact", "keyframe"]
MODES: tuple[str, ...] = ("exact", "keyframe")
DEFAULT_JPEG_QUALITY = 90
KeyframeFetch = Literal["auto", "seek", "scan"]
KEYFRAME_FETCHES: tuple[str, ...] = ("auto", "seek", "scan")
# Keyframe mode reaches keyframes by a seek each, or by one scan of the packets in order.
# Seeking an indexed container (MP4, MOV, Matroska with cues, WebM) costs microseconds,
# less than demuxing the one group of pictures between two keyframes, so `auto` always
# seeks there (344 s 360p MP4: 0.090 s seeking vs 0.109 s scanning for all 35 keyframes,
# 0.016 vs 0.035 s for 4). Without an index (MPEG-TS) a seek is a timestamp search and
# the two cross near all keyframes wanted (0.105 vs 0.104 s for 31 of 35, 0.116 vs
# 0.114 s for 35, 0.063 vs 0.073 s for 18): `auto` scans when more than this share of
# the keyframes is wanted.
KEYFRAME_SCAN_MIN_SHARE = 0.9
INDEXED_FORMATS = ("mov", "mp4", "m4a", "3gp", "3g2", "mj2", "matroska", "webm")



@dataclass
class Frame:
    """A decoded frame. `index` is its position among all frames of the video (true even
    for variable frame rate); `pts_seconds` counts from the video's first frame."""

    index: int
    pts_seconds: float
    image: np.ndarray = field(repr=False)  # (H, W, 3) uint8 RGB, upright
    target_seconds: float | None = None


# -- choosing target times -----------------------------------------------------------------


def times_by_rate(duration_s: float, fps: float) -> list[float]:
    """0, 1/fps, 2/fps, … strictly before the end (0.2 fps → every 5 s, as §3.3 prompts show)."""
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    count = max(1, math.ceil(duration_s * fps - 1e-9))
    return [i / fps for i in range(count)]


def times_uniform(info: VideoInfo, n: int) -> list[float]:
    """n frames spread evenly from the first to the last frame (the frame positions
    qwen-vl-utils picks: linspace over frame indices, rounded)."""
    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    positions = np.linspace(0, info.frame_count - 1, n).round().astype(int)
    return [info.seconds(int(info.frame_pts[p])) for p in positions]


def times_random(info: VideoInfo, k: int, seed: int) -> list[float]:
    """k distinct frames drawn without replacement (seeded), in time order."""
    if k <= 0:
        raise ValueError(f"k must be positive, got {k}")
    rng = np.random.default_rng(seed)
    positions = np.sort(rng.choice(info.frame_count, size=min(k, info.frame_count), replace=False))
    return [info.seconds(int(info.frame_pts[p])) for p in positions]


def target_times(
    info: VideoInfo,
    *,
    fps: float | None = None,
    n: int | None = None,
    k: int | None = None,
    times: Sequence[float] | None = None,
    seed: int = 0,
) -> list[float]:
    chosen = [name for name, v in (("fps", fps), ("n", n), ("k", k), ("times", times)) if v is not None]
    if len(chosen) != 1:
        raise ValueError(f"give exactly one of fps, n, k, times (got {', '.join(chosen) or 'none'})")
    if fps is not None:
        return times_by_rate(info.duration_s, fps)
    if n is not None:
        return times_uniform(info, n)
    if k is not None:
        return times_random(info, k, seed)
    bad = [t for t in times if not (isinstance(t, (int, float)) and math.isfinite(t) and t >= 0)]  # type: ignore[union-attr]
    if bad:
        raise ValueError(f"times must be finite and non-negative seconds, got {bad[:3]}")
    return [float(t) for t in times]  # type: ignore[union-attr]


# -- decoding ------------------------------------------------------------------------------


def sample_frames(
    path: str | Path,
    *,
    fps: float | None = None,
    n: int | None = None,
    k: int | None = None,
    times: Sequence[float] | None = None,
    mode: Mode = "exact",
    seed: int = 0,
    size: tuple[int, int] | None = None,
    info: VideoInfo | None = None,
    threads: int = 1,
) -> list[Frame]:
    """Frames of one video, in target order; `size` is the (width, height) of the upright image."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    info = info or probe(path)
    targets = target_times(info, fps=fps, n=n, k=k, times=times, seed=seed)
    return decode_at(path, info, targets, mode=mode, size=size, threads=threads)


def decode_at(
    path: str | Path,
    info: VideoInfo,
    targets: Sequence[float],
    *,
    mode: Mode = "exact",
    size: tuple[int, int] | None = None,
    threads: int = 1,
    convert: Callable[[object, VideoInfo], np.ndarray] | None = None,
    skip_nonref: bool = False,
    keyframe_fetch: KeyframeFetch = "auto",
) -> list[Frame]:
    """The frames shown at `targets` (seconds from the first frame), one per target.

    `skip_nonref` (exact mode only) has FFmpeg skip frames no other frame refers to (most
    B-frames): less decoding, and each target gets the last *reference* frame at or before
    it, a frame or two early, its true time reported. Not exact; opt-in.

    `keyframe_fetch` (keyframe mode only) picks how keyframes are reached: a seek each,
    one scan of the packets in order, or `auto` (see KEYFRAME_SCAN_MIN_SHARE). Both give
    the same frames."""
    convert = convert or rgb_converter(size)
    container, stream = open_video(path)
    made: dict[int, Frame] = {}  # by pts: targets sharing a frame share its conversion

    def emit(target: float, av_frame) -> Frame:
        pts = int(av_frame.pts)
        frame = made.get(pts)
        if frame is None:
            index = int(np.searchsorted(info.frame_pts, pts))
            frame = made[pts] = Frame(index, info.seconds(pts), convert(av_frame, info))
        return Frame(frame.index, frame.pts_seconds, frame.image, float(target))

    try:
        configure_decoder(stream, threads)
        if mode == "keyframe":
            return _keyframes_at(container, stream, info, targets, emit, keyframe_fetch)
        if skip_nonref:
            stream.codec_context.skip_frame = "NONREF"
        return _exact_at(container, stream, info, targets, emit, skip_unshown=not skip_nonref)
    except VideoError:
        raise
    except Exception as exc:  # FFmpeg errors mid-stream: name the file
        import av

        if isinstance(exc, av.FFmpegError):
            raise VideoError(path, f"decoding failed: {exc}") from None
        raise
    finally:
        container.close()


def rgb_converter(size: tuple[int, int] | None) -> Callable[[object, VideoInfo], np.ndarray]:
    """Scale and convert in swscale (one thread), then turn the picture upright."""

    def convert(av_frame, info: VideoInfo) -> np.ndarray:
        width, height = (None, None) if size is None else size
        if info.rotation in (90, 270) and size is not None:
            width, height = height, width
        rgb = av_frame.reformat(width=width, height=height, format="rgb24", threads=1).to_ndarray()
        return upright(rgb, info.rotation)

    return convert


def upright(image: np.ndarray, clockwise: int) -> np.ndarray:
    if clockwise == 0:
        return image
    return np.ascontiguousarray(np.rot90(image, k=-(clockwise // 90)))


SKIP_UNSHOWN_CODECS = ("h264", "hevc")  # decoders that honour skip_frame=NONREF per frame


def _exact_at(
    container, stream, info: VideoInfo, targets: Sequence[float], emit, skip_unshown: bool = True
) -> list[Frame]:
    """One frame per target. Targets are visited in time order; results keep input order."""
    order = sorted(range(len(targets)), key=lambda i: targets[i])
    result: list[Frame | None] = [None] * len(targets)
    cursor = _Cursor(container, stream, info, skip_unshown=skip_unshown and info.codec in SKIP_UNSHOWN_CODECS)
    for i in order:
        result[i] = emit(targets[i], cursor.frame_at(info.to_pts(targets[i])))
    return result  # type: ignore[return-value]


class _Cursor:
    """Decoding position in one stream: `current` is the last frame decoded, `ahead` the next.

    With `skip_unshown`, packets of frames earlier than the one the current target shows
    are decoded with skip_frame=NONREF: the decoder drops those no other frame refers to
    (most B-frames), which nothing needs, while every reference frame and every frame
    that can still be shown is decoded. The result is the exact frame, for less work."""

    def __init__(self, container, stream, info: VideoInfo, skip_unshown: bool = False) -> None:
        self.container, self.stream, self.info = container, stream, info
        self.frames: Iterator[object] | None = None
        self.current = None
        self.ahead = None
        self.seeks = 0
        self.skip_unshown = skip_unshown
        self.shown_pts: int | None = None  # the frame the current target shows

    def frame_at(self, target_pts: int):
        if self.skip_unshown:
            i = int(np.searchsorted(self.info.frame_pts, target_pts, "right")) - 1
            self.shown_pts = int(self.info.frame_pts[max(i, 0)])
        keyframe = _keyframe_before(self.info, target_pts)
        if (
            self.frames is None
            or (self.current is not None and target_pts < self.current.pts)
            or (self.ahead is not None and keyframe > self.ahead.pts)
        ):
            self._seek_to(keyframe, target_pts)
        while self.ahead is not None and self.ahead.pts <= target_pts:
            self._advance()
        if self.current is None:  # the target precedes the first frame: show the first
            self._advance()
        if self.current is None:
            raise VideoError(self.info.path, f"no frame decodes near {self.info.seconds(target_pts):.3f} s")
        return self.current

    def _seek(self, pts: int) -> None:
        self.container.seek(pts, stream=self.stream, backward=True, any_frame=False)
        self.seeks += 1
        self.frames = self._decode() if self.skip_unshown else iter(self.container.decode(self.stream))
        self.current = None
        self.ahead = self._next()

    def _decode(self) -> Iterator[object]:
        ctx = self.stream.codec_context
        for packet in self.container.demux(self.stream):
            early = packet.pts is not None and self.shown_pts is not None and packet.pts < self.shown_pts
            want = "NONREF" if early else "DEFAULT"
            if ctx.skip_frame != want:
                ctx.skip_frame = want
            yield from packet.decode()  # the empty packet at the end flushes the decoder

    def _next(self):
        assert self.frames is not None
        for frame in self.frames:
            if frame.pts is not None:
                return frame
        return None

    def _advance(self) -> None:
        self.current, self.ahead = self.ahead, self._next()

    def _seek_to(self, keyframe: int, target_pts: int) -> None:
        """Seek to the keyframe before the target; if the demuxer lands after it, back off."""
        first = int(self.info.frame_pts[0])
        back = keyframe
        for _ in range(4):
            self._seek(back)
            if self.ahead is not None and self.ahead.pts <= max(target_pts, first):
                return
            if back <= first:
                break
            earlier = _keyframe_before(self.info, back - 1)
            back = earlier if earlier < back else first
        self._seek(first)


def _keyframe_before(info: VideoInfo, pts: int) -> int:
    i = bisect.bisect_right(info.keyframe_pts, pts) - 1  # type: ignore[arg-type]
    return int(info.keyframe_pts[max(i, 0)])


def _nearest_keyframes(info: VideoInfo, targets: Sequence[float]) -> list[int]:
    """For each target the pts of the nearest keyframe (the earlier one on a tie)."""
    keys = info.keyframe_pts
    wanted: list[int] = []
    for t in targets:
        pts = info.to_pts(t)
        i = int(np.searchsorted(keys, pts))
        options = [int(keys[j]) for j in (i - 1, i) if 0 <= j < len(keys)]
        wanted.append(min(options, key=lambda p: (abs(p - pts), p)))
    return wanted


def choose_keyframe_fetch(container, info: VideoInfo, wanted_count: int) -> str:
    """`seek` per keyframe, or one `scan` of the packets in order (see KEYFRAME_SCAN_MIN_SHARE)."""
    indexed = any(name in INDEXED_FORMATS for name in container.format.name.split(","))
    dense = wanted_count > KEYFRAME_SCAN_MIN_SHARE * len(info.keyframe_pts)
    return "scan" if dense and not indexed else "seek"


def _keyframes_at(
    container, stream, info: VideoInfo, targets: Sequence[float], emit, fetch: KeyframeFetch = "auto"
) -> list[Frame]:
    """For each target the nearest keyframe, decoded once however many targets share it.

    Only the keyframe's own packet goes to the decoder, which is then drained and reset:
    no later packet is read or decoded to push the picture out of the decoder's reordering
    delay (which, with B-frames, used to cost the following group of pictures and the next
    keyframe as well). An intra picture decodes to the same pixels alone."""
    if fetch not in KEYFRAME_FETCHES:
        raise ValueError(f"fetch must be one of {', '.join(KEYFRAME_FETCHES)}, got {fetch!r}")
    wanted = _nearest_keyframes(info, targets)
    unique = sorted(set(wanted))
    if fetch == "auto":
        fetch = choose_keyframe_fetch(container, info, len(unique))  # type: ignore[assignment]
    fetcher = _scan_keyframes if fetch == "scan" else _seek_keyframes
    found = fetcher(container, stream, info, unique)
    decoded: dict[int, Frame] = {}
    for pts, av_frame in found:
        decoded[pts] = emit(info.seconds(pts), av_frame)
    for pts in unique:  # what the lone-packet path could not give: decode onward from a seek
        if pts not in decoded:
            decoded[pts] = emit(info.seconds(pts), _keyframe_by_decoding_on(container, stream, info, pts))
    return [Frame(decoded[p].index, decoded[p].pts_seconds, decoded[p].image, float(t)) for p, t in zip(wanted, targets)]


def _decode_alone(stream, packet):
    """The picture of one packet, decoded on its own: send it, drain, reset the decoder."""
    ctx = stream.codec_context
    frames = list(ctx.decode(packet)) + list(ctx.decode(None))
    ctx.flush_buffers()
    return next((f for f in frames if f.pts == packet.pts), None)


def _seek_keyframes(container, stream, info: VideoInfo, unique: Sequence[int]) -> Iterator[tuple[int, object]]:
    """Seek to each keyframe and decode its packet alone."""
    for pts in unique:
        for packet in _packets_from(container, stream, info, pts):
            if packet.pts == pts and packet.is_keyframe:
                frame = _decode_alone(stream, packet)
                if frame is not None:
                    yield pts, frame
                break
            if packet.is_keyframe and packet.pts > pts:  # not where the probe saw it
                break


def _scan_keyframes(container, stream, info: VideoInfo, unique: Sequence[int]) -> Iterator[tuple[int, object]]:
    """Read the packets in order from the first wanted keyframe, decoding each wanted one alone."""
    remaining = set(unique)
    for packet in _packets_from(container, stream, info, unique[0]):
        if packet.is_keyframe and packet.pts in remaining:
            remaining.discard(packet.pts)
            frame = _decode_alone(stream, packet)
            if frame is not None:
                yield int(packet.pts), frame
            if not remaining:
                break


def _packets_from(container, stream, info: VideoInfo, pts: int) -> Iterator[object]:
    """The stream's packets in order from a point at or before `pts`, until the end.

    A seek lands on the keyframe at or before its target in indexed containers; where it
    is a timestamp search (MPEG-TS searches decoding times) it can land after, so back off
    to earlier keyframes, then to the start of the file."""
    i = bisect.bisect_right(info.keyframe_pts, pts)  # type: ignore[arg-type]
    earlier = [int(k) for k in info.keyframe_pts[max(0, i - 4) : i][::-1] if k < pts]
    starts = [pts, *earlier[:3], min(0, int(info.frame_pts[0]))]
    for attempt, start in enumerate(starts):
        container.seek(start, stream=stream, backward=True, any_frame=False)
        packets = (p for p in container.demux(stream) if p.size and p.pts is not None)
        head = next(packets, None)
        if head is None:
            return
        if head.pts <= pts or attempt == len(starts) - 1:
            yield head
            yield from packets
            return


def _keyframe_by_decoding_on(container, stream, info: VideoInfo, pts: int):
    """The keyframe (or, failing it, the first frame after it) by decoding on from before it:
    for a keyframe whose packet gives no picture alone."""
    ctx = stream.codec_context
    ctx.flush_buffers()
    frame = None
    for packet in _packets_from(container, stream, info, pts):
        for candidate in packet.decode():
            if candidate.pts is not None and candidate.pts >= pts:
                frame = candidate
                break
        if frame is not None:
            break
    if frame is None:
        frame = next((f for f in ctx.decode(None) if f.pts is not None and f.pts >= pts), None)
    ctx.flush_buffers()
    if frame is None:
        raise VideoError(info.path, f"no keyframe decodes at {info.seconds(pts):.3f} s")
    return frame


# -- several videos, several requests -----------------------------------------------------


def sample_many(
    path: str | Path,
    requests: Mapping[str, Mapping[str, object]],
    *,
    size: tuple[int, int] | None = None,
    threads: int = 1,
) -> dict[str, list[Frame]]:
    """Several samplings of one video (e.g. 1 fps for hashing, 0.2 fps for prompts, 16 uniform
    for training) from one decoding pass: the union of their targets is decoded once."""
    info = probe(path)
    plans: dict[str, list[float]] = {}
    for name, spec in requests.items():
        spec = dict(spec)
        spec.pop("mode", None)
        plans[name] = target_times(info, **spec)  # type: ignore[arg-type]
    union = sorted({t for ts in plans.values() for t in ts})
    frames = decode_at(path, info, union, size=size, threads=threads)
    by_time = dict(zip(union, frames))
    return {name: [by_time[t] for t in ts] for name, ts in plans.items()}


def _sample_one(args: tuple[str, dict[str, object]]) -> list[Frame] | VideoError:
    path, kwargs = args
    try:
        return sample_frames(path, **kwargs)  # type: ignore[arg-type]
    except VideoError as exc:
        return exc


def sample_videos(
    paths: Sequence[str | Path], *, workers: int | None = None, **kwargs: object
) -> Iterator[tuple[str, list[Frame] | VideoError]]:
    """`sample_frames` over many videos in a process pool, one decoder thread per process;
    yields (path, frames or the VideoError) in input order."""
    jobs = [(str(p), dict(kwargs)) for p in paths]
    if workers == 1 or len(jobs) <= 1:
        for job in jobs:
            yield job[0], _sample_one(job)
        return
    # spawn, not fork: FFmpeg and numpy keep thread pools that a forked child inherits broken
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        for job, result in zip(jobs, pool.map(_sample_one, jobs)):
            yield job[0], result


# -- handing frames to models --------------------------------------------------------------


def to_jpeg_bytes(frame: Frame | np.ndarray, quality: int = DEFAULT_JPEG_QUALITY) -> bytes:
    """A frame as JPEG bytes (for data URLs: `videokr.dataurl.jpeg_data_url`)."""
    return jpeg_bytes(frame.image if isinstance(frame, Frame) else frame, quality=quality)
