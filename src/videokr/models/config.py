"""How a model is reached, limited and priced: the `models:` section of videokr.yaml.

Why typed: a typo in a base URL or a price must fail when the file is read, naming the key,
not after a thousand paid requests. The API key itself never appears here — only the name of
the environment variable that holds it, so that a config file, a log or an export can be
shared without leaking a secret.
"""

from __future__ import annotations

import os
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from videokr.models.secrets import watch_env

# Paper constants (§3.4, Appendix A.4)
ELIGIBILITY_MAX_ERROR_RATE = 0.03  # a model is eligible for a step iff its audited error rate is <= 3%
AUDIT_SAMPLE_SIZE = 100  # real inputs sampled per step per model for expert review

# Defaults of the client (not paper settings; chosen so a stock provider account is not overrun)
DEFAULT_CONCURRENCY = 16
DEFAULT_TIMEOUT_S = 120.0
DEFAULT_MAX_ATTEMPTS = 8
DEFAULT_MAX_IMAGES = 64
DEFAULT_BATCH_DISCOUNT = 0.5  # the providers' Batch APIs bill half the list price
NO_KEY = "not-needed"  # what keyless local servers are sent as a key: not a secret


class Price(BaseModel):
    """USD per million tokens."""

    model_config = ConfigDict(extra="forbid")

    input_per_mtok: float = Field(default=0.0, ge=0)
    output_per_mtok: float = Field(default=0.0, ge=0)
    batch_discount: float = Field(default=DEFAULT_BATCH_DISCOUNT, ge=0, le=1,
                                  description="fraction of the list price billed through the Batch API")

    def cost(self, tokens_in: int, tokens_out: int, *, batch: bool = False) -> float:
        usd = (tokens_in * self.input_per_mtok + tokens_out * self.output_per_mtok) / 1e6
        return usd * self.batch_discount if batch else usd


class Limits(BaseModel):
    model_config = ConfigDict(extra="forbid")

    concurrency: int = Field(default=DEFAULT_CONCURRENCY, ge=1, description="requests in flight at once")
    rpm: float | None = Field(default=None, gt=0, description="requests per minute; none = unlimited")
    tpm: float | None = Field(default=None, gt=0, description="tokens per minute (estimated in + max out)")
    timeout_s: float = Field(default=DEFAULT_TIMEOUT_S, gt=0, description="per attempt")
    max_attempts: int = Field(default=DEFAULT_MAX_ATTEMPTS, ge=1, description="sends per request, first included")
    backoff_base_s: float = Field(default=1.0, gt=0)
    backoff_max_s: float = Field(default=60.0, gt=0)
    breaker_failures: int = Field(default=20, ge=1,
                                  description="consecutive failures that open the circuit breaker")
    breaker_cooldown_s: float = Field(default=30.0, gt=0, description="first pause; doubles while failing")
    breaker_give_up_s: float = Field(default=900.0, gt=0,
                                     description="after this long paused, waiting requests are reported failed")


class ModelConfig(BaseModel):
    """One OpenAI-compatible endpoint and model."""

    model_config = ConfigDict(extra="forbid")

    base_url: str = Field(description="e.g. https://api.openai.com/v1 or a vLLM server's /v1")
    model: str = Field(description="the model name the endpoint expects")
    api_key_env: str | None = Field(default=None, description="environment variable holding the API key")
    display_name: str | None = Field(default=None, description="as the paper names it (Table 8)")
    modalities: list[Literal["text", "vision"]] = Field(default_factory=lambda: ["text", "vision"])
    max_images: int = Field(default=DEFAULT_MAX_IMAGES, ge=0, description="image budget per request")
    image_tokens: int = Field(default=765, ge=0, description="dry-run estimate of tokens per image")
    json_schema: bool = Field(default=True, description="endpoint accepts response_format json_schema")
    limits: Limits = Field(default_factory=Limits)
    price: Price = Field(default_factory=Price)
    params: dict[str, object] = Field(default_factory=dict, description="extra body fields sent every time")

    def model_post_init(self, context: object, /) -> None:
        # Every configured model's key variable is a secret to redact, sent or not.
        watch_env(self.api_key_env)

    def api_key(self) -> str:
        """The key from the environment; a placeholder for keyless local servers."""
        if self.api_key_env is None:
            return NO_KEY
        watch_env(self.api_key_env)  # the name may have been set after the model was built
        key = os.environ.get(self.api_key_env)
        if not key:
            raise MissingKeyError(
                f"environment variable {self.api_key_env} is not set; it must hold the API key for {self.model}"
            )
        return key


def distinct_model_names(names: list[str] | None, none_given: str) -> list[str]:
    """A step's list of model names, checked: at least one (else `none_given`), none twice."""
    if not names:
        raise ValueError(none_given)
    if len(set(names)) != len(names):
        raise ValueError("a model is named twice")
    return names


