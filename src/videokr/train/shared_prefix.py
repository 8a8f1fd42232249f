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

    from videokr.inference.engine import prefill_cache
    from videokr.train.grpo_math import token_logprobs

    device = next(model.parameters()).device
    group = len(responses)
    longest = max((len(r) for r in responses), default=0)
    if group == 0 or longest == 0:
        empty = torch.zeros((group, max(1, longest)), device=device)
        return empty, empty.bool()
    inputs = {k: (v.to(device) if hasattr(v, "to") else v) for k, v in prompt_inputs.items()}
    prompt_length = int(inputs["input_ids"].shape[-1])
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
