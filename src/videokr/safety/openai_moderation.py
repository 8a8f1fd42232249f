"""OpenAI's omni-moderation through the model door: the gateway's cache, limits, retries and dry run.

The moderation model is an entry of the workspace's `models:` section (default name
`omni-moderation`); when the section has no such entry, the built-in one is used: OpenAI's
`omni-moderation-latest` at api.openai.com with the key in `OPENAI_API_KEY`. Each frame is
one request (one image in, one result out), so each frame's `category_scores` are kept. The
gateway keys requests on their body, the frame's bytes included, so a rerun or a new
threshold sends nothing.
"""

from __future__ import annotations

from typing import Any

from videokr.dataurl import data_url
from videokr.errors import Transient
from videokr.safety.backend import Backend, SafetyConfigError
from videokr.safety.frames import ModerationFrame
from videokr.store import Store

DEFAULT_MODEL_NAME = "omni-moderation"  # its name under `models:`
MODERATION_MODEL = "omni-moderation-latest"
OPENAI_BASE_URL = "https://api.openai.com/v1"
OPENAI_KEY_ENV = "OPENAI_API_KEY"


def default_model_config() -> Any:
    """The moderation endpoint used when `models:` names none (the moderation endpoint is free)."""
    from videokr.models.config import ModelConfig

    return ModelConfig(base_url=OPENAI_BASE_URL, model=MODERATION_MODEL, api_key_env=OPENAI_KEY_ENV,
                       display_name="omni-moderation", modalities=["vision"])


class OpenAIBackend(Backend):
    name = "openai"

    def __init__(self, models: dict[str, Any] | None, *, model_name: str = DEFAULT_MODEL_NAME,
                 step: str = "safety", step_version: str = "1", dry_run: bool = False) -> None:
        from videokr.models.config import ModelConfig

        self.models = {name: m if isinstance(m, ModelConfig) else ModelConfig.model_validate(m)
                       for name, m in (models or {}).items()}
        self.model_name = model_name
        if model_name not in self.models:
            if model_name != DEFAULT_MODEL_NAME:
                configured = ", ".join(sorted(self.models)) or "none"
                raise SafetyConfigError(f"safety backend openai: model {model_name!r} is not configured "
                                        f"under `models:` (configured: {configured})")
            self.models[model_name] = default_model_config()
        self.step, self.step_version, self.dry_run = step, step_version, dry_run
        self.gateway: Any = None

    @property
    def model(self) -> str:
        return self.models[self.model_name].model

    async def open(self, store: Store | None) -> None:
        from videokr.models.config import MissingKeyError
        from videokr.models.gateway import Gateway

        try:
            self.models[self.model_name].api_key()
        except MissingKeyError as exc:
            raise SafetyConfigError(f"safety backend openai: {exc}") from None
        self.gateway = await Gateway(self.models, store, dry_run=self.dry_run).__aenter__()

    async def close(self) -> None:
        if self.gateway is not None:
            await self.gateway.aclose()
            self.gateway = None

    async def score(self, frame: ModerationFrame) -> dict[str, float]:
        assert self.gateway is not None, "open() first"
        part = {"type": "image_url", "image_url": {"url": data_url(frame.jpeg, "image/jpeg")}}
        reply = await self.gateway.moderate(self.model_name, [part], step=self.step,
                                            step_version=self.step_version)
        reply.raise_for_failure()
        if reply.dry_run:
            raise Transient("dry run: not sent")
        try:
            scores = reply.body["results"][0]["category_scores"]  # type: ignore[index]
            return {str(k): float(v) for k, v in scores.items()}
        except (KeyError, IndexError, TypeError, ValueError, AttributeError):
            self.gateway.mark_invalid(reply, "moderation reply without category_scores")
            raise Transient(f"{self.model}: a moderation reply without category_scores") from None
