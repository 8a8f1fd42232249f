"""The model pool of §3.4 and Appendix A.4: which model may serve which step, and the draw.

For each pipeline step a model is eligible iff its expert-audited error rate (hard compliance
errors + soft content errors, over the audited sample) is at most the threshold (3%), and it
handles the step's modality. Table 8's published verdicts are the default (`pool.verdicts:
paper`); an audit completed in this workspace takes precedence over the published verdict for
that step and model (a measurement of your own beats a number from the paper); with
`verdicts: audited` only this workspace's audits count. `pool.overrides` names models for a
step by hand.

At run time every instance draws one eligible model at random. The draw is seeded by
(seed, step, instance id), so a rerun draws the same model and finds its cached reply;
callers record the drawn model in the example's provenance.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

from videokr.models.config import ModelConfig, PoolConfig

Modality = Literal["text", "vision"]


@dataclass(frozen=True)
class PoolStep:
    name: str
    section: str
    label: str
    modality: Modality


# Table 8, in its order.
POOL_STEPS: tuple[PoolStep, ...] = (
    PoolStep("knowledge_points", "§3.1 Domain Knowledge Bank Construction", "Lecture → Knowledge Point", "text"),
    PoolStep("scenarios", "§3.2 Knowledge-Driven Video Collection", "Scenario Generation", "text"),
    PoolStep("search_keywords", "§3.2 Knowledge-Driven Video Collection", "Search Keyword Generation", "text"),
    PoolStep("metadata_relevance", "§3.2 Knowledge-Driven Video Collection", "Metadata Relevance Judge", "text"),
    PoolStep("visual_relevance", "§3.2 Knowledge-Driven Video Collection", "Visual Relevance Judge", "vision"),
    PoolStep("example_generation", "§3.3 Skill-Oriented Example Generation", "Example Generation", "vision"),
    PoolStep("cot_validation", "§3.3 Skill-Oriented Example Generation", "CoT Rationale Validation", "vision"),
)
STEPS_BY_NAME = {step.name: step for step in POOL_STEPS}

PAPER_MODELS = ("gpt-5.2", "gpt-5-mini", "claude-4.5-sonnet", "gemini-3-flash", "deepseek-v3.2",
                "qwen3-vl-235b-a22b", "glm-4.6v")

# Table 8 verbatim: ✓ eligible, ✗ failed human validation, - not suited to the step's modality.
_TABLE8_ROWS = {
    "knowledge_points": "✓✓✓✓✓--",
    "scenarios": "✓✓✓✓✗--",
    "search_keywords": "✓✓✓✓✓--",
    "metadata_relevance": "✓✗✓✗✗--",
    "visual_relevance": "✓✗✗✓-✗✗",
    "example_generation": "✓✗✓✓-✗✗",
    "cot_validation": "✓✗✓✓-✗✗",
}
PAPER_TABLE8: dict[str, dict[str, str]] = {
    step: dict(zip(PAPER_MODELS, row, strict=True)) for step, row in _TABLE8_ROWS.items()
}


@dataclass(frozen=True)
class AuditSummary:
    labelled: int
    hard: int
    soft: int

    @property
    def errors(self) -> int:
        return self.hard + self.soft

    @property
    def error_rate(self) -> float:
        return self.errors / self.labelled if self.labelled else 1.0


@dataclass(frozen=True)
class Verdict:
    mark: Literal["✓", "✗", "-"]
    source: str  # why: "paper", "audit", "override", "modality", "not audited"
    error_rate: float | None = None

    @property
    def eligible(self) -> bool:
        return self.mark == "✓"


class NoEligibleModelError(RuntimeError):
    pass


class ModelPool:
    def __init__(self, models: dict[str, ModelConfig], config: PoolConfig,
                 audits: dict[tuple[str, str], AuditSummary] | None = None) -> None:
        self.models = models
        self.config = config
        self.audits = audits or {}

    def step(self, name: str) -> PoolStep:
        try:
            return STEPS_BY_NAME[name]
        except KeyError:
            raise KeyError(f"unknown pool step {name!r}; steps: {', '.join(STEPS_BY_NAME)}") from None

    def verdict(self, step_name: str, model: str) -> Verdict:
        step = self.step(step_name)
        config = self.models[model]
        override = self.config.overrides.get(step_name)
        if override is not None:
            return Verdict("✓", "override") if model in override else Verdict("✗", "override")
        if step.modality not in config.modalities:
            return Verdict("-", "modality")
        audit = self.audits.get((step_name, model))
        if audit is not None and audit.labelled >= self.config.audit_size:
            ok = audit.error_rate <= self.config.max_error_rate
            return Verdict("✓" if ok else "✗", "audit", audit.error_rate)
        if self.config.verdicts == "paper" and model in PAPER_TABLE8[step_name]:
            return Verdict(PAPER_TABLE8[step_name][model], "paper")  # type: ignore[arg-type]
        rate = audit.error_rate if audit is not None else None
        return Verdict("✗", "not audited", rate)

    def eligible(self, step_name: str) -> list[str]:
        return [m for m in self.models if self.verdict(step_name, m).eligible]

    def why_none(self, step_name: str) -> str:
        reasons = []
        for model in self.models:
            verdict = self.verdict(step_name, model)
            if verdict.source == "modality":
                reasons.append(f"{model}: does not take {self.step(step_name).modality}")
            elif verdict.source == "audit":
                reasons.append(f"{model}: audited error rate {verdict.error_rate:.1%} > "
                               f"{self.config.max_error_rate:.0%}")
            elif verdict.source == "not audited":
                audit = self.audits.get((step_name, model))
                have = audit.labelled if audit else 0
                reasons.append(f"{model}: not audited ({have}/{self.config.audit_size} labelled)")
            else:
                reasons.append(f"{model}: {verdict.source} verdict {verdict.mark}")
        return (f"no eligible model for step {step_name!r} — " + "; ".join(reasons)
                + ". Audit a model (`videokr models audit sample/import`) or set pool.overrides in videokr.yaml.")

    def require(self, step_name: str) -> list[str]:
        eligible = self.eligible(step_name)
        if not eligible:
            raise NoEligibleModelError(self.why_none(step_name))
        return eligible

    def draw(self, step_name: str, instance_id: str, *, exclude: Collection[str] = ()) -> str:
        """One eligible model for this instance; the same on every rerun with the same seed.

        `exclude` names models that may not serve this instance (a validator is never the
        example's own generator); without it the draw is what it always was."""
        eligible = sorted(m for m in self.require(step_name) if m not in exclude)
        if not eligible:
            raise NoEligibleModelError(f"no eligible model for step {step_name!r} other than "
                                       f"{', '.join(sorted(exclude))} (instance {instance_id!r}); make another "
                                       "model eligible (an audit or pool.overrides)")
        seed = hashlib.sha256(f"{self.config.seed}\x1f{step_name}\x1f{instance_id}".encode()).digest()
        return random.Random(seed).choice(eligible)
