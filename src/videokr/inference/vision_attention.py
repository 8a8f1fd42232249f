"""One attention call per vision layer and group length, instead of one per frame group or window.

Without FlashAttention's variable-length kernel, the Qwen-VL vision towers in ``transformers``
attend frame group by frame group (Qwen2.5-VL: window by window): a 128-frame video is 64
groups, so each of the 27 layers of Qwen3-VL makes 64 small attention calls, three 64-way splits
and a concatenation, and Qwen2.5-VL's windowed layers make one call per window. Groups of the
same length are a batch: one ``scaled_dot_product_attention`` over ``[groups, heads, length,
dim]`` computes the same thing. Within a video of one size every group has the same length (one
call per layer, no gather); uneven layouts (Qwen2.5-VL's edge windows, several videos or images
of different sizes in one batch) make one call per distinct length.

The vision forward of a 128-frame Qwen3-VL-8B training example takes 0.162 s with the model's own
loop on an H200, most of it launching small kernels, and 0.049 s batched
(``benchmarks/bench_train.py sft-profile [--own-vision-attention]``).

:func:`batch_vision_attention` swaps the ``forward`` of each vision attention module of one
model instance, for inference and training alike (the attention has no dropout; gradients flow
through the batched call as through the model's own); tests compare outputs and gradients with
the original forward.
"""

from __future__ import annotations

import sys
import types
from typing import Any, Callable

PATCHED = "_videokr_batched_attention"


def group_layout(cu_seqlens: Any) -> list[tuple[int, list[int]]]:
    """The groups of equal length: ``[(length, first positions of its groups), ...]``.

    One host read of the boundaries per layer, as the model's own code has; not cached, since a
    later request's boundaries may sit at the same address with other values."""
    bounds = cu_seqlens.tolist()
    starts: dict[int, list[int]] = {}
    for begin, end in zip(bounds, bounds[1:]):
        if end > begin:
            starts.setdefault(end - begin, []).append(begin)
    return list(starts.items())


def _attend(q: Any, k: Any, v: Any, length: int, scale: float) -> Any:
    """Attention within consecutive groups of ``length`` tokens; ``q, k, v`` are ``[tokens, heads, dim]``."""
    import torch.nn.functional as F

    groups, heads = q.shape[0] // length, q.shape[1]
    q, k, v = (t.reshape(groups, length, heads, -1).transpose(1, 2) for t in (q, k, v))
    out = F.scaled_dot_product_attention(q, k, v, scale=scale)
    return out.transpose(1, 2).reshape(groups * length, heads, -1)


def grouped_attention(q: Any, k: Any, v: Any, cu_seqlens: Any, scale: float) -> Any:
    """Block-diagonal attention over the groups ``cu_seqlens`` bounds, one call per group length.

    ``q, k, v``: ``[tokens, heads, dim]``; returns the same shape."""
    import torch

    layout = group_layout(cu_seqlens)
    if len(layout) == 1 and layout[0][1][0] == 0 and len(layout[0][1]) * layout[0][0] == q.shape[0]:
        return _attend(q, k, v, layout[0][0], scale)  # one video of one size: no gather
    outputs, order = [], []
    for length, starts in layout:
        index = (torch.tensor(starts)[:, None] + torch.arange(length)[None, :]).reshape(-1).to(q.device)
        outputs.append(_attend(q[index], k[index], v[index], length, scale))
        order.append(index)
    return torch.cat(outputs)[torch.argsort(torch.cat(order))]


def _batched_forward(original: Callable[..., Any], rotary: Callable[..., Any]) -> Callable[..., Any]:
    def forward(self: Any, hidden_states: Any, cu_seqlens: Any, *args: Any, **kwargs: Any) -> Any:
        position_embeddings = kwargs.get("position_embeddings")
        dropout = self.training and getattr(self, "attention_dropout", 0.0)
        if args or position_embeddings is None or dropout:
            return original(hidden_states, cu_seqlens, *args, **kwargs)
        seq = hidden_states.shape[0]
        q, k, v = self.qkv(hidden_states).reshape(seq, 3, self.num_heads, -1).permute(1, 0, 2, 3).unbind(0)
        cos, sin = position_embeddings
        q, k = rotary(q, k, cos, sin)
        out = grouped_attention(q, k, v, cu_seqlens, self.scaling)
        return self.proj(out.reshape(seq, -1))

    return forward


def batch_vision_attention(model: Any) -> int:
    """Patch every vision attention module of ``model`` in place; returns how many were patched."""
    visual = getattr(getattr(model, "model", model), "visual", None)
    if visual is None:
        return 0
    patched = 0
    for module in visual.modules():
        if getattr(module, PATCHED, False) or not _is_vision_attention(module):
            continue
        rotary = getattr(sys.modules[type(module).__module__], "apply_rotary_pos_emb_vision", None)
        if rotary is None:
            continue
        module.forward = types.MethodType(_batched_forward(module.forward, rotary), module)
        setattr(module, PATCHED, True)
        patched += 1
    return patched


def _is_vision_attention(module: Any) -> bool:
    return (type(module).__name__.endswith("VisionAttention") and hasattr(module, "qkv")
            and hasattr(module, "proj") and hasattr(module, "num_heads") and hasattr(module, "scaling"))
