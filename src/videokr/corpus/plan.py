"""Planning before paying: what §3.1–§3.3 would cost at a given scale, step by step.

Why a planner: the corpus chain spends two scarce things — model tokens (USD) and YouTube
Data API quota (units per Pacific-time day) — and both grow multiplicatively down the funnel
(knowledge points → scenarios → keywords → ten hits each → ... → six generation rounds per
video, each validated by up to four more requests). Before a run is paid for,
`videokr corpus plan` says, per step, how many items go in and come out, how many requests
are sent, how many tokens they carry, what they cost at the configured prices (list price and
Batch API), how many quota units they spend and how many days of the daily budget that is.

This module is pure arithmetic over `Stage`s: no store, no files. `videokr.corpus.estimate`
builds the stages of a workspace (its prices, its step settings, its measured pass rates).

The funnel is linear: each stage has a `feed` (its items in per output of the stage before)
and a `yield` (outputs per item in: a fan-out for a generator, a pass rate for a filter), so
a scale given as final videos (the safety step's output) or as final examples inverts exactly
to knowledge points.

Defaults. The paper gives three counts (§3.1: 63,745 knowledge points; §3.2: 146,567 CC-licensed
videos; §3.5: 315,537 examples after every filter), the videos decontamination removed (§3.4:
131 + 877) and the structure (1–3 scenarios per point, top-10 candidates per keyword, videos over
30 minutes excluded, six generation rounds per video, two models for the video dependency filter).
Everything else is an ASSUMPTION, named as such below; the metadata judge's pass rate is then
solved so that the funnel reproduces 63,745 → 146,567, and the video dependency filter's so that
it reproduces 146,567 → 315,537. A pilot run replaces any of them with the workspace's measured
ratios (see `estimate.py`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from videokr.models.config import Price
from videokr.steps.example_generation import GENERATION_FPS, ROUNDS
from videokr.steps.video_dependency import DEPENDENCY_FRAMES, DEPENDENCY_MODELS
from videokr.youtube.quota import DEFAULT_DAILY_QUOTA, SEARCH_UNITS, VIDEOS_PER_CALL, VIDEOS_UNITS

# -- the paper's counts -------------------------------------------------------------------

PAPER_KNOWLEDGE_POINTS = 63_745  # §3.1: "We collect a total of 63,745 knowledge points."
PAPER_VIDEOS = 146_567  # §3.2: "We collect 146,567 CC-licensed videos." (after the safety filter)
PAPER_TOP_K = 10  # §3.2: "the top-10 candidate videos" per search keyword
PAPER_SAFETY_FRAMES = 4  # §3.2: four random frames of each video are moderated
PAPER_ROUNDS_PER_VIDEO = ROUNDS  # §3.3: "six examples in total through six independent generation rounds"
PAPER_GENERATION_FPS = GENERATION_FPS  # §3.3: frames "uniformly sampled at 0.2 fps" (generation, re-derivation, CoT check)
PAPER_DEPENDENCY_FRAMES = DEPENDENCY_FRAMES  # §3.3: "the text and four randomly sampled video frames"
PAPER_DEPENDENCY_MODELS = len(DEPENDENCY_MODELS)  # §3.3: InternVL3.5-38B and Qwen3-VL-32B-Instruct both answer
PAPER_MEAN_DURATION_S = 344.1  # Table 1: VideoKR's average video duration
PAPER_DECONTAM_REMOVED_VIDEOS = 131 + 877  # §3.4: YouTube-id matches + near-duplicates removed
PAPER_EXAMPLES = 315_537  # §3.5: "the generated 315,537 examples" (after every filter), split into SFT and RL

# -- ASSUMPTIONS where the paper gives no number (each replaced once a pilot measured it) --

ASSUMED_POINTS_PER_LECTURE = 5.5  # "several" points per lecture: the middle of the step's 3–8
ASSUMED_SCENARIOS_PER_POINT = 2.0  # §3.2 says 1–3: the middle
ASSUMED_KEYWORDS_PER_SCENARIO = 2.0  # the middle of search_keywords' default 1–3
ASSUMED_HITS_PER_KEYWORD = float(PAPER_TOP_K)  # every search page full (CC-only searches may return fewer)
ASSUMED_UNIQUE_IDS_PER_HIT = 0.5  # half the hits name a video another keyword already found
ASSUMED_VIDEOS_PASS_RATE = 0.8  # youtube_videos keeps ≤ 30 min, recorded (not live), Creative Commons
ASSUMED_LINKS_PER_VIDEO = 1.5  # (video, scenario) links per kept video: the metadata judge's items
ASSUMED_RELEVANT_LINKS_PER_VIDEO = 1.2  # accepted metadata links per video downloaded (and back at visual)
ASSUMED_DOWNLOAD_PASS_RATE = 0.95  # downloads that succeed and decode
ASSUMED_VISUAL_PASS_RATE = 0.7  # links the visual judge confirms
ASSUMED_VISUAL_LINKS_PER_VIDEO = 1.1  # confirmed links per video reaching the safety check
ASSUMED_SAFETY_PASS_RATE = 0.98  # videos the moderation clears
ASSUMED_GENERATION_PASS_RATE = 0.95  # rounds whose reply becomes a valid example (after the schema repairs)
ASSUMED_SELF_CONSISTENCY_PASS_RATE = 0.75  # candidates whose re-derived answer matches the generator's
ASSUMED_COT_VALIDATION_PASS_RATE = 0.85  # candidates whose reasoning has no critical unsupported step
# The paper's videos after decontamination (Table 1 counts 145K): the examples of removed videos go with them.
PAPER_DECONTAM_PASS_RATE = (PAPER_VIDEOS - PAPER_DECONTAM_REMOVED_VIDEOS) / PAPER_VIDEOS


def _calibrated_metadata_pass_rate() -> float:
    """The metadata judge's pass rate that makes the other defaults reproduce 63,745 → 146,567."""
    before = (ASSUMED_SCENARIOS_PER_POINT * ASSUMED_KEYWORDS_PER_SCENARIO * ASSUMED_HITS_PER_KEYWORD
              * ASSUMED_UNIQUE_IDS_PER_HIT * ASSUMED_VIDEOS_PASS_RATE * ASSUMED_LINKS_PER_VIDEO)
    after = (ASSUMED_DOWNLOAD_PASS_RATE * ASSUMED_VISUAL_PASS_RATE * ASSUMED_SAFETY_PASS_RATE
             / ASSUMED_VISUAL_LINKS_PER_VIDEO)  # links per video out at download and back in at visual cancel
    return PAPER_VIDEOS / (PAPER_KNOWLEDGE_POINTS * before * after)


