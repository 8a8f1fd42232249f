"""What every moderation backend does: score one frame, per category, on its own scale.

A backend is opened once per run (`open`, where missing settings fail with a message that
names the environment variable), scores frames (`score`), and is closed (`close`). It never
decides: the scores go to the `safety` step, which compares them with the thresholds, so a
changed threshold re-decides from stored scores.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

from videokr.safety.frames import ModerationFrame
from videokr.store import Store


class SafetyConfigError(ValueError):
    """A backend that cannot run here: a missing environment variable, package or model entry.

    The message names what to set; it never contains a key."""


class Backend(ABC):
    name: ClassVar[str]

    @property
    @abstractmethod
    def model(self) -> str:
        """Which classifier answers (name and version): part of the cache key and of `SafetyCheck.backend`."""

    async def open(self, store: Store | None) -> None:
        """Check the settings and connect; raise `SafetyConfigError` naming what is missing."""

    async def close(self) -> None:
        """Release connections and claims."""

    @abstractmethod
    async def score(self, frame: ModerationFrame) -> dict[str, float]:
        """category -> score for one frame. Raises `Verdict` if the service refuses this image,
        `Transient` for a failure that says nothing about it (after the backend's retries)."""

    @property
    def label(self) -> str:
        """`backend:model`, as `SafetyCheck.backend` records it."""
        return f"{self.name}:{self.model}"
