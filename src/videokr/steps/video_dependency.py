"""§3.3's video dependency filter: drop an example two open models answer right from its text and 4 frames.

"To ensure that each example in VideoKR genuinely requires visual understanding rather than
relying on textual cues or shortcut reasoning, we instruct InternVL3.5-38B and
Qwen3-VL-32B-Instruct to answer the question using only the text and four randomly sampled
video frames. If both models successfully predict the correct answer under this limited
setting, the example is removed from the dataset."

An item is a live candidate that passed `self_consistency` (item id = the candidate's id),
carrying that check. Every model of `models` (default `DEPENDENCY_MODELS`, served by you:
`videokr.models.config.self_hosted_models` are the built-in entries, replaced by entries of
the same name under `models:`) is asked the question and options through
`prompts/video_dependency.md` with `DEPENDENCY_FRAMES` frames drawn at random from the whole
video — seeded by the candidate's id, so a rerun shows the same frames and finds its cached
replies — each after its timestamp. A reply's answer is its final stated answer, read by
`videokr.scoring` (a reply stating none is wrong), and is right when it agrees with the
candidate's answer as `validation.agreement` says. All right: the item is rejected, code
`video_independent`, every answer in the detail. Otherwise an
`ExampleCheck(check="video_dependency", passed=True)` records every model's answer.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import Field, field_validator

from videokr.errors import Transient
from videokr.hashing import seed_of
from videokr.models.config import INTERNVL_38B, QWEN3_VL_32B, distinct_model_names, self_hosted_models
from videokr.models.frames import user_message_with_frames
from videokr.models.gateway import Gateway
from videokr.pipeline.recipe import register
from videokr.pipeline.step import Result
from videokr.prompts import render_prompt
from videokr.prompts.step import NoModelForStep, reply_text
from videokr.records import ExampleCheck
from videokr.steps.validation import (
    ValidatorStep,
    SELF_CONSISTENCY,
    VIDEO_DEPENDENCY,
    CheckedCandidate,
    ValidatorConfig,
    agreement,
    check_id,
    question_values,
    video_path,
)

STEP = VIDEO_DEPENDENCY
DEPENDENCY_FRAMES = 4  # "the text and four randomly sampled video frames" (§3.3)
DEPENDENCY_MODELS = (INTERNVL_38B, QWEN3_VL_32B)  # "InternVL3.5-38B and Qwen3-VL-32B-Instruct" (§3.3)
SEED_SALT = "video_dependency"  # this draw apart from other random draws on the same video
VIDEO_INDEPENDENT_CODE = "video_independent"


def dependency_seed(candidate_id: str) -> int:
    """The seed of a candidate's frame draw: its id, nothing that changes between runs."""
    return seed_of(SEED_SALT, candidate_id)


class VideoDependencyConfig(ValidatorConfig):
    frames: int = Field(default=DEPENDENCY_FRAMES, ge=1, description="frames drawn at random from the video")
    models: list[str] | None = Field(default_factory=lambda: list(DEPENDENCY_MODELS),
                                     description="the models asked; the example is dropped iff all are right")

    @field_validator("models")
    @classmethod
    def _named_models(cls, value: list[str] | None) -> list[str]:
        return distinct_model_names(value, "name the models that answer from the text and the frames")


@register
class VideoDependencyStep(ValidatorStep):
    name = STEP
    version = "1"
    Config = VideoDependencyConfig
    after = (SELF_CONSISTENCY,)
    reads = "example_check"
    writes = ("example_check",)

    passed = (SELF_CONSISTENCY,)  # the asked models are in the configuration's digest, not the item's

    @property
    def asked(self) -> list[str]:
        config = self.config
        assert isinstance(config, VideoDependencyConfig) and config.models
        return config.models

    async def asetup(self) -> None:
        config = self.config
        assert isinstance(config, VideoDependencyConfig)
        if self.gateway is None:  # the workspace's models, and the built-in self-hosted ones it does not replace
            models: dict[str, Any] = dict(self.context.settings.get("models") or {})
            builtin = self_hosted_models()
            unknown = [m for m in self.asked if m not in models and m not in builtin]
            if unknown:
                raise NoModelForStep(f"steps.{self.name}.models: {', '.join(unknown)} not configured under "
                                     f"`models:` (configured: {', '.join(sorted(models)) or 'none'})")
            models.update({m: builtin[m] for m in self.asked if m not in models})
            self.context.settings = {**self.context.settings, "models": models}
        await super().asetup()

    async def ask(self, item: CheckedCandidate, gateway: Gateway) -> Result:
        config = self.config
        assert isinstance(config, VideoDependencyConfig)
        candidate = item.candidate
        for model in self.asked:
            if gateway.config(model).max_images < config.frames:
                raise Transient(f"model {model} takes {gateway.config(model).max_images} images per request; "
                                f"the filter shows {config.frames}")
        frames = await self.reader.drawn(candidate, video_path(candidate, self.context.video_root), config.frames,
                                         dependency_seed(candidate.id))
        text = render_prompt(self.template, question_values(candidate, len(frames)))
        message = user_message_with_frames(text, frames, max_images=len(frames))
        replies = await asyncio.gather(*(reply_text(gateway, model, message, step=self.name,
                                                    step_version=self.version) for model in self.asked))
        verdicts = {model: agreement(candidate, reply) for model, reply in zip(self.asked, replies, strict=True)}
        answers = {model: v.read for model, v in verdicts.items()}
        shown = [t for t, _ in frames]
        right = [model for model, v in verdicts.items() if v.agrees]
        said = "; ".join(f"{m}: {answers[m] or '(no answer)'} ({'right' if m in right else 'wrong'})"
                         for m in self.asked)
        if len(right) == len(self.asked):
            return Result.reject(f"answered right from the text and {len(frames)} frames by every model: {said}",
                                 code=VIDEO_INDEPENDENT_CODE,
                                 detail={"answers": answers, "answer": candidate.answer, "frame_times_s": shown})
        return Result.accept(ExampleCheck(
            id=check_id(STEP, candidate.id), check=STEP, candidate_id=candidate.id, passed=True,
            models=list(self.asked), answers=answers, frame_times_s=shown, detail=said),
            detail={"right": right})