# SOLVED from the paper's two counts and the assumptions above (about 0.16).
CALIBRATED_METADATA_PASS_RATE = _calibrated_metadata_pass_rate()


def _calibrated_dependency_pass_rate() -> float:
    """The video dependency filter's pass rate that makes the other defaults reproduce 146,567 → 315,537."""
    others = (PAPER_ROUNDS_PER_VIDEO * ASSUMED_GENERATION_PASS_RATE * ASSUMED_SELF_CONSISTENCY_PASS_RATE
              * ASSUMED_COT_VALIDATION_PASS_RATE * PAPER_DECONTAM_PASS_RATE)
    return PAPER_EXAMPLES / (PAPER_VIDEOS * others)


# SOLVED from the paper's two counts and the assumptions above (about 0.60).
CALIBRATED_DEPENDENCY_PASS_RATE = _calibrated_dependency_pass_rate()

# Tokens per request where no pilot measured them: the reply lengths (the request side is
# estimated from the prompt in use, see estimate.py). Reasoning models bill hidden reasoning
# tokens as output too, which only a pilot measures.
ASSUMED_OUTPUT_TOKENS = {
    "knowledge_points": 800,  # ~5.5 terms, each with a paragraph (≥ 30 words) of definition, as JSON
    "scenarios": 120,  # ~2 sentences of ≤ 40 words
    "search_keywords": 60,  # ~2 queries of ≤ 8 words
    "metadata_relevance": 60,  # a verdict and one sentence
    "visual_relevance": 60,  # a verdict and one sentence
    "example_generation": 600,  # a question, its options, the answer and a step-by-step reasoning, as JSON
    "self_consistency": 450,  # a step-by-step reasoning citing timestamps, and the answer
    "video_dependency": 10,  # the answer only
    "cot_validation": 500,  # one entry per key step (supported, critical, evidence) and a verdict
}

