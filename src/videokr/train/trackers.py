"""Where training metrics go besides ``OUT/metrics.jsonl``: TensorBoard, and Weights & Biases.

Both through accelerate's trackers. TensorBoard when it is installed (the ``train`` extra installs
it), under ``OUT/tensorboard``. W&B only when it is installed *and* configured — an API key
(``WANDB_API_KEY``) or ``WANDB_MODE`` set (``offline`` included) — because an installed but
unconfigured W&B would stop a run to ask for a login; ``WANDB_PROJECT`` names its project
(default ``videokr``) and the run is named after the output folder.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

TRACKER_PROJECT = "videokr"
TENSORBOARD_DIR = "tensorboard"


def available_trackers() -> list[str]:
    """The trackers this run reports to (empty: metrics.jsonl only)."""
    try:
        from accelerate.utils import is_tensorboard_available, is_wandb_available
    except ImportError:
        return []
    found = ["tensorboard"] if is_tensorboard_available() else []
    if is_wandb_available() and (os.environ.get("WANDB_API_KEY") or os.environ.get("WANDB_MODE")):
        found.append("wandb")
    return found


def accelerator_options(out: Path) -> dict[str, Any]:
    """``Accelerator(**accelerator_options(out))``: the trackers, and TensorBoard's folder in ``out``."""
    from accelerate.utils import ProjectConfiguration

    trackers = available_trackers()
    return {"log_with": trackers or None,
            "project_config": ProjectConfiguration(project_dir=str(out), logging_dir=str(out / TENSORBOARD_DIR))}


def start_trackers(accelerator: Any, out: Path, settings: dict[str, Any]) -> None:
    """Open the trackers with the run's scalar settings (W&B: project from WANDB_PROJECT, run named after ``out``)."""
    if not accelerator.log_with:
        return
    scalars = {k: v for k, v in settings.items() if isinstance(v, (int, float, str, bool))}
    accelerator.init_trackers(os.environ.get("WANDB_PROJECT") or TRACKER_PROJECT, config=scalars,
                              init_kwargs={"wandb": {"name": out.name}})


def log_metrics(accelerator: Any, metrics: dict[str, Any]) -> None:
    """A step's numeric metrics to the trackers (a no-op without any)."""
    if accelerator.log_with:
        accelerator.log({k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
                         and k != "step"}, step=metrics["step"])
