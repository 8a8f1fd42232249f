"""Decontamination of one set of videos against another: YouTube-ID filter, hashing (cached), search, report.

Pure of the store's outcomes: the `decontam` step (videokr.steps.decontam) runs this in a
workspace and turns flags into rejections; `videokr decontam --train DIR --bench DIR` runs it
on folders and writes the report only.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from videokr.decontam.cache import HashCache, hash_videos
from videokr.decontam.search import FrameIndex
from videokr.decontam.settings import PAPER, DecontamSettings

VIDEO_SUFFIXES = (".mp4", ".mkv", ".webm", ".mov", ".avi", ".m4v", ".flv", ".ts", ".mpg", ".mpeg")


@dataclass(frozen=True)
class VideoRef:
    id: str
    path: str
    youtube_id: str | None = None


@dataclass
class DecontamResult:
    flagged: list[dict[str, Any]] = field(default_factory=list)  # one per flagged training video
    errors: list[tuple[str, str, str]] = field(default_factory=list)  # (side, id, error)
    train_hashed: int = 0
    bench_hashed: int = 0
    cached: int = 0

    def flagged_ids(self) -> set[str]:
        return {line["train_video"] for line in self.flagged}


def videos_in_dir(directory: str | Path) -> list[VideoRef]:
    root = Path(directory)
    return [
        VideoRef(str(p.relative_to(root)), str(p))
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES
    ]


def videos_in_manifest(path: str | Path) -> list[VideoRef]:
    """JSONL with `path` (or `video_path`), optional `id` and `youtube_id`; paths relative to the file."""
    from videokr.jsonlines import json_objects

    path = Path(path)
    refs = []
    for n, data, problem in json_objects(path):
        if problem is None and data is not None and not (data.get("path") or data.get("video_path")):
            problem = "no 'path' or 'video_path'"
        if problem is not None or data is None:
            raise ValueError(f"{path}:{n}: {problem}")
        video = str(data.get("path") or data.get("video_path"))
        full = Path(video) if Path(video).is_absolute() else path.parent / video
        refs.append(VideoRef(str(data.get("id") or video), str(full), data.get("youtube_id")))
    return refs


def decontaminate(
    train: Sequence[VideoRef],
    bench: Sequence[VideoRef],
    *,
    settings: DecontamSettings = PAPER,
    cache: HashCache | None = None,
    workers: int = 1,
    on_progress=None,
) -> DecontamResult:
    cache = cache or HashCache(None)
    result = DecontamResult()
    flagged: dict[str, dict[str, Any]] = {}

    bench_ids = {}
    for b in bench:
        if b.youtube_id:
            bench_ids.setdefault(b.youtube_id, b)
    for t in train:
        if t.youtube_id and t.youtube_id in bench_ids:
            b = bench_ids[t.youtube_id]
            flagged[t.id] = {
                "train_video": t.id, "train_path": t.path, "reason": "youtube_id", "youtube_id": t.youtube_id,
                "bench_video": b.id, "bench_path": b.path, "matches": [],
            }

    def hashed(refs: Sequence[VideoRef], side: str) -> list[tuple[VideoRef, np.ndarray]]:
        by_id = {r.id: r for r in refs}
        out = []
        crops = settings.bench_crops if side == "bench" else ()
        for h in hash_videos(
            [(r.id, r.path) for r in refs], cache, fps=settings.sample_fps, method=settings.hash_method,
            strip_bars=settings.strip_bars, crops=crops, workers=workers, on_progress=on_progress,
        ):
            result.cached += h.cached
            if h.hashes is None:
                result.errors.append((side, h.key, h.error or "unknown error"))
            else:
                out.append((by_id[h.key], h.hashes))
        return out

    train_left = [t for t in train if t.id not in flagged]
    train_hashes = hashed(train_left, "train")
    bench_hashes = hashed(bench, "bench")
    result.train_hashed, result.bench_hashed = len(train_hashes), len(bench_hashes)

    index = FrameIndex.build([(t.id, h if h.ndim == 1 else h[:, 0]) for t, h in train_hashes], settings)
    views = (1.0, *settings.bench_crops)
    for b, q in bench_hashes:
        for match in index.search(q):
            if not match.flagged:
                continue
            t = train_hashes[match.train_video][0]
            entry = {
                "bench_video": b.id, "bench_path": b.path,
                "bench_offset_s": match.bench_offset_s, "train_offset_s": match.train_offset_s,
                "matched_fraction": round(match.matched_fraction, 6), "distances": list(match.distances),
            }
            if settings.views:
                entry["bench_crop"] = views[match.view]
            line = flagged.setdefault(t.id, {
                "train_video": t.id, "train_path": t.path, "reason": "near_duplicate", "matches": [],
            })
            line["matches"].append(entry)
    for line in flagged.values():
        if line["matches"]:
            best = max(line["matches"], key=lambda m: m["matched_fraction"])
            line.update({k: v for k, v in best.items()})
        line["settings"] = settings.name
    result.flagged = [flagged[k] for k in sorted(flagged)]
    return result


def write_report(result: DecontamResult, out: str | Path) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as handle:
        for line in result.flagged:
            handle.write(json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n")
    return out


def flags(result: DecontamResult) -> Iterable[tuple[str, str]]:
    for line in result.flagged:
        for m in line["matches"] or [{"bench_video": line["bench_video"]}]:
            yield line["train_video"], m["bench_video"]
