"""§4's single-frame probing: can a frontier model answer a source example from one random frame?

"Each model receives only the question, answer options, and one randomly sampled frame from
the video, and is evaluated with three independent trials. For each model, an example is
considered single-frame-solvable if the model answers it correctly in all three trials."

An item is a live `BenchmarkCandidate` of `benchmark_sources`. Every model of `models` (default
`PROBE_MODELS`, the names of the `models:` table) is asked `PROBE_TRIALS` times through
`prompts/frame_probe.md`, each time with ONE frame drawn at random among all of the video's
frames, a new frame for each trial: the model's three frames are drawn together without
replacement, seeded by (example, model), so a rerun shows the same frames and finds its cached
replies; trial k gets the k-th in time order. With `same_frame: true` a model's trials share one
frame. The trials are separate requests even when their frames agree (each carries its trial in
the cache key), so they stay independent draws of the model. The image is sent with
no timestamp: the model sees the frame and the question, nothing else.

A reply's answer is read and scored by `videokr.scoring.rules.score_item`, the strict
extraction of evaluation: multiple choice by its final stated letter (no statement: wrong);
open-ended by a rule where one is certain, else unscored, which counts as not right (the
example is kept; no judge is asked). The item is accepted with one `FrameProbe` per model,
every trial's frame time, raw reply, extracted answer and correctness in it. A model error
quarantines the item (the next run asks again only what failed); a missing or unreadable
video rejects it.
"""

from __future__ import annotations

import asyncio
import bisect
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, field_validator

from videokr.dataurl import jpeg_data_url
from videokr.hashing import digest_json, seed_of
from videokr.models.config import distinct_model_names
from videokr.models.gateway import Gateway
from videokr.pipeline.recipe import register
from videokr.pipeline.step import Result
from videokr.prompts import render_prompt
from videokr.prompts.step import NoModelForStep, PromptConfig, PromptedStep, reply_text
from videokr.records import BenchmarkCandidate, FrameProbe, ProbeTrial
from videokr.steps.validation import TIME_TOLERANCE_S, question_values
from videokr.steps.visual_relevance import DEFAULT_MAX_SIDE
from videokr.video.probe import file_state

STEP = "frame_probe"
# "three frontier models: Qwen3-VL-235B-A22B, Claude-4.5-Sonnet, and GPT-5.2" (§4.2), by their `models:` names
PROBE_MODELS = ("qwen3-vl-235b-a22b", "claude-4.5-sonnet", "gpt-5.2")
PROBE_TRIALS = 3  # "evaluated with three independent trials" (§4.1)
PROBE_FRAMES = 1  # "one randomly sampled frame from the video" (§4.1)
SEED_SALT = "frame_probe"  # this draw apart from other random draws on the same video


def probe_seed(candidate_id: str, model: str) -> int:
    """The seed of a model's frames for an example: the example and the model, nothing that changes between runs."""
    return seed_of(SEED_SALT, candidate_id, model)


def probe_id(candidate_id: str, model: str) -> str:
    return f"{candidate_id}|{model}"


class FrameProbeConfig(PromptConfig):
    PLACEHOLDERS: ClassVar[frozenset[str]] = frozenset({"question", "options", "answer_format"})

    models: list[str] | None = Field(default_factory=lambda: list(PROBE_MODELS),
                                     description="the probe models (names under `models:`); each is asked every trial")
    trials: int = Field(default=PROBE_TRIALS, ge=1, description="independent trials per model")
    same_frame: bool = Field(default=False, description="show a model the same frame in all its trials")
    max_side: int = Field(default=DEFAULT_MAX_SIDE, ge=64, description="long side of the frame sent, in pixels")

    @field_validator("models")
    @classmethod
    def _named_models(cls, value: list[str] | None) -> list[str]:
        return distinct_model_names(value, "name the probe models")


def probe_message(text: str, jpeg: bytes) -> dict[str, Any]:
    """The user message of one trial: the frame (no timestamp), then the question."""
    return {"role": "user", "content": [{"type": "image_url", "image_url": {"url": jpeg_data_url(jpeg)}},
                                        {"type": "text", "text": text}]}


def score_reply(candidate: BenchmarkCandidate, reply: str) -> tuple[str | None, bool | None]:
    """(answer read, correct) by the scoring evaluation uses; None correctness: no rule settles it."""
    from videokr.scoring.rules import score_item

    score = score_item(reply, candidate.answer, candidate.problem_type.value, candidate.options or None)
    return score.pred, score.correct


