"""What §3.3's three validators share: their items, the candidate's frames, and when two answers agree.

A generated example (a `CandidateExample` of `example_generation`) meets three checks in turn:
`self_consistency` → `video_dependency` → `cot_validation`. Each check's items are the live
candidates that passed every check before it, each joined with those checks' `ExampleCheck`s
(a `CheckedCandidate`), so an item carries everything its step sees and the item's fingerprint
covers it: a candidate regenerated upstream, or a check redone with another outcome, redoes
exactly the checks after it, and a candidate that went away retires their outputs.

Two answers agree (self-consistency's re-derived answer with the candidate's, a
video-dependency model's answer with the ground truth) through `videokr.scoring`: multiple
choice by the extracted letter (an option's text counts as its letter; no stated answer is no
agreement); open-ended by the scoring rules where a rule is certain (normalised equality,
one number within 1%), else by the mean ROUGE-1/2/L F1 of the reward's open-ended accuracy,
which must reach `OPEN_ENDED_MIN_F1`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from videokr.errors import Verdict
from videokr.formats.official import resolve_video
from videokr.hashing import digest_json
from videokr.models.frames import thin_uniformly
from videokr.prompts.step import PromptConfig, PromptedStep
from videokr.records import CandidateExample, ExampleCheck, ProblemType
from videokr.steps.visual_relevance import DEFAULT_MAX_SIDE
from videokr.store import Store
from videokr.video.probe import file_state

EXAMPLE_GENERATION = "example_generation"
SELF_CONSISTENCY = "self_consistency"
VIDEO_DEPENDENCY = "video_dependency"
COT_VALIDATION = "cot_validation"
CHECKS = (SELF_CONSISTENCY, VIDEO_DEPENDENCY, COT_VALIDATION)  # in chain order
# An open-ended answer that no scoring rule settles agrees with another when the mean F1 of
# ROUGE-1, ROUGE-2 and ROUGE-L (the reward's open-ended accuracy) is at least this. The paper
# says only "matches"; half the overlap keeps paraphrases and drops different answers.
OPEN_ENDED_MIN_F1 = 0.5
NO_ANSWER = ""  # what an answer is recorded as when the reply stated none
# Frame times are stored rounded to the microsecond; a target this much later still falls on the
# frame recorded (frames are milliseconds apart), never on the one before it.
TIME_TOLERANCE_S = 1e-6

Pair = tuple[float, bytes]  # a frame as a request carries it: its time (seconds) and its JPEG


def check_id(check: str, candidate_id: str) -> str:
    """`<check>:<candidate id>`: the id of a check's `ExampleCheck`."""
    return f"{check}:{candidate_id}"


class CheckedCandidate(BaseModel):
    """A live candidate and the checks it passed so far (in chain order): one validator's item."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    candidate: CandidateExample
    checks: tuple[ExampleCheck, ...] = ()

    @property
    def id(self) -> str:
        return self.candidate.id

    def check(self, name: str) -> ExampleCheck:
        for check in self.checks:
            if check.check == name:
                return check
        raise KeyError(f"candidate {self.id!r} carries no {name} check")


def checked_candidates(store: Store, passed: Sequence[str]) -> Iterator[CheckedCandidate]:
    """The live candidates of `example_generation` that passed every check in `passed`, with those checks."""
    checks: dict[str, dict[str, ExampleCheck]] = {}
    for name in passed:
        live = store.live_outputs(name, "example_check")
        checks[name] = {c.candidate_id: c for c in live if isinstance(c, ExampleCheck) and c.passed}
    for candidate in store.live_outputs(EXAMPLE_GENERATION, "candidate_example"):
        assert isinstance(candidate, CandidateExample)
        found = [checks[name].get(candidate.id) for name in passed]
        if all(c is not None for c in found):
            yield CheckedCandidate(candidate=candidate, checks=tuple(c for c in found if c is not None))


class ValidatorConfig(PromptConfig):
    """What every validator's section may say, besides its prompt."""

    PLACEHOLDERS: ClassVar[frozenset[str]] = frozenset({"frame_count", "question", "options", "answer_format"})

    max_side: int = Field(default=DEFAULT_MAX_SIDE, ge=64, description="long side of a frame sent, in pixels")


# -- the question as a model is shown it ---------------------------------------------------------


def options_text(candidate: CandidateExample) -> str:
    """The lettered options, one a line (and a blank line after), or nothing for an open-ended question."""
    if not candidate.options:
        return ""
    return "Options:\n" + "\n".join(candidate.lettered_options()) + "\n"


def answer_format(candidate: CandidateExample) -> str:
    if candidate.problem_type is ProblemType.MULTIPLE_CHOICE:
        return f"the letter of the correct option ({', '.join(chr(65 + i) for i in range(len(candidate.options)))})"
    return "a short answer: a number with its unit, a word or a phrase"


def question_values(candidate: CandidateExample, frame_count: int) -> dict[str, Any]:
    return {"frame_count": frame_count, "question": candidate.question, "options": options_text(candidate),
            "answer_format": answer_format(candidate)}


# -- agreement -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Agreement:
    """Whether `stated` agrees with `reference`, and the answer as read (a letter, or the answer text)."""

    agrees: bool
    read: str
    how: str  # letter | rule | rouge


