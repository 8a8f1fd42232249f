"""§3.3's CoT rationale validation, and the final training example.

"To mitigate systematic generator bias in the reasoning traces, we use an independent strong
MLLM as a verifier: given the question, reasoning trace, and videos, it checks that each key
step is supported by observable evidence or standard domain knowledge, and that the reasoning
decisively distinguishes the chosen answer from plausible alternatives. We discard examples
with critical unsupported steps."

An item is a live candidate that passed `self_consistency` and `video_dependency` (item id =
the candidate's id), carrying both checks. The reasoning checked is self-consistency's
re-derived one — the chain of thought the example will keep. The verifier is drawn per item
among the models eligible for `cot_validation` (Table 8, or this workspace's audits, or the
step's `models:`) *other than the candidate's generator*, seeded by the item; it sees the
candidate's frames (thinned to its image budget, each after its timestamp), the question, the
options, the answer and the reasoning (`prompts/cot_validation.md`) and replies with the key
steps, each `supported`, `critical` and its `evidence`, and `rules_out_alternatives`.

A critical unsupported step: the item is rejected, code `unsupported_step`, the first such
step and its evidence in the reason and the detail. With `require_alternatives_ruled_out`
(off by default: the paper discards on unsupported steps only) a reasoning that does not rule
out the alternatives is rejected too, code `alternatives_open`. Passed: an
`ExampleCheck(check="cot_validation", passed=True)` and the `Example` — the candidate's
question, answer and labels, `cot` = the re-derived reasoning, `provenance.generator_model`
and one `provenance.verdicts` entry per check. This is the only corpus step that writes
`Example`s; `videokr.sets` reads them from here.
"""

from __future__ import annotations

import json
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from videokr.errors import Transient
from videokr.models.frames import user_message_with_frames
from videokr.models.gateway import Gateway
from videokr.models.structured import ask_structured
from videokr.pipeline.recipe import register
from videokr.pipeline.step import Result
from videokr.prompts import render_prompt
from videokr.prompts.step import DryRun, NoModelForStep
from videokr.records import Example, ExampleCheck, Provenance, Verdict
from videokr.steps.validation import (
    ValidatorStep,
    COT_VALIDATION,
    SELF_CONSISTENCY,
    VIDEO_DEPENDENCY,
    CheckedCandidate,
    ValidatorConfig,
    check_id,
    item_digest,
    question_values,
    video_path,
    within_budget,
)

STEP = COT_VALIDATION
UNSUPPORTED_CODE = "unsupported_step"
ALTERNATIVES_CODE = "alternatives_open"
NO_VALIDATOR = "no_validator"  # quarantine code: no eligible model other than the generator


class KeyStep(BaseModel):
    model_config = ConfigDict(extra="forbid")

    step: str = Field(min_length=1, description="the key step, in a sentence")
    supported: bool = Field(description="backed by what the frames show or by standard domain knowledge")
    critical: bool = Field(description="the answer depends on it")
    evidence: str = Field(min_length=1, description="the frames or knowledge that support it, or why nothing does")


class Review(BaseModel):
    """The verifier's reply."""

    model_config = ConfigDict(extra="forbid")

    steps: list[KeyStep] = Field(min_length=1)
    rules_out_alternatives: bool


class CotValidationConfig(ValidatorConfig):
    PLACEHOLDERS: ClassVar[frozenset[str]] = ValidatorConfig.PLACEHOLDERS | {"answer", "reasoning"}

    require_alternatives_ruled_out: bool = Field(
        default=False, description="also drop examples whose reasoning does not rule out the alternatives")