async def drawn_frames(item: BenchmarkCandidate, draws: dict[str, int], count: int, max_side: int
                       ) -> dict[str, list[tuple[float, bytes]]]:
    """Per model (its seed), `count` distinct frames drawn at random among all of the video's frames, as
    (time, JPEG) in time order (fewer if the video has fewer frames). The video is probed once and the drawn
    frames decoded in one pass (the process's frame cache). A missing file is a verdict coded `file_missing`,
    one that does not decode a verdict coded `unreadable`: no model is asked."""
    from videokr.errors import Verdict
    from videokr.video.frame_cache import shared_cache
    from videokr.video.probe import VideoError, probe
    from videokr.video.sampling import times_random

    path = Path(item.video_path)

    def load() -> dict[str, list[tuple[float, bytes]]]:
        info = probe(path)
        chosen = {model: times_random(info, count, seed) for model, seed in draws.items()}
        wanted = sorted({t for times in chosen.values() for t in times})
        decoded = shared_cache().frames(path, times=wanted, max_side=max_side)

        def shown(t: float) -> tuple[float, bytes]:  # the frame on screen at t: the last one that starts by then
            index = max(0, bisect.bisect_right(decoded.times_s, t + TIME_TOLERANCE_S) - 1)
            return decoded.times_s[index], decoded.jpegs[index]

        return {model: [shown(t) for t in times] for model, times in chosen.items()}

    if not path.is_file():
        raise Verdict(f"{item.id}: video file not found: {path}", code="file_missing")
    try:
        return await asyncio.to_thread(load)
    except VideoError as exc:
        raise Verdict(f"{item.id}: {exc}", code="unreadable") from None
    except FileNotFoundError:
        raise Verdict(f"{item.id}: video file not found: {path}", code="file_missing") from None
    except IndexError:
        raise Verdict(f"{item.id}: no frame decodes in {path}", code="unreadable") from None


@register
class FrameProbeStep(PromptedStep[BenchmarkCandidate]):
    name = STEP
    version = "1"
    Config = FrameProbeConfig
    after = ("benchmark_sources",)
    reads = "benchmark_candidate"
    writes = ("frame_probe",)

    @property
    def asked(self) -> list[str]:
        config = self.config
        assert isinstance(config, FrameProbeConfig) and config.models
        return config.models

    def item_fingerprint(self, item: BenchmarkCandidate) -> str:
        return digest_json({"item": item.model_dump(mode="json"), "file": file_state(item.video_path)})

    async def asetup(self) -> None:
        if self.gateway is None:  # an unconfigured probe model is a configuration error, said before any request
            configured = self.context.settings.get("models") or {}
            unknown = [m for m in self.asked if m not in configured]
            if unknown:
                raise NoModelForStep(f"steps.{self.name}.models: {', '.join(unknown)} not configured under "
                                     f"`models:` (configured: {', '.join(sorted(configured)) or 'none'})")
        await super().asetup()

    async def ask(self, item: BenchmarkCandidate, gateway: Gateway) -> Result:
        config = self.config
        assert isinstance(config, FrameProbeConfig)
        text = render_prompt(self.template, question_values(item, PROBE_FRAMES))  # type: ignore[arg-type]
        count = 1 if config.same_frame else config.trials
        frames = await drawn_frames(item, {model: probe_seed(item.id, model) for model in self.asked}, count,
                                    config.max_side)
        plans = [(model, trial, frames[model][min(trial, len(frames[model]) - 1)])
                 for model in self.asked for trial in range(config.trials)]
        outcomes = await asyncio.gather(*(self._answer(gateway, model, trial, probe_message(text, shown[1]))
                                          for model, trial, shown in plans), return_exceptions=True)
        failures = [o for o in outcomes if isinstance(o, BaseException)]
        if failures:  # every request was made (and priced, or cached): only what failed is asked again
            from videokr.errors import Verdict

            # a passing failure of one trial says nothing of the item: it outranks another trial's refusal
            raise next((f for f in failures if not isinstance(f, Verdict)), failures[0])
        trials: dict[str, list[ProbeTrial]] = {model: [] for model in self.asked}
        for (model, trial, shown), reply in zip(plans, outcomes, strict=True):
            assert isinstance(reply, str)
            answer, correct = score_reply(item, reply)
            trials[model].append(ProbeTrial(trial=trial, frame_time_s=shown[0], raw=reply, answer=answer,
                                            correct=correct))
        probes = [FrameProbe(id=probe_id(item.id, model), candidate_id=item.id, dataset=item.dataset, model=model,
                             trials=found, solvable=all(t.correct is True for t in found))
                  for model, found in trials.items()]
        return Result.accept(*probes, detail={"solvable_by": [p.model for p in probes if p.solvable]})

    async def _answer(self, gateway: Gateway, model: str, trial: int, message: dict[str, Any]) -> str:
        """The reply text of one trial (each trial its own request: the salt keeps them apart in the cache)."""
        return await reply_text(gateway, model, message, step=self.name, step_version=self.version,
                                salt=f"trial {trial}")
