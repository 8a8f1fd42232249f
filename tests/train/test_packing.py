"""Sequence packing: a packed row's loss and gradients are the sum of its examples' own, on both
architectures, and `packing: true` trains to the same weights as padded micro-batches."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from videokr.inference.qwen_video import IGNORE_INDEX
from videokr.train.data import Row, SFTRows, collate, training_budget
from videokr.train.loss import forward_loss_sum
from videokr.train.model import load_model, load_processor
from videokr.train.packing import pack_rows
from videokr.train.sft import train_sft

from .conftest import fast_config
from videokr.testing.tiny_models import FAMILIES


@pytest.fixture(scope="module", params=FAMILIES)
def tiny(request: pytest.FixtureRequest, checkpoints: dict[str, Path]) -> tuple:
    path = checkpoints[request.param]
    return load_model(path).eval(), load_processor(path)


def _rows(tiny: tuple, examples: list, video_root: Path) -> list[Row]:
    model, processor = tiny
    budget = training_budget("paper", model.config, 4, 64)
    rows = SFTRows(examples, model, processor, budget, video_root)
    made = [rows.row(i) for i in range(len(examples))]
    assert all(isinstance(r, Row) for r in made)
    return made


def _grads(model) -> dict[str, torch.Tensor]:  # type: ignore[no-untyped-def]
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def test_a_packed_row_has_its_examples_losses_and_gradients(tiny: tuple, colour_ws, colour_examples) -> None:
    model, processor = tiny
    examples = [colour_examples[0], colour_examples[5], colour_examples[7]]
    rows = _rows(tiny, examples, colour_ws.video_root())
    assert len({r.tokens for r in rows}) > 1  # examples of different lengths
    model.zero_grad(set_to_none=True)
    alone = sum(forward_loss_sum(model, collate([r], processor)) for r in rows)
    alone.backward()
    expected = _grads(model)
    model.zero_grad(set_to_none=True)
    packed = pack_rows([r.inputs for r in rows], model)
    assert packed["input_ids"].shape == (1, sum(r.tokens for r in rows)) and "attention_mask" not in packed
    assert packed["position_ids"].shape == (4, 1, packed["input_ids"].shape[1])
    together = forward_loss_sum(model, packed)
    together.backward()
    torch.testing.assert_close(together, alone, rtol=1e-5, atol=1e-5)
    got = _grads(model)
    assert got.keys() == expected.keys()
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], rtol=1e-4, atol=1e-6)
    # and attention does not cross examples: without the packed positions, the loss differs
    model.zero_grad(set_to_none=True)
    with torch.no_grad():
        leaky = forward_loss_sum(model, {k: v for k, v in packed.items() if k != "position_ids"})
    assert abs(float(leaky) - float(alone.detach())) > 1e-3


def test_packing_refuses_what_it_cannot_pack(tiny: tuple, colour_ws, colour_examples) -> None:
    model, processor = tiny
    rows = _rows(tiny, colour_examples[:2], colour_ws.video_root())
    with pytest.raises(ValueError, match="no rows"):
        pack_rows([], model)
    with pytest.raises(ValueError, match="one example per row"):
        pack_rows([collate(rows, processor)], model)
    unmasked = dict(rows[0].inputs)
    unmasked["labels"] = unmasked["input_ids"].clone()
    with pytest.raises(ValueError, match="masked"):
        pack_rows([unmasked], model)
    assert IGNORE_INDEX == -100


def test_packed_training_reaches_the_padded_runs_weights(checkpoints, colour_ws, colour_examples,
                                                         tmp_path: Path) -> None:
    model = checkpoints["qwen3-vl"]
    config = fast_config(global_batch=6, micro_batch=3, max_steps=2, warmup_ratio=0.0, lr=1e-3)
    padded = train_sft(colour_examples, model, tmp_path / "padded", config, colour_ws.video_root(),
                       show_progress=False)
    packed = train_sft(colour_examples, model, tmp_path / "packed", config.model_copy(update={"packing": True}),
                       colour_ws.video_root(), show_progress=False)
    assert padded.steps == packed.steps == 2
    ours, theirs = load_file(tmp_path / "packed" / "model.safetensors"), load_file(tmp_path / "padded" / "model.safetensors")
    for name in ours:  # (on a GPU other kernels run for the two layouts: one weight in 24k was 2e-6 apart)
        torch.testing.assert_close(ours[name], theirs[name], rtol=1e-4, atol=1e-5)
    start = load_file(model / "model.safetensors")
    assert any(not torch.equal(start[name], theirs[name]) for name in theirs)
