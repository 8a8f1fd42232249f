"""An offline moderation backend for machines without a key: NudeNet's ONNX detector, weights in its wheel.

`pip install 'videokr[safety]'` brings `nudenet` (3.x), whose wheel carries its detector
(`320n.onnx`, 12 MB) next to its code, and ONNX Runtime to run it on the CPU: nothing is
downloaded when the step runs, so it works with no network at all. It detects exposed and
covered body parts and faces; a frame's score for a label is the detector's highest
confidence for that label (0 when it found none; the detector reports nothing under 0.2).
By default only exposed sexual body parts flag a frame (`categories.NUDENET_UNSAFE_LABELS`).

It is narrower than the paper's Azure moderation (nudity only: no violence, hate or
self-harm); use it where no moderation service can be reached, and say so in what you publish.
"""

from __future__ import annotations

import asyncio
from importlib import metadata
from pathlib import Path
from typing import Any

from videokr.safety.backend import Backend, SafetyConfigError
from videokr.safety.cache import ReplyCache
from videokr.safety.categories import NUDENET_LABELS
from videokr.safety.frames import ModerationFrame
from videokr.store import Store

WEIGHTS_FILE = "320n.onnx"  # the detector shipped inside the nudenet wheel
INSTALL_HINT = "pip install 'videokr[safety]'"


def packaged_weights() -> Path:
    """The detector's weights inside the installed package; SafetyConfigError if they are not there."""
    try:
        import nudenet
    except ImportError:
        raise SafetyConfigError(f"safety backend offline needs the nudenet package: {INSTALL_HINT}") from None
    path = Path(nudenet.__file__).parent / WEIGHTS_FILE
    if not path.is_file():
        raise SafetyConfigError(f"safety backend offline: the installed nudenet has no {WEIGHTS_FILE} "
                                f"beside its code ({path.parent}); reinstall it: {INSTALL_HINT}")
    return path


def detector_version() -> str:
    try:
        return metadata.version("nudenet")
    except metadata.PackageNotFoundError:
        return "not-installed"


def label_scores(detections: list[dict[str, Any]]) -> dict[str, float]:
    """label -> the highest confidence among the detections of that label."""
    scores: dict[str, float] = {}
    for found in detections:
        label, score = str(found["class"]), float(found["score"])
        scores[label] = max(scores.get(label, 0.0), round(score, 6))
    return dict(sorted(scores.items()))


class OfflineBackend(Backend):
    name = "offline"

    def __init__(self, *, step: str = "safety", step_version: str = "1") -> None:
        self.step, self.step_version = step, step_version
        self._detector: Any = None
        self.cache: ReplyCache | None = None
        self.runs = 0  # frames the detector ran on in this process (not answered from the cache)

    @property
    def model(self) -> str:
        return f"nudenet-{detector_version()}-{WEIGHTS_FILE.removesuffix('.onnx')}"

    async def open(self, store: Store | None) -> None:
        weights = packaged_weights()
        from nudenet import NudeDetector
        from nudenet import nudenet as module

        labels = getattr(module, "__labels", None)
        if labels is not None and tuple(labels) != NUDENET_LABELS:
            raise SafetyConfigError(f"safety backend offline: nudenet {detector_version()} has other labels "
                                    f"than this videokr knows; install nudenet 3.4 ({INSTALL_HINT})")
        self._detector = await asyncio.to_thread(NudeDetector, str(weights))
        self.cache = ReplyCache(store, step=self.step, step_version=self.step_version)

    async def close(self) -> None:
        if self.cache is not None:
            self.cache.release()
        self._detector = None

    async def score(self, frame: ModerationFrame) -> dict[str, float]:
        assert self.cache is not None and self._detector is not None, "open() first"
        request = {"backend": self.name, "image_sha256": frame.sha256, "bytes": len(frame.jpeg)}
        reply = await self.cache.get_or_send(self.label, request, lambda: self._detect(frame.jpeg))
        return {str(k): float(v) for k, v in reply["scores"].items()}

    async def _detect(self, jpeg: bytes) -> dict[str, Any]:
        # The detector decodes the bytes itself (BGR, as it was trained on files read from disk).
        detections = await asyncio.to_thread(self._detector.detect, jpeg)
        self.runs += 1
        return {"scores": label_scores(detections)}