MIN_MEASURED_ITEMS = 20  # finished items (or outputs) of a step before its measured ratio replaces the default

RequestKind = Literal["model", "search", "videos", "download", "moderation", "local"]
Source = Literal["paper", "assumption", "calibrated", "measured", "config"]


@dataclass(frozen=True)
class ModelCost:
    """One model a step may draw (§3.4: one eligible model at random per instance), and its request size."""

    model: str
    tokens_in: float  # per request, images included
    tokens_out: float
    price: Price | None  # None: no price configured for this model


@dataclass(frozen=True)
class Stage:
    """One step of the funnel. `feed`: items in per output of the stage before; `yield_`: outputs per item in."""

    name: str
    unit_in: str
    unit_out: str
    feed: float
    yield_: float
    requests_per_item: float
    kind: RequestKind
    models: tuple[ModelCost, ...] = ()
    quota_units_per_request: int = 0
    sources: dict[str, Source] = field(default_factory=dict)  # "feed", "yield", "tokens", "requests" → source
    priced: bool = True  # False: requests cost money videokr has no price for (a moderation API)
    note: str = ""


@dataclass(frozen=True)
class Row:
    step: str
    unit_in: str
    unit_out: str
    items_in: float
    items_out: float
    requests: int
    tokens_in: float
    tokens_out: float
    usd: float | None  # None: unpriced
    usd_batch: float | None
    quota_units: int
    days: float
    sources: dict[str, Source]
    models: tuple[str, ...]
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"step": self.step, "unit_in": self.unit_in, "unit_out": self.unit_out,
                "items_in": round(self.items_in), "items_out": round(self.items_out), "requests": self.requests,
                "tokens_in": round(self.tokens_in), "tokens_out": round(self.tokens_out),
                "usd": None if self.usd is None else round(self.usd, 2),
                "usd_batch": None if self.usd_batch is None else round(self.usd_batch, 2),
                "quota_units": self.quota_units, "days": round(self.days, 2), "sources": dict(self.sources),
                "models": list(self.models), "note": self.note}


@dataclass(frozen=True)
class Plan:
    rows: tuple[Row, ...]
    knowledge_points: float
    videos: float  # out of the safety step
    daily_quota: int
    examples: float | None = None  # out of the last stage, when the plan goes on to §3.3

    @property
    def requests(self) -> int:
        return sum(r.requests for r in self.rows)

    @property
    def tokens_in(self) -> float:
        return sum(r.tokens_in for r in self.rows)

    @property
    def tokens_out(self) -> float:
        return sum(r.tokens_out for r in self.rows)

    @property
    def unpriced(self) -> list[str]:
        return [r.step for r in self.rows if r.usd is None]

    @property
    def usd(self) -> float:
        """USD of the priced steps (see `unpriced` for the ones left out)."""
        return sum(r.usd for r in self.rows if r.usd is not None)

    @property
    def usd_batch(self) -> float:
        return sum(r.usd_batch for r in self.rows if r.usd_batch is not None)

    @property
    def quota_units(self) -> int:
        return sum(r.quota_units for r in self.rows)

    @property
    def days(self) -> float:
        """Days of the daily budget: both YouTube steps draw on the one budget of the project."""
        return self.quota_units / self.daily_quota

    def as_dict(self) -> dict[str, Any]:
        return {"knowledge_points": round(self.knowledge_points), "videos": round(self.videos),
                "examples": None if self.examples is None else round(self.examples), "daily_quota": self.daily_quota, "steps": [r.as_dict() for r in self.rows],
                "total": {"requests": self.requests, "tokens_in": round(self.tokens_in),
                          "tokens_out": round(self.tokens_out), "usd": round(self.usd, 2),
                          "usd_batch": round(self.usd_batch, 2), "unpriced": self.unpriced,
                          "quota_units": self.quota_units, "days": round(self.days, 2)}}


class PlanError(ValueError):
    """A scale or a stage the planner cannot use; the message says which."""


VIDEOS_STAGE = "safety"  # the stage whose outputs are the corpus's videos


