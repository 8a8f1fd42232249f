"""The `probe` step: what each video file holds (duration, frame rate, size, content hash).

A probe result is its own record (`VideoProbe`), so importing another file that refers to
the same video never erases it. An unreadable or truncated file is a verdict (rejected with
the reason); it is probed again when the file changes (size or modification time).
"""

from __future__ import annotations

from pathlib import Path

from videokr.errors import Verdict
from videokr.formats.official import resolve_video
from videokr.hashing import digest_parts
from videokr.pipeline.recipe import register
from videokr.pipeline.step import Resources, Result, Step
from videokr.records import Video, VideoProbe
from videokr.sets import VIDEO_STEPS
from videokr.video.probe import file_state


@register
class ProbeStep(Step[Video]):
    name = "probe"
    version = "2"
    after = VIDEO_STEPS  # the official items' videos and the collected ones
    reads = "video"
    writes = ("video_probe",)
    resources = Resources(kind="video")

    def path(self, item: Video) -> Path:
        return resolve_video(item.path, self.context.video_root)

    def item_fingerprint(self, item: Video) -> str:
        path = self.path(item)
        state = file_state(path)
        return digest_parts(item.path, path, state)

    def process(self, item: Video) -> Result:
        from videokr.video.probe import VideoError, probe, sha256_file

        path = self.path(item)
        if not path.is_file():
            return Result.reject(f"video {item.id!r}: file not found: {path}", code="file_missing")
        try:
            info = probe(path)
            sha = sha256_file(path)
        except VideoError as exc:
            raise Verdict(f"video {item.id!r}: {exc}", code="unreadable") from None
        width, height = info.display_size
        found = VideoProbe(
            id=item.id, duration_s=round(info.duration_s, 6), fps=round(info.fps, 6), width=width, height=height,
            sha256=sha, codec=info.codec, rotation=info.rotation, frames=info.frame_count,
            size_bytes=path.stat().st_size,
        )
        return Result.accept(found)
