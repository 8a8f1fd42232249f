"""The shared-prefix forward gives the per-response passes' log-probabilities and gradients.

Both tiny architectures, a real video prompt, responses of different lengths (one of them a
single token): one prompt pass + one response batch must equal a full forward per response,
in value and in the gradient every trained parameter receives."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from videokr.inference import qwen_video  # noqa: E402
from videokr.train.data import budget_frames, training_budget  # noqa: E402
from videokr.train.grpo import Prompt, response_logprobs, rl_user_text  # noqa: E402
from videokr.train.model import freeze_vision, load_model, load_processor  # noqa: E402
from videokr.train.shared_prefix import group_backward, group_logprobs  # noqa: E402

RESPONSES = ([11, 12, 13, 14, 15, 16, 17], [21, 22, 23], [31], [41, 42, 43, 44, 45])


@pytest.mark.parametrize("family", ["qwen2.5-vl", "qwen3-vl"])
def test_shared_prefix_equals_one_pass_per_response(family, checkpoints, colour_ws, colour_examples) -> None:
    path = checkpoints[family]
    model = load_model(path)
    freeze_vision(model, tower=True, projector=True)
    processor = load_processor(path)
    tokenizer = getattr(processor, "tokenizer", processor)
    example = colour_examples[0]
    budget = training_budget("paper", model.config, 4, 64)
    from videokr.formats.official import resolve_video

    frames = budget_frames(resolve_video(example.video_path, colour_ws.video_root()), budget)
    inputs = dict(qwen_video.prompt_inputs(model, processor, rl_user_text(example), frames, keep_size=True))
    prompt = Prompt(example.id, inputs, "<answer>A</answer>", "multiple choice")
    pad = qwen_video.pad_id(tokenizer)
    advantages = torch.tensor([0.5, -1.0, 2.0, 0.25])

    def gradients(logp, mask):  # a loss that weighs every token differently
        weights = torch.arange(1, logp.shape[1] + 1, dtype=logp.dtype)
        loss = ((logp * mask * weights).sum(dim=1) * advantages).sum()
        model.zero_grad(set_to_none=True)
        loss.backward()
        return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    full, full_mask = response_logprobs(model, prompt, RESPONSES, pad, temperature=1.0)
    full_grads = gradients(full, full_mask)
    shared, shared_mask = group_logprobs(model, inputs, RESPONSES, pad, temperature=1.0)
    assert torch.equal(shared_mask, full_mask)
    assert torch.allclose(shared[shared_mask], full[full_mask], atol=1e-5, rtol=1e-4)
    shared_grads = gradients(shared, shared_mask)
    assert set(shared_grads) == set(full_grads) and full_grads
    assert not any(n.startswith(("model.visual", "visual")) for n in shared_grads)  # the vision part stays frozen
    for name, grad in full_grads.items():
        assert torch.allclose(shared_grads[name], grad, atol=1e-5, rtol=1e-3), name

    def weighted(logp, mask):
        weights = torch.arange(1, logp.shape[1] + 1, dtype=logp.dtype)
        return ((logp * mask * weights).sum(dim=1) * advantages).sum()

    # the prompt recomputed after the responses' backward: the same values and gradients again
    model.zero_grad(set_to_none=True)
    loss, recomputed, recomputed_mask = group_backward(model, inputs, RESPONSES, pad, 1.0, weighted, scale=1.0)
    assert torch.equal(recomputed_mask, full_mask) and not recomputed.requires_grad
    assert torch.allclose(recomputed[full_mask], full.detach()[full_mask], atol=1e-5, rtol=1e-4)
    recomputed_grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    assert set(recomputed_grads) == set(full_grads)
    for name, grad in full_grads.items():
        assert torch.allclose(recomputed_grads[name], grad, atol=1e-5, rtol=1e-3), name

    with torch.no_grad():  # the reference model's pass: same values, no graph
        ref, _ = group_logprobs(model, inputs, RESPONSES, pad, temperature=0.7)
    assert not ref.requires_grad
    again, _ = response_logprobs(model, prompt, RESPONSES, pad, temperature=0.7)
    assert torch.allclose(ref[full_mask], again.detach()[full_mask], atol=1e-5, rtol=1e-4)


def test_lower_right_attention_is_masked_attention_with_repeated_heads() -> None:
    """The response batch's attention: query t of q sees the first k - q + t + 1 keys; 2 query heads per key head."""
    from videokr.train.shared_prefix import lower_right_attention

    g = torch.Generator().manual_seed(0)
    query, key, value = (torch.randn(3, h, n, 16, generator=g) for h, n in ((8, 5), (4, 12), (4, 12)))
    out, weights = lower_right_attention(None, query, key, value, None, scaling=0.25)
    assert weights is None and out.shape == (3, 5, 8, 16)
    allowed = torch.ones(5, 12, dtype=torch.bool).tril(diagonal=12 - 5)
    scores = (query @ key.repeat_interleave(2, dim=1).transpose(-1, -2)) * 0.25
    expected = scores.masked_fill(~allowed, float("-inf")).softmax(-1) @ value.repeat_interleave(2, dim=1)
    assert torch.allclose(out, expected.transpose(1, 2), atol=1e-5)
    square, _ = lower_right_attention(None, query, key[:, :, :5], value[:, :, :5], None, scaling=0.25)
    causal = (query @ key[:, :, :5].repeat_interleave(2, dim=1).transpose(-1, -2) * 0.25).masked_fill(
        ~torch.ones(5, 5, dtype=torch.bool).tril(), float("-inf")).softmax(-1) @ value[:, :, :5].repeat_interleave(2, dim=1)
    assert torch.allclose(square, causal.transpose(1, 2), atol=1e-5)


def test_the_group_pass_uses_it_and_restores_the_models_attention(checkpoints) -> None:
    from transformers import AttentionInterface

    from videokr.inference.engine import decoder_parts
    from videokr.train import shared_prefix

    model = load_model(checkpoints["qwen3-vl"])
    config = decoder_parts(model)[0].config
    before = config._attn_implementation
    calls = []

    def counting(*args, **kwargs):
        calls.append(args[1].shape[-2])
        return shared_prefix.lower_right_attention(*args, **kwargs)

    AttentionInterface.register(shared_prefix.LOWER_RIGHT, counting)
    try:
        inputs = {"input_ids": torch.tensor([[5, 6, 7, 8, 9, 10]]), "attention_mask": torch.ones(1, 6, dtype=torch.long)}
        with torch.no_grad():
            group_logprobs(model, inputs, [[11, 12, 13], [14]], 0, temperature=1.0)
    finally:
        AttentionInterface.register(shared_prefix.LOWER_RIGHT, shared_prefix.lower_right_attention)
    layers = len(decoder_parts(model)[0].layers)
    assert calls == [6] * layers + [2] * layers  # the prompt pass, then the responses' pass
    assert config._attn_implementation == before
