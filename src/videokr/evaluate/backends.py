"""Generation backends: one interface, three engines.

- ``openai``: any OpenAI-compatible chat endpoint (a provider, a vLLM or SGLang server);
  frames go as JPEG images, each preceded by its timestamp.
- ``transformers``: Qwen2.5-VL and Qwen3-VL checkpoints through their own processors,
  frames passed as the video input; requests are batched.
- ``vllm``: offline vLLM when it is installed.

Every backend receives the same :class:`GenerationRequest` and returns one text per request.
Sampling is per request (``seed``), so the runs of an evaluation are independent samples.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence

import numpy as np

from videokr.evaluate.frames import EvalFrame

EVAL_TEMPERATURE = 0.1  # Appendix C.2
EVAL_MAX_NEW_TOKENS = 8192  # Appendix C.2
EVAL_TOP_P = 0.001  # the official lmms-eval task's setting (temperature 0.1, top_p 0.001, sampling on)
EVAL_FRAME_BUDGETS = (16, 32, 64, 128)  # §6.3
EVAL_RUNS = 3  # §5.2: three independent runs, mean reported


@dataclass
class GenerationRequest:
    key: str
    prompt: str
    frames: list[EvalFrame]
    temperature: float = EVAL_TEMPERATURE
    max_new_tokens: int = EVAL_MAX_NEW_TOKENS
    seed: int = 0
    top_p: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Backend(Protocol):
    name: str

    def generate(self, requests: Sequence[GenerationRequest]) -> list[str]: ...


def frame_label(frame: EvalFrame) -> str:
    return f"<{frame.pts_seconds:.1f} seconds>"


def jpeg_data_url(image: np.ndarray, quality: int = 90) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def chat_messages(request: GenerationRequest) -> list[dict[str, Any]]:
    """One user message: each frame as an image after its timestamp, then the prompt."""
    content: list[dict[str, Any]] = []
    for frame in request.frames:
        content.append({"type": "text", "text": frame_label(frame)})
        content.append({"type": "image_url", "image_url": {"url": jpeg_data_url(frame.image)}})
    content.append({"type": "text", "text": request.prompt})
    return [{"role": "user", "content": content}]


class OpenAIBackend:
    """Any OpenAI-compatible endpoint."""

    name = "openai"

    def __init__(self, model: str, base_url: str, api_key: str | None = None, timeout_s: float = 600.0) -> None:
        from openai import OpenAI

        self.model = model
        self.client = OpenAI(base_url=base_url, api_key=api_key or "EMPTY", timeout=timeout_s, max_retries=3)

    def generate(self, requests: Sequence[GenerationRequest]) -> list[str]:
        outputs = []
        for request in requests:
            params: dict[str, Any] = {
                "model": self.model, "messages": chat_messages(request), "temperature": request.temperature,
                "max_tokens": request.max_new_tokens, "seed": request.seed,
            }
            if request.top_p is not None:
                params["top_p"] = request.top_p
            response = self.client.chat.completions.create(**params)
            outputs.append(response.choices[0].message.content or "")
        return outputs


class TransformersBackend:
    """Qwen2.5-VL / Qwen3-VL with ``transformers``: the frames are the video input of the processor."""

    name = "transformers"

    def __init__(self, model: Any, processor: Any, *, batch_size: int = 8, device: str | None = None) -> None:
        self.model = model
        self.processor = processor
        self.batch_size = batch_size
        self.device = device or str(next(model.parameters()).device)

    @classmethod
    def from_pretrained(cls, path: str, *, dtype: str = "auto", device: str | None = None, **kwargs: Any) -> "TransformersBackend":
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        model = AutoModelForImageTextToText.from_pretrained(path, dtype=dtype).to(device).eval()
        processor = AutoProcessor.from_pretrained(path)
        return cls(model, processor, device=device, **kwargs)

    def _inputs(self, batch: Sequence[GenerationRequest]) -> Any:
        texts, videos, metadata = [], [], []
        for request in batch:
            messages = [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": request.prompt}]}]
            texts.append(self.processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))
            frames = request.frames
            if len(frames) % 2:  # Qwen-VL groups frames in pairs (temporal patch 2)
                frames = frames + frames[-1:]
            videos.append(np.stack([f.image for f in frames]))
            times = [f.pts_seconds for f in frames]
            fps = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else 1.0
            metadata.append({"fps": fps, "frames_indices": [f.index for f in frames], "total_num_frames": len(frames),
                             "duration": times[-1] if times else 0.0})
        kwargs: dict[str, Any] = {"text": texts, "videos": videos, "return_tensors": "pt", "padding": True}
        if _accepts_video_metadata(self.processor):
            kwargs["video_metadata"] = metadata
            kwargs["do_sample_frames"] = False
        return self.processor(**kwargs)

    def generate(self, requests: Sequence[GenerationRequest]) -> list[str]:
        import torch

        outputs: list[str] = []
        tokenizer = getattr(self.processor, "tokenizer", self.processor)
        tokenizer.padding_side = "left"
        for start in range(0, len(requests), self.batch_size):
            batch = list(requests[start : start + self.batch_size])
            inputs = self._inputs(batch).to(self.device)
            torch.manual_seed(batch[0].seed)
            first = batch[0]
            with torch.inference_mode():
                generated = self.model.generate(
                    **inputs, do_sample=first.temperature > 0, temperature=first.temperature,
                    top_p=first.top_p if first.top_p is not None else 1.0, max_new_tokens=first.max_new_tokens,
                )
            new = generated[:, inputs["input_ids"].shape[1]:]
            outputs.extend(tokenizer.batch_decode(new, skip_special_tokens=True))
        return outputs


def _accepts_video_metadata(processor: Any) -> bool:
    video_processor = getattr(processor, "video_processor", None)
    return type(video_processor).__name__.startswith("Qwen3")


class VLLMBackend:
    """Offline vLLM (``pip install vllm``); frames go in as the video input."""

    name = "vllm"

    def __init__(self, model: str, **engine_kwargs: Any) -> None:
        try:
            from vllm import LLM
        except ImportError as exc:
            raise RuntimeError("the vllm backend needs vLLM installed (pip install vllm)") from exc
        self.llm = LLM(model=model, limit_mm_per_prompt={"video": 1}, **engine_kwargs)

    def generate(self, requests: Sequence[GenerationRequest]) -> list[str]:
        from vllm import SamplingParams

        prompts, params = [], []
        tokenizer = self.llm.get_tokenizer()
        for r in requests:
            messages = [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": r.prompt}]}]
            text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            prompts.append({"prompt": text, "multi_modal_data": {"video": np.stack([f.image for f in r.frames])}})
            params.append(SamplingParams(temperature=r.temperature, top_p=r.top_p or 1.0, max_tokens=r.max_new_tokens, seed=r.seed))
        results = self.llm.generate(prompts, params)
        return [res.outputs[0].text for res in results]


def vllm_available() -> bool:
    try:
        import vllm  # noqa: F401
    except ImportError:
        return False
    return True
