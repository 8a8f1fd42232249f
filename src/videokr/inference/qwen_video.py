"""Qwen2.5-VL / Qwen3-VL model inputs for one prompt about one video, from already-sampled frames.

:func:`build_inputs` is the one entry point: a prompt and its frames per row in, the model's
inputs out. Where the model's processor has a video processor and torchvision imports, the
processor builds them (:func:`processor_inputs`, told the frames' true timestamps); elsewhere
:func:`numpy_inputs` builds the same inputs (``pixel_values_videos``, ``video_grid_thw``, the
expanded ``<|video_pad|>`` tokens, and for Qwen3-VL the per-group ``<t seconds>`` labels)
with numpy, so local generation also runs where torchvision is not installed (CPU-only torch).
Resizing follows the Qwen rule: both sides a multiple of patch × merge, the pixel count
within ``[min_pixels, max_pixels]``, the aspect ratio kept.

A frame is anything with ``index`` (its frame number in the source video), ``pts_seconds``
and ``image`` (H×W×3 uint8), such as :class:`videokr.evaluate.frames.EvalFrame`.

Training builds its rows here too (:func:`prompt_inputs`, :func:`supervised_row`,
:func:`collate_rows`): the prompt part through :func:`build_inputs`, then the response with
labels on it alone, so a model is trained on exactly the inputs it is evaluated on.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Protocol, Sequence

import numpy as np


class Frame(Protocol):
    index: int
    pts_seconds: float
    image: np.ndarray


CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)  # Qwen2/2.5-VL
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
HALF_MEAN = (0.5, 0.5, 0.5)  # Qwen3-VL
HALF_STD = (0.5, 0.5, 0.5)
VIDEO_PAD = "<|video_pad|>"
VISION_START = "<|vision_start|>"
VISION_END = "<|vision_end|>"


@dataclass(frozen=True)
class QwenVision:
    patch_size: int
    temporal_patch_size: int
    merge_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    timestamps: bool  # Qwen3-VL writes "<t seconds>" before each temporal group
    min_pixels: int = 128 * 28 * 28
    max_pixels: int = 768 * 28 * 28

    @classmethod
    def from_config(cls, config: Any, **overrides: Any) -> "QwenVision":
        vision = config.vision_config
        qwen3 = "qwen3" in str(getattr(config, "model_type", "")).lower()
        fields = dict(
            patch_size=int(vision.patch_size),
            temporal_patch_size=int(getattr(vision, "temporal_patch_size", 2)),
            merge_size=int(getattr(vision, "spatial_merge_size", 2)),
            mean=HALF_MEAN if qwen3 else CLIP_MEAN,
            std=HALF_STD if qwen3 else CLIP_STD,
            timestamps=qwen3,
        )
        fields.update(overrides)
        return cls(**fields)


def smart_size(height: int, width: int, factor: int, min_pixels: int, max_pixels: int) -> tuple[int, int]:
    h = max(factor, round(height / factor) * factor)
    w = max(factor, round(width / factor) * factor)
    if h * w > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h = max(factor, math.floor(height / beta / factor) * factor)
        w = max(factor, math.floor(width / beta / factor) * factor)
    elif h * w < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h = math.ceil(height * beta / factor) * factor
        w = math.ceil(width * beta / factor) * factor
    return h, w


def _resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    from PIL import Image

    if image.shape[0] == height and image.shape[1] == width:
        return image
    return np.asarray(Image.fromarray(image).resize((width, height), Image.BICUBIC))


def video_patches(frames: Sequence[Frame], vision: QwenVision) -> tuple[np.ndarray, tuple[int, int, int], list[float]]:
    """(patches [N, C·T·P·P], grid (t, h, w), the timestamp of each temporal group)."""
    if not frames:
        raise ValueError("no frames")
    frames = list(frames)
    while len(frames) % vision.temporal_patch_size:
        frames.append(frames[-1])  # pad by repeating the last frame, as the Qwen processors do
    factor = vision.patch_size * vision.merge_size
    h0, w0 = frames[0].image.shape[:2]
    h, w = smart_size(h0, w0, factor, vision.min_pixels, vision.max_pixels)
    video = np.stack([_resize(f.image, h, w) for f in frames]).astype(np.float32) / 255.0
    video = (video - np.asarray(vision.mean, np.float32)) / np.asarray(vision.std, np.float32)
    video = video.transpose(0, 3, 1, 2)  # T, C, H, W
    tp, p, m = vision.temporal_patch_size, vision.patch_size, vision.merge_size
    gt, gh, gw = len(frames) // tp, h // p, w // p
    patches = video.reshape(gt, tp, 3, gh // m, m, p, gw // m, m, p)
    patches = patches.transpose(0, 3, 6, 4, 7, 2, 1, 5, 8).reshape(gt * gh * gw, 3 * tp * p * p)
    times = [float(np.mean([f.pts_seconds for f in frames[i * tp : (i + 1) * tp]])) for i in range(gt)]
    return patches, (gt, gh, gw), times


def expand_video_tokens(text: str, grid: tuple[int, int, int], times: list[float], vision: QwenVision) -> str:
    """Replace the chat template's one ``<|video_pad|>`` with the model's video token layout.

    As the transformers processors do, only the pad token is replaced: for Qwen3-VL the
    template's own ``<|vision_start|>``/``<|vision_end|>`` stay around the per-group
    ``<t seconds><|vision_start|>…<|vision_end|>`` blocks."""
    gt, gh, gw = grid
    per_group = gh * gw // (vision.merge_size**2)
    placeholder = f"{VISION_START}{VIDEO_PAD}{VISION_END}"
    if placeholder not in text:
        raise ValueError(f"the chat template did not produce {placeholder!r}")
    if vision.timestamps:
        body = "".join(f"<{t:.1f} seconds>{VISION_START}{VIDEO_PAD * per_group}{VISION_END}" for t in times)
    else:
        body = VIDEO_PAD * (gt * per_group)
    return text.replace(placeholder, f"{VISION_START}{body}{VISION_END}", 1)


# -- building the inputs of a batch -----------------------------------------------------

VIDEO_TOKEN_TYPE = 2  # transformers' modality code for video tokens (text 0, image 1)


def frame_rates(frames: Sequence[Frame]) -> tuple[float, float]:
    """(the source video's frame rate, the rate of the sampled frames), read off indices and times."""
    first, last = frames[0], frames[-1]
    span = last.pts_seconds - first.pts_seconds
    if span <= 0:
        source = first.index / first.pts_seconds if first.index > 0 and first.pts_seconds > 0 else 1.0
        return source, source
    return (last.index - first.index) / span, (len(frames) - 1) / span


def torchvision_available() -> bool:
    try:
        import torchvision  # noqa: F401
    except Exception:  # a torchvision built for another torch fails on import, not just missing
        return False
    return True


def accepts_video_metadata(processor: Any) -> bool:
    video_processor = getattr(processor, "video_processor", None)
    return type(video_processor).__name__.startswith("Qwen3")


def takes_token_types(model: Any) -> bool:
    import inspect

    get_rope_index = getattr(getattr(model, "model", None), "get_rope_index", None)
    return get_rope_index is not None and "mm_token_type_ids" in inspect.signature(get_rope_index).parameters


def uses_processor(processor: Any) -> bool:
    """Whether :func:`build_inputs` goes through the processor (else numpy)."""
    return getattr(processor, "video_processor", None) is not None and torchvision_available()


def video_messages(prompt: str) -> list[dict[str, Any]]:
    """The chat: one user turn, the video then the prompt."""
    return [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": prompt}]}]


def build_inputs(model: Any, processor: Any, prompts: Sequence[str], videos: Sequence[Sequence[Frame]],
                 vision: QwenVision | None = None) -> Any:
    """The model inputs of a batch, one row per (prompt, frames), padded."""
    if uses_processor(processor):
        return processor_inputs(processor, prompts, videos)
    return numpy_inputs(model, processor, prompts, videos, vision)


def processor_inputs(processor: Any, prompts: Sequence[str], videos: Sequence[Sequence[Frame]],
                     videos_kwargs: dict[str, Any] | None = None) -> Any:
    """The inputs through the model's own processor, told the frames' true timestamps.

    ``videos_kwargs`` go to the video processor (training passes size limits that keep
    budget-sized frames as they are)."""
    texts, arrays, metadata, sampled_fps = [], [], [], []
    for prompt, frames in zip(prompts, videos):
        texts.append(processor.apply_chat_template(video_messages(prompt), tokenize=False, add_generation_prompt=True))
        frames = list(frames)
        source_fps, rate = frame_rates(frames)
        if len(frames) % 2:  # Qwen-VL groups frames in pairs (temporal patch 2)
            frames = frames + frames[-1:]
        arrays.append(np.stack([f.image for f in frames]))
        sampled_fps.append(rate)
        # Qwen3-VL writes "<t seconds>" from index / fps: the source rate makes t the frame's time.
        metadata.append({"fps": source_fps, "frames_indices": [f.index for f in frames],
                         "total_num_frames": frames[-1].index + 1, "duration": frames[-1].pts_seconds})
    kwargs: dict[str, Any] = {"text": texts, "videos": arrays, "return_tensors": "pt", "padding": True}
    if accepts_video_metadata(processor):
        kwargs["video_metadata"] = metadata
        kwargs["do_sample_frames"] = False
    if videos_kwargs:
        kwargs["videos_kwargs"] = dict(videos_kwargs)
    inputs = processor(**kwargs)
    if "second_per_grid_ts" in inputs:  # Qwen2.5-VL: the time one temporal group spans, per video
        import torch

        patch = getattr(processor.video_processor, "temporal_patch_size", 2)
        inputs["second_per_grid_ts"] = torch.tensor([patch / rate for rate in sampled_fps], dtype=torch.float32)
    return inputs


def numpy_inputs(model: Any, processor: Any, prompts: Sequence[str], videos: Sequence[Sequence[Frame]],
                 vision: QwenVision | None = None) -> Any:
    """The same inputs built without torchvision; ``vision`` defaults to the model's config."""
    import torch

    vision = vision or QwenVision.from_config(model.config)
    tokenizer = getattr(processor, "tokenizer", processor)
    texts, patches, grids, seconds = [], [], [], []
    for prompt, frames in zip(prompts, videos):
        text = tokenizer.apply_chat_template(video_messages(prompt), tokenize=False, add_generation_prompt=True)
        p, grid, times = video_patches(frames, vision)
        texts.append(expand_video_tokens(text, grid, times, vision))
        patches.append(p)
        grids.append(grid)
        seconds.append(vision.temporal_patch_size / frame_rates(frames)[1])  # as the processor path
    inputs = tokenizer(texts, return_tensors="pt", padding=True)
    if takes_token_types(model):  # newer transformers need them to build M-RoPE positions
        video_token = tokenizer.convert_tokens_to_ids(VIDEO_PAD)
        inputs["mm_token_type_ids"] = (inputs["input_ids"] == video_token).int() * VIDEO_TOKEN_TYPE
    inputs["pixel_values_videos"] = torch.from_numpy(np.concatenate(patches)).to(model.dtype)
    inputs["video_grid_thw"] = torch.tensor(grids, dtype=torch.long)
    if not vision.timestamps:  # Qwen2.5-VL: the time one temporal group spans
        inputs["second_per_grid_ts"] = torch.tensor(seconds, dtype=torch.float32)
    return inputs


def input_settings(processor: Any, model: Any, vision: QwenVision | None = None) -> dict[str, Any]:
    """What decides the inputs :func:`build_inputs` makes of given frames: the path and its pixel budgets."""
    if uses_processor(processor):
        video_processor = processor.video_processor
        fields = ("size", "min_pixels", "max_pixels", "patch_size", "temporal_patch_size", "merge_size",
                  "image_mean", "image_std", "do_resize")
        return {"path": "processor", "video_processor": type(video_processor).__name__,
                **{name: plain_value(getattr(video_processor, name)) for name in fields if hasattr(video_processor, name)}}
    chosen = vision or QwenVision.from_config(model.config)
    return {"path": "numpy", **plain_value(asdict(chosen))}


def plain_value(value: Any) -> Any:
    """A JSON value that is the same in every process (no object reprs with addresses)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "items"):
        return {str(k): plain_value(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [plain_value(v) for v in value]
    return type(value).__name__


# -- training inputs: prompt and response, the loss on the response only ----------------
#
# Training builds the prompt part of each row with :func:`build_inputs`, the same call
# evaluation makes, so a model is trained on exactly the inputs it is later evaluated on.
# The response (the assistant turn's content and the template's end of turn) is tokenized
# apart from the prompt and appended, as LLaMA-Factory does; its tokens are the only ones
# labelled, so prompt, video and padding tokens never contribute to the loss.

IGNORE_INDEX = -100  # the label the loss skips (PyTorch's cross-entropy default)
_PAD_VALUES = {"attention_mask": 0, "mm_token_type_ids": 0, "token_type_ids": 0}  # input_ids: the pad id
# the video inputs: a batch (or a packed row) concatenates them along the patches, not along the rows
VIDEO_INPUT_KEYS = ("pixel_values_videos", "video_grid_thw", "second_per_grid_ts")
_TURN_SENTINEL = "\u2402videokr-turn\u2402"


def turn_end(tokenizer: Any) -> str:
    """What the chat template writes after an assistant turn's content (Qwen: ``<|im_end|>\\n``).

    Read off the template itself, so every template ends a trained turn as it ends one in a
    conversation; a template that rewrites the assistant content gets the end-of-sequence
    token instead."""
    user = {"role": "user", "content": "?"}
    prompt = tokenizer.apply_chat_template([user], tokenize=False, add_generation_prompt=True)
    full = tokenizer.apply_chat_template([user, {"role": "assistant", "content": _TURN_SENTINEL}], tokenize=False)
    if full.startswith(prompt + _TURN_SENTINEL):
        return full[len(prompt) + len(_TURN_SENTINEL):]
    return tokenizer.eos_token or ""


def response_token_ids(tokenizer: Any, response: str, end: str | None = None) -> list[int]:
    """The ids of a response and the template's end of turn (``end``, read off the template when
    not given), tokenized apart from the prompt."""
    end = turn_end(tokenizer) if end is None else end
    return list(tokenizer(response + end, add_special_tokens=False)["input_ids"])


def kept_size_vision(model: Any, frames: Sequence[Frame], vision: QwenVision | None = None) -> QwenVision:
    """A :class:`QwenVision` whose pixel limits keep frames at the size they already have.

    Frames sized by a budget (:func:`videokr.video.budget.plan`: sides multiples of
    patch × merge) must reach the model at that size, or the budget would not hold."""
    h, w = frames[0].image.shape[:2]
    base = vision or QwenVision.from_config(model.config)
    return QwenVision(**{**asdict(base), "min_pixels": h * w, "max_pixels": h * w})


def _kept_size_kwargs(video_processor: Any, frames: Sequence[Frame]) -> dict[str, Any]:
    """Processor size limits that leave budget-sized frames as they are, whether the video
    processor reads them per frame (Qwen2.5-VL) or per video (Qwen3-VL)."""
    factor = int(video_processor.patch_size) * int(video_processor.merge_size)
    h, w = frames[0].image.shape[:2]
    count = len(frames) + len(frames) % 2
    kwargs: dict[str, Any] = {"size": {"shortest_edge": factor * factor, "longest_edge": count * h * w}}
    if hasattr(video_processor, "cap_pixels_per_frame"):  # the budget already capped them
        kwargs["cap_pixels_per_frame"] = False
    return kwargs


def prompt_inputs(model: Any, processor: Any, prompt: str, frames: Sequence[Frame],
                  vision: QwenVision | None = None, *, keep_size: bool = False) -> Any:
    """One row's prompt inputs through :func:`build_inputs`; ``keep_size`` keeps the frames' size."""
    if not keep_size:
        return build_inputs(model, processor, [prompt], [frames], vision)
    if uses_processor(processor):
        return processor_inputs(processor, [prompt], [frames],
                                videos_kwargs=_kept_size_kwargs(processor.video_processor, frames))
    return numpy_inputs(model, processor, [prompt], [frames], kept_size_vision(model, frames, vision))


def supervised_row(prompt_part: Any, response_ids: Sequence[int]) -> dict[str, Any]:
    """One training row: the prompt's inputs with the response appended; labels only on the response."""
    import torch

    row: dict[str, Any] = {}
    length = int(prompt_part["input_ids"].shape[1])
    response = torch.tensor([list(response_ids)], dtype=prompt_part["input_ids"].dtype)
    for key, value in prompt_part.items():
        if key in VIDEO_INPUT_KEYS:
            row[key] = value
        elif key == "input_ids":
            row[key] = torch.cat([value, response], dim=1)
        elif key in _PAD_VALUES:
            fill = 1 if key == "attention_mask" else 0
            row[key] = torch.cat([value, torch.full_like(response, fill, dtype=value.dtype)], dim=1)
        else:
            raise ValueError(f"unexpected model input {key!r}: cannot extend it by the response")
    row["labels"] = torch.cat([torch.full((1, length), IGNORE_INDEX, dtype=torch.long), response.long()], dim=1)
    return row


def collate_rows(rows: Sequence[dict[str, Any]], pad_id: int) -> dict[str, Any]:
    """Rows into one batch, padded on the right (labels with IGNORE_INDEX: padding is never learned)."""
    import torch

    if not rows:
        raise ValueError("no rows to collate")
    width = max(int(r["input_ids"].shape[1]) for r in rows)
    batch: dict[str, Any] = {}
    for key in rows[0]:
        values = [r[key] for r in rows]
        if key in VIDEO_INPUT_KEYS:
            batch[key] = torch.cat(values, dim=0)
            continue
        fill = pad_id if key == "input_ids" else IGNORE_INDEX if key == "labels" else _PAD_VALUES[key]
        padded = [torch.nn.functional.pad(v, (0, width - v.shape[1]), value=fill) for v in values]
        batch[key] = torch.cat(padded, dim=0)
    return batch


def pad_id(tokenizer: Any) -> int:
    """The id padding uses: the tokenizer's pad token, else its end of sequence."""
    chosen = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    if chosen is None:
        raise ValueError("the tokenizer has neither a pad nor an end-of-sequence token to pad with")
    return int(chosen)
