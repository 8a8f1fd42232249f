"""Frames decoded once per video and shared: an LRU of JPEG-encoded frames with their times.

Why: §3.3 asks six independent generation rounds per video, each shown the same frames
(uniform 0.2 fps), and the validators after it look at the same video again. Decoding is
the whole cost of a frame (the request itself is a few hundred microseconds to render), so
the six rounds — which run side by side on the async executor — must not decode six times.
A `FrameCache` keys a sampling by what decides its pixels: the file (resolved path, size and
modification time, so an edited file is decoded afresh), the times asked for (a rate, a
count or explicit times), the long side frames are scaled to, and the JPEG quality. Callers
that ask for a key being decoded wait for that decode instead of starting another. Frames
are kept as JPEG bytes (what a request carries), not as pixels: a 30-minute video at
0.2 fps is 360 frames, a few megabytes encoded against hundreds decoded.

`decodes` counts decodes per file, so a test or a benchmark can assert "one decode per
video". `shared_cache()` is the process's cache, which every step running in the process
(the generator, the validators) asks.
"""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from videokr.dataurl import JPEG_QUALITY, jpeg_bytes

# Encoded frames kept before the least recently used sampling is dropped: about 25 videos of
# 30 minutes at 0.2 fps and 480p, far more than the videos an async window has in flight.
DEFAULT_MAX_BYTES = 256 * 1024 * 1024
# Decodes running at once: decoding is CPU-bound, one per core is all that helps.
DEFAULT_MAX_DECODERS = None  # None: the machine's CPU count


def fit_within(width: int, height: int, max_side: int) -> tuple[int, int] | None:
    """The (width, height) that brings the long side down to `max_side`, or None if it fits already."""
    if max(width, height) <= max_side:
        return None
    scale = max_side / max(width, height)
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


@dataclass(frozen=True)
class CachedFrames:
    """One sampling of one video: each frame's presentation time (seconds) and JPEG bytes, in time order."""

    times_s: tuple[float, ...]
    jpegs: tuple[bytes, ...]
    duration_s: float
    width: int  # of the frames as encoded
    height: int

    def __len__(self) -> int:
        return len(self.times_s)

    @property
    def nbytes(self) -> int:
        return sum(len(j) for j in self.jpegs)

    def pairs(self, indices: Sequence[int] | None = None) -> list[tuple[float, bytes]]:
        """(time, JPEG) pairs — what `videokr.models.frames.user_message_with_frames` takes — for all
        frames or the given indices."""
        chosen = range(len(self.times_s)) if indices is None else indices
        return [(self.times_s[i], self.jpegs[i]) for i in chosen]


@dataclass(frozen=True)
class _Key:
    path: str
    size: int
    mtime_ns: int
    fps: float | None
    n: int | None
    times: tuple[float, ...] | None
    max_side: int | None
    quality: int


class FrameCache:
    """A thread-safe LRU of `CachedFrames` (see the module docstring)."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES, max_decoders: int | None = DEFAULT_MAX_DECODERS) -> None:
        import os

        self.max_bytes = max_bytes
        self._entries: OrderedDict[_Key, CachedFrames] = OrderedDict()
        self._pending: dict[_Key, Future[CachedFrames]] = {}
        self._lock = threading.Lock()
        self._decoders = threading.Semaphore(max_decoders or os.cpu_count() or 1)
        self._bytes = 0
        self.decodes: Counter[str] = Counter()  # resolved path -> decodes (a test's "one per video")
        self.hits = 0
        self.misses = 0

    @property
    def nbytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    def frames(
        self,
        path: str | Path,
        *,
        fps: float | None = None,
        n: int | None = None,
        times: Sequence[float] | None = None,
        max_side: int | None = None,
        quality: int = JPEG_QUALITY,
    ) -> CachedFrames:
        """The frames of `path` at rate `fps`, `n` spread evenly, or at `times` — decoded at most once
        while cached. Raises `videokr.video.probe.VideoError` (naming the file) for what does not
        decode, and OSError for a file that is not there."""
        key = self._key(path, fps=fps, n=n, times=times, max_side=max_side, quality=quality)
        with self._lock:
            cached = self._entries.get(key)
            if cached is not None:
                self._entries.move_to_end(key)
                self.hits += 1
                return cached
            running = self._pending.get(key)
            if running is None:
                running = self._pending[key] = Future()
                owner = True
                self.misses += 1
            else:
                owner = False
                self.hits += 1
        if not owner:
            return running.result()  # the decode of the caller that came first; its error is ours too
        try:
            with self._decoders:
                made = _decode(key)
        except BaseException as exc:
            with self._lock:
                del self._pending[key]
            running.set_exception(exc)
            raise
        with self._lock:
            self.decodes[key.path] += 1
            del self._pending[key]
            self._entries[key] = made
            self._bytes += made.nbytes
            while self._bytes > self.max_bytes and len(self._entries) > 1:
                _, dropped = self._entries.popitem(last=False)
                self._bytes -= dropped.nbytes
        running.set_result(made)
        return made

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    @staticmethod
    def _key(path: str | Path, *, fps: float | None, n: int | None, times: Sequence[float] | None,
             max_side: int | None, quality: int) -> _Key:
        if sum(v is not None for v in (fps, n, times)) != 1:
            raise ValueError("give exactly one of fps, n, times")
        resolved = Path(path).resolve()
        st = resolved.stat()
        return _Key(str(resolved), st.st_size, st.st_mtime_ns, None if fps is None else float(fps), n,
                    None if times is None else tuple(float(t) for t in times), max_side, quality)


def _decode(key: _Key) -> CachedFrames:
    """Decode one sampling (exact frames), scale it to `max_side`, and encode each distinct frame once."""
    from videokr.video.probe import probe
    from videokr.video.sampling import sample_frames

    info = probe(key.path)
    size = fit_within(*info.display_size, key.max_side) if key.max_side is not None else None
    frames = sample_frames(key.path, fps=key.fps, n=key.n, times=key.times, size=size, info=info)
    # a rate above the video's frame rate gives some frames twice: keep each once
    unique = list({round(f.pts_seconds, 6): f for f in frames}.values())
    unique.sort(key=lambda f: f.pts_seconds)
    height, width = unique[0].image.shape[:2] if unique else (0, 0)
    return CachedFrames(times_s=tuple(round(f.pts_seconds, 6) for f in unique),
                        jpegs=tuple(jpeg_bytes(f.image, quality=key.quality) for f in unique),
                        duration_s=info.duration_s, width=width, height=height)


_SHARED: FrameCache | None = None
_SHARED_LOCK = threading.Lock()


def shared_cache() -> FrameCache:
    """The process's frame cache: steps running in one process share their decodes through it."""
    global _SHARED
    with _SHARED_LOCK:
        if _SHARED is None:
            _SHARED = FrameCache()
        return _SHARED
