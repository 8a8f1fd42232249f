"""The batched vision attention against the Qwen-VL towers' own per-group loop: the same outputs and
gradients, whatever the layout (one video, videos of different sizes, Qwen2.5-VL's uneven windows)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from videokr.evaluate.backends import GenerationRequest, TransformersBackend
from videokr.evaluate.frames import EvalFrame
from videokr.inference import vision_attention
from videokr.inference.vision_attention import batch_vision_attention, group_layout, grouped_attention
from videokr.testing.tiny_models import tiny_qwen3vl, tiny_qwen25vl, tiny_tokenizer

MODELS = pytest.mark.parametrize("make", [tiny_qwen25vl, tiny_qwen3vl], ids=["qwen2.5-vl", "qwen3-vl"])


def _loop(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bounds: list[int], scale: float) -> torch.Tensor:
    """Each group on its own: what the towers do without a variable-length kernel."""
    outs = []
    for begin, end in zip(bounds, bounds[1:]):
        part = [t[begin:end].transpose(0, 1)[None] for t in (q, k, v)]
        outs.append(torch.nn.functional.scaled_dot_product_attention(*part, scale=scale)[0].transpose(0, 1))
    return torch.cat(outs)


@pytest.mark.parametrize("lengths", [[6, 6, 6, 6], [4, 6, 3, 6, 4, 3], [5], [2, 0, 7]],
                         ids=["equal", "uneven", "one", "empty-group"])
def test_grouped_attention_equals_a_loop_over_groups(lengths: list[int]) -> None:
    torch.manual_seed(0)
    bounds = np.concatenate([[0], np.cumsum(lengths)]).tolist()
    tensors = [torch.randn(bounds[-1], 3, 8, dtype=torch.float64, requires_grad=True) for _ in range(3)]
    want = _loop(*tensors, bounds, 0.3)
    have = grouped_attention(*tensors, torch.tensor(bounds), 0.3)
    torch.testing.assert_close(have, want)
    weights = torch.randn_like(want)
    grads_want = torch.autograd.grad((want * weights).sum(), tensors)
    grads_have = torch.autograd.grad((have * weights).sum(), tensors)
    for a, b in zip(grads_have, grads_want):
        torch.testing.assert_close(a, b)


def test_group_layout_batches_equal_lengths() -> None:
    layout = group_layout(torch.tensor([0, 4, 8, 11, 15, 15, 18]))
    assert layout == [(4, [0, 4, 11]), (3, [8, 15])]


def _requests() -> list[GenerationRequest]:
    """Two videos of different frame sizes and lengths in one batch: uneven groups across the batch."""
    rng = np.random.default_rng(0)
    out = []
    for i, (height, frames) in enumerate([(48, 4), (80, 6)]):
        shown = [EvalFrame(j, 0.5 * j, rng.integers(0, 255, (height, 112, 3), dtype=np.uint8)) for j in range(frames)]
        out.append(GenerationRequest(key=str(i), prompt="Select the best answer", frames=shown, max_new_tokens=4))
    return out


def _recorded(monkeypatch: pytest.MonkeyPatch) -> list[list[int]]:
    seen: list[list[int]] = []
    layout = vision_attention.group_layout

    def recording(cu: torch.Tensor) -> list:
        groups = layout(cu)
        seen.append(sorted(length for length, _ in groups))
        return groups

    monkeypatch.setattr(vision_attention, "group_layout", recording)
    return seen


@MODELS
def test_batched_vision_attention_equals_the_models_own(make, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    seen = _recorded(monkeypatch)
    tok = tiny_tokenizer()
    own, batched = make(tok).float(), make(tok).float()  # seeded: the same weights
    assert batch_vision_attention(batched) == len(batched.model.visual.blocks)
    assert batch_vision_attention(batched) == 0  # idempotent
    backend = TransformersBackend(own, tok)
    for requests in (_requests()[1:], _requests()):  # one video; two of different sizes
        inputs = backend._inputs(requests)
        with torch.inference_mode():
            torch.testing.assert_close(batched(**inputs).logits, own(**inputs).logits, atol=1e-5, rtol=1e-5)
    assert len(seen) >= 2 * len(batched.model.visual.blocks)  # the batched path ran in every layer
    assert any(len(lengths) > 1 for lengths in seen)  # and met uneven groups


@MODELS
def test_batched_vision_attention_trains_like_the_models_own(make, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """In training mode with the vision tower trainable, the loss and every vision gradient match."""
    seen = _recorded(monkeypatch)
    tok = tiny_tokenizer()
    model = make(tok).float().train()
    inputs = TransformersBackend(model, tok)._inputs(_requests())

    def loss_and_grads() -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        model.zero_grad(set_to_none=True)
        logits = model(**inputs).logits
        loss = (logits.float() ** 2).mean()
        loss.backward()
        grads = {n: p.grad.clone() for n, p in model.model.visual.named_parameters() if p.grad is not None}
        return loss.detach(), grads

    loss_before, grads_before = loss_and_grads()
    assert not seen
    batch_vision_attention(model)
    loss_after, grads_after = loss_and_grads()
    assert seen  # the batched path ran in training mode
    torch.testing.assert_close(loss_after, loss_before, atol=1e-6, rtol=1e-5)
    assert grads_after.keys() == grads_before.keys() and grads_before
    for name, grad in grads_before.items():
        torch.testing.assert_close(grads_after[name], grad, atol=1e-6, rtol=1e-4, msg=name)
