"""The shared-prefix forward of GRPO: one pass over a prompt, its ``G`` responses on top of it.

The eight responses of a GRPO group share their prompt, and the prompt is most of the
tokens: a 4,096-token video and a question, against a few hundred response tokens each. A
forward pass per response (prompt + response, as a plain trainer does it) runs the prompt
through the model eight times, and the backward pass eight times more. Here the prompt runs
once, with gradients, and leaves its keys and values; the ``G`` responses then run as one
batch that attends to them. Autograd sums each response's gradient into the one prompt pass,
so the log-probabilities and the gradients are those of the per-response passes (the tests
check both against them), at about ``P + G·R`` tokens of work instead of ``G·(P + R)``.

The first response token is predicted by the prompt's last position, the others by the
response batch; responses are right-padded, and padding is only ever attended to by
padding, so it changes nothing that is kept.

Attention of the response batch is causal *aligned bottom-right* (a response's query ``t``
sees the whole prompt and its own first ``t`` tokens). transformers builds that as an explicit
mask, which sends PyTorch's attention to its math kernel with the key/value heads repeated
for every query head — for an 8B model, 8 responses of 256 tokens on a 4,300-token prompt,
about 60 GB of attention weights and copies kept for the backward pass. Here the text model's
attention is PyTorch's lower-right causal attention with grouped-query heads
(:func:`lower_right_attention`), which needs neither: no mask exists, as nothing but the
causal structure is masked.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def group_logprobs(model: Any, prompt_inputs: dict[str, Any], responses: Sequence[Sequence[int]], pad: int,
                   temperature: float) -> tuple[Any, Any]:
    """Log-probs ``(G, T)`` of each response's tokens after the prompt, and the mask of real tokens.

    ``prompt_inputs`` is one prompt's model inputs (batch dimension 1, video included);
    ``responses`` are token ids (the trainable part of each rollout). Gradients flow to the
    model when grad is enabled; under ``torch.no_grad`` this is the reference model's pass."""
    import torch

    device = next(model.parameters()).device
    group = len(responses)
    longest = max((len(r) for r in responses), default=0)
    if group == 0 or longest == 0:
        empty = torch.zeros((group, max(1, longest)), device=device)
        return empty, empty.bool()
    inputs = {k: (v.to(device) if hasattr(v, "to") else v) for k, v in prompt_inputs.items()}
    prompt_length = int(inputs["input_ids"].shape[-1])
    with _text_attention(model, LOWER_RIGHT):
        return _group_logprobs(model, inputs, responses, pad, temperature, group, longest, prompt_length, device)


def _group_logprobs(model: Any, inputs: dict[str, Any], responses: Sequence[Sequence[int]], pad: int,
                    temperature: float, group: int, longest: int, prompt_length: int, device: Any) -> tuple[Any, Any]:
    import torch

    from videokr.inference.engine import prefill_cache
    from videokr.train.grpo_math import token_logprobs

    cache, last_logits, next_position = prefill_cache(model, inputs)

    targets = torch.full((group, longest), pad, dtype=torch.long, device=device)
    mask = torch.zeros((group, longest), dtype=torch.bool, device=device)
    for row, tokens in enumerate(responses):
        if tokens:
            targets[row, : len(tokens)] = torch.tensor(list(tokens), dtype=torch.long, device=device)
            mask[row, : len(tokens)] = True
    first = last_logits[:, None, :].expand(group, 1, last_logits.shape[-1])
    if longest == 1:
        logits = first
    else:
        _share(cache, group)  # every row reads the one prompt pass; the rows' gradients sum there
        fed = targets[:, :-1]
        steps = fed.shape[1]
        positions = torch.arange(next_position, next_position + steps, device=device)
        position_ids = positions.view(1, 1, -1).expand(3, group, steps)
        cache_position = torch.arange(prompt_length, prompt_length + steps, device=device)
        out = model(input_ids=fed, position_ids=position_ids, cache_position=cache_position, use_cache=True,
                    **{_cache_argument(model): cache})
        logits = torch.cat([first.to(out.logits.dtype), out.logits], dim=1)
    logp = token_logprobs(logits, torch.where(mask, targets, torch.zeros_like(targets)), temperature=temperature)
    return logp, mask


def _cache_argument(model: Any) -> str:
    """The forward's name for a cache handed in: ``cache`` in newer transformers, ``past_key_values`` before."""
    import inspect

    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def _share(cache: Any, group: int) -> None:
    """Make a batch-1 cache serve ``group`` rows: views where the cache allows it, else copies."""
    layers = getattr(cache, "layers", None)
    if layers and all(hasattr(layer, "keys") and getattr(layer, "keys", None) is not None for layer in layers):
        for layer in layers:
            layer.keys = layer.keys.expand(group, *layer.keys.shape[1:])
            layer.values = layer.values.expand(group, *layer.values.shape[1:])
        return
    cache.batch_repeat_interleave(group)


LOWER_RIGHT = "videokr_lower_right_causal"


def lower_right_attention(module: Any, query: Any, key: Any, value: Any, attention_mask: Any, dropout: float = 0.0,
                          scaling: float | None = None, **kwargs: Any) -> tuple[Any, None]:
    """Causal attention for queries that are the last ``q`` of ``k`` positions, heads grouped.

    The signature is transformers' attention-function interface; ``attention_mask`` is unused
    (the model is given no padding a real token could see)."""
    import torch.nn.functional as F
    from torch.nn.attention.bias import causal_lower_right

    q_len, kv_len = query.shape[-2], key.shape[-2]
    bias = causal_lower_right(q_len, kv_len) if q_len != kv_len else None
    out = F.scaled_dot_product_attention(query, key, value, attn_mask=bias, is_causal=bias is None, scale=scaling,
                                         dropout_p=dropout, enable_gqa=key.shape[1] != query.shape[1])
    return out.transpose(1, 2).contiguous(), None


def _text_attention(model: Any, name: str) -> Any:
    """While the block runs, the text model's attention is ``name`` (registered with transformers)."""
    from contextlib import contextmanager

    from transformers import AttentionInterface

    from videokr.inference.engine import decoder_parts

    if name not in AttentionInterface._global_mapping:
        AttentionInterface.register(name, lower_right_attention)
    config = decoder_parts(model)[0].config

    @contextmanager
    def switched() -> Any:
        before = config._attn_implementation
        config._attn_implementation = name
        try:
            yield
        finally:
            config._attn_implementation = before

    return switched()
