"""The settings of `videokr train sft`: the `train.sft` section of `videokr.yaml`.

Every number the paper fixes for SFT (§5.1, Appendix C.1) is a named constant here and the
default of :class:`SFTConfig`, so a run without a section trains as the paper did; a user
changes one by writing YAML (or a command-line option), never by editing code. Settings the
paper leaves open default to LLaMA-Factory's, the trainer the released checkpoints came from.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from videokr.video.budget import PAPER_MAX_FRAMES, PAPER_MAX_VIDEO_TOKENS, PRESETS

# -- the paper's SFT settings (§5.1, Appendix C.1) ------------------------------------------
PAPER_SFT_EPOCHS = 1
PAPER_SFT_GLOBAL_BATCH = 32
PAPER_SFT_LR = 1e-5
PAPER_SFT_OPTIMIZER = "adamw"
PAPER_SFT_SCHEDULE = "cosine"
PAPER_SFT_WARMUP_RATIO = 0.02
PAPER_SFT_PRECISION = "bf16"
PAPER_FREEZE_VISION_TOWER = True
PAPER_FREEZE_PROJECTOR = True  # the merger that maps vision features into the language model
PAPER_SFT_MAX_FRAMES = PAPER_MAX_FRAMES  # 128: the video layer's paper budget, which `paper` selects
PAPER_SFT_MAX_VIDEO_TOKENS = PAPER_MAX_VIDEO_TOKENS  # 4,096
PAPER_VIDEO_BUDGET = "paper"  # the family's paper preset: ≤ 128 frames, ≤ 4,096 video tokens
# the official release's setting, by name: 128·28·28 pixels a frame (8,192 tokens at 128 frames)
RELEASE_VIDEO_BUDGET = "release"

# -- settings the paper leaves open: LLaMA-Factory's (and transformers') defaults -----------
SFT_MICRO_BATCH = 1  # examples per device per forward; accumulation makes up the global batch
SFT_WEIGHT_DECAY = 0.0
SFT_ADAM_BETAS = (0.9, 0.999)
SFT_ADAM_EPS = 1e-8
SFT_MAX_GRAD_NORM = 1.0
SFT_GRADIENT_CHECKPOINTING = True  # LLaMA-Factory turns it on unless told not to
# torch.compile each decoder layer and vision block (fuses norms, rotary, activations): "auto" compiles
# on a CUDA device unless the run is sharded by FSDP (not measured there), never on a CPU
SFT_COMPILE = "auto"
SFT_PACKING = False  # micro-batches padded to their longest row (packing: one row, no padding; see train/packing.py)
SFT_SAVE_STEPS = 500
SFT_KEEP_CHECKPOINTS = 1
SFT_LOGGING_STEPS = 1
SFT_SEED = 42
SFT_DATA_WORKERS = 4  # threads decoding the next examples' frames while the model trains

Precision = Literal["bf16", "fp16", "fp32"]


class SFTConfig(BaseModel):
    """`train.sft` in `videokr.yaml`; command-line options override single keys."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(default=None, description="checkpoint directory to start from (or --model)")
    out: str | None = Field(default=None, description="output directory, relative to the workspace (or --out)")
    epochs: int = Field(default=PAPER_SFT_EPOCHS, ge=1)
    max_steps: int | None = Field(default=None, ge=1,
                                  description="stop after this many optimizer steps (the schedule follows it)")
    global_batch: int = Field(default=PAPER_SFT_GLOBAL_BATCH, ge=1,
                              description="examples per optimizer step, over all devices")
    micro_batch: int = Field(default=SFT_MICRO_BATCH, ge=1, description="examples per device per forward pass")
    lr: float = Field(default=PAPER_SFT_LR, gt=0)
    optimizer: Literal["adamw"] = PAPER_SFT_OPTIMIZER
    weight_decay: float = Field(default=SFT_WEIGHT_DECAY, ge=0)
    adam_betas: tuple[float, float] = SFT_ADAM_BETAS
    adam_eps: float = Field(default=SFT_ADAM_EPS, gt=0)
    max_grad_norm: float = Field(default=SFT_MAX_GRAD_NORM, ge=0, description="0: no clipping")
    schedule: Literal["cosine"] = PAPER_SFT_SCHEDULE
    warmup_ratio: float = Field(default=PAPER_SFT_WARMUP_RATIO, ge=0, le=1)
    precision: Precision = PAPER_SFT_PRECISION
    freeze_vision_tower: bool = PAPER_FREEZE_VISION_TOWER
    freeze_projector: bool = PAPER_FREEZE_PROJECTOR
    gradient_checkpointing: bool = SFT_GRADIENT_CHECKPOINTING
    compile: Literal["auto"] | bool = Field(
        default=SFT_COMPILE, description="torch.compile each layer (auto: on a CUDA device without FSDP; "
                                         "the first steps compile)")
    packing: bool = Field(default=SFT_PACKING, description="each micro-batch as one packed row: no padding, "
                                                           "no attention across examples")
    video_budget: str = Field(default=PAPER_VIDEO_BUDGET,
                              description="paper (by model family), or a preset of videokr.video.budget")
    max_frames: int | None = Field(default=None, ge=2, description="override the budget's frame cap")
    max_video_tokens: int | None = Field(default=None, ge=1, description="override the budget's video-token cap")
    max_length: int | None = Field(default=None, ge=16,
                                   description="cap on prompt + response tokens; the response is cut")
    save_steps: int = Field(default=SFT_SAVE_STEPS, ge=1)
    keep_checkpoints: int = Field(default=SFT_KEEP_CHECKPOINTS, ge=1)
    logging_steps: int = Field(default=SFT_LOGGING_STEPS, ge=1)
    seed: int = SFT_SEED
    data_workers: int = Field(default=SFT_DATA_WORKERS, ge=0, description="0: decode in the training loop")

    @field_validator("video_budget")
    @classmethod
    def _known_budget(cls, name: str) -> str:
        known = (PAPER_VIDEO_BUDGET, *PRESETS)
        if name not in known:
            raise ValueError(f"must be one of {', '.join(known)}, not {name!r}")
        return name


def compile_layers_for(setting: Literal["auto"] | bool, device_type: str, sharded: bool) -> bool:
    """Whether to compile the layers: ``compile: auto`` on a CUDA device when FSDP does not shard the model
    (1.25× the eager step at 8B on an H200, docs/training.md); ``true``/``false`` as said."""
    if setting == "auto":
        return device_type == "cuda" and not sharded
    return bool(setting)


# The sections `train:` may hold, by name; each is validated by its own type.
def _sections() -> dict[str, type[BaseModel]]:
    from videokr.train.grpo_config import GRPOConfig

    return {"sft": SFTConfig, "grpo": GRPOConfig}


SECTIONS: dict[str, type[BaseModel]] = _sections()
