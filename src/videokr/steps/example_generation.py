"""§3.3's example generation: six independent rounds per safe video, two per skill, each one example.

An item is one round of one video: a video that passed `safety` (a live `SafetyCheck`),
joined with the knowledge point it was collected for through its live relevant visual
judgements (`visual_relevance`). A video linked to several knowledge points is generated for
the first of them by id (one video, one knowledge context: the six rounds agree on it, and a
rerun picks the same). Item id `<video id>:r<round>`, rounds 0–5; rounds 2k and 2k+1 train
skill k of (VidR, KnowVid, KnowVidR).

Each round is given, as the paper says,

1. the video's frames uniformly sampled at 0.2 fps (`GENERATION_FPS`), each after its
   timestamp `[MM:SS]`; when the drawn model takes fewer images per request
   (`models.<m>.max_images`) they are thinned uniformly to its limit, first and last kept,
   and the times shown are the candidate's `frame_times_s`;
2. three expert seed examples (`seeds` step) of the same discipline and skill, drawn at
   random with a generator seeded by (video id, round) — the same draw on every rerun while
   the seed set is the same; their ids are the candidate's `seed_ids`. Fewer than three
   seeds for the discipline × skill quarantines the round (`missing_seeds`): importing seeds
   fixes it and the next run generates;
3. the knowledge point (term, definition) and its subjects (discipline › subject › course ›
   lecture) for KnowVid and KnowVidR only — a VidR request does not name them.

The frames are decoded once per video (`videokr.video.frame_cache`) and shared by its six
rounds, which run side by side; the validators after this step ask the same cache.

The model, drawn per round among those eligible (Table 8: GPT-5.2, Claude-4.5-Sonnet,
Gemini-3-Flash), replies with problem_type, question, options, answer and reasoning. The
reply is checked against the records' rules (2–10 options for multiple choice and a letter
among them, none for open-ended) as part of its schema, so a broken reply is shown back to
the model with the rule it broke; when the repairs run out the round is quarantined, and
after `max_invalid` such runs rejected with code `invalid_example`. An accepted round
writes a `CandidateExample` (id = the item id) with the generator's reasoning as `cot`.

The prompt (`prompts/example_generation.md`, or `prompt:` in the step's section) has a main
part, a `<!-- knowledge -->` part filled in for the knowledge skills, and one
`<!-- skill: NAME -->` part per skill; a change to one skill's part redoes that skill's
rounds only.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from videokr.errors import Transient, Verdict
from videokr.formats.official import resolve_video
from videokr.hashing import digest_json, digest_parts, seed_of
from videokr.models.frames import thin_uniformly, user_message_with_frames
from videokr.models.gateway import Gateway
from videokr.models.structured import StructuredOutputVerdict, ask_structured
from videokr.pipeline.recipe import register
from videokr.pipeline.step import Result, StepConfig, StepContext
from videokr.prompts import PromptError, check_prompt, render_prompt
from videokr.prompts.step import DryRun, PromptConfig, PromptedStep
from videokr.records import (
    CandidateExample,
    Discipline,
    KnowledgePoint,
    ProblemType,
    RelevanceJudgement,
    SafetyCheck,
    Seed,
    Skill,
    Video,
    _QuestionFields,
)
from videokr.steps.visual_relevance import DEFAULT_MAX_SIDE, VIDEO_STEPS
from videokr.store import Store
from videokr.timestamps import format_timestamp
from videokr.video.frame_cache import FrameCache, shared_cache
from videokr.video.probe import file_state

STEP = "example_generation"
SEEDS_STEP = "seeds"
SAFETY_STEP = "safety"
JUDGE_STEP = "visual_relevance"
GENERATION_FPS = 0.2  # "video frames uniformly sampled at 0.2 fps with timestamps" (§3.3)
ROUNDS_PER_SKILL = 2  # "two examples per skill" (§3.3)
SKILL_ORDER: tuple[Skill, ...] = (Skill.VIDR, Skill.KNOWVID, Skill.KNOWVIDR)  # round // 2 picks the skill
ROUNDS = ROUNDS_PER_SKILL * len(SKILL_ORDER)  # "six examples in total through six independent rounds"
SEEDS_PER_ROUND = 3  # "three randomly sampled human-curated examples from the same discipline and skill"
KNOWLEDGE_SKILLS = frozenset({Skill.KNOWVID, Skill.KNOWVIDR})  # given the knowledge point and its subjects
SEED_SALT = "example_generation.seeds"  # this draw apart from other seeded draws on the same video
INVALID_CODE = "invalid_example"
MISSING_SEEDS_CODE = "missing_seeds"

MAIN_PLACEHOLDERS = frozenset({"frame_count", "duration", "frame_interval", "skill_name", "skill_definition",
                               "knowledge", "seed_count", "seed_examples"})
KNOWLEDGE_PLACEHOLDERS = frozenset({"term", "definition", "discipline", "subject", "course", "lecture"})
_SECTION = re.compile(r"^<!--\s*(knowledge|skill:\s*([A-Za-z]+))\s*-->\s*$", re.MULTILINE)


def skill_of_round(round_: int) -> Skill:
    """Rounds 0–1 VidR, 2–3 KnowVid, 4–5 KnowVidR."""
    if not 0 <= round_ < ROUNDS:
        raise ValueError(f"a round is 0–{ROUNDS - 1}, got {round_}")
    return SKILL_ORDER[round_ // ROUNDS_PER_SKILL]


def round_id(video_id: str, round_: int) -> str:
    """`<video id>:r<round>`: the item's id and its candidate's."""
    return f"{video_id}:r{round_}"


# -- the prompt's parts ------------------------------------------------------------------------


class GenerationPrompt(BaseModel):
    """The prompt file cut at its markers: the main text, the knowledge part, one part per skill."""

    model_config = ConfigDict(frozen=True)

    main: str
    knowledge: str
    skills: dict[str, str]

    @classmethod
    def parse(cls, text: str, *, where: str) -> "GenerationPrompt":
        marks = list(_SECTION.finditer(text))
        main = text[: marks[0].start()] if marks else text
        knowledge: str | None = None
        skills: dict[str, str] = {}
        for i, mark in enumerate(marks):
            body = text[mark.end(): marks[i + 1].start() if i + 1 < len(marks) else len(text)].strip()
            if mark.group(2) is None:
                knowledge = body
            elif mark.group(2) not in {s.value for s in Skill}:
                raise PromptError(f"{where}: unknown skill {mark.group(2)!r} in a `<!-- skill: ... -->` marker; "
                                  f"skills: {', '.join(s.value for s in Skill)}")
            else:
                skills[mark.group(2)] = body
        missing = [s.value for s in SKILL_ORDER if not skills.get(s.value)]
        if missing or not knowledge:
            parts = [*(f"`<!-- skill: {m} -->`" for m in missing), *([] if knowledge else ["`<!-- knowledge -->`"])]
            raise PromptError(f"{where}: needs a non-empty part after each of {', '.join(parts)} "
                              "(see `videokr prompts show example_generation`)")
        check_prompt(main, MAIN_PLACEHOLDERS, where=f"{where} (main part)")
        check_prompt(knowledge, KNOWLEDGE_PLACEHOLDERS, where=f"{where} (knowledge part)")
        for name, body in skills.items():
            check_prompt(body, (), where=f"{where} (skill {name})")
        return cls(main=main, knowledge=knowledge, skills=skills)


class GenerationConfig(PromptConfig):
    PLACEHOLDERS: ClassVar[frozenset[str]] = MAIN_PLACEHOLDERS | KNOWLEDGE_PLACEHOLDERS

    fps: float = Field(default=GENERATION_FPS, gt=0, description="frames per second shown to the generator")
    seeds_per_round: int = Field(default=SEEDS_PER_ROUND, ge=1, description="seed examples shown per round")
    max_side: int = Field(default=DEFAULT_MAX_SIDE, ge=64, description="long side of a frame sent, in pixels")

    @model_validator(mode="after")
    def _prompt_has_its_parts(self) -> "GenerationConfig":
        if self.prompt is not None:
            try:
                GenerationPrompt.parse(self.prompt, where="the prompt")
            except PromptError as exc:
                raise ValueError(str(exc)) from None
        return self


# -- what the model replies --------------------------------------------------------------------


class GeneratedExample(BaseModel):
    """The generator's reply, held to the records' rules for a question (so a repair can fix it)."""

    model_config = ConfigDict(extra="forbid")

    problem_type: ProblemType
    question: str = Field(min_length=1)
    options: list[str] = Field(default_factory=list, description="option texts without letters; [] if open-ended")
    answer: str = Field(min_length=1, description="the option's letter (A, B, …) for multiple choice")
    reasoning: str = Field(min_length=1, description="the step-by-step reasoning that leads to the answer")

    @model_validator(mode="after")
    def _question_rules(self) -> "GeneratedExample":
        # The rules live on the records; a stand-in record checks them with the same messages.
        _QuestionFields(kind="reply", id="the reply", problem_type=self.problem_type, question=self.question,
                        options=self.options, answer=self.answer, video_id="-", video_path="-")
        return self


# -- the item ------------------------------------------------------------------------------------


class GenerationRound(BaseModel):
    """One round of one video, with everything the generator sees (so the fingerprint covers it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    round: int
    skill: Skill
    video: Video
    knowledge_point: KnowledgePoint
    seeds: list[Seed] = Field(description="drawn by (video, round); fewer than asked when the pool is short")
    seeds_available: int = Field(description="seeds of this discipline × skill when drawn")


def draw_seeds(pool: Sequence[Seed], video_id: str, round_: int, k: int = SEEDS_PER_ROUND) -> list[Seed]:
    """k seeds (all, if fewer) drawn without replacement by a generator seeded with (video, round)."""
    ordered = sorted(pool, key=lambda s: s.id)
    rng = random.Random(seed_of(SEED_SALT, video_id, round_))
    return rng.sample(ordered, min(k, len(ordered)))


def render_seed(number: int, seed: Seed, *, with_knowledge: bool) -> str:
    """One seed as the prompt shows it: question, lettered options, answer, reasoning."""
    lines = [f"Example {number} ({seed.problem_type.value})"]
    if with_knowledge and seed.knowledge_point:
        lines.append(f"Knowledge point: {seed.knowledge_point}")
    lines.append(f"Question: {seed.question}")
    if seed.options:
        lines += ["Options:", *seed.lettered_options()]
    lines.append(f"Answer: {seed.answer}")
    if seed.cot:
        lines.append(f"Reasoning: {seed.cot}")
    return "\n".join(lines)


@register
class ExampleGenerationStep(PromptedStep[GenerationRound]):
    name = STEP
    version = "1"
    Config = GenerationConfig
    after = (SEEDS_STEP, SAFETY_STEP)
    reads = "safety_check"
    writes = ("candidate_example",)

    def __init__(self, config: StepConfig | None = None, context: StepContext | None = None) -> None:
        super().__init__(config, context)
        where = f"steps.{self.name}.prompt" if self.config.prompt is not None else f"prompts/{self.name}.md"
        self.parts = GenerationPrompt.parse(self.template, where=where)
        # The main and knowledge parts concern every round; a skill's part only its own rounds (item_fingerprint).
        base = digest_parts(self.name, self.version, self.config.fingerprint())
        self._config_digest = digest_parts(base, self.parts.main, self.parts.knowledge)
        self.frame_cache: FrameCache = shared_cache()

    # -- what it takes in ---------------------------------------------------------------

    def inputs(self, store: Store) -> Iterator[GenerationRound]:
        config = self.config
        assert isinstance(config, GenerationConfig)
        videos = {v.id: v for v in store.live_outputs(VIDEO_STEPS, "video") if isinstance(v, Video)}
        points: dict[str, str] = {}  # video id -> its first knowledge point id among relevant visual links
        for judgement in store.live_outputs(JUDGE_STEP, "relevance"):
            assert isinstance(judgement, RelevanceJudgement)
            if judgement.relevant and judgement.judge == "visual":
                known = points.get(judgement.video_id)
                if known is None or judgement.knowledge_point_id < known:
                    points[judgement.video_id] = judgement.knowledge_point_id
        seeds: dict[tuple[Discipline, Skill], list[Seed]] = defaultdict(list)
        for seed in store.live_outputs(SEEDS_STEP, "seed"):
            assert isinstance(seed, Seed)
            seeds[(seed.discipline, seed.skill)].append(seed)
        for check in store.live_outputs(SAFETY_STEP, "safety_check"):
            assert isinstance(check, SafetyCheck)
            video = videos.get(check.id)
            point_id = points.get(check.id)
            if not check.safe or video is None or point_id is None:
                continue  # gone upstream: its rounds are retired with it
            point = store.get("knowledge_point", point_id)
            if not isinstance(point, KnowledgePoint):
                continue
            for round_ in range(ROUNDS):
                skill = skill_of_round(round_)
                pool = seeds.get((point.discipline, skill), [])
                yield GenerationRound(id=round_id(video.id, round_), round=round_, skill=skill, video=video,
                                      knowledge_point=point,
                                      seeds=draw_seeds(pool, video.id, round_, config.seeds_per_round),
                                      seeds_available=len(pool))

    def item_fingerprint(self, item: GenerationRound) -> str:
        path = resolve_video(item.video.path, self.context.video_root)
        state = file_state(path)
        # where a seed line sits in its file is not what the generator sees: moving it redoes nothing
        shown = item.model_dump(mode="json", exclude={"seeds": {"__all__": {"source_file", "source_line"}}})
        return digest_json({"round": shown, "file": state,
                            "skill_prompt": self.parts.skills[item.skill.value],
                            "model": self.draw_model(item.id)})

    # -- the request ----------------------------------------------------------------------

    def render(self, item: GenerationRound, times: Sequence[float], duration_s: float) -> str:
        """The prompt's text for this round, shown after `times` frames of a `duration_s` video."""
        point = item.knowledge_point
        knows = item.skill in KNOWLEDGE_SKILLS
        knowledge = render_prompt(self.parts.knowledge, {
            "term": point.term, "definition": point.definition, "discipline": point.discipline.value,
            "subject": point.subject, "course": point.course, "lecture": point.lecture}) if knows else ""
        spacing = (times[-1] - times[0]) / (len(times) - 1) if len(times) > 1 else 1 / GENERATION_FPS
        values = {
            "frame_count": len(times),
            "duration": format_timestamp(duration_s).strip("[]"),
            "frame_interval": f"{spacing:.3g} seconds",
            "skill_name": item.skill.value,
            "skill_definition": self.parts.skills[item.skill.value],
            "knowledge": f"\n{knowledge}\n" if knowledge else "",
            "seed_count": len(item.seeds),
            "seed_examples": "\n\n".join(render_seed(i + 1, s, with_knowledge=knows)
                                         for i, s in enumerate(item.seeds)),
        }
        return render_prompt(self.parts.main, values)

    async def ask(self, item: GenerationRound, gateway: Gateway) -> Result:
        config = self.config
        assert isinstance(config, GenerationConfig)
        if len(item.seeds) < config.seeds_per_round:
            point = item.knowledge_point
            return Result.quarantine(
                f"round {item.id}: {item.seeds_available} seed example(s) for {point.discipline.value} × "
                f"{item.skill.value}, {config.seeds_per_round} needed; import seeds (the `seeds` step) and run again",
                code=MISSING_SEEDS_CODE,
                detail={"discipline": point.discipline.value, "skill": item.skill.value,
                        "seeds_available": item.seeds_available, "seeds_needed": config.seeds_per_round})
        model = self.draw_model(item.id)
        max_images = gateway.config(model).max_images
        if max_images < 1:
            raise Transient(f"model {model} takes no images (models.{model}.max_images is 0)")
        frames = await self._frames(item)
        shown = thin_uniformly(len(frames), max_images)
        times = [frames.times_s[i] for i in shown]
        text = self.render(item, times, frames.duration_s)
        message = user_message_with_frames(text, frames.pairs(shown), max_images=max_images)
        try:
            # Two rounds of a skill can send the same request (a pool of exactly three seeds drawn in the same
            # order): the round's id keeps their replies apart, as independent rounds they are.
            answer = await ask_structured(gateway, model, [message], GeneratedExample, step=self.name,
                                          step_version=self.version, salt=item.id)
        except StructuredOutputVerdict as exc:
            raise _InvalidExample(str(exc), exc.detail) from None
        if answer.value is None:
            raise DryRun(answer.error or "dry run: not sent")
        reply = answer.value
        point = item.knowledge_point
        try:
            candidate = CandidateExample(
                id=item.id, problem_type=reply.problem_type, question=reply.question, options=reply.options,
                answer=reply.answer, video_id=item.video.id, video_path=item.video.path, subject=point.subject,
                skill=item.skill, round=item.round, cot=reply.reasoning, discipline=point.discipline,
                knowledge_point_id=point.id,
                knowledge_point=point.term if item.skill in KNOWLEDGE_SKILLS else None,
                generator_model=model, seed_ids=[s.id for s in item.seeds], frame_times_s=times,
                youtube_id=item.video.youtube_id)
        except ValidationError as exc:  # the reply schema holds the same rules; kept as the last word
            raise Verdict(f"round {item.id}: {model}'s example breaks the record's rules: {exc}",
                          code=INVALID_CODE) from None
        return Result.accept(candidate, detail={
            "model": model, "seed_ids": candidate.seed_ids, "frames_sampled": len(frames),
            "frames_shown": len(times), "max_images": max_images, "fps": config.fps})

    async def _frames(self, item: GenerationRound) -> Any:
        """The video's frames at `fps`, from the shared cache: the first round of a video decodes, the rest wait."""
        from videokr.video.probe import VideoError

        config = self.config
        assert isinstance(config, GenerationConfig)
        path = resolve_video(item.video.path, self.context.video_root)
        if not path.is_file():
            raise Verdict(f"video {item.video.id!r}: file not found: {path}", code="file_missing")
        try:
            frames = await asyncio.to_thread(self.frame_cache.frames, path, fps=config.fps,
                                             max_side=config.max_side)
        except VideoError as exc:
            raise Verdict(f"video {item.video.id!r}: {exc}", code="unreadable") from None
        if not len(frames):
            raise Verdict(f"video {item.video.id!r}: no frame decodes", code="unreadable")
        return frames


class _InvalidExample(Verdict):
    """The generator kept breaking the example's rules, repairs included, over `max_invalid` runs."""

    def __init__(self, message: str, detail: dict[str, Any]) -> None:
        super().__init__(message, code=INVALID_CODE)
        self.detail = detail
