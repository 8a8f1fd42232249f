"""SFT examples into training rows: token ids, labels and the video's inputs.

Each example becomes one row the way the LLaMA-Factory export would train it: the user turn
is the video followed by :func:`~videokr.formats.instructions.sft_user_prompt`, the assistant
turn :func:`~videokr.formats.instructions.sft_target` (``<think>…</think>\\n<answer>…</answer>``).
Frames come from the video layer under the training budget (≤128 frames, ≤4,096 video tokens
in the paper): :func:`videokr.video.budget.plan` picks how many and how large,
:func:`videokr.video.sampling.sample_frames` decodes exactly those. The model inputs are built
by :mod:`videokr.inference.qwen_video`, the builder evaluation uses, with labels only on the
response.

An example whose video cannot be read becomes a :class:`Skipped` with its id and the reason;
the run counts it and goes on. Decoding is the slow part, so :func:`lookahead` runs it on
threads ahead of the training loop (PyAV releases the interpreter while it decodes).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from videokr.formats.instructions import sft_target, sft_user_prompt
from videokr.formats.official import resolve_video
from videokr.inference import qwen_video
from videokr.records import Example
from videokr.video import budget as budgets
from videokr.video.probe import probe
from videokr.video.sampling import Frame, sample_frames

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Skipped:
    """An example the run could not train on, and why (counted and reported, never fatal)."""

    example_id: str
    reason: str


@dataclass
class Row:
    """One example's model inputs (batch dimension 1) with ``labels``."""

    example_id: str
    inputs: dict[str, Any]

    @property
    def tokens(self) -> int:
        return int(self.inputs["input_ids"].shape[1])

    @property
    def response_tokens(self) -> int:
        """How many tokens the loss is taken on."""
        return int((self.inputs["labels"] != qwen_video.IGNORE_INDEX).sum())

    def masked(self) -> "Row":
        """The same inputs with nothing to learn: a filler that keeps processes in step."""
        inputs = dict(self.inputs)
        inputs["labels"] = inputs["labels"].clone().fill_(qwen_video.IGNORE_INDEX)
        return Row(self.example_id, inputs)


def is_qwen3(model_config: Any) -> bool:
    return "qwen3" in str(getattr(model_config, "model_type", "")).lower()


def training_budget(name: str, model_config: Any, max_frames: int | None = None,
                    max_video_tokens: int | None = None) -> budgets.VideoBudget:
    """The video budget of a run: ``paper`` picks the model family's paper preset.

    The patch size always follows the model, so frame sides are multiples of what its
    vision tower cuts (28 px for Qwen2.5-VL, 32 px for Qwen3-VL)."""
    if name == "paper":
        chosen = budgets.PAPER_QWEN3_VL if is_qwen3(model_config) else budgets.PAPER_QWEN2_5_VL
    else:
        chosen = budgets.preset(name)
    patch = int(model_config.vision_config.patch_size)
    if chosen.patch_size != patch:
        chosen = replace(chosen, patch_size=patch)
    if max_frames is not None:
        chosen = chosen.with_frames(max_frames)
    if max_video_tokens is not None:
        chosen = replace(chosen, max_video_tokens=max_video_tokens, name=f"{chosen.name}/{max_video_tokens}tok")
    return chosen


def budget_frames(path: Path, budget: budgets.VideoBudget) -> list[Frame]:
    """The frames the budget plans for one video, decoded at the planned size."""
    info = probe(path)
    width, height = info.display_size
    planned = budgets.plan(width, height, info.duration_s, info.frame_count, budget)
    return sample_frames(path, n=planned.frames, size=(planned.width, planned.height), info=info)


class SFTRows:
    """Turns examples into rows; ``row`` may be called from several threads at once.

    Decoding runs in parallel; building inputs (the tokenizer keeps state between calls)
    runs one at a time."""

    def __init__(self, examples: Sequence[Example], model: Any, processor: Any, budget: budgets.VideoBudget,
                 video_root: Path | None, max_length: int | None = None) -> None:
        self.examples = list(examples)
        self.model = model
        self.processor = processor
        self.budget = budget
        self.video_root = video_root
        self.max_length = max_length
        self.tokenizer = getattr(processor, "tokenizer", processor)
        self.turn_end = qwen_video.turn_end(self.tokenizer)
        self._build = threading.Lock()

    def __len__(self) -> int:
        return len(self.examples)

    def row(self, index: int) -> Row | Skipped:
        example = self.examples[index]
        try:
            target = sft_target(example)
        except ValueError as exc:
            return Skipped(example.id, str(exc))
        path = resolve_video(example.video_path, self.video_root)
        try:
            frames = budget_frames(path, self.budget)
        except Exception as exc:  # any video the decoder cannot read skips its example, whatever the error
            said = str(exc) or type(exc).__name__
            return Skipped(example.id, said if str(path) in said else f"video {path}: {said}")
        with self._build:
            prompt = qwen_video.prompt_inputs(self.model, self.processor, sft_user_prompt(example), frames,
                                              keep_size=True)
            response = qwen_video.response_token_ids(self.tokenizer, target, self.turn_end)
        length = int(prompt["input_ids"].shape[1])
        if self.max_length is not None:
            if length >= self.max_length:
                return Skipped(example.id, f"prompt and video take {length} tokens; max_length is {self.max_length}")
            response = response[: self.max_length - length]
        return Row(example.id, qwen_video.supervised_row(prompt, response))


def collate(rows: Sequence[Row], processor: Any) -> dict[str, Any]:
    """Rows into one padded batch (labels padded with IGNORE_INDEX); ``processor`` or its tokenizer."""
    tokenizer = getattr(processor, "tokenizer", processor)
    return qwen_video.collate_rows([r.inputs for r in rows], qwen_video.pad_id(tokenizer))


def lookahead(fn: Callable[[T], R], items: Iterable[T], workers: int, window: int) -> Iterator[R]:
    """``fn`` of each item, in order, computed up to ``window`` items ahead on ``workers`` threads."""
    if workers <= 0:
        for item in items:
            yield fn(item)
        return
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="videokr-sft-data")
    pending: deque[Future[R]] = deque()
    try:
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) >= max(1, window):
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