@register
class CotValidationStep(ValidatorStep):
    name = STEP
    version = "1"
    Config = CotValidationConfig
    after = (SELF_CONSISTENCY, VIDEO_DEPENDENCY)
    reads = "example_check"
    writes = ("example_check", "example")

    passed = (SELF_CONSISTENCY, VIDEO_DEPENDENCY)

    def verifier(self, item: CheckedCandidate) -> str | None:
        """The model that checks this item: drawn among the eligible ones but the generator; None if none is left."""
        generator = item.candidate.generator_model
        eligible = self.pool.eligible(self.name)
        if not eligible:
            raise NoModelForStep(self.pool.why_none(self.name))
        if set(eligible) <= {generator}:
            return None
        return self.pool.draw(self.name, item.id, exclude=(generator,))

    def item_fingerprint(self, item: CheckedCandidate) -> str:
        return item_digest(item, self.context.video_root, model=self.verifier(item))

    async def ask(self, item: CheckedCandidate, gateway: Gateway) -> Result:
        candidate = item.candidate
        model = self.verifier(item)
        if model is None:
            return Result.quarantine(
                f"candidate {candidate.id!r}: no model eligible for {self.name} other than its generator "
                f"{candidate.generator_model!r}; make another model eligible (an audit or pool.overrides)",
                code=NO_VALIDATOR)
        budget = gateway.config(model).max_images
        if budget < 1:
            raise Transient(f"model {model} takes no images (models.{model}.max_images is 0)")
        consistency = item.check(SELF_CONSISTENCY)
        reasoning = consistency.reasoning or ""
        times = within_budget(candidate.frame_times_s, budget)
        frames = await self.reader.at_times(candidate, video_path(candidate, self.context.video_root), times)
        values = {**question_values(candidate, len(frames)), "answer": candidate.answer, "reasoning": reasoning}
        message = user_message_with_frames(render_prompt(self.template, values), frames, max_images=budget)
        answer = await ask_structured(gateway, model, [message], Review, step=self.name, step_version=self.version)
        if answer.value is None:
            raise DryRun(answer.error or "dry run: not sent")
        review = answer.value
        steps = [s.model_dump() for s in review.steps]
        failing = next((s for s in review.steps if s.critical and not s.supported), None)
        if failing is not None:
            return Result.reject(f"{model}: critical step unsupported: {failing.step} ({failing.evidence})",
                                 code=UNSUPPORTED_CODE,
                                 detail={"model": model, "failing_step": failing.step, "evidence": failing.evidence,
                                         "steps": steps, "rules_out_alternatives": review.rules_out_alternatives})
        config = self.config
        assert isinstance(config, CotValidationConfig)
        if config.require_alternatives_ruled_out and not review.rules_out_alternatives:
            return Result.reject(f"{model}: the reasoning does not rule out the alternatives", code=ALTERNATIVES_CODE,
                                 detail={"model": model, "steps": steps, "rules_out_alternatives": False})
        summary = (f"{len(review.steps)} key step(s) supported; alternatives "
                   f"{'ruled out' if review.rules_out_alternatives else 'not ruled out'}")
        check = ExampleCheck(id=check_id(STEP, candidate.id), check=STEP, candidate_id=candidate.id, passed=True,
                             models=[model], reasoning=reasoning,
                             frame_times_s=[t for t, _ in frames], detail=summary)
        return Result.accept(check, final_example(item, check), detail={"model": model})


def final_example(item: CheckedCandidate, validation: ExampleCheck) -> Example:
    """The training example: the candidate, its re-derived reasoning as the CoT, and every check's verdict."""
    candidate = item.candidate
    consistency, dependency = item.check(SELF_CONSISTENCY), item.check(VIDEO_DEPENDENCY)
    verdicts = [
        Verdict(step=SELF_CONSISTENCY, model=", ".join(consistency.models), verdict="consistent",
                detail=consistency.detail),
        Verdict(step=VIDEO_DEPENDENCY, model=", ".join(dependency.models), verdict="video_dependent",
                detail=json.dumps(dependency.answers, ensure_ascii=False)),
        Verdict(step=COT_VALIDATION, model=", ".join(validation.models), verdict="supported",
                detail=validation.detail),
    ]
    return Example(
        id=candidate.id, problem_type=candidate.problem_type, question=candidate.question,
        options=list(candidate.options), answer=candidate.answer, video_id=candidate.video_id,
        video_path=candidate.video_path, subject=candidate.subject, skill=candidate.skill,
        cot=consistency.reasoning, discipline=candidate.discipline, knowledge_point_id=candidate.knowledge_point_id,
        knowledge_point=candidate.knowledge_point, youtube_id=candidate.youtube_id,
        provenance=Provenance(generator_model=candidate.generator_model, verdicts=verdicts))
