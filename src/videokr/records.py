"""The records every videokr step reads and writes.

Records are strict where the paper is strict — a multiple-choice answer must be one of
the offered letters, an option list has 2 to 10 entries (A–J) — so that a bad item is
stopped where it enters, with a message that says what to fix, instead of surfacing as a
wrong score three steps later.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from videokr.hashing import digest_parts

OPTION_LETTERS = "ABCDEFGHIJ"
MIN_OPTIONS = 2
MAX_OPTIONS = len(OPTION_LETTERS)


class Discipline(StrEnum):
    """The four disciplines of the paper's Table 6."""

    NATURAL_SCIENCES = "Natural Sciences"
    ENGINEERING = "Engineering"
    HEALTHCARE = "Healthcare"
    HUMANITIES = "Humanities & Social Sciences"


class Skill(StrEnum):
    """The three core skills of §3.3."""

    VIDR = "VidR"  # basic video reasoning
    KNOWVID = "KnowVid"  # knowledge-enhanced video perception
    KNOWVIDR = "KnowVidR"  # knowledge-intensive video reasoning


class ProblemType(StrEnum):
    MULTIPLE_CHOICE = "multiple choice"
    OPEN_ENDED = "open-ended"


class Outcome(StrEnum):
    """How an item leaves a step: every item ends as exactly one of these."""

    ACCEPTED = "accepted"
    REJECTED = "rejected"  # the item is bad or fails a filter; the reason says which
    QUARANTINED = "quarantined"  # the step failed on it; the error is kept, a rerun retries


def utcnow() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def content_id(*parts: str, prefix: str = "", length: int = 16) -> str:
    """A stable id derived from content, for items that arrive without one."""
    return f"{prefix}{digest_parts(*parts, length=length)}"


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=False, frozen=False)

    kind: Any  # overridden by every subclass with a Literal

    def to_json(self) -> str:
        return self.model_dump_json(exclude_defaults=False)


class ExpertKnowledgePoint(BaseModel):
    """A knowledge point an expert wrote into the knowledge bank (it skips the LLM step)."""

    model_config = ConfigDict(extra="forbid")

    term: str = Field(min_length=1)
    definition: str = Field(min_length=1)


class Lecture(Record):
    """One lecture of a course syllabus in the knowledge bank (§3.1): Subject → Course → Lecture.

    Written by `videokr kb import`. A drafted syllabus (an LLM's proposal for an uncovered
    subject) is kept with `draft=True` and feeds no later step until an expert approves it by
    importing the reviewed file."""

    kind: Literal["lecture"] = "lecture"
    id: str
    discipline: Discipline
    subject: str
    course: str
    lecture: str = Field(min_length=1)
    objectives: list[str] = Field(default_factory=list)
    knowledge_points: list[ExpertKnowledgePoint] = Field(
        default_factory=list, description="given by experts; when present the LLM step keeps them as they are")
    draft: bool = False
    source_file: str | None = None
    extra: dict[str, Any] = Field(default_factory=dict)


class KnowledgePoint(Record):
    """One leaf of the Subject → Course → Lecture → Knowledge point hierarchy (§3.1)."""

    kind: Literal["knowledge_point"] = "knowledge_point"
    id: str
    discipline: Discipline
    subject: str
    course: str
    lecture: str
    term: str = Field(min_length=1)
    definition: str = Field(min_length=1, description="a paragraph-length definition")
    lecture_id: str | None = None
    origin: Literal["expert", "model"] = "model"
    model: str | None = Field(default=None, description="the model that wrote it (None for experts)")


class Scenario(Record):
    """A realistic situation in which a knowledge point is applied (§3.2)."""

    kind: Literal["scenario"] = "scenario"
    id: str
    knowledge_point_id: str
    text: str = Field(min_length=1)
    model: str | None = None


class SearchKeyword(Record):
    kind: Literal["search_keyword"] = "search_keyword"
    id: str
    scenario_id: str
    knowledge_point_id: str
    text: str = Field(min_length=1)
    model: str | None = None


