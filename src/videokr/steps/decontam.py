"""§3.4 / Appendix A.5 as a step: training videos that match a benchmark video leave the corpus.

The training side is every video a live example refers to (and, when `probe` is in the
recipe, that the probe could read); the benchmark side every video a
live benchmark item refers to, plus the directories or manifests in `bench:`. A flagged
training video is rejected with the match as detail, and since the split only takes
examples whose video this step cleared, its examples leave every set and every export.

If a benchmark video cannot be read the check is incomplete: no training video is cleared
(all are quarantined, naming the unreadable video) unless `allow_incomplete: true`.
An expert may overrule a flag (`videokr decontam-restore`); the restore holds for the same
benchmark set and settings.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field

from videokr.errors import Transient
from videokr.formats.official import resolve_video
from videokr.hashing import digest_parts
from videokr.pipeline.recipe import register
from videokr.pipeline.step import Resources, Result, Step, StepConfig
from videokr.records import DecontamCheck, Outcome, Video
from videokr.sets import EXAMPLE_STEPS, VIDEO_STEPS, live_benchmark_items
from videokr.store import Store

STEP = "decontam"
RESTORE_STEP = "decontam.restore"


class DecontamConfig(StepConfig):
    RUN_ONLY: ClassVar[frozenset[str]] = StepConfig.RUN_ONLY

    settings: Literal["paper", "calibrated"] = Field(default="calibrated", description="calibrated (default), or Appendix A.5 as written")
    bench: list[str] = Field(default_factory=list,
                             description="more benchmark videos: directories or JSONL manifests (path, id, youtube_id)")
    allow_incomplete: bool = Field(default=False, description="clear training videos even if a benchmark video is unreadable")


def benchmark_refs(store: Store, video_root: Path | None, extra: Sequence[str], root: Path):  # noqa: ANN201
    """Benchmark videos: those of live benchmark items, then those of `extra` sources."""
    from videokr.decontam.run import VideoRef, videos_in_dir, videos_in_manifest

    bench_ids = {r.video_id for r in live_benchmark_items(store)}
    refs = [
        VideoRef(v.id, str(resolve_video(v.path, video_root)), v.youtube_id)  # type: ignore[attr-defined]
        for v in store.live_outputs("videos", "video") if v.id in bench_ids
    ]
    for spec in extra:
        path = Path(spec) if Path(spec).is_absolute() else root / spec
        if path.is_dir():
            refs += videos_in_dir(path)
        elif path.is_file():
            refs += videos_in_manifest(path)
        else:
            raise ValueError(f"steps.decontam.bench: {spec} is neither a directory nor a manifest file")
    return refs


@register
class DecontamStep(Step[Video]):
    name = STEP
    version = "2"
    Config = DecontamConfig
    after = VIDEO_STEPS
    reads = "video"
    writes = ("decontam_check",)
    resources = Resources(kind="video")
    scope = "global"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._bench: list[Any] | None = None
        self._bench_fp = ""
        self._restored: dict[str, str] = {}

    @property
    def store(self) -> Store:
        if self.context.store is None:
            raise RuntimeError("the decontam step runs in the driver, with the store")
        return self.context.store

    def inputs(self, store: Store) -> Iterator[Video]:
        from videokr.decontam.settings import SETTINGS

        assert isinstance(self.config, DecontamConfig)
        train_ids = {e.video_id for e in store.live_outputs(EXAMPLE_STEPS, "example")}  # type: ignore[attr-defined]
        self._bench = benchmark_refs(store, self.context.video_root, self.config.bench, self.context.root)
        self._bench_fp = digest_parts(
            SETTINGS[self.config.settings].search_fingerprint(), *sorted(f"{b.id}={b.path}={b.youtube_id}" for b in self._bench)
        )
        self._restored = {
            e.item_id: (e.detail or {}).get("note", "")
            for e in store.ledger_entries(RESTORE_STEP, Outcome.ACCEPTED)
            if e.fingerprint == self._bench_fp
        }
        # a video the probe could not read (missing, truncated) is in no set: it is not checked either
        probed = {p.id for p in store.live_outputs("probe", "video_probe")} if "probe" in self.context.recipe else None
        for video in store.live_outputs(self.after, "video"):
            if video.id in train_ids and (probed is None or video.id in probed):
                yield video  # type: ignore[misc]

    def item_fingerprint(self, item: Video) -> str:
        return digest_parts(item.to_json(), self._bench_fp, item.id in self._restored)

    def process_all(self, items: Sequence[Video]) -> Iterable[tuple[Video, Result]]:
        from videokr.decontam.cache import HashCache
        from videokr.decontam.run import VideoRef, decontaminate
        from videokr.decontam.settings import SETTINGS

        assert isinstance(self.config, DecontamConfig)
        settings = SETTINGS[self.config.settings]
        bench = list(self._bench or [])
        train = [VideoRef(v.id, str(resolve_video(v.path, self.context.video_root)), v.youtube_id) for v in items]
        same = _same_files(train, bench)
        result = decontaminate(
            [t for t in train if t.id not in same], bench, settings=settings, cache=HashCache(self.store),
            workers=self.config.workers or 2,
        )
        unreadable_bench = [(key, error) for side, key, error in result.errors if side == "bench"]
        if unreadable_bench and not self.config.allow_incomplete:
            names = "; ".join(f"{key}: {error}" for key, error in unreadable_bench[:3])
            raise Transient(
                f"{len(unreadable_bench)} benchmark video(s) could not be read, so the check is incomplete and no "
                f"training video is cleared ({names}); fix or remove them, or set steps.decontam.allow_incomplete"
            )
        flagged = {line["train_video"]: line for line in result.flagged}
        failed = {key: error for side, key, error in result.errors if side == "train"}
        for video in items:
            if video.id in same:
                verdict = Result.reject(f"the same file as benchmark video {same[video.id]}", code="same_file",
                                        detail={"bench_video": same[video.id]})
            elif video.id in flagged:
                verdict = _flag(flagged[video.id], settings.max_distance)
            elif video.id in failed:
                verdict = Result.quarantine(f"could not hash: {failed[video.id]}", code="unreadable")
            else:
                verdict = Result.accept(self._check(video))
            if verdict.outcome is Outcome.REJECTED:
                verdict.detail = {**(verdict.detail or {}), "benchmark_fingerprint": self._bench_fp}
            if verdict.outcome is Outcome.REJECTED and video.id in self._restored:
                verdict = Result.accept(self._check(video, restored=True),
                                        detail={"restored": True, "was": verdict.reason})
            yield video, verdict

    def _check(self, video: Video, *, restored: bool = False) -> DecontamCheck:
        assert isinstance(self.config, DecontamConfig)
        return DecontamCheck(id=video.id, settings=self.config.settings, benchmark_fingerprint=self._bench_fp,
                             restored=restored, note=self._restored.get(video.id) if restored else None)


def _same_files(train: Sequence[Any], bench: Sequence[Any]) -> dict[str, str]:
    """Training videos that are a benchmark video (same id or same file): flagged without hashing."""
    by_path = {str(Path(b.path).resolve()): b.id for b in bench}
    by_id = {b.id: b.id for b in bench}
    same = {}
    for t in train:
        hit = by_id.get(t.id) or by_path.get(str(Path(t.path).resolve()))
        if hit is not None:
            same[t.id] = hit
    return same


def _flag(line: dict[str, Any], max_distance: int) -> Result:
    if line["reason"] == "youtube_id":
        reason = f"YouTube id {line.get('youtube_id')} is benchmark video {line['bench_video']}"
        return Result.reject(reason, code="youtube_id", detail=line)
    reason = (f"near-duplicate of benchmark video {line['bench_video']} "
              f"({line['matched_fraction']:.0%} of aligned frames within {max_distance} bits)")
    return Result.reject(reason, code="near_duplicate", detail=line)


def restore(store: Store, video_id: str, note: str = "restored by user") -> None:
    """Overrule a flag: the video is cleared the next time the step runs with the same benchmark set and settings."""
    entry = store.ledger_get(STEP, video_id)
    if entry is None or entry.outcome is not Outcome.REJECTED:
        raise KeyError(f"video {video_id!r} was not removed by decontamination")
    bench_fp = (entry.detail or {}).get("benchmark_fingerprint")
    store.record_outcome(RESTORE_STEP, video_id, version="1", fingerprint=bench_fp or "", outcome=Outcome.ACCEPTED,
                         reason=note, detail={"note": note, "was": {"reason": entry.reason, "detail": entry.detail}})


def removed_videos(store: Store) -> set[str]:
    """Training video ids decontamination rejected (they are in no set and no export)."""
    return {e.item_id for e in store.ledger_entries(STEP, Outcome.REJECTED)}