def paper_stages(*, top_k: int = PAPER_TOP_K, safety_frames: int = PAPER_SAFETY_FRAMES,
                 videos_per_call: int = VIDEOS_PER_CALL, rounds: int = PAPER_ROUNDS_PER_VIDEO,
                 dependency_models: int = PAPER_DEPENDENCY_MODELS) -> list[Stage]:
    """The §3.1–§3.3 chain with the paper's funnel and the assumptions above (no models attached).

    Decontamination ends it: it sends nothing, but the paper's 315,537 examples are counted after it."""
    a, p, c = "assumption", "paper", "calibrated"
    return [
        Stage("knowledge_points", "lectures", "knowledge points", 1.0, ASSUMED_POINTS_PER_LECTURE, 1.0, "model",
              sources={"feed": p, "yield": a}),
        Stage("scenarios", "knowledge points", "scenarios", 1.0, ASSUMED_SCENARIOS_PER_POINT, 1.0, "model",
              sources={"feed": p, "yield": a}),
        Stage("search_keywords", "scenarios", "keywords", 1.0, ASSUMED_KEYWORDS_PER_SCENARIO, 1.0, "model",
              sources={"feed": p, "yield": a}),
        Stage("youtube_search", "keywords", "hits", 1.0, ASSUMED_HITS_PER_KEYWORD * top_k / PAPER_TOP_K, 1.0,
              "search", quota_units_per_request=SEARCH_UNITS, sources={"feed": p, "yield": a}),
        Stage("youtube_videos", "videos", "videos kept", ASSUMED_UNIQUE_IDS_PER_HIT, ASSUMED_VIDEOS_PASS_RATE,
              1.0 / videos_per_call, "videos", quota_units_per_request=VIDEOS_UNITS,
              sources={"feed": a, "yield": a}),
        Stage("metadata_relevance", "links", "relevant links", ASSUMED_LINKS_PER_VIDEO, CALIBRATED_METADATA_PASS_RATE,
              1.0, "model", sources={"feed": a, "yield": c}),
        Stage("download", "videos", "videos on disk", 1.0 / ASSUMED_RELEVANT_LINKS_PER_VIDEO,
              ASSUMED_DOWNLOAD_PASS_RATE, 1.0, "download", sources={"feed": a, "yield": a}),
        Stage("visual_relevance", "links", "confirmed links", ASSUMED_RELEVANT_LINKS_PER_VIDEO,
              ASSUMED_VISUAL_PASS_RATE, 1.0, "model", sources={"feed": a, "yield": a}),
        Stage("safety", "videos", "safe videos", 1.0 / ASSUMED_VISUAL_LINKS_PER_VIDEO, ASSUMED_SAFETY_PASS_RATE,
              float(safety_frames), "moderation", sources={"feed": a, "yield": a}),
        Stage("example_generation", "rounds", "candidates", float(rounds), ASSUMED_GENERATION_PASS_RATE, 1.0,
              "model", sources={"feed": p, "yield": a}),
        Stage("self_consistency", "candidates", "consistent", 1.0, ASSUMED_SELF_CONSISTENCY_PASS_RATE, 1.0, "model",
              sources={"feed": p, "yield": a}),
        Stage("video_dependency", "candidates", "video-dependent", 1.0, CALIBRATED_DEPENDENCY_PASS_RATE,
              float(dependency_models), "model", sources={"feed": p, "yield": c}),
        Stage("cot_validation", "candidates", "examples", 1.0, ASSUMED_COT_VALIDATION_PASS_RATE, 1.0, "model",
              sources={"feed": p, "yield": a}),
        Stage("decontam", "examples", "examples kept", 1.0, PAPER_DECONTAM_PASS_RATE, 0.0, "local",
              sources={"feed": p, "yield": p}, note="sends nothing; removes the examples of matched videos"),
    ]


def _videos_index(stages: Sequence[Stage]) -> int:
    """Where the videos come out: the safety stage, or the last one of a chain that stops before it."""
    names = [s.name for s in stages]
    return names.index(VIDEOS_STAGE) if VIDEOS_STAGE in names else len(stages) - 1


def outputs_per_knowledge_point(stages: Sequence[Stage], upto: int | None = None) -> float:
    """Outputs of stage `upto` (default: the last) per knowledge point: the product of the ratios in between."""
    last = len(stages) - 1 if upto is None else upto
    ratio = 1.0
    for stage in stages[1:last + 1]:
        ratio *= stage.feed * stage.yield_
    return ratio


