"""§3.2's visual relevance judge: a vision model looks at a downloaded video's frames and confirms the link.

An item is one (video, scenario) link: a video on disk (a `Video` of `download` or
`local_sources`) joined with a live relevant judgement of the same video for a scenario — one
item per relevant (video, scenario) pair. The judgements are the metadata judge's
(`metadata_relevance`, keyed by YouTube id, or by the video's id for a local video that met
that judge) and, for a local video that enters the chain here, the user's declarations that
`local_sources` writes in the same shape (`RelevanceJudgement(judge="metadata",
model=None)` per scenario of each declared knowledge point, keyed by the video's id). The
item carries the knowledge point's and the scenario's texts, so its fingerprint covers all
the model sees; the file's size and modification time are in it too.

The model — one drawn per item among those eligible for the visual judge (Table 8: vision
models that passed the audit), through `PromptedStep` — sees `frames` frames spread evenly
over the video (16 by default, never more than the model's image budget), each after its
timestamp `[MM:SS]`, then the prompt (`prompts/visual_relevance.md`, or `prompt:` in the
step's section). It answers relevant yes/no with a reason. Relevant: a
`RelevanceJudgement(judge="visual")` with the frame times it saw. Not relevant: rejected,
code `irrelevant`, the reason kept. A file that is gone: `file_missing`; one that does not
decode: `unreadable`.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from videokr.errors import Transient, Verdict
from videokr.formats.official import resolve_video
from videokr.hashing import digest_json
from videokr.models.gateway import Gateway
from videokr.models.frames import user_message_with_frames
from videokr.video.frame_cache import fit_within
from videokr.models.structured import ask_structured
from videokr.pipeline.recipe import register
from videokr.pipeline.step import Result
from videokr.prompts import render_prompt
from videokr.prompts.step import DryRun, PromptConfig, PromptedStep
from videokr.records import KnowledgePoint, RelevanceJudgement, Scenario, Video
from videokr.store import Store
from videokr.timestamps import format_timestamp
from videokr.video.probe import file_state

STEP = "visual_relevance"
VIDEO_STEPS = ("download", "local_sources")  # the steps whose Video records are files on disk
METADATA_STEP = "metadata_relevance"
# the steps whose relevant judgements link a video to a scenario
LINK_STEPS = (METADATA_STEP, "local_sources")
# Frames the judge sees, spread evenly from the first frame to the last: enough to cover a
# 30-minute video every two minutes, and within every pool model's image budget.
DEFAULT_FRAMES = 16
# Frames larger than this (long side, pixels) are scaled down: 854 is the long side of the
# 480p videos `download` fetches, so those are sent as they are and larger local videos cost
# the same as downloaded ones.
DEFAULT_MAX_SIDE = 854


class VisualAnswer(BaseModel):
    """The judge's reply."""

    model_config = ConfigDict(extra="forbid")

    relevant: bool
    reason: str = Field(min_length=1, description="one sentence about what the frames show")


