"""The `probe` step: fill a Video record's duration, frame rate, size and content hash."""

from __future__ import annotations

from pathlib import Path

from videokr.pipeline.step import Result, Step
from videokr.records import Video
from videokr.video.probe import VideoError, probe, sha256_file


class ProbeVideos(Step[Video]):
    name = "probe"
    version = "1"

    def __init__(self, video_root: Path | None) -> None:
        self.video_root = video_root

    def item_id(self, item: Video) -> str:
        return item.id

    def item_fingerprint(self, item: Video) -> str:
        path = self._path(item)
        try:
            st = path.stat()
            return f"{path}\x1f{st.st_size}\x1f{st.st_mtime_ns}"
        except OSError:
            return f"{path}\x1fmissing"

    def _path(self, item: Video) -> Path:
        from videokr.formats.official import resolve_video

        return resolve_video(item.path, self.video_root)

    def process(self, item: Video) -> Result:
        path = self._path(item)
        try:
            info = probe(path)
            sha = sha256_file(path)
        except VideoError as exc:
            return Result.quarantine(str(exc))
        width, height = info.display_size
        updated = item.model_copy(
            update={"duration_s": round(info.duration_s, 6), "fps": round(info.fps, 6), "width": width, "height": height, "sha256": sha}
        )
        return Result.accept(updated, detail={"codec": info.codec, "rotation": info.rotation, "frames": info.frame_count})
