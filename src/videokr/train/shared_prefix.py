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

from collections.abc import Callable, Sequence
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
    from videokr.inference.engine import prefill_cache

    cache, last_logits, next_position = prefill_cache(model, inputs)
    targets, mask = _targets(responses, pad, group, longest, device)
    logp = _responses_logprobs(model, cache, last_logits, next_position, prompt_length, targets, mask, temperature)
    return logp, mask


def group_backward(model: Any, prompt_inputs: dict[str, Any], responses: Sequence[Sequence[int]], pad: int,
                   temperature: float, loss_of: Callable[[Any, Any], Any], scale: float = 1.0) -> tuple[Any, Any, Any]:
    """The policy's pass and backward with the prompt's activations recomputed: ``(what loss_of returned,
    log-probs (detached), mask)``.

    The prompt first runs without gradients and leaves its keys and values as leaf tensors; the
    responses run on them and ``loss_of(logp, mask)`` (a tensor, or an object with ``.loss``)
    times ``scale`` is backpropagated into the weights and those leaves; then the prompt runs
    again with gradients and receives the leaves' gradients. The prompt's activations and the
    responses' are never held at once — what lets an 8B policy, its gradients, AdamW state and a
    reference share one GPU with a 4,300-token video prompt — for one more prompt forward pass.
    Gradients equal :func:`group_logprobs`' (the tests hold both to a pass per response)."""
    import torch

    from videokr.inference.engine import prefill_cache

    device = next(model.parameters()).device
    group = len(responses)
    longest = max((len(r) for r in responses), default=0)
    targets, mask = _targets(responses, pad, group, max(1, longest), device)
    inputs = {k: (v.to(device) if hasattr(v, "to") else v) for k, v in prompt_inputs.items()}
    prompt_length = int(inputs["input_ids"].shape[-1])
    with _text_attention(model, LOWER_RIGHT):
        if group == 0 or longest == 0:
            logp = torch.zeros((group, 1), device=device, requires_grad=True)
            result = loss_of(logp, mask)
            return result, logp.detach(), mask
        with torch.no_grad():
            cache, last_logits, next_position = prefill_cache(model, inputs)
        leaves = _leaf_cache(cache)
        last = last_logits.detach().requires_grad_(True)
        logp = _responses_logprobs(model, cache, last, next_position, prompt_length, targets, mask, temperature)
        result = loss_of(logp, mask)
        loss = getattr(result, "loss", result)
        (loss * scale).backward()
        del cache
        grads = [leaf.grad for leaf in leaves] + [last.grad]
        if any(g is not None for g in grads):
            cache, last_logits, _ = prefill_cache(model, inputs)  # again, with gradients
            outputs = _cache_tensors(cache) + [last_logits]
            pairs = [(out, grad) for out, grad in zip(outputs, grads, strict=True)
                     if grad is not None and out.requires_grad]
            if pairs:
                torch.autograd.backward([out for out, _ in pairs], [grad for _, grad in pairs])
    return result, logp.detach(), mask


def _targets(responses: Sequence[Sequence[int]], pad: int, group: int, longest: int, device: Any) -> tuple[Any, Any]:
    """The responses right-padded with ``pad`` ``(G, T)``, and the mask of their real tokens."""
    import torch

    targets = torch.full((group, longest), pad, dtype=torch.long, device=device)
    mask = torch.zeros((group, longest), dtype=torch.bool, device=device)
    for row, tokens in enumerate(responses):
        if tokens:
            targets[row, : len(tokens)] = torch.tensor(list(tokens), dtype=torch.long, device=device)
            mask[row, : len(tokens)] = True
    return targets, mask


def _responses_logprobs(model: Any, cache: Any, last_logits: Any, next_position: int, prompt_length: int,
                        targets: Any, mask: Any, temperature: float) -> Any:
    """The group's responses as one batch on the prompt's cache: their tokens' log-probs ``(G, T)``."""
    import torch

    from videokr.train.grpo_math import token_logprobs

    group, longest = targets.shape
    device = targets.device
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
    return token_logprobs(logits, torch.where(mask, targets, torch.zeros_like(targets)), temperature=temperature)


def _cache_tensors(cache: Any) -> list[Any]:
    """Every layer's keys, then every layer's values."""
    layers = cache.layers
    return [layer.keys for layer in layers] + [layer.values for layer in layers]


def _leaf_cache(cache: Any) -> list[Any]:
    """Replace a cache's tensors by leaves that collect gradients; returns them (keys, then values)."""
    layers = getattr(cache, "layers", None)
    if not layers or any(getattr(layer, "keys", None) is None for layer in layers):
        raise TypeError("recomputing the prompt needs a transformers cache with per-layer keys and values")
    for layer in layers:
        layer.keys = layer.keys.detach().requires_grad_(True)
        layer.values = layer.values.detach().requires_grad_(True)
    return _cache_tensors(cache)


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