class MissingKeyError(RuntimeError):
    pass


def _paper(display: str, base_url: str, model: str, env: str, modalities: list[str], price_in: float,
           price_out: float) -> ModelConfig:
    return ModelConfig(
        display_name=display, base_url=base_url, model=model, api_key_env=env,
        modalities=modalities,  # type: ignore[arg-type]
        price=Price(input_per_mtok=price_in, output_per_mtok=price_out),
    )


def paper_models() -> dict[str, ModelConfig]:
    """The seven models of the paper's pool (§3.4), reached through OpenAI-compatible endpoints.

    Model names and list prices (USD per million tokens, input/output) are those the providers
    published when this table was written; check them against your account and override any
    field in videokr.yaml. Qwen3-VL and GLM-4.6V are vision models only in Table 8 ("-" on the
    text steps), DeepSeek-V3.2 is text only.
    """
    return {
        "gpt-5.2": _paper("GPT-5.2", "https://api.openai.com/v1", "gpt-5.2", "OPENAI_API_KEY",
                          ["text", "vision"], 1.75, 14.0),
        "gpt-5-mini": _paper("GPT-5-mini", "https://api.openai.com/v1", "gpt-5-mini", "OPENAI_API_KEY",
                             ["text", "vision"], 0.25, 2.0),
        "claude-4.5-sonnet": _paper("Claude-4.5-Sonnet", "https://api.anthropic.com/v1/", "claude-sonnet-4-5",
                                    "ANTHROPIC_API_KEY", ["text", "vision"], 3.0, 15.0),
        "gemini-3-flash": _paper("Gemini-3-Flash", "https://generativelanguage.googleapis.com/v1beta/openai/",
                                 "gemini-3-flash-preview", "GEMINI_API_KEY", ["text", "vision"], 0.5, 3.0),
        "deepseek-v3.2": _paper("DeepSeek-V3.2", "https://api.deepseek.com/v1", "deepseek-chat",
                                "DEEPSEEK_API_KEY", ["text"], 0.28, 0.42),
        "qwen3-vl-235b-a22b": _paper("Qwen3-VL-235B-A22B",
                                     "https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
                                     "qwen3-vl-235b-a22b-instruct", "DASHSCOPE_API_KEY", ["vision"], 0.4, 1.6),
        "glm-4.6v": _paper("GLM-4.6V", "https://api.z.ai/api/paas/v4", "glm-4.6v", "ZAI_API_KEY", ["vision"],
                           0.3, 0.9),
    }


# §3.3's video-dependency filter asks two open models that the user serves (e.g. with vLLM), by their
# usual model names; they are no pool models (Table 8 does not list them) and carry no price.
INTERNVL_38B = "OpenGVLab/InternVL3_5-38B"
QWEN3_VL_32B = "Qwen/Qwen3-VL-32B-Instruct"
SELF_HOSTED_BASE_URLS = {INTERNVL_38B: "http://localhost:8000/v1", QWEN3_VL_32B: "http://localhost:8001/v1"}


def self_hosted_models() -> dict[str, ModelConfig]:
    """The open models of §3.3's video-dependency filter, each on a self-hosted OpenAI-compatible server.

    Keyed by the names vLLM serves them under by default; no key (a local server needs none) and
    no price (the GPUs are yours). Point `base_url` at your servers with an entry of the same name
    under `models:` in videokr.yaml; an entry there replaces the built-in one."""
    return {
        INTERNVL_38B: ModelConfig(display_name="InternVL3.5-38B", base_url=SELF_HOSTED_BASE_URLS[INTERNVL_38B],
                                  model=INTERNVL_38B, modalities=["vision"]),
        QWEN3_VL_32B: ModelConfig(display_name="Qwen3-VL-32B-Instruct", base_url=SELF_HOSTED_BASE_URLS[QWEN3_VL_32B],
                                  model=QWEN3_VL_32B, modalities=["vision"]),
    }


class PoolConfig(BaseModel):
    """Which models may serve which step (§3.4, Appendix A.4)."""

    model_config = ConfigDict(extra="forbid")

    max_error_rate: float = Field(default=ELIGIBILITY_MAX_ERROR_RATE, ge=0, le=1)
    audit_size: int = Field(default=AUDIT_SAMPLE_SIZE, ge=1)
    verdicts: Literal["paper", "audited"] = Field(
        default="paper",
        description="'paper': Table 8's published verdicts; 'audited': only this workspace's expert audits",
    )
    seed: int = Field(default=0, description="seed of the per-instance model draw")
    overrides: dict[str, list[str]] = Field(
        default_factory=dict, description="step -> models to use regardless of audits (your own decision)"
    )
