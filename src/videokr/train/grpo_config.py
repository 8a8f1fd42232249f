"""The GRPO settings of §5.1 and Appendix C.1, as named constants and one typed section.

Every number the paper fixes for the RL stage is a constant here, and :class:`GRPOConfig` (the
``train.grpo`` section of ``videokr.yaml``) holds them as defaults, so a user changes a setting
by writing YAML and never by editing code. This module needs only pydantic — reading or checking
a workspace's settings must not require torch; :mod:`videokr.train.grpo_math` imports these
constants from here, so the loss and the configuration cannot disagree on a default.

Settings the paper does not state follow verl's defaults (the trainer the official release
uses), and say so: the clip range, the advantage epsilon, the unbiased standard deviation and
the ``token-mean`` loss aggregation.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from videokr.scoring.reward import DEFAULT_MODE, Mode

# --- the paper's settings (§5.1, Appendix C.1) -------------------------------------------------

GROUP_SIZE = 8
"""Responses sampled per prompt; the advantage is computed within each such group."""
TEMPERATURE = 1.0
"""Sampling temperature of the rollouts (log-probabilities are taken at the same temperature)."""
KL_COEF = 0.01
"""Weight of the KL term against the reference (SFT) policy in the loss."""
KL_ESTIMATOR: Literal["k3"] = "k3"
"""The low-variance estimator exp(ref - logp) - (ref - logp) - 1 (verl's ``low_var_kl``)."""
LR = 5e-6
"""Learning rate of the policy."""
BATCH_PROMPTS = 32
"""Prompts per training batch (each sampled ``GROUP_SIZE`` times)."""
EPOCHS = 1
"""Passes over the RL set."""
MAX_RESPONSE_TOKENS = 2048
"""Longest response a rollout may generate."""

# --- settings the paper leaves to the trainer (verl's defaults) -------------------------------

CLIP_EPS = 0.2
"""PPO/GRPO clip range ε of the importance ratio (GRPO paper; verl ``clip_ratio``)."""
ADV_EPS = 1e-6
"""Added to the group's standard deviation before dividing (verl ``epsilon``)."""
K3_CLAMP = 10.0
"""The k3 estimate is clamped to [-K3_CLAMP, K3_CLAMP] per token, as verl does, for stability."""
ADV_STD: Literal["unbiased"] = "unbiased"
"""verl's ``compute_grpo_outcome_advantage`` uses ``torch.std``: Bessel-corrected (n - 1)."""
LOSS_AGG: Literal["token-mean"] = "token-mean"
"""verl's default ``loss_agg_mode``: every response token of the batch weighs the same."""

# --- run settings the paper does not fix: SFT's where SFT has the same setting ------------------

SEED = 42
SAVE_STEPS = 50
KEEP_CHECKPOINTS = 1
RECOMPUTE_PROMPT = False
"""Keep the prompt pass's activations (fastest); ``True`` trades one more prompt forward for the memory
an 8B policy needs beside its reference and optimizer state on one GPU."""
PRECISION: Literal["fp32"] = "fp32"
"""float32 weights by default (a CPU's or a small model's choice); ``bf16`` for 7B/8B on a GPU."""

StdKind = Literal["unbiased", "population"]
KLEstimator = Literal["k1", "k3"]
LossAgg = Literal["token-mean", "seq-mean-token-mean"]

SECTION = "train.grpo"


class GRPOConfig(BaseModel):
    """The ``train.grpo`` section: the paper's GRPO run unless a key says otherwise."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    group_size: int = Field(default=GROUP_SIZE, ge=2, description="responses per prompt (a group needs two to compare)")
    temperature: float = Field(default=TEMPERATURE, gt=0, description="rollout sampling temperature")
    kl_coef: float = Field(default=KL_COEF, ge=0, description="weight of the KL term; 0 drops the reference policy")
    kl_estimator: KLEstimator = Field(default=KL_ESTIMATOR, description="k3 (low-variance, the paper's) or k1")
    lr: float = Field(default=LR, gt=0, description="policy learning rate")
    batch_prompts: int = Field(default=BATCH_PROMPTS, ge=1, description="prompts per batch")
    epochs: int = Field(default=EPOCHS, ge=1, description="passes over the RL set")
    max_response_tokens: int = Field(default=MAX_RESPONSE_TOKENS, ge=1, description="longest rollout response")
    clip_eps: float = Field(default=CLIP_EPS, gt=0, lt=1, description="clip range of the importance ratio")
    adv_std: StdKind = Field(default=ADV_STD, description="group std: unbiased (n-1, verl) or population (n)")
    adv_eps: float = Field(default=ADV_EPS, gt=0, description="added to the group std before dividing")
    scale_by_std: bool = Field(default=True, description="divide advantages by the group std (False: Dr. GRPO)")
    loss_agg: LossAgg = Field(default=LOSS_AGG, description="token-mean (verl's default) or seq-mean-token-mean")
    reward_mode: Mode = Field(default=DEFAULT_MODE, description="videokr.scoring.reward mode: official or strict")

    # how to run (the SFT settings where SFT has the same one: vision tower and projector frozen, the
    # paper's video budget, AdamW's betas/eps, clipping at 1.0)
    model: str | None = Field(default=None, description="checkpoint to start from (or --model)")
    out: str | None = Field(default=None, description="output directory, relative to the workspace (or --out)")
    max_steps: int | None = Field(default=None, ge=1, description="stop after this many steps")
    seed: int = Field(default=SEED, description="data order and rollout sampling seed")
    save_steps: int = Field(default=SAVE_STEPS, ge=1)
    keep_checkpoints: int = Field(default=KEEP_CHECKPOINTS, ge=1)
    freeze_vision_tower: bool = True
    freeze_projector: bool = True
    video_budget: str = Field(default="paper", description="paper (by model family), or a preset of videokr.video.budget")
    max_frames: int | None = Field(default=None, ge=2)
    max_video_tokens: int | None = Field(default=None, ge=1)
    weight_decay: float = Field(default=0.0, ge=0)
    adam_betas: tuple[float, float] = (0.9, 0.999)
    adam_eps: float = Field(default=1e-8, gt=0)
    max_grad_norm: float = Field(default=1.0, ge=0, description="0: no clipping")
    precision: Literal["fp32", "bf16"] = Field(default=PRECISION, description="fp32, or bf16 weights (GPU)")
    rollout_rows: int | None = Field(default=None, ge=1, description="rollouts decoded together (None: by memory)")
    recompute_prompt: bool = Field(
        default=RECOMPUTE_PROMPT,
        description="run each prompt pass again after its responses' backward instead of keeping its activations")
    save_rollouts: bool = Field(default=False, description="every response with its reward in OUT/rollouts.jsonl")
    zero_rl: bool = Field(default=False, description="recorded only: the run starts from an instruct model")

    RUN_ONLY: ClassVar[frozenset[str]] = frozenset(
        {"model", "out", "max_steps", "save_steps", "keep_checkpoints", "rollout_rows", "save_rollouts", "zero_rl",
         "recompute_prompt"})
    """Settings a resumed run may change: they do not change what is trained."""

    def recipe(self) -> dict[str, Any]:
        """What the data order, the rollouts and the update depend on (a resumed run must match it)."""
        return self.model_dump(mode="json", exclude=set(self.RUN_ONLY))

    @property
    def rollouts_per_batch(self) -> int:
        """Responses scored per batch: prompts × group size (256 in the paper)."""
        return self.batch_prompts * self.group_size

    @classmethod
    def from_section(cls, data: Mapping[str, Any] | None) -> "GRPOConfig":
        """Validate the ``train.grpo`` mapping of ``videokr.yaml``; errors name ``train.grpo.<key>``.

        A misspelt key must be an error that names it, never a silent fall-back to a default.
        """
        try:
            return cls.model_validate(dict(data or {}))
        except ValidationError as exc:
            problems = []
            for err in exc.errors():
                where = ".".join(str(p) for p in err["loc"])
                problems.append(f"{SECTION}.{where}: {err['msg']}" if where else f"{SECTION}: {err['msg']}")
            raise ValueError("; ".join(problems)) from None
