"""Sequence packing for SFT: several examples in one row, with no padding and no attention across them.

A micro-batch of padded rows spends work on padding in proportion to the spread of lengths;
packed, the examples are laid end to end in one row. Each example keeps the positions it has
alone: its multimodal RoPE indices (temporal, height, width — computed by the model's own
``get_rope_index`` on the example by itself) and a text position that starts again at 0. The
text positions go first, as the fourth row of ``position_ids`` (the layout transformers' Qwen-VL
models read: ``[text; t; h; w]``), and with no ``attention_mask`` transformers derives a
block-diagonal causal mask from them — a token attends only to earlier tokens of its own
example. Video inputs are concatenated in order, as for a batch.

The loss needs no change: every example starts with masked prompt tokens, so the position where
one example ends and the next begins predicts nothing, and :func:`videokr.train.loss.forward_loss_sum`
takes logits exactly where a response token is predicted. The packed loss equals the sum of the
examples' own losses (tested on both architectures).
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

from videokr.inference.qwen_video import IGNORE_INDEX, VIDEO_INPUT_KEYS

_ROPE_INPUTS = ("input_ids", "mm_token_type_ids", "image_grid_thw", "video_grid_thw", "second_per_grid_ts",
                "attention_mask")


def rope_positions(model: Any, row: dict[str, Any]) -> Any:
    """One example's (4, 1, L) position ids: text positions 0…L-1, then its multimodal RoPE indices."""
    import torch

    core = getattr(model, "model", model)
    wanted = inspect.signature(core.get_rope_index).parameters
    given = {k: row[k] for k in _ROPE_INPUTS if k in wanted and k in row}
    rope, _ = core.get_rope_index(**given)
    length = int(row["input_ids"].shape[1])
    text = torch.arange(length, device=rope.device, dtype=rope.dtype).view(1, 1, length)
    return torch.cat([text, rope], dim=0)


def pack_rows(rows: Sequence[dict[str, Any]], model: Any) -> dict[str, Any]:
    """Examples (each with batch dimension 1 and ``labels``) as one packed row for ``model``."""
    import torch

    if not rows:
        raise ValueError("no rows to pack")
    for row in rows:
        if int(row["input_ids"].shape[0]) != 1:
            raise ValueError("pack_rows takes one example per row")
        if int(row["labels"][0, 0]) != IGNORE_INDEX:
            raise ValueError("a packed example must start with a masked (prompt) token")
    with torch.no_grad():
        positions = [rope_positions(model, row) for row in rows]
    packed: dict[str, Any] = {"position_ids": torch.cat(positions, dim=2)}
    for key in rows[0]:
        if key == "attention_mask":
            continue  # the block-diagonal mask follows from the text positions
        values = [row[key] for row in rows]
        packed[key] = torch.cat(values, dim=0 if key in VIDEO_INPUT_KEYS else 1)
    return packed
