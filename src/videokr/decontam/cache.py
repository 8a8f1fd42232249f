"""Frame hashes cached per video content (sha256), in the workspace store.

Keyed by content, not path: a file moved or copied is hashed once, and adding benchmarks
later costs only their own decoding. Keyed also by sampling rate, hash method and the
hashing code's version, so a change in any of them never reuses stale hashes.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from videokr.store import Store
from videokr.video.phash import hash_video
from videokr.video.probe import VideoError, sha256_file

HASH_VERSION = "1"
BARS_VERSION = ".v3"  # bars found as now (centred only); older views hashes are not reused
SCHEMA = """
CREATE TABLE IF NOT EXISTS video_phash (
    sha256 TEXT NOT NULL,
    fps REAL NOT NULL,
    method TEXT NOT NULL,
    version TEXT NOT NULL,
    frames INTEGER NOT NULL,
    hashes BLOB NOT NULL,
    PRIMARY KEY (sha256, fps, method, version)
) WITHOUT ROWID
"""


class HashCache:
    def __init__(self, store: Store | None) -> None:
        self.store = store
        if store is not None:
            store.ensure_schema("video_phash", SCHEMA)

    def get(self, sha: str, fps: float, method: str) -> np.ndarray | None:
        """Hashes as stored: (N,) for a plain method, (N, views) for a view spec."""
        if self.store is None:
            return None
        row = self.store.execute(
            "SELECT hashes, frames FROM video_phash WHERE sha256=? AND fps=? AND method=? AND version=?",
            (sha, fps, method, HASH_VERSION),
        ).fetchone()
        if row is None:
            return None
        flat = np.frombuffer(row[0], dtype="<u8").astype(np.uint64)
        return flat if "+" not in method else flat.reshape(int(row[1]), -1)

    def put(self, sha: str, fps: float, method: str, hashes: np.ndarray) -> None:
        if self.store is None:
            return
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO video_phash VALUES (?,?,?,?,?,?)",
                (sha, fps, method, HASH_VERSION, len(hashes), np.asarray(hashes, dtype="<u8").tobytes()),
            )


@dataclass
class Hashed:
    key: str
    path: str
    sha256: str | None
    hashes: np.ndarray | None
    error: str | None = None
    cached: bool = False


def cache_method(method: str, strip_bars: bool = False, crops: Sequence[float] = ()) -> str:
    """The cache's name for a way of hashing: the plain method (the paper's hashes), or the
    method with its views (`exact+bars+crops=0.88,0.76`), stored as (N, views)."""
    if not strip_bars and not crops:
        return method
    name = method + (f"+bars{BARS_VERSION}" if strip_bars else "")
    return name + ("+crops=" + ",".join(f"{c:g}" for c in crops) if crops else "")


def _hash_job(
    args: tuple[str, str, float, str, str, bool, tuple[float, ...]],
) -> tuple[str, str, np.ndarray | None, str | None]:
    key, path, fps, method, sha, strip_bars, crops = args
    try:
        if not strip_bars and not crops:
            return key, sha, hash_video(path, fps=fps, method=method)[1], None
        from videokr.decontam.views import hash_video_views

        return key, sha, hash_video_views(path, fps=fps, method=method, strip_bars=strip_bars, crops=crops)[1], None
    except VideoError as exc:
        return key, "", None, str(exc)


def hash_videos(
    videos: Sequence[tuple[str, str | Path]],
    cache: HashCache,
    *,
    fps: float,
    method: str,
    strip_bars: bool = False,
    crops: Sequence[float] = (),
    workers: int = 1,
    on_progress=None,
) -> Iterator[Hashed]:
    """(key, path) → hashes, from the cache where the content is known, else decoded in a
    process pool; failures come back with their error instead of stopping the others.
    With `strip_bars` or `crops` each video's hashes are (N, 1 + len(crops)) views."""
    stored_as = cache_method(method, strip_bars, crops)
    todo: list[tuple[str, str, float, str, str, bool, tuple[float, ...]]] = []
    for key, path in videos:
        try:
            sha = sha256_file(path)
        except VideoError as exc:
            yield Hashed(key, str(path), None, None, str(exc))
            continue
        hit = cache.get(sha, fps, stored_as)
        if hit is not None:
            if on_progress:
                on_progress(1)
            yield Hashed(key, str(path), sha, hit, cached=True)
        else:
            todo.append((key, str(path), fps, method, sha, strip_bars, tuple(crops)))
    if workers > 1 and len(todo) > 1:
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
        results = pool.map(_hash_job, todo, chunksize=1)
    else:
        pool, results = None, map(_hash_job, todo)
    try:
        paths = {job[0]: job[1] for job in todo}
        for key, sha, hashes, error in results:
            if on_progress:
                on_progress(1)
            if hashes is not None:
                cache.put(sha, fps, stored_as, hashes)
            yield Hashed(key, paths[key], sha or None, hashes, error)
    finally:
        if pool is not None:
            pool.shutdown()
