from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from videokr.models.config import Limits, ModelConfig
from videokr.testing import TestServer
from videokr.store import Store


@pytest.fixture
def server() -> Iterator[TestServer]:
    with TestServer() as running:
        yield running


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "videokr.sqlite")


def fast_model(server: TestServer, **limits: object) -> ModelConfig:
    """A model on the test server with test-sized timeouts and backoff."""
    settings = dict(concurrency=16, timeout_s=0.5, backoff_base_s=0.01, backoff_max_s=0.2, max_attempts=8)
    settings.update(limits)
    return ModelConfig(base_url=server.base_url, model="test-model", limits=Limits(**settings))


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]
