"""The paper's SFT settings (§5.1, Appendix C.1) are the defaults, and `train.sft` is typed."""

from __future__ import annotations

from pathlib import Path

import pytest

from videokr.config import ConfigError, load_config
from videokr.train import config as train_config
from videokr.train.config import SFTConfig
from videokr.video import budget


def test_paper_constants() -> None:
    assert train_config.PAPER_SFT_EPOCHS == 1
    assert train_config.PAPER_SFT_GLOBAL_BATCH == 32
    assert train_config.PAPER_SFT_LR == 1e-5
    assert train_config.PAPER_SFT_OPTIMIZER == "adamw"
    assert train_config.PAPER_SFT_SCHEDULE == "cosine"
    assert train_config.PAPER_SFT_WARMUP_RATIO == 0.02
    assert train_config.PAPER_SFT_PRECISION == "bf16"
    assert train_config.PAPER_FREEZE_VISION_TOWER is True
    assert train_config.PAPER_FREEZE_PROJECTOR is True
    assert (budget.PAPER_MAX_FRAMES, budget.PAPER_MAX_VIDEO_TOKENS) == (128, 4096)
    assert (train_config.PAPER_SFT_MAX_FRAMES, train_config.PAPER_SFT_MAX_VIDEO_TOKENS) == (128, 4096)
    assert train_config.PAPER_VIDEO_BUDGET == "paper"
    assert train_config.RELEASE_VIDEO_BUDGET == "release" and train_config.RELEASE_VIDEO_BUDGET in budget.PRESETS


def test_defaults_are_the_paper_settings() -> None:
    config = SFTConfig()
    assert (config.epochs, config.global_batch, config.lr) == (1, 32, 1e-5)
    assert (config.optimizer, config.schedule, config.warmup_ratio, config.precision) == ("adamw", "cosine", 0.02, "bf16")
    assert config.freeze_vision_tower and config.freeze_projector
    assert config.video_budget == "paper" and config.max_frames is None and config.max_video_tokens is None
    assert config.max_steps is None  # a full epoch unless told otherwise


def test_paper_budget_follows_the_model_family() -> None:
    from transformers import Qwen2_5_VLConfig, Qwen3VLConfig

    from videokr.train.data import training_budget

    qwen25, qwen3 = Qwen2_5_VLConfig(), Qwen3VLConfig()  # the released models' vision settings
    for config, preset in ((qwen25, budget.PAPER_QWEN2_5_VL), (qwen3, budget.PAPER_QWEN3_VL)):
        chosen = training_budget("paper", config)
        assert chosen == preset
        assert (chosen.max_frames, chosen.max_video_tokens) == (128, 4096)
    release = training_budget("release", qwen25)
    assert release == budget.RELEASE and release.max_video_tokens is None
    assert training_budget("release", qwen3).patch_size == 16  # the patch always follows the model
    small = training_budget("paper", qwen25, max_frames=8, max_video_tokens=64)
    assert (small.max_frames, small.max_video_tokens) == (8, 64)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "videokr.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_train_section_is_validated_by_its_type(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, "train:\n  sft: {lr: 2.0e-5, global_batch: 64, video_budget: release}\n"))
    sft = config.train["sft"]
    assert isinstance(sft, SFTConfig) and (sft.lr, sft.global_batch, sft.video_budget) == (2e-5, 64, "release")
    assert sft.warmup_ratio == 0.02  # unnamed keys keep the paper's values
    assert load_config(_write(tmp_path, "recipe: [import]\n")).train == {}


@pytest.mark.parametrize("text,message", [
    ("train:\n  sft: {learning_rate: 1.0e-5}\n", "train.sft.learning_rate: Extra inputs are not permitted"),
    ("train:\n  sft: {lr: -1}\n", "train.sft.lr: Input should be greater than 0"),
    ("train:\n  sft: {video_budget: huge}\n",
     "train.sft.video_budget: must be one of paper, paper-qwen2.5-vl, paper-qwen3-vl, release"),
    ("train:\n  sdf: {}\n", "train.sdf: unknown training section; known: sft"),
])
def test_train_section_errors_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(_write(tmp_path, text))
    assert message in str(err.value)


def test_root_config_does_not_import_training_at_load() -> None:
    import subprocess
    import sys

    code = "import sys, videokr.config; print(any(m.startswith('videokr.train') for m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


def test_speed_settings_default_to_what_users_get_today() -> None:
    """Recomputation on (LLaMA-Factory's default), compilation where it was measured to pay; GRPO in fp32
    with rollout rows sized by memory unless asked."""
    from videokr.train.config import SFT_COMPILE, SFT_GRADIENT_CHECKPOINTING
    from videokr.train.grpo import ROLLOUT_MEMORY_SHARE
    from videokr.train.grpo_config import GRPOConfig

    assert (SFT_GRADIENT_CHECKPOINTING, SFT_COMPILE) == (True, "auto")
    config = SFTConfig()
    assert (config.gradient_checkpointing, config.compile) == (True, "auto")
    assert SFTConfig(compile=True, gradient_checkpointing=False).compile is True
    assert SFTConfig.model_validate({"compile": False}).compile is False
    grpo = GRPOConfig()
    assert (grpo.precision, grpo.rollout_rows) == ("fp32", None) and ROLLOUT_MEMORY_SHARE == 0.5
    assert (grpo.seed, grpo.save_steps, grpo.keep_checkpoints, grpo.video_budget) == (42, 50, 1, "paper")
    assert grpo.freeze_vision_tower and grpo.freeze_projector  # as in SFT
    assert "save_steps" not in grpo.recipe() and grpo.recipe()["group_size"] == 8  # run-only settings may change
    from videokr.train.grpo_config import RECOMPUTE_PROMPT

    assert RECOMPUTE_PROMPT is False and grpo.recompute_prompt is False and "recompute_prompt" not in grpo.recipe()


def test_weights_and_biases_joins_only_when_configured(monkeypatch) -> None:
    """An installed but unconfigured W&B would stop a run for a login: it is used only with a key or a mode."""
    from accelerate.utils import is_tensorboard_available, is_wandb_available

    from videokr.train import trackers

    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    assert "wandb" not in trackers.available_trackers()
    assert ("tensorboard" in trackers.available_trackers()) == bool(is_tensorboard_available())
    monkeypatch.setenv("WANDB_MODE", "offline")
    assert ("wandb" in trackers.available_trackers()) == bool(is_wandb_available())


def test_compile_auto_means_a_cuda_device_without_fsdp() -> None:
    from videokr.train.config import compile_layers_for

    assert compile_layers_for("auto", "cuda", sharded=False)
    assert not compile_layers_for("auto", "cuda", sharded=True)
    assert not compile_layers_for("auto", "cpu", sharded=False)
    assert compile_layers_for(True, "cpu", sharded=True) and not compile_layers_for(False, "cuda", sharded=False)
    with pytest.raises(ValueError):
        SFTConfig.model_validate({"compile": "sometimes"})
