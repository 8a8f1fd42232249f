"""§3.2's first filter: from a candidate video's metadata, is it relevant to its knowledge point and scenario?

"For each candidate video, we instruct models to evaluate its relevance to the expected
knowledge point and scenario based on the textual metadata." An item is one link (video,
scenario), joined with the scenario and its knowledge point, from either of two sources:

- a search's: the live hits of `youtube_search` whose video passed `youtube_videos` (CC
  licence, at most 30 minutes, not live), described by its `YouTubeVideo`. A video found by
  several keywords of one scenario is one item; a video found for two scenarios is two, since
  relevance is to a scenario;
- a manifest's: the `VideoLink`s that `local_sources` writes with `enter_at: metadata` for
  videos the user already has, described by their `VideoMetadata` (the manifest's title,
  description and channel, the probed duration).

The model (drawn from the pool: Table 8 trusts few models with this judge) sees the title,
the description (cut at `description_chars`), the duration, the channel, the knowledge
point's term and definition and the scenario, and answers relevant yes/no with a short
reason. Relevant → a `RelevanceJudgement(judge="metadata")`, id
`metadata:<video id>:<scenario id>` (the YouTube id for a search's link), which
`visual_relevance` follows, and `download` too for a search's link — a manifest's video is
on disk already; not relevant → the item is rejected with code `irrelevant` and the model's
reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from videokr.hashing import digest_json
from videokr.models.gateway import Gateway
from videokr.pipeline.recipe import register
from videokr.pipeline.step import Result
from videokr.prompts.step import PromptConfig, PromptedStep
from videokr.records import RelevanceJudgement
from videokr.steps.knowledge_points import STEP as KNOWLEDGE_POINTS
from videokr.steps.scenarios import STEP as SCENARIOS
from videokr.timestamps import format_timestamp

STEP = "metadata_relevance"
YOUTUBE_SEARCH = "youtube_search"
YOUTUBE_VIDEOS = "youtube_videos"
# The steps whose `VideoLink`s and `VideoMetadata` bring other candidates to the judge. Not in
# `after`: `local_sources` may follow the judge in a recipe when its videos skip it.
LINK_STEPS = ("local_sources",)
DEFAULT_DESCRIPTION_CHARS = 1000  # of a description the judge reads; the rest is links and boilerplate
MAX_REASON_CHARS = 1000
IRRELEVANT_CODE = "irrelevant"
CUT_MARK = " […]"
UNKNOWN_CHANNEL = "(unknown)"


def judgement_id(video_id: str, scenario_id: str) -> str:
    return f"metadata:{video_id}:{scenario_id}"


def truncate(text: str, limit: int) -> str:
    """At most `limit` characters of `text`, cut at a word where one is near, marked when cut."""
    text = text.strip()
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    if space > limit * 0.8:
        cut = cut[:space]
    return cut.rstrip() + CUT_MARK


class MetadataLink(BaseModel):
    """One (video, scenario) link with everything the judge is shown: the item's fingerprint covers it all."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    video_id: str = Field(description="a search's YouTube id, or the id of a video `local_sources` brought")
    scenario_id: str
    knowledge_point_id: str
    title: str
    channel: str
    duration_s: float
    description: str
    term: str
    definition: str
    scenario: str
    origin: Literal["search", "manifest"] = "search"
    source: str | None = Field(default=None, description="a manifest link's FILE:LINE, for messages")

    @property
    def id(self) -> str:
        return f"{self.video_id}:{self.scenario_id}"

    def fingerprinted(self) -> dict[str, Any]:
        """What the fingerprint covers: what the judge is shown, in the shape search links were first
        fingerprinted in (`youtube_id`), so that no judgement already made is redone. Where the link
        came from changes nothing the judge sees, so it is left out."""
        shown = self.model_dump(mode="json", exclude={"origin", "source"})
        shown["youtube_id"] = shown.pop("video_id")
        return shown


class MetadataRelevanceConfig(PromptConfig):
    PLACEHOLDERS: ClassVar[frozenset[str]] = frozenset({
        "term", "definition", "scenario", "title", "channel", "duration", "description"})

    description_chars: int = Field(default=DEFAULT_DESCRIPTION_CHARS, ge=0,
                                   description="characters of the video description the judge reads")


