"""One attention call per vision layer instead of one per frame group.

Without FlashAttention's variable-length kernel, the Qwen-VL vision towers in ``transformers``
attend frame group by frame group: a 128-frame video is 64 groups, so each of the 27 layers of
Qwen3-VL makes 64 small attention calls, three 64-way splits and a host sync. When every group
has the same length (always, within a video of one size), the groups are a batch: one
``scaled_dot_product_attention`` over ``[groups, heads, length, dim]`` computes the same thing.
Other layouts (Qwen2.5-VL's uneven windows) keep the model's own code.

:func:`batch_vision_attention` swaps the ``forward`` of each vision attention module of one
model instance; the result is tested against the original forward.
"""

from __future__ import annotations

import sys
import types
from typing import Any, Callable

PATCHED = "_videokr_batched_attention"


def _equal_length(cu_seqlens: Any) -> int | None:
    """The common group length when all groups are equal, else None.

    One host sync per layer, as the model's own code has; not cached, since a later request's
    boundaries may sit at the same address with other values."""
    lengths = (cu_seqlens[1:] - cu_seqlens[:-1]).tolist()
    return lengths[0] if lengths and len(set(lengths)) == 1 else None


def _batched_forward(original: Callable[..., Any], rotary: Callable[..., Any]) -> Callable[..., Any]:
    def forward(self: Any, hidden_states: Any, cu_seqlens: Any, *args: Any, **kwargs: Any) -> Any:
        import torch.nn.functional as F

        position_embeddings = kwargs.get("position_embeddings")
        seq = hidden_states.shape[0]
        length = None if args or position_embeddings is None or self.training else _equal_length(cu_seqlens)
        if length is None or seq % length:
            return original(hidden_states, cu_seqlens, *args, **kwargs)
        q, k, v = self.qkv(hidden_states).reshape(seq, 3, self.num_heads, -1).permute(1, 0, 2, 3).unbind(0)
        cos, sin = position_embeddings
        q, k = rotary(q, k, cos, sin)
        groups = seq // length
        q, k, v = (t.reshape(groups, length, self.num_heads, -1).transpose(1, 2) for t in (q, k, v))
        out = F.scaled_dot_product_attention(q, k, v, scale=self.scaling)
        return self.proj(out.transpose(1, 2).reshape(seq, -1))

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
