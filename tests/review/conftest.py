"""The review app's fixtures: one real workspace with every queue filled, shared by the app's tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.review.world import build_world


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    with pytest.MonkeyPatch.context() as patch:
        return build_world(tmp_path_factory.mktemp("review-world"), patch)