class MetadataVerdict(BaseModel):
    relevant: bool = Field(description="whether the video plausibly shows the scenario or the knowledge point at work")
    reason: str = Field(min_length=1, max_length=MAX_REASON_CHARS, description="one short sentence")


@register
class MetadataRelevanceStep(PromptedStep[MetadataLink]):
    name = STEP
    version = "1"
    Config = MetadataRelevanceConfig
    after = (YOUTUBE_VIDEOS, YOUTUBE_SEARCH, SCENARIOS, KNOWLEDGE_POINTS)
    reads = "search_hit"
    writes = ("relevance",)

    def inputs(self, store: Any) -> Iterator[MetadataLink]:
        config = self.config
        assert isinstance(config, MetadataRelevanceConfig)
        scenarios = {s.id: s for s in store.live_outputs(SCENARIOS, "scenario")}
        points = {p.id: p for p in store.live_outputs(KNOWLEDGE_POINTS, "knowledge_point")}
        seen: set[tuple[str, str]] = set()

        def link(video_id: str, scenario_id: str, **shown: Any) -> MetadataLink | None:
            """The item of a link not yet seen whose scenario and knowledge point are live, else None."""
            scenario = scenarios.get(scenario_id)
            point = points.get(scenario.knowledge_point_id) if scenario is not None else None
            if (video_id, scenario_id) in seen or point is None:  # seen: the same video from another keyword
                return None  # no point: a scenario or point that went away; its links are retired upstream
            seen.add((video_id, scenario_id))
            return MetadataLink(video_id=video_id, scenario_id=scenario_id, knowledge_point_id=point.id,
                                term=point.term, definition=point.definition, scenario=scenario.text, **shown)

        videos = {v.id: v for v in store.live_outputs(YOUTUBE_VIDEOS, "youtube_video")}
        for hit in store.live_outputs(YOUTUBE_SEARCH, "search_hit"):
            video = videos.get(hit.youtube_id)  # absent: youtube_videos rejected it (too long, not CC, live)
            if video is not None and (item := link(
                    video.id, hit.scenario_id, title=video.title,
                    channel=video.channel_title or video.channel_id or UNKNOWN_CHANNEL, duration_s=video.duration_s,
                    description=truncate(video.description, config.description_chars))) is not None:
                yield item

        described = {m.id: m for m in store.live_outputs(LINK_STEPS, "video_metadata")}
        for claim in store.live_outputs(LINK_STEPS, "video_link"):
            meta = described.get(claim.video_id)
            if meta is not None and (item := link(
                    meta.id, claim.scenario_id, title=meta.title, channel=meta.channel or UNKNOWN_CHANNEL,
                    duration_s=meta.duration_s, description=truncate(meta.description, config.description_chars),
                    origin=claim.origin, source=claim.source)) is not None:
                yield item

    def item_fingerprint(self, item: MetadataLink) -> str:
        return digest_json({"link": item.fingerprinted(), "model": self.draw_model(item.id)})

    @staticmethod
    def values(item: MetadataLink) -> dict[str, Any]:
        return {"term": item.term, "definition": item.definition, "scenario": item.scenario, "title": item.title,
                "channel": item.channel, "duration": format_timestamp(item.duration_s).strip("[]"),
                "description": item.description or "(none)"}

    async def ask(self, item: MetadataLink, gateway: Gateway) -> Result:
        model = self.draw_model(item.id)
        verdict = await self.ask_json(gateway, model, self.values(item), MetadataVerdict)
        reason = " ".join(verdict.reason.split())
        if not verdict.relevant:
            where = f"{item.source}: " if item.source else ""  # a manifest's link names its line
            return Result.reject(where + reason, code=IRRELEVANT_CODE, detail={"model": model})
        return Result.accept(RelevanceJudgement(
            id=judgement_id(item.video_id, item.scenario_id), judge="metadata", video_id=item.video_id,
            knowledge_point_id=item.knowledge_point_id, scenario_id=item.scenario_id, relevant=True, reason=reason,
            model=model), detail={"model": model})
