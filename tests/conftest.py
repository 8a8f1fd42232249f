"""Shared fixtures: workspaces in temporary directories and the bundled sample."""

from __future__ import annotations

from pathlib import Path

import pytest

from videokr.demo import sample_dir
from videokr.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "videokr.sqlite")


@pytest.fixture(scope="session")
def sample() -> Path:
    return sample_dir()


@pytest.fixture(autouse=True)
def _offline(monkeypatch, tmp_path_factory):
    """No test reaches a hub; library caches go to a temporary directory."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path_factory.getbasetemp() / "hf-home"))