def read_answer(candidate: CandidateExample, stated: str | None) -> str:
    """The final answer a reply states: the letter for multiple choice, the text otherwise; "" for none."""
    from videokr.scoring.extract import extract

    if candidate.problem_type is ProblemType.MULTIPLE_CHOICE:
        return extract(stated, candidate.options, n_options=len(candidate.options)).choice or NO_ANSWER
    text = extract(stated).text
    return (text or "").strip()


def agreement(candidate: CandidateExample, stated: str | None, reference: str | None = None,
              min_f1: float = OPEN_ENDED_MIN_F1) -> Agreement:
    """Does the answer `stated` agree with `reference` (default: the candidate's own answer)?"""
    from videokr.scoring.reward import rouge_f1
    from videokr.scoring.rules import rule_open_ended

    gold = candidate.answer if reference is None else reference
    read = read_answer(candidate, stated)
    if candidate.problem_type is ProblemType.MULTIPLE_CHOICE:
        return Agreement(bool(read) and read == gold, read, "letter")
    if not read:
        return Agreement(False, read, "rule")
    ruled = rule_open_ended(read, gold)
    if ruled is not None:
        return Agreement(ruled, read, "rule")
    return Agreement(rouge_f1(gold, read) >= min_f1, read, "rouge")


# -- frames --------------------------------------------------------------------------------------


def video_path(candidate: CandidateExample, video_root: Path | None) -> Path:
    return resolve_video(candidate.video_path, video_root)


def item_digest(item: CheckedCandidate, video_root: Path | None, **more: Any) -> str:
    """The fingerprint of what a validator sees of an item: the candidate, its checks, the file, `more`."""
    path = video_path(item.candidate, video_root)
    return digest_json({"item": item.model_dump(mode="json"), "file": file_state(path), **more})


def within_budget(times: Sequence[float], budget: int) -> list[float]:
    """The frame times a model with an image budget is sent: thinned evenly, first and last kept."""
    return [times[i] for i in thin_uniformly(len(times), budget)]


class FrameReader:
    """A candidate's frames as (time, JPEG) pairs, from the process's shared frame cache.

    The frames the generator saw are picked out of the generator's own sampling of the video
    (0.2 fps at the same frame size: `videokr.video.frame_cache`), so the six candidates of a
    video and their validators decode it once; times that sampling lacks (a generator run at
    another rate) are decoded at exactly those times. Random frames are drawn among all of the
    video's frames with a seed. A missing file is a verdict coded `file_missing`, a file that
    does not decode one coded `unreadable`: no model is asked about either."""

    def __init__(self, max_side: int) -> None:
        from videokr.video.frame_cache import shared_cache

        self.max_side = max_side
        self.cache = shared_cache()

    async def at_times(self, candidate: CandidateExample, path: Path, times: Sequence[float]) -> list[Pair]:
        """The frames shown at `times` (the candidate's `frame_times_s`, or some of them)."""
        from videokr.steps.example_generation import GENERATION_FPS

        def load() -> list[Pair]:
            whole = self.cache.frames(path, fps=GENERATION_FPS, max_side=self.max_side)
            where = {t: i for i, t in enumerate(whole.times_s)}
            picked = [where.get(round(t, 6)) for t in times]
            if all(i is not None for i in picked):
                return whole.pairs([i for i in picked if i is not None])
            targets = [t + TIME_TOLERANCE_S for t in times]
            return self.cache.frames(path, times=targets, max_side=self.max_side).pairs()

        return await self._load(candidate, path, load)

    async def drawn(self, candidate: CandidateExample, path: Path, k: int, seed: int) -> list[Pair]:
        """`k` distinct frames drawn at random among all of the video's frames (fewer if it has fewer)."""
        from videokr.video.probe import probe
        from videokr.video.sampling import times_random

        def load() -> list[Pair]:
            times = times_random(probe(path), k, seed)
            return self.cache.frames(path, times=times, max_side=self.max_side).pairs()

        return await self._load(candidate, path, load)

    @staticmethod
    async def _load(candidate: CandidateExample, path: Path, load: Callable[[], list[Pair]]) -> list[Pair]:
        from videokr.video.probe import VideoError

        if not path.is_file():
            raise Verdict(f"candidate {candidate.id!r}: video file not found: {path}", code="file_missing")
        try:
            frames = await asyncio.to_thread(load)
        except VideoError as exc:
            raise Verdict(f"candidate {candidate.id!r}: {exc}", code="unreadable") from None
        except FileNotFoundError:
            raise Verdict(f"candidate {candidate.id!r}: video file not found: {path}", code="file_missing") from None
        if not frames:
            raise Verdict(f"candidate {candidate.id!r}: no frame decodes in {path}", code="unreadable")
        return frames


class ValidatorStep(PromptedStep[CheckedCandidate]):
    """What the three validators share: their items are the live candidates that passed the checks
    named in `passed` (with those checks joined in), their fingerprint is the item and its video
    file's state, and they read frames through one `FrameReader` per run."""

    passed: ClassVar[tuple[str, ...]] = ()

    def inputs(self, store: Store) -> list[CheckedCandidate]:
        return list(checked_candidates(store, self.passed))

    def item_fingerprint(self, item: CheckedCandidate) -> str:
        return item_digest(item, self.context.video_root)

    async def asetup(self) -> None:
        await super().asetup()
        config = self.config
        assert isinstance(config, ValidatorConfig)
        self.reader = FrameReader(config.max_side)