def videos_per_knowledge_point(stages: Sequence[Stage]) -> float:
    """Final videos (the safety step's outputs) per knowledge point."""
    return outputs_per_knowledge_point(stages, _videos_index(stages))


def plan(stages: Sequence[Stage], *, knowledge_points: float | None = None, videos: float | None = None,
         examples: float | None = None, daily_quota: int = DEFAULT_DAILY_QUOTA) -> Plan:
    """Items, requests, tokens, USD and quota per stage at a scale given as knowledge points, videos or examples.

    The first stage must make the knowledge points (its outputs are the scale's unit); the
    safety stage makes the videos, and the stages after it (§3.3) the examples."""
    if sum(x is not None for x in (knowledge_points, videos, examples)) != 1:
        raise PlanError("give the scale as knowledge points, videos or examples: one of them, not several "
                        "(not both) and not none")
    if not stages or stages[0].name != "knowledge_points":
        raise PlanError("the first stage must be knowledge_points (the scale is counted in knowledge points)")
    if daily_quota < 1:
        raise PlanError(f"the daily quota must be at least 1 unit, not {daily_quota}")
    for stage in stages:
        if stage.feed < 0 or stage.yield_ < 0 or stage.requests_per_item < 0:
            raise PlanError(f"stage {stage.name}: ratios cannot be negative")
    scale = next(x for x in (knowledge_points, videos, examples) if x is not None)
    videos_at = _videos_index(stages)
    has_examples = videos_at < len(stages) - 1
    if examples is not None and not has_examples:
        raise PlanError("this funnel stops at the videos: it cannot be planned from examples")
    if scale < 0:
        raise PlanError(f"the scale cannot be negative ({scale})")
    if stages[0].yield_ == 0:
        raise PlanError("knowledge_points: a yield of 0 knowledge points per lecture plans nothing")
    if knowledge_points is None:
        what = "video" if videos is not None else "example"
        per_point = outputs_per_knowledge_point(stages, videos_at if videos is not None else None)
        if per_point == 0:
            raise PlanError(f"no {what} comes out of this funnel (a ratio is 0): it cannot be planned from {what}s")
        knowledge_points = scale / per_point
    rows = []
    out = 0.0
    for index, stage in enumerate(stages):
        items_in = knowledge_points / stage.yield_ if index == 0 else out * stage.feed
        out = items_in * stage.yield_
        rows.append(_row(stage, items_in, out, daily_quota))
    return Plan(tuple(rows), knowledge_points, rows[videos_at].items_out, daily_quota,
                out if has_examples else None)


def _row(stage: Stage, items_in: float, items_out: float, daily_quota: int) -> Row:
    requests = math.ceil(items_in * stage.requests_per_item - 1e-9) if items_in > 0 else 0
    tokens_in = tokens_out = 0.0
    usd: float | None = 0.0
    usd_batch: float | None = 0.0
    if stage.kind == "model":
        if not stage.models:
            usd = usd_batch = None  # no eligible model: nothing can be priced
        else:
            n = len(stage.models)
            tokens_in = requests * sum(m.tokens_in for m in stage.models) / n
            tokens_out = requests * sum(m.tokens_out for m in stage.models) / n
            if any(m.price is None for m in stage.models):
                usd = usd_batch = None
            else:  # one model drawn at random per instance: the mean of their costs
                usd = requests * sum(m.price.cost(m.tokens_in, m.tokens_out) for m in stage.models) / n  # type: ignore[union-attr]
                usd_batch = requests * sum(m.price.cost(m.tokens_in, m.tokens_out, batch=True)  # type: ignore[union-attr]
                                           for m in stage.models) / n
    elif not stage.priced:
        usd = usd_batch = None
    units = requests * stage.quota_units_per_request
    return Row(stage.name, stage.unit_in, stage.unit_out, items_in, items_out, requests, tokens_in, tokens_out,
               usd, usd_batch, units, units / daily_quota, dict(stage.sources), tuple(m.model for m in stage.models),
               stage.note)


def with_ratios(stage: Stage, **changes: Any) -> Stage:
    """A copy of `stage` with some fields changed (and their sources merged)."""
    sources = {**stage.sources, **changes.pop("sources", {})}
    return replace(stage, sources=sources, **changes)