class SearchHit(Record):
    """One video a keyword's search returned (§3.2): the link keyword → scenario → knowledge point → video.

    A video found by several keywords has one hit per keyword and one `YouTubeVideo`."""

    kind: Literal["search_hit"] = "search_hit"
    id: str = Field(description="'{keyword_id}:{youtube_id}'")
    keyword_id: str
    scenario_id: str
    knowledge_point_id: str
    youtube_id: str
    rank: int = Field(ge=1, description="1 = the search's first result")
    query: str


class YouTubeVideo(Record):
    """A candidate video's metadata from `videos.list` (§3.2); licence and channel make CC-BY attribution possible."""

    kind: Literal["youtube_video"] = "youtube_video"
    id: str = Field(description="the YouTube id")
    title: str
    description: str = ""
    channel_id: str | None = None
    channel_title: str | None = None
    duration_s: float = Field(ge=0)
    licence: str = Field(description="status.license as the API gives it, e.g. 'creativeCommon'")
    live_status: str = Field(default="none", description="snippet.liveBroadcastContent")
    published_at: str | None = None
    url: str


class VideoMetadata(Record):
    """What a metadata judge reads about a candidate that is not a YouTube search result (§3.2).

    A search's candidates keep their richer `YouTubeVideo`; a video the user brings
    (`local_sources` with `enter_at: metadata`) is described by this record: the manifest's
    words and the probe's duration, with the licence and source that attribution needs."""

    kind: Literal["video_metadata"] = "video_metadata"
    id: str = Field(description="the video's id (that of its `Video`)")
    title: str = Field(min_length=1)
    description: str = ""
    channel: str | None = None
    duration_s: float = Field(ge=0)
    licence: str
    source_url: str | None = None


class VideoLink(Record):
    """A claim, still to be judged, that a video may show a scenario: where a candidate meets the knowledge bank.

    A search's claims are its `SearchHit`s (keyword, rank, query); a manifest's are written by
    `local_sources` with `enter_at: metadata`, one per scenario of each declared knowledge
    point. Either way the metadata judge decides the link (`metadata:<video id>:<scenario id>`)."""

    kind: Literal["video_link"] = "video_link"
    id: str = Field(description="'{video_id}:{scenario_id}'")
    video_id: str
    scenario_id: str
    knowledge_point_id: str
    origin: Literal["search", "manifest"]
    source: str = Field(description="who made the claim: a manifest's FILE:LINE, or a search keyword's id")


class RelevanceJudgement(Record):
    """A judge's verdict on one (video, scenario) link: metadata judge or visual judge (§3.2)."""

    kind: Literal["relevance"] = "relevance"
    id: str = Field(description="'{judge}:{youtube_id}:{scenario_id}'")
    judge: Literal["metadata", "visual"]
    video_id: str
    knowledge_point_id: str
    scenario_id: str
    relevant: bool
    reason: str = ""
    model: str | None = None
    frame_times_s: list[float] = Field(default_factory=list, description="visual judge: the frames it saw")


class SafetyCheck(Record):
    """Safety moderation of one video (§3.2): raw scores per frame, so a new threshold re-decides for free."""

    kind: Literal["safety_check"] = "safety_check"
    id: str = Field(description="the video's id")
    backend: str
    frame_times_s: list[float]
    scores: list[dict[str, float]] = Field(description="per frame: category -> score (backend's own scale)")
    safe: bool
    flagged: list[str] = Field(default_factory=list, description="categories over their threshold")


_YOUTUBE_ID = re.compile(r"^[A-Za-z0-9_-]{11}$")


class Video(Record):
    """A video file and where it came from; `id` is what the split groups by.

    A video's role (training, benchmark, or both) is not a field: it follows from which live
    examples and benchmark items refer to it, so one role can never overwrite the other.
    What a probe finds in the file is a `VideoProbe` of its own, made by the probe step."""

    kind: Literal["video"] = "video"
    id: str
    path: str = Field(description="as given by the source, relative to the video root when relative")
    # 'benchmark' is read from stores written before roles came from lineage; nothing writes it now.
    source: Literal["youtube", "local", "url", "benchmark"] = "local"
    licence: str | None = None
    youtube_id: str | None = None
    channel: str | None = Field(default=None, description="uploader, for attribution")
    source_url: str | None = Field(default=None, description="where the file came from, for attribution")
    title: str | None = None
    duration_s: float | None = Field(default=None, ge=0)
    sha256: str | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None

    @field_validator("youtube_id")
    @classmethod
    def _youtube_id_shape(cls, value: str | None) -> str | None:
        if value is not None and not _YOUTUBE_ID.match(value):
            raise ValueError(f"YouTube ids are 11 characters of [A-Za-z0-9_-], got {value!r}")
        return value


