"""Safety moderation of §3.2: four random frames of a video, scored by one of three backends.

- `azure` (the paper's choice): Azure AI Content Safety's image analysis, severities 0/2/4/6
  for Hate, SelfHarm, Sexual and Violence (`azure.py`);
- `openai`: omni-moderation through the model door (`openai_moderation.py`), per-category probabilities;
- `offline`: a detector whose weights ship inside its wheel (`offline.py`), for machines
  that cannot reach a moderation service.

Backends only score; `categories.py` holds each backend's categories and default thresholds
and decides, so a changed threshold re-decides from stored scores. The `safety` step
(`videokr.steps.safety`) draws the frames (`frames.py`) and keeps the scores.
"""

from __future__ import annotations

from typing import Any, Literal

BackendName = Literal["azure", "openai", "offline"]
BACKENDS: tuple[str, ...] = ("azure", "openai", "offline")


def make_backend(name: str, *, models: dict[str, Any] | None = None, model_name: str | None = None,
                 step: str = "safety", step_version: str = "1", dry_run: bool = False) -> Any:
    """A backend, not yet opened (`await backend.open(store)` checks its settings)."""
    if name == "azure":
        from videokr.safety.azure import AzureBackend

        return AzureBackend(step=step, step_version=step_version)
    if name == "openai":
        from videokr.safety.openai_moderation import DEFAULT_MODEL_NAME, OpenAIBackend

        return OpenAIBackend(models, model_name=model_name or DEFAULT_MODEL_NAME, step=step,
                             step_version=step_version, dry_run=dry_run)
    if name == "offline":
        from videokr.safety.offline import OfflineBackend

        return OfflineBackend(step=step, step_version=step_version)
    raise ValueError(f"unknown safety backend {name!r}; backends: {', '.join(BACKENDS)}")
