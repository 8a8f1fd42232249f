"""§3.2's last filter: four random frames of each video are moderated; an unsafe video leaves the corpus.

An item is a downloaded or local video (`download`, `local_sources`) that the visual judge
found relevant to at least one scenario. Its four frames are drawn at random, seeded by the
video's id (`videokr.safety.frames`), and scored by the configured backend — `azure` (the
paper's Azure AI Content Safety), `openai` (omni-moderation through the model door) or
`offline` (a detector shipped inside its wheel). A video is unsafe when any frame reaches the
threshold of any category; it is rejected with code `unsafe`, naming the categories, and the
scores go to the ledger's detail. A safe video gets a `SafetyCheck` with every frame's raw
scores.

Backend replies are kept by request (the frame's bytes, the backend and its model), so a new
threshold in `videokr.yaml` redoes every item — the thresholds are part of the fingerprint —
without a single new call. Keys come from the environment and never reach the store, a
message or the fingerprint.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from typing import Literal

from pydantic import Field, model_validator

from videokr.errors import Verdict
from videokr.formats.official import resolve_video
from videokr.hashing import digest_json, digest_parts
from videokr.pipeline.recipe import register
from videokr.pipeline.step import Resources, Result, Step, StepConfig, StepContext
from videokr.records import SafetyCheck, Video
from videokr.safety import BackendName, make_backend
from videokr.safety.categories import effective_thresholds, flagged_categories
from videokr.safety.frames import SAFETY_FRAMES, safety_frames
from videokr.safety.openai_moderation import DEFAULT_MODEL_NAME
from videokr.store import Store
from videokr.video.probe import file_state

STEP = "safety"
DEFAULT_BACKEND = "azure"  # the paper's moderation API
VIDEO_STEPS = ("download", "local_sources")  # the steps whose Video records are files on disk
JUDGE_STEP = "visual_relevance"
UNSAFE_CODE = "unsafe"


class SafetyConfig(StepConfig):
    backend: BackendName = Field(default=DEFAULT_BACKEND, description="azure | openai | offline")
    frames: int = Field(default=SAFETY_FRAMES, ge=1, description="frames drawn at random per video (§3.2: 4)")
    frame_mode: Literal["exact", "keyframe"] = Field(
        default="exact", description="exact frames, or the nearest keyframes (faster, a few seconds off)")
    thresholds: dict[str, float | None] = Field(
        default_factory=dict, description="category -> score that flags a frame (null: never flags); "
        "the backend's defaults for the others (see docs/corpus.md)")
    model: str = Field(default=DEFAULT_MODEL_NAME,
                       description="openai backend: the moderation model's name under `models:`")

    @model_validator(mode="after")
    def _known_categories(self) -> "SafetyConfig":
        for name, value in self.thresholds.items():
            if value is not None and value <= 0:
                raise ValueError(f"thresholds.{name}: must be above 0 (0 would flag every frame); "
                                 "null never flags")
        effective_thresholds(self.backend, self.thresholds)  # raises naming an unknown category
        return self

    def effective_thresholds(self) -> dict[str, float | None]:
        return effective_thresholds(self.backend, self.thresholds)

    def fingerprint(self) -> str:
        """The settings plus the thresholds in force: a changed default re-decides like a changed setting."""
        data = self.model_dump(mode="json", exclude=set(self.RUN_ONLY))
        data["thresholds"] = self.effective_thresholds()
        if self.backend != "openai":
            data.pop("model")
        return digest_json(data)


@register
class SafetyStep(Step[Video]):
    name = STEP
    version = "1"
    Config = SafetyConfig
    after = (JUDGE_STEP,)
    reads = "video"
    writes = ("safety_check",)
    resources = Resources(kind="video")

    def __init__(self, config: StepConfig | None = None, context: StepContext | None = None) -> None:
        super().__init__(config, context)
        assert isinstance(self.config, SafetyConfig)
        self.backend = make_backend(self.config.backend, models=self.context.settings.get("models"),
                                    model_name=self.config.model, step=self.name, step_version=self.version)
        # Which classifier answers (e.g. a new detector version) decides as much as the thresholds do.
        self._config_digest = digest_parts(self._config_digest, self.backend.label)
        self.thresholds = self.config.effective_thresholds()

    # -- what it takes in ---------------------------------------------------------------

    def inputs(self, store: Store) -> Iterator[Video]:
        """Videos on disk with at least one live relevant visual judgement."""
        judgements = store.live_outputs(JUDGE_STEP, "relevance")
        relevant = {j.video_id for j in judgements if j.relevant}  # type: ignore[attr-defined]
        for video in store.live_outputs(VIDEO_STEPS, "video"):
            if video.id in relevant:
                yield video  # type: ignore[misc]

    def item_fingerprint(self, item: Video) -> str:
        path = resolve_video(item.path, self.context.video_root)
        state = file_state(path)
        return digest_parts(item.to_json(), state)

    # -- the work -----------------------------------------------------------------------

    async def asetup(self) -> None:
        await self.backend.open(self.context.store)
        self._decoding = asyncio.Semaphore(os.cpu_count() or 1)  # decoding is CPU-bound: one per core

    async def ateardown(self) -> None:
        await self.backend.close()

    async def aprocess(self, item: Video) -> Result:
        config = self.config
        assert isinstance(config, SafetyConfig)
        path = resolve_video(item.path, self.context.video_root)
        if not path.is_file():
            return Result.reject(f"video {item.id!r}: file not found: {path}", code="file_missing")
        from videokr.video.probe import VideoError

        try:
            async with self._decoding:
                frames = await asyncio.to_thread(safety_frames, path, item.id, config.frames,
                                                 config.frame_mode)
        except VideoError as exc:
            raise Verdict(f"video {item.id!r}: {exc}", code="unreadable") from None
        if not frames:
            raise Verdict(f"video {item.id!r}: no frame decodes", code="unreadable")
        # One frame after another: items run side by side already, and a failure ends the item without
        # leaving its other frames' requests running.
        scores = [await self.backend.score(frame) for frame in frames]
        flagged = flagged_categories(scores, self.thresholds)
        check = SafetyCheck(id=item.id, backend=self.backend.label, frame_times_s=[f.time_s for f in frames],
                            scores=scores, safe=not flagged, flagged=flagged)
        if flagged:
            return Result.reject(f"video {item.id!r}: unsafe ({', '.join(flagged)}) by {self.backend.label}",
                                 code=UNSAFE_CODE, detail=check.model_dump(mode="json"))
        return Result.accept(check)
