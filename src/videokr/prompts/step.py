"""A prompted model step: one packaged prompt, a model drawn from the pool, a validated JSON reply.

The text-model steps of §3.1–§3.2 (knowledge points, scenarios, search keywords, the metadata
judge) differ only in what they put into their prompt and what they make of the reply, so
what they share lives here once:

- the prompt: `prompts/<step>.md`, or the `prompt:` setting of the step's section; the text
  in use (not the setting) is part of the step's fingerprint, so an edit to either redoes
  exactly the items it asks about, and an override equal to the packaged text redoes nothing;
- the model: for every instance one model drawn at random from those eligible for the step
  (§3.4: Table 8, or this workspace's audits, or `pool.overrides`), or from the step's own
  `models:` list; the draw is seeded by the instance, and the drawn model is part of the
  item's fingerprint, so a change of pool redoes exactly the items whose draw changed;
- the reply: `ask_structured` against the step's schema (repairs, then quarantine, then a
  verdict coded `invalid_output`); in a dry run nothing is sent and the item is not kept.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, Field, field_validator

from videokr.hashing import digest_json, digest_parts
from videokr.models.gateway import Gateway
from videokr.models.pool import ModelPool
from videokr.models.step import ModelStep
from videokr.models.structured import ask_structured
from videokr.pipeline.step import Item, Result, StepConfig, StepContext
from videokr.prompts import PromptError, check_prompt, load_prompt, render_prompt

T = TypeVar("T", bound=BaseModel)


class NoModelForStep(ValueError):
    """No configured model may serve the step: the message says why, model by model."""


class DryRun(Exception):
    """The gateway only priced the request; there is no reply to make records of."""


async def reply_text(gateway: Gateway, model: str, message: dict[str, Any], *, step: str, step_version: str,
                     salt: str = "") -> str:
    """The text of `model`'s reply to one user `message` (free text, no schema); raises DryRun when the
    request was only priced, and the reply's own failure (transient, or a verdict for a refusal)."""
    reply = await gateway.chat(model, [message], step=step, step_version=step_version, salt=salt)
    if reply.dry_run:
        raise DryRun("dry run: not sent")
    failure = reply.failure()
    if failure is not None:
        raise failure
    return reply.content or ""


class PromptConfig(StepConfig):
    """What every prompted step's section of `videokr.yaml` may say, besides its own settings."""

    # The placeholders the step fills; an override prompt may use no others.
    PLACEHOLDERS: ClassVar[frozenset[str]] = frozenset()

    prompt: str | None = Field(default=None, description="replaces the packaged prompt (see `videokr prompts show`)")
    models: list[str] | None = Field(
        default=None, description="draw among these configured models instead of the pool's eligible ones")

    @field_validator("prompt")
    @classmethod
    def _known_placeholders(cls, value: str | None) -> str | None:
        if value is not None:
            if not value.strip():
                raise ValueError("the prompt is empty")
            try:
                check_prompt(value, cls.PLACEHOLDERS, where="the prompt")
            except PromptError as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("models")
    @classmethod
    def _some_models(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and not value:
            raise ValueError("give at least one model, or leave `models` out to use the pool")
        return value

    def fingerprint(self) -> str:
        """Every output-relevant setting but `prompt`: the step adds the prompt text it uses instead."""
        return digest_json(self.model_dump(mode="json", exclude=set(self.RUN_ONLY) | {"prompt"}))


class PromptedStep(ModelStep[Item]):
    """A `ModelStep` whose request is its prompt file rendered with the item. See the module docstring."""

    Config: ClassVar[type[StepConfig]] = PromptConfig

    def __init__(self, config: StepConfig | None = None, context: StepContext | None = None) -> None:
        super().__init__(config, context)
        assert isinstance(self.config, PromptConfig)
        self.template = self.config.prompt if self.config.prompt is not None else load_prompt(self.name)
        self._config_digest = digest_parts(self._config_digest, self.template)

    # -- the model --------------------------------------------------------------------

    @cached_property
    def pool(self) -> ModelPool:
        """The workspace's models, pool settings and audits; the step's `models:` list overrides the verdicts."""
        from videokr.models.audit import audit_summaries
        from videokr.models.config import ModelConfig, PoolConfig

        assert isinstance(self.config, PromptConfig)
        models = self.context.settings.get("models")
        if not models:
            raise NoModelForStep(f"step {self.name} needs the workspace's `models:` section")
        models = {name: m if isinstance(m, ModelConfig) else ModelConfig.model_validate(m)
                  for name, m in models.items()}
        pool_config = self.context.settings.get("pool") or PoolConfig()
        if not isinstance(pool_config, PoolConfig):
            pool_config = PoolConfig.model_validate(pool_config)
        if self.config.models is not None:
            missing = [m for m in self.config.models if m not in models]
            if missing:
                raise NoModelForStep(f"steps.{self.name}.models: {', '.join(missing)} not configured under `models:` "
                                     f"(configured: {', '.join(sorted(models))})")
            pool_config = pool_config.model_copy(
                update={"overrides": {**pool_config.overrides, self.name: list(self.config.models)}})
        store = self.context.store
        return ModelPool(models, pool_config, audit_summaries(store) if store is not None else None)

    def draw_model(self, instance_id: str) -> str:
        """The model that serves this instance: the same on every rerun while the pool is the same."""
        try:
            return self.pool.draw(self.name, instance_id)
        except RuntimeError as exc:  # NoEligibleModelError: a configuration problem, said as one
            raise NoModelForStep(str(exc)) from None

    # -- the request ------------------------------------------------------------------

    async def aprocess(self, item: Item) -> Result:
        try:
            return await super().aprocess(item)
        except DryRun as exc:  # priced, not sent: nothing to keep (a dry run commits nothing anyway)
            return Result.quarantine(str(exc), code="dry_run")

    def messages(self, values: dict[str, Any]) -> list[dict[str, str]]:
        return [{"role": "user", "content": render_prompt(self.template, values)}]

    async def ask_json(self, gateway: Gateway, model: str, values: dict[str, Any], schema: type[T]) -> T:
        """The validated reply; raises `DryRun` in a dry run, and what `ask_structured` raises on failure."""
        answer = await ask_structured(gateway, model, self.messages(values), schema, step=self.name,
                                      step_version=self.version)
        if answer.value is None:
            raise DryRun(answer.error or "dry run: not sent")
        return answer.value
