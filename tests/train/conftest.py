"""Shared, built once per session: the colour-task workspace and tiny checkpoints on disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from videokr.sets import live_set
from videokr.train.config import SFTConfig
from videokr.workspace import Workspace

from .colour_task import colour_workspace
from videokr.testing.tiny_models import FAMILIES, save_tiny_checkpoint


@pytest.fixture(scope="session")
def colour_ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return colour_workspace(tmp_path_factory.mktemp("colour"))


@pytest.fixture(scope="session")
def colour_examples(colour_ws: Workspace) -> list:
    examples = live_set(colour_ws.store, "sft")
    assert len(examples) == 12
    return examples


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("checkpoints")
    return {family: save_tiny_checkpoint(family, root / family) for family in FAMILIES}


def fast_config(**overrides: object) -> SFTConfig:
    """Small batches and videos, fp32, for CPU runs of seconds (the paper's values otherwise)."""
    settings: dict = dict(global_batch=6, micro_batch=6, max_frames=4, max_video_tokens=64, precision="fp32",
                          gradient_checkpointing=False, data_workers=1, save_steps=1000)
    settings.update(overrides)
    return SFTConfig(**settings)
