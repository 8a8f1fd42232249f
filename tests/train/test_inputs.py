"""Training rows: the LLaMA-Factory prompt and target, labels on the response only, the video budget."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from videokr.formats.exporters import ExportOptions, llamafactory_row
from videokr.formats.instructions import sft_target
from videokr.inference import qwen_video
from videokr.inference.qwen_video import IGNORE_INDEX, VIDEO_PAD
from videokr.train.data import Row, SFTRows, Skipped, collate, training_budget
from videokr.train.loss import forward_loss_sum, logits_to_keep, response_loss_sum
from videokr.train.model import load_model, load_processor
from videokr.video.synth import write_video

from videokr.testing.tiny_models import FAMILIES


@pytest.fixture(scope="module", params=FAMILIES)
def tiny(request: pytest.FixtureRequest, checkpoints: dict[str, Path]) -> tuple:
    """The model and its processor (the real one where torchvision imports, else the tokenizer)."""
    path = checkpoints[request.param]
    return load_model(path).eval(), load_processor(path)


def _tokenizer(processor):  # type: ignore[no-untyped-def]
    return getattr(processor, "tokenizer", processor)


def _rows(tiny: tuple, examples: list, video_root: Path | None, **budget: int) -> tuple[SFTRows, list]:
    model, processor = tiny
    chosen = training_budget("paper", model.config, budget.get("max_frames", 4), budget.get("max_video_tokens", 64))
    rows = SFTRows(examples, model, processor, chosen, video_root)
    return rows, [rows.row(i) for i in range(len(examples))]


def test_labels_mask_every_prompt_video_and_padding_token(tiny: tuple, colour_ws, colour_examples) -> None:
    model, processor = tiny
    tokenizer = _tokenizer(processor)
    examples = [colour_examples[0], colour_examples[1], colour_examples[5]]  # chains of thought of two lengths
    _, made = _rows(tiny, examples, colour_ws.video_root())
    assert all(isinstance(r, Row) for r in made)
    assert qwen_video.turn_end(tokenizer) == "<|im_end|>\n"
    batch = collate(made, processor)
    video = tokenizer.convert_tokens_to_ids(VIDEO_PAD)
    assert len({r.tokens for r in made}) > 1  # so some rows are padded
    for b, (example, row) in enumerate(zip(examples, made)):
        ids, labels, mask = batch["input_ids"][b], batch["labels"][b], batch["attention_mask"][b]
        response = tokenizer(sft_target(example) + "<|im_end|>\n", add_special_tokens=False)["input_ids"]
        start, end = row.tokens - len(response), row.tokens
        assert (labels[:start] == IGNORE_INDEX).all()  # system, user turn, video, generation prompt
        assert labels[start:end].tolist() == ids[start:end].tolist() == response  # the response, as is
        assert (labels[end:] == IGNORE_INDEX).all() and (mask[end:] == 0).all()  # padding
        assert int((ids == video).sum()) > 0 and (labels[ids == video] == IGNORE_INDEX).all()
        assert row.response_tokens == len(response)


def test_prompt_and_target_are_those_of_the_llamafactory_export(tiny: tuple, colour_ws, colour_examples) -> None:
    tokenizer = _tokenizer(tiny[1])
    example = colour_examples[3]
    _, (row,) = _rows(tiny, [example], colour_ws.video_root())
    user, assistant = llamafactory_row(example, ExportOptions())["messages"]
    assert user["content"].startswith("<video>")
    ids = row.inputs["input_ids"][0]
    start = row.tokens - row.response_tokens
    prompt = tokenizer.decode(ids[:start])
    assert prompt.endswith("<|vision_end|>" + user["content"].removeprefix("<video>") + "<|im_end|>\n<|im_start|>assistant\n")
    assert tokenizer.decode(ids[start:]) == assistant["content"] + "<|im_end|>\n"
    assert assistant["content"].startswith("<think>") and "</think>\n<answer>" in assistant["content"]


def _long_video(path: Path) -> Path:
    """70 s at 2 fps, 480×270: enough to reach the paper's 128-frame cap at 2 fps sampling."""
    rng = np.random.default_rng(0)
    frames = (rng.integers(0, 255, (270, 480, 3), dtype=np.uint8) // 64 * 64 for _ in range(140))
    return write_video(path, frames, fps=2)


def test_rows_keep_the_paper_video_budget_and_the_release_setting_by_name(tiny: tuple, colour_examples,
                                                                         tmp_path: Path) -> None:
    model, processor = tiny
    video = _long_video(tmp_path / "long.mp4")
    example = colour_examples[0].model_copy(update={"video_path": str(video)})
    video_pad = _tokenizer(processor).convert_tokens_to_ids(VIDEO_PAD)
    tokens, frames, areas = {}, {}, {}
    patch = model.config.vision_config.patch_size
    for name in ("paper", "release"):
        rows = SFTRows([example], model, processor, training_budget(name, model.config), None)
        row = rows.row(0)
        assert isinstance(row, Row)
        groups, h, w = row.inputs["video_grid_thw"][0].tolist()
        tokens[name] = int((row.inputs["input_ids"] == video_pad).sum())
        assert tokens[name] == groups * h * w // 4
        frames[name], areas[name] = groups * 2, h * w * patch * patch
    assert frames == {"paper": 128, "release": 128}
    assert 2048 < tokens["paper"] <= 4096  # the paper budget is used, never exceeded
    if patch == 14:  # the release's setting (for Qwen2.5-VL): 128·28·28 pixels a frame, whatever the total
        assert areas["release"] <= 128 * 28 * 28 and tokens["release"] > 4096


def test_an_unreadable_video_is_skipped_with_the_id_and_the_reason(tiny: tuple, colour_examples, tmp_path: Path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"not a video" * 100)
    examples = [colour_examples[0].model_copy(update={"id": "bad-1", "video_path": str(broken)}),
                colour_examples[0].model_copy(update={"id": "bad-2", "video_path": str(tmp_path / "missing.mp4")})]
    _, made = _rows(tiny, examples, None)
    assert [type(r) for r in made] == [Skipped, Skipped]
    assert made[0].example_id == "bad-1" and "broken.mp4" in made[0].reason
    assert made[1].example_id == "bad-2" and "missing.mp4" in made[1].reason


def test_max_length_cuts_the_response_or_skips_the_example(tiny: tuple, colour_ws, colour_examples) -> None:
    model, processor = tiny
    example = colour_examples[0]
    _, (full,) = _rows(tiny, [example], colour_ws.video_root())
    prompt = full.tokens - full.response_tokens
    chosen = training_budget("paper", model.config, 4, 64)
    cut = SFTRows([example], model, processor, chosen, colour_ws.video_root(), max_length=prompt + 5).row(0)
    assert isinstance(cut, Row) and cut.tokens == prompt + 5 and cut.response_tokens == 5
    skipped = SFTRows([example], model, processor, chosen, colour_ws.video_root(), max_length=prompt).row(0)
    assert isinstance(skipped, Skipped) and f"take {prompt} tokens" in skipped.reason


def test_masked_tokens_contribute_nothing_to_the_loss(tiny: tuple, colour_ws, colour_examples) -> None:
    model, processor = tiny
    _, made = _rows(tiny, [colour_examples[0], colour_examples[4]], colour_ws.video_root())
    batch = collate(made, processor)
    labels = batch["labels"]
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    with torch.no_grad():
        full = model(**inputs, use_cache=False).logits  # every position
        ours = forward_loss_sum(model, batch)  # only the positions that predict a response token
    # the loss is the cross-entropy of the response tokens alone, summed
    learned = labels[:, 1:] != IGNORE_INDEX
    by_hand = torch.nn.functional.cross_entropy(full[:, :-1][learned].float(), labels[:, 1:][learned], reduction="sum")
    torch.testing.assert_close(ours, by_hand, rtol=1e-5, atol=1e-5)
    # altering the predictions at every masked position changes nothing, and gets no gradient
    keep = logits_to_keep(labels)
    logits = full[:, -keep:].clone().requires_grad_(True)
    base = response_loss_sum(logits, labels)
    masked = labels[:, labels.shape[1] - keep + 1:] == IGNORE_INDEX
    noisy = logits.detach().clone()
    noisy[:, :-1][masked] = torch.randn_like(noisy[:, :-1][masked]) * 100
    noisy[:, -1] = torch.randn_like(noisy[:, -1]) * 100  # the last position predicts nothing
    assert torch.equal(response_loss_sum(noisy, labels), base.detach())
    base.backward()
    assert (logits.grad[:, :-1][masked] == 0).all() and (logits.grad[:, -1] == 0).all()
    assert (logits.grad[:, :-1][~masked].abs().sum(-1) > 0).all()
    # and unmasking the prompt would change the loss: the mask is what keeps it out
    unmasked = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, IGNORE_INDEX)
    with torch.no_grad():
        everything = torch.nn.functional.cross_entropy(full[:, :-1].reshape(-1, full.shape[-1]).float(),
                                                       unmasked[:, 1:].reshape(-1), reduction="sum")
    assert everything > ours * 2