class VideoProbe(Record):
    """What the probe step found in a video file (its own record: importing never erases it)."""

    kind: Literal["video_probe"] = "video_probe"
    id: str = Field(description="the video's id")
    duration_s: float = Field(ge=0)
    fps: float = Field(ge=0)
    width: int
    height: int
    sha256: str
    codec: str | None = None
    rotation: int = 0
    frames: int | None = None
    size_bytes: int | None = None


class DecontamCheck(Record):
    """A training video that decontamination found clean (or an expert restored), against which benchmark set."""

    kind: Literal["decontam_check"] = "decontam_check"
    id: str = Field(description="the training video's id")
    settings: str
    benchmark_fingerprint: str
    restored: bool = False
    note: str | None = None


class SplitAssignment(Record):
    """The §3.5 set (SFT or RL) of one example: the split step's fact, kept apart from the example."""

    kind: Literal["split_assignment"] = "split_assignment"
    id: str = Field(description="the example's id")
    set: Literal["sft", "rl"]
    video_id: str


class EvalSample(Record):
    """One generated answer of an evaluation: label × settings × benchmark × item × frame budget × run."""

    kind: Literal["eval_sample"] = "eval_sample"
    id: str
    label: str = Field(description="the name results are stored and reported under")
    settings_fp: str = Field(description="fingerprint of every setting that can change the output")
    settings: dict[str, Any]
    benchmark: str
    item_id: str
    frames: int
    run: int
    prompt_sha: str
    output: str
    pred: str | None = None
    correct: bool | None = None
    scored_by: str | None = None
    item: dict[str, Any] = Field(default_factory=dict, description="the benchmark item's fields reports group by")
    created: str | None = None


class Verdict(BaseModel):
    """One step's judgement of an example, kept so every decision can be traced."""

    model_config = ConfigDict(extra="forbid")

    step: str
    model: str | None = None
    verdict: str
    detail: str | None = None
    at: str | None = None


class Provenance(BaseModel):
    """Which model did each step, and every validation verdict (§3.4)."""

    model_config = ConfigDict(extra="forbid")

    source_file: str | None = None
    source_line: int | None = None
    generator_model: str | None = None
    verdicts: list[Verdict] = Field(default_factory=list)


def option_letter(index: int) -> str:
    return OPTION_LETTERS[index]


class _QuestionFields(Record):
    """What examples and evaluation items share: a question with a verifiable answer."""

    id: str = Field(min_length=1)
    problem_type: ProblemType
    question: str = Field(min_length=1)
    options: list[str] = Field(
        default_factory=list,
        description="option texts without their letters; letters are A, B, … by position",
    )
    answer: str = Field(min_length=1, description="the letter for multiple choice, the text otherwise")
    video_id: str
    video_path: str
    subject: str | None = None

    @model_validator(mode="after")
    def _check_answer_against_options(self) -> "_QuestionFields":
        where = f"item {self.id!r}"
        if self.problem_type is ProblemType.MULTIPLE_CHOICE:
            n = len(self.options)
            if not MIN_OPTIONS <= n <= MAX_OPTIONS:
                raise ValueError(
                    f"{where}: a multiple-choice question needs {MIN_OPTIONS}–{MAX_OPTIONS} options "
                    f"(A–J), got {n}"
                )
            if any(not o.strip() for o in self.options):
                raise ValueError(f"{where}: an option is empty")
            offered = OPTION_LETTERS[:n]
            if self.answer not in offered:
                raise ValueError(
                    f"{where}: answer {self.answer!r} is not one of the offered letters "
                    f"{', '.join(offered)}"
                )
        elif self.options:
            raise ValueError(
                f"{where}: an open-ended question carries no options (got {len(self.options)}); "
                "set problem_type to 'multiple choice' or drop the options"
            )
        return self

    def lettered_options(self) -> list[str]:
        """Options as the official files write them: 'A. text'."""
        return [f"{option_letter(i)}. {text}" for i, text in enumerate(self.options)]

    def answer_text(self) -> str:
        """The answer as words: the chosen option's text for multiple choice."""
        if self.problem_type is ProblemType.MULTIPLE_CHOICE:
            return self.options[OPTION_LETTERS.index(self.answer)]
        return self.answer