class VisualLink(BaseModel):
    """One (video, scenario) link as the judge sees it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    video: Video
    knowledge_point_id: str
    scenario_id: str
    scenario: str
    subject: str
    term: str
    definition: str


def link_id(video: Video, scenario_id: str) -> str:
    """`visual:<youtube id or video id>:<scenario id>`."""
    return f"visual:{video.youtube_id or video.id}:{scenario_id}"


class VisualRelevanceConfig(PromptConfig):
    PLACEHOLDERS: ClassVar[frozenset[str]] = frozenset(
        {"subject", "term", "definition", "scenario", "frame_count", "duration"})

    frames: int = Field(default=DEFAULT_FRAMES, ge=1, description="frames spread evenly over the video")
    max_side: int = Field(default=DEFAULT_MAX_SIDE, ge=64, description="long side of a frame sent, in pixels")


def videos_on_disk(store: Store) -> dict[str, Video]:
    """The live videos of the steps that put files on disk, by id and by YouTube id."""
    found: dict[str, Video] = {}
    for video in store.live_outputs(VIDEO_STEPS, "video"):
        assert isinstance(video, Video)
        found[video.id] = video
        if video.youtube_id:
            found.setdefault(video.youtube_id, video)
    return found


@register
class VisualRelevanceStep(PromptedStep[VisualLink]):
    name = STEP
    version = "1"
    Config = VisualRelevanceConfig
    after = (*LINK_STEPS, "download")
    reads = "video"
    writes = ("relevance",)

    # -- what it takes in ---------------------------------------------------------------

    def inputs(self, store: Store) -> Iterator[VisualLink]:
        videos = videos_on_disk(store)
        seen: set[str] = set()
        for judgement in store.live_outputs(LINK_STEPS, "relevance"):
            assert isinstance(judgement, RelevanceJudgement)
            video = videos.get(judgement.video_id)
            if not judgement.relevant or video is None:
                continue  # not downloaded (yet), or its download was rejected
            scenario = store.get("scenario", judgement.scenario_id)
            point = store.get("knowledge_point", judgement.knowledge_point_id)
            if not isinstance(scenario, Scenario) or not isinstance(point, KnowledgePoint):
                continue  # gone upstream: its judgement is retired with it
            link = VisualLink(id=link_id(video, scenario.id), video=video, knowledge_point_id=point.id,
                              scenario_id=scenario.id, scenario=scenario.text, subject=point.subject,
                              term=point.term, definition=point.definition)
            if link.id not in seen:  # a video both found by search and declared locally: judged once
                seen.add(link.id)
                yield link

    def item_fingerprint(self, item: VisualLink) -> str:
        path = resolve_video(item.video.path, self.context.video_root)
        state = file_state(path)
        return digest_json({"link": item.model_dump(mode="json"), "file": state,
                            "model": self.draw_model(item.id)})

    # -- the work -----------------------------------------------------------------------

    async def asetup(self) -> None:
        await super().asetup()
        self._decoding = asyncio.Semaphore(os.cpu_count() or 1)  # decoding is CPU-bound: one per core

    async def ask(self, item: VisualLink, gateway: Gateway) -> Result:
        config = self.config
        assert isinstance(config, VisualRelevanceConfig)
        model = self.draw_model(item.id)
        budget = min(config.frames, gateway.config(model).max_images)
        if budget < 1:
            raise Transient(f"model {model} takes no images (models.{model}.max_images is 0)")
        frames, duration = await self._frames(item, budget)
        values = {"subject": item.subject, "term": item.term, "definition": item.definition,
                  "scenario": item.scenario, "frame_count": len(frames),
                  "duration": format_timestamp(duration).strip("[]")}
        message = user_message_with_frames(render_prompt(self.template, values), frames, max_images=budget)
        answer = await ask_structured(gateway, model, [message], VisualAnswer, step=self.name,
                                      step_version=self.version)
        if answer.value is None:
            raise DryRun(answer.error or "dry run: not sent")
        times = [round(f.pts_seconds, 6) for f in frames]
        if not answer.value.relevant:
            return Result.reject(f"{model}: not relevant: {answer.value.reason}", code="irrelevant",
                                 detail={"model": model, "reason": answer.value.reason,
                                         "frame_times_s": times})
        return Result.accept(RelevanceJudgement(
            id=item.id, judge="visual", video_id=item.video.id, knowledge_point_id=item.knowledge_point_id,
            scenario_id=item.scenario_id, relevant=True, reason=answer.value.reason, model=model,
            frame_times_s=times), detail={"model": model})

    async def _frames(self, item: VisualLink, n: int) -> tuple[list[Any], float]:
        """`n` frames spread evenly over the video (scaled to `max_side`), and its duration."""
        from videokr.video.probe import VideoError, probe
        from videokr.video.sampling import sample_frames

        config = self.config
        assert isinstance(config, VisualRelevanceConfig)
        path = resolve_video(item.video.path, self.context.video_root)
        if not path.is_file():
            raise Verdict(f"video {item.video.id!r}: file not found: {path}", code="file_missing")

        def decode() -> tuple[list[Any], float]:
            info = probe(path)
            size = fit_within(*info.display_size, config.max_side)
            frames = sample_frames(path, n=n, size=size, info=info)
            # a video with fewer frames than asked for gives some twice: send each once
            unique = list({round(f.pts_seconds, 6): f for f in frames}.values())
            return unique, info.duration_s

        try:
            async with self._decoding:
                return await asyncio.to_thread(decode)
        except VideoError as exc:
            raise Verdict(f"video {item.video.id!r}: {exc}", code="unreadable") from None
