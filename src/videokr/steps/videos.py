"""One `Video` record per video the live examples and benchmark items refer to.

Examples and benchmark items name their video by id and path; this step gathers, per video
id, what every live reference says about it (path, YouTube id, licence) and writes one
Video. References that disagree (two paths for one id) are a verdict with both named. A
video's roles — training, benchmark, both — stay with the items that refer to it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

from videokr.hashing import digest_parts
from videokr.pipeline.recipe import register
from videokr.pipeline.step import Result, Step
from videokr.records import Video
from videokr.sets import BENCHMARK_STEPS
from videokr.store import Store


@dataclass(frozen=True)
class VideoRefs:
    id: str
    paths: tuple[str, ...]
    youtube_ids: tuple[str, ...]
    licences: tuple[str, ...]
    example: str  # one referring item, for messages


@register
class VideosStep(Step[VideoRefs]):
    name = "videos"
    after = BENCHMARK_STEPS  # the official files' import (examples, benchmark items) and §4's benchmark
    reads = "example"
    writes = ("video",)

    def inputs(self, store: Store) -> Iterator[VideoRefs]:
        paths: dict[str, set[str]] = defaultdict(set)
        youtube: dict[str, set[str]] = defaultdict(set)
        licences: dict[str, set[str]] = defaultdict(set)
        first: dict[str, str] = {}
        for kind in ("example", "eval_item"):
            for record in store.live_outputs(self.after, kind):
                vid = record.video_id  # type: ignore[attr-defined]
                paths[vid].add(record.video_path)  # type: ignore[attr-defined]
                if getattr(record, "youtube_id", None):
                    youtube[vid].add(record.youtube_id)  # type: ignore[attr-defined]
                licence = (getattr(record, "extra", {}) or {}).get("licence")
                if licence:
                    licences[vid].add(str(licence))
                first.setdefault(vid, f"{kind} {record.id}")
        for vid in sorted(paths):
            yield VideoRefs(vid, tuple(sorted(paths[vid])), tuple(sorted(youtube[vid])),
                            tuple(sorted(licences[vid])), first[vid])

    def item_fingerprint(self, item: VideoRefs) -> str:
        return digest_parts(item.paths, item.youtube_ids, item.licences)

    def process(self, item: VideoRefs) -> Result:
        if len(item.paths) > 1:
            return Result.reject(f"video {item.id!r} is referred to with {len(item.paths)} paths: "
                                 f"{', '.join(item.paths)}", code="conflicting_paths")
        if len(item.youtube_ids) > 1:
            return Result.reject(f"video {item.id!r} is given {len(item.youtube_ids)} YouTube ids: "
                                 f"{', '.join(item.youtube_ids)}", code="conflicting_youtube_ids")
        youtube_id = item.youtube_ids[0] if item.youtube_ids else None
        video = Video(id=item.id, path=item.paths[0], source="youtube" if youtube_id else "local",
                      youtube_id=youtube_id, licence=item.licences[0] if item.licences else None)
        return Result.accept(video)