class Example(_QuestionFields):
    """A training example (§3.3): question, verifiable answer and chain of thought."""

    kind: Literal["example"] = "example"
    skill: Skill | None = None
    cot: str | None = Field(default=None, description="the validated chain of thought")
    discipline: Discipline | None = None
    knowledge_point_id: str | None = None
    knowledge_point: str | None = None
    split: Literal["sft", "rl"] | None = Field(
        default=None, description="the set the source file gave; the split step's SplitAssignment decides")
    youtube_id: str | None = None
    provenance: Provenance = Field(default_factory=Provenance)
    extra: dict[str, Any] = Field(default_factory=dict, description="source fields videokr does not model")


class Seed(_QuestionFields):
    """An expert's seed example for one discipline × skill (§3.3): shown to the generator, never part of
    the corpus or the benchmark (its own kind, so no set reader can take it for an example)."""

    kind: Literal["seed"] = "seed"
    # The generator is shown a seed as text (§3.3); the video an expert wrote it on is provenance, when named.
    video_id: str = Field(default="", description="the video the expert wrote it on ('' for a text-only seed)")
    video_path: str = Field(default="", description="that video's path as given ('' for a text-only seed)")
    skill: Skill
    discipline: Discipline
    cot: str | None = Field(default=None, description="the expert's reasoning, when given")
    knowledge_point: str | None = None
    source_file: str | None = None
    source_line: int | None = None
    extra: dict[str, Any] = Field(default_factory=dict)


class CandidateExample(_QuestionFields):
    """A generated example before validation (§3.3): one of a video's six rounds, two per skill."""

    kind: Literal["candidate_example"] = "candidate_example"
    skill: Skill
    round: int = Field(ge=0, description="0–5: rounds 2k and 2k+1 are skill k")
    cot: str = Field(min_length=1, description="the generator's reasoning")
    discipline: Discipline | None = None
    knowledge_point_id: str | None = None
    knowledge_point: str | None = Field(default=None, description="given to the generator for KnowVid/KnowVidR only")
    generator_model: str
    seed_ids: list[str] = Field(description="the three seeds shown, drawn by (video, round)")
    frame_times_s: list[float] = Field(description="the frames shown (after any image-limit subsampling)")
    youtube_id: str | None = None


class ExampleCheck(Record):
    """One validator's verdict on a candidate example (§3.3): self-consistency, video dependency, CoT validation."""

    kind: Literal["example_check"] = "example_check"
    id: str = Field(description="'{check}:{candidate_id}'")
    check: Literal["self_consistency", "video_dependency", "cot_validation"]
    candidate_id: str
    passed: bool
    models: list[str] = Field(default_factory=list)
    answers: dict[str, str] = Field(default_factory=dict, description="model -> its answer")
    reasoning: str | None = Field(default=None, description="self-consistency: the re-derived chain of thought")
    failing_step: str | None = Field(default=None, description="CoT validation: the critical unsupported step")
    frame_times_s: list[float] = Field(default_factory=list)
    detail: str = ""


class QualityVerdict(Record):
    """A reviewer's verdict on one sampled SFT example (§3.4's manual quality assessment)."""

    kind: Literal["quality_verdict"] = "quality_verdict"
    id: str = Field(description="the example's id: one verdict per example, a re-import replaces it")
    example_id: str
    non_visual_solvable: bool = Field(description="answerable without the video")
    reasoning_error: bool = Field(description="the reasoning has an error (unsupported claim, ungrounded step, ...)")
    answer_changing_error: bool = Field(description="a reasoning error that changes the final answer")
    reviewer: str = Field(min_length=1)
    note: str = ""
    skill: Skill | None = Field(default=None, description="the example's, when reviewed")
    discipline: Discipline | None = Field(default=None, description="the example's, when reviewed")
    source_file: str | None = None
    source_line: int | None = None


