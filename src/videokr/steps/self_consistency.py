"""§3.3's self-consistency verification: the generator solves its own question again, step by step.

"The model is re-prompted with the generated question and corresponding video frames to
produce a detailed, step-by-step answer. An example is retained only if the re-derived answer
matches the original, and the reasoning process from this verification step is used as the
final reasoning trace."

An item is one live candidate of `example_generation` (item id = the candidate's id). The
model is the candidate's own `generator_model` (not a fresh draw: the check is whether the
generator stands by its answer); it sees the same frames the generator saw (the candidate's
`frame_times_s`, 0.2 fps, each after its timestamp, thinned evenly to the model's image
budget), the question and the options — never the answer — through
`prompts/self_consistency.md`, and replies `{"reasoning", "answer"}`. The answers agree as
`videokr.steps.validation.agreement` says (multiple choice by letter, open-ended through the
scoring rules or ROUGE). Agreement: an `ExampleCheck(check="self_consistency", passed=True)`
whose `reasoning` becomes the final example's chain of thought. Disagreement: the item is
rejected, code `inconsistent`, both answers in the reason and the detail.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from videokr.errors import Transient
from videokr.models.frames import user_message_with_frames
from videokr.models.gateway import Gateway
from videokr.models.structured import ask_structured
from videokr.pipeline.recipe import register
from videokr.pipeline.step import Result
from videokr.prompts import render_prompt
from videokr.prompts.step import DryRun
from videokr.records import ExampleCheck
from videokr.steps.validation import (
    ValidatorStep,
    EXAMPLE_GENERATION,
    SELF_CONSISTENCY,
    CheckedCandidate,
    ValidatorConfig,
    agreement,
    check_id,
    question_values,
    video_path,
    within_budget,
)

STEP = SELF_CONSISTENCY
INCONSISTENT_CODE = "inconsistent"


class Rederived(BaseModel):
    """The model's second, step-by-step answer."""

    model_config = ConfigDict(extra="forbid")

    reasoning: str = Field(min_length=1, description="step by step, citing timestamps")
    answer: str = Field(min_length=1, description="the final answer only")


class SelfConsistencyConfig(ValidatorConfig):
    @field_validator("models")
    @classmethod
    def _generator_only(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            raise ValueError("self_consistency asks each candidate's own generator model; `models` does not apply")
        return value


@register
class SelfConsistencyStep(ValidatorStep):
    name = STEP
    version = "1"
    Config = SelfConsistencyConfig
    after = (EXAMPLE_GENERATION,)
    reads = "candidate_example"
    writes = ("example_check",)

    # the model is the candidate's generator: in the item already, so the default fingerprint covers it

    async def ask(self, item: CheckedCandidate, gateway: Gateway) -> Result:
        candidate = item.candidate
        model = candidate.generator_model
        if model not in gateway.models:
            raise Transient(f"candidate {candidate.id!r}: its generator model {model!r} is not configured under "
                            f"`models:` (configured: {', '.join(sorted(gateway.models)) or 'none'})")
        budget = gateway.config(model).max_images
        if budget < 1:
            raise Transient(f"model {model} takes no images (models.{model}.max_images is 0)")
        times = within_budget(candidate.frame_times_s, budget)
        frames = await self.reader.at_times(candidate, video_path(candidate, self.context.video_root), times)
        text = render_prompt(self.template, question_values(candidate, len(frames)))
        message = user_message_with_frames(text, frames, max_images=budget)
        answer = await ask_structured(gateway, model, [message], Rederived, step=self.name, step_version=self.version)
        if answer.value is None:
            raise DryRun(answer.error or "dry run: not sent")
        rederived = answer.value
        agreed = agreement(candidate, rederived.answer)
        shown = [t for t, _ in frames]
        if not agreed.agrees:
            said = agreed.read or rederived.answer.strip()
            return Result.reject(
                f"{model} re-derived {said!r}; the candidate's answer is {candidate.answer!r}", code=INCONSISTENT_CODE,
                detail={"model": model, "original": candidate.answer, "rederived": said,
                        "stated": rederived.answer, "reasoning": rederived.reasoning, "frame_times_s": shown})
        return Result.accept(ExampleCheck(
            id=check_id(STEP, candidate.id), check=STEP, candidate_id=candidate.id, passed=True, models=[model],
            answers={model: agreed.read}, reasoning=rederived.reasoning.strip(), frame_times_s=shown,
            detail=f"re-derived {agreed.read!r} agrees with {candidate.answer!r} ({agreed.how})"),
            detail={"model": model})
