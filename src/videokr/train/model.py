"""The model side of training: load a Qwen2.5-VL / Qwen3-VL checkpoint, freeze its vision part,
hand the optimizer what it trains.

The paper trains the language model and keeps the vision tower and the projector (the
merger that maps patch features into the language model; for Qwen3-VL also the deepstack
mergers) frozen (§5.1). Both families keep all of that under one ``visual`` module, which is
how it is found here, so one rule serves both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

PROJECTOR_NAMES = ("merger", "deepstack_merger_list")  # under `visual`: Qwen2.5-VL has the first, Qwen3-VL both


class ModelError(RuntimeError):
    """A checkpoint that cannot be trained here (the message says why)."""


def load_model(path: Path, dtype: Any = None) -> Any:
    """The checkpoint's model, weights in ``dtype`` (float32 master weights by default), its vision
    tower attending all frame groups of a length in one call (:mod:`videokr.inference.vision_attention`:
    the same results; 0.162 → 0.049 s for the vision forward of a 128-frame example at 8B on an H200)."""
    import torch
    from transformers import AutoModelForImageTextToText

    from videokr.inference.vision_attention import batch_vision_attention

    try:
        model = AutoModelForImageTextToText.from_pretrained(str(path), dtype=dtype or torch.float32)
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(f"{path}: cannot load a vision-language model: {exc}") from None
    batch_vision_attention(model)
    return model


def load_processor(path: Path) -> Any:
    """The checkpoint's processor; its tokenizer where the processor cannot load (no torchvision)."""
    from transformers import AutoProcessor, AutoTokenizer

    try:
        return AutoProcessor.from_pretrained(str(path))
    except (ImportError, OSError, ValueError, TypeError):
        return AutoTokenizer.from_pretrained(str(path))


def saved_dtype(path: Path) -> Any:
    """The dtype the checkpoint's weights are stored in (the trained model is saved in it too)."""
    import torch
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(str(path))
    value = getattr(config, "dtype", None) or getattr(config, "torch_dtype", None)
    if isinstance(value, str):
        value = getattr(torch, value, None)
    return value if isinstance(value, torch.dtype) else torch.float32


def vision_module(model: Any) -> Any:
    """The model's ``visual`` module (vision tower and projector)."""
    for owner in (getattr(model, "model", None), model):
        visual = getattr(owner, "visual", None) if owner is not None else None
        if visual is not None:
            return visual
    raise ModelError(f"{type(model).__name__} has no `visual` module: not a Qwen2.5-VL or Qwen3-VL model")


def freeze_vision(model: Any, *, tower: bool, projector: bool) -> dict[str, int]:
    """Freeze the vision tower and/or the projector; returns parameter counts by part."""
    counts = {"vision_tower": 0, "projector": 0}
    for name, param in vision_module(model).named_parameters():
        part = "projector" if name.split(".")[0] in PROJECTOR_NAMES else "vision_tower"
        counts[part] += param.numel()
        if (tower and part == "vision_tower") or (projector and part == "projector"):
            param.requires_grad_(False)
    return counts


def parameter_groups(model: Any, weight_decay: float) -> list[dict[str, Any]]:
    """The trainable parameters, with no decay on biases and norms (one-dimensional tensors)."""
    decayed, plain = [], []
    for param in model.parameters():
        if not param.requires_grad:
            continue
        (decayed if param.ndim >= 2 and weight_decay > 0 else plain).append(param)
    groups = [{"params": decayed, "weight_decay": weight_decay}] if decayed else []
    if plain:
        groups.append({"params": plain, "weight_decay": 0.0})
    return groups


def parameter_counts(model: Any) -> tuple[int, int]:
    """(trainable, total) parameters."""
    total = trainable = 0
    for param in model.parameters():
        total += param.numel()
        trainable += param.numel() if param.requires_grad else 0
    return trainable, total


def enable_checkpointing(model: Any) -> None:
    """Recompute layer activations in the backward pass instead of keeping them (memory for time).

    Non-reentrant checkpointing: gradients reach the language model's layers even though
    the frozen vision part hands them inputs that need none."""
    kwargs = {"use_reentrant": False}
    if hasattr(model, "activation_checkpointing_enable"):  # transformers ≥ 5.2x; the old name warns there
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