class EvalItem(_QuestionFields):
    """A benchmark item (VideoKR-Eval and the benchmarks of §5.2)."""

    kind: Literal["eval_item"] = "eval_item"
    dataset: str | None = Field(default=None, description="source benchmark, e.g. MMVU")
    discipline: Discipline | None = None
    question_type: str | None = None
    youtube_id: str | None = None
    provenance: Provenance = Field(default_factory=Provenance)
    extra: dict[str, Any] = Field(default_factory=dict)


class BenchmarkCandidate(_QuestionFields):
    """An example offered for VideoKR-Eval (§4): a source benchmark's (VideoMMMU, MMVU, SciVideoBench),
    before single-frame probing, or an expert's new one on the video of a filtered example.

    Its own kind, so that no set reader takes it for a benchmark item: only the `benchmark` step
    writes VideoKR-Eval's `EvalItem`s, from the retained and the re-annotated candidates. A source
    example's `id` is '{benchmark}/{the source's id}' and `video_id` '{benchmark}/{the source's
    video id}', so that two benchmarks that number alike never meet in one id; an expert's new
    example is '{the filtered example's id}/re'."""

    kind: Literal["benchmark_candidate"] = "benchmark_candidate"
    dataset: str = Field(min_length=1, description="the source benchmark as §4 names it, e.g. MMVU")
    origin: Literal["source", "reannotated"] = "source"
    source_id: str | None = Field(default=None, description="the example's id in its benchmark (source examples)")
    replaces: str | None = Field(default=None, description="re-annotated: the filtered example whose video it is on")
    reviewer: str | None = Field(default=None, description="re-annotated: the expert who wrote it")
    question_type: str | None = None
    discipline: Discipline | None = None
    youtube_id: str | None = None
    source_file: str | None = None
    extra: dict[str, Any] = Field(default_factory=dict)


class ProbeTrial(BaseModel):
    """One trial of single-frame probing (§4): one random frame, the model's reply, and how it was scored."""

    model_config = ConfigDict(extra="forbid")

    trial: int = Field(ge=0)
    frame_time_s: float = Field(ge=0, description="the frame shown, seconds from the video's first frame")
    raw: str = Field(description="the reply as the model wrote it")
    answer: str | None = Field(description="the final answer read from it (a letter, or text); None: none stated")
    correct: bool | None = Field(description="None: an open-ended answer no scoring rule settles (not right)")


class FrameProbe(Record):
    """One probe model's trials on one source example (§4): single-frame-solvable iff every trial is right."""

    kind: Literal["frame_probe"] = "frame_probe"
    id: str = Field(description="'{candidate_id}|{model}'")
    candidate_id: str
    dataset: str
    model: str = Field(description="the model's name under `models:`")
    trials: list[ProbeTrial] = Field(min_length=1)
    solvable: bool = Field(description="right in every trial from one frame alone")


RECORD_TYPES: dict[str, type[Record]] = {
    cls.model_fields["kind"].default: cls
    for cls in (Lecture, KnowledgePoint, Scenario, SearchKeyword, SearchHit, YouTubeVideo, VideoMetadata, VideoLink,
                RelevanceJudgement, SafetyCheck, Video, VideoProbe, Example, Seed, CandidateExample, ExampleCheck,
                QualityVerdict, EvalItem, DecontamCheck,
                SplitAssignment, EvalSample, BenchmarkCandidate, FrameProbe)
}


def record_from_json(kind: str, data: str | bytes) -> Record:
    try:
        cls = RECORD_TYPES[kind]
    except KeyError:
        raise ValueError(f"unknown record kind {kind!r}; known: {', '.join(RECORD_TYPES)}") from None
    return cls.model_validate_json(data)
