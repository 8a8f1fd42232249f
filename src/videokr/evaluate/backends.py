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


def chat_messages(request: GenerationRequest) -> list[dict[str, Any]]:
    """One user message: every frame of the budget as an image after its timestamp, then the prompt."""
    from videokr.models.frames import user_message_with_frames

    return [user_message_with_frames(request.prompt, request.frames, max_images=max(1, len(request.frames)))]


class OpenAIBackend:
    """Any OpenAI-compatible endpoint, through the model client (:mod:`videokr.models`).

    Requests go through the gateway, so they share its limits, retries, accounting and
    request cache; each run's ``seed`` is part of the request, so runs stay independent.
    """

    name = "openai"
    step = "eval.generate"
    step_version = "1"

    def __init__(self, model: str, models: dict[str, Any], store: Any = None) -> None:
        self.model = model
        self.models = models
        self.store = store

    @classmethod
    def for_endpoint(cls, model: str, base_url: str, api_key_env: str | None = None, store: Any = None,
                     **limits: Any) -> "OpenAIBackend":
        from videokr.models.config import Limits, ModelConfig

        config = ModelConfig(base_url=base_url, model=model, api_key_env=api_key_env, limits=Limits(**limits))
        return cls(model, {model: config}, store)

    def generate(self, requests: Sequence[GenerationRequest]) -> list[str]:
        import asyncio

        return asyncio.run(self._generate(requests))

    async def _generate(self, requests: Sequence[GenerationRequest]) -> list[str]:
        import asyncio

        from videokr.models.gateway import Gateway

        async with Gateway(self.models, self.store) as gateway:
            replies = await asyncio.gather(*(
                gateway.chat(self.model, chat_messages(r), params=_params(r), step=self.step,
                             step_version=self.step_version) for r in requests
            ))
        texts = []
        for request, reply in zip(requests, replies):
            if not reply.ok or reply.content is None:
                raise RuntimeError(f"{self.model} failed on {request.key}: {reply.error or reply.status_code}")
            texts.append(reply.content)
        return texts


def _params(request: GenerationRequest) -> dict[str, Any]:
    params: dict[str, Any] = {"temperature": request.temperature, "max_tokens": request.max_new_tokens,
                              "seed": request.seed}
    if request.top_p is not None:
        params["top_p"] = request.top_p
    return params


DECODINGS = ("engine", "generate")  # videokr's decoding engine, or plain ``model.generate``


class TransformersBackend:
    """Qwen2.5-VL / Qwen3-VL with ``transformers``: the frames are the video input of the processor.

    Decoding runs on :mod:`videokr.evaluate.engine` (static cache, CUDA graphs, continuous
    batching, per-request seeds); ``decoding="generate"`` keeps plain ``model.generate``.
    """

    name = "transformers"

    def __init__(self, model: Any, processor: Any, *, batch_size: int = 8, device: str | None = None,
                 decoding: str = "engine", vision: Any = None, compile_prefill: bool = False) -> None:
        if decoding not in DECODINGS:
            raise ValueError(f"decoding must be one of {', '.join(DECODINGS)}, not {decoding!r}")
        self.model = model
        self.processor = processor
        self.batch_size = batch_size
        self.device = device or str(next(model.parameters()).device)
        self.decoding = decoding
        self.vision = vision  # a QwenVision for the numpy input builder; None: from the model config
        self.compile_prefill = compile_prefill
        self._engine: Any = None

    @classmethod
    def from_pretrained(cls, path: str, *, dtype: str = "auto", device: str | None = None, **kwargs: Any) -> "TransformersBackend":
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor, AutoTokenizer

        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        model = AutoModelForImageTextToText.from_pretrained(path, dtype=dtype).to(device).eval()
        try:
            processor = AutoProcessor.from_pretrained(path)
        except (ImportError, OSError, ValueError, TypeError):  # no processor files, or no torchvision
            processor = AutoTokenizer.from_pretrained(path)
        return cls(model, processor, device=device, **kwargs)

    def _inputs(self, batch: Sequence[GenerationRequest]) -> Any:
        if getattr(self.processor, "video_processor", None) is None or not _torchvision_available():
            return self._numpy_inputs(batch)
        texts, videos, metadata, sampled_fps = [], [], [], []
        for request in batch:
            messages = [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": request.prompt}]}]
            texts.append(self.processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))
            frames = request.frames
            source_fps, rate = frame_rates(frames)
            if len(frames) % 2:  # Qwen-VL groups frames in pairs (temporal patch 2)
                frames = frames + frames[-1:]
            videos.append(np.stack([f.image for f in frames]))
            sampled_fps.append(rate)
            # Qwen3-VL writes "<t seconds>" from index / fps: the source rate makes t the frame's time.
            metadata.append({"fps": source_fps, "frames_indices": [f.index for f in frames],
                             "total_num_frames": frames[-1].index + 1, "duration": frames[-1].pts_seconds})
        kwargs: dict[str, Any] = {"text": texts, "videos": videos, "return_tensors": "pt", "padding": True}
        if _accepts_video_metadata(self.processor):
            kwargs["video_metadata"] = metadata
            kwargs["do_sample_frames"] = False
        inputs = self.processor(**kwargs)
        if "second_per_grid_ts" in inputs:  # Qwen2.5-VL: the time one temporal group spans, per video
            import torch

            patch = getattr(self.processor.video_processor, "temporal_patch_size", 2)
            inputs["second_per_grid_ts"] = torch.tensor([patch / rate for rate in sampled_fps], dtype=torch.float32)
        return inputs

    def _numpy_inputs(self, batch: Sequence[GenerationRequest]) -> Any:
        """The same inputs built without torchvision (see :mod:`videokr.evaluate.qwen_video`)."""
        import torch

        from videokr.evaluate.qwen_video import VIDEO_PAD, QwenVision, expand_video_tokens, video_patches

        vision = self.vision or QwenVision.from_config(self.model.config)
        tokenizer = getattr(self.processor, "tokenizer", self.processor)
        texts, patches, grids, seconds = [], [], [], []
        for request in batch:
            messages = [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": request.prompt}]}]
            text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            p, grid, times = video_patches(request.frames, vision)
            texts.append(expand_video_tokens(text, grid, times, vision))
            patches.append(p)
            grids.append(grid)
            seconds.append(vision.temporal_patch_size / frame_rates(request.frames)[1])  # as the processor path
        inputs = tokenizer(texts, return_tensors="pt", padding=True)
        if _takes_token_types(self.model):  # newer transformers need them to build M-RoPE positions
            video_token = tokenizer.convert_tokens_to_ids(VIDEO_PAD)
            inputs["mm_token_type_ids"] = (inputs["input_ids"] == video_token).int() * VIDEO_TOKEN_TYPE
        inputs["pixel_values_videos"] = torch.from_numpy(np.concatenate(patches)).to(self.model.dtype)
        inputs["video_grid_thw"] = torch.tensor(grids, dtype=torch.long)
        if not vision.timestamps:  # Qwen2.5-VL: the time one temporal group spans
            inputs["second_per_grid_ts"] = torch.tensor(seconds, dtype=torch.float32)
        return inputs

    def generate(self, requests: Sequence[GenerationRequest]) -> list[str]:
        from videokr.evaluate import engine

        if self.decoding == "generate" or not engine.supports(self.model):
            return self._generate_plain(requests)
        if self._engine is None:
            self._engine = engine.DecodingEngine(self.model, rows=self.batch_size, compile_prefill=self.compile_prefill)
        tokenizer = getattr(self.processor, "tokenizer", self.processor)
        built: dict[tuple[str, int], Any] = {}  # requests with the same prompt and frames share one input
        inputs = []
        for request in requests:
            key = (request.prompt, id(request.frames))
            if key not in built:
                built[key] = self._inputs([request])
            inputs.append(built[key])
        sampling = [engine.Sampling(max_new_tokens=r.max_new_tokens, temperature=r.temperature,
                                    top_p=r.top_p if r.top_p is not None else 1.0, seed=r.seed) for r in requests]
        results = self._engine.generate(inputs, sampling)
        return [tokenizer.decode(r.tokens, skip_special_tokens=True) for r in results]

    def _generate_plain(self, requests: Sequence[GenerationRequest]) -> list[str]:
        """``model.generate`` on padded batches: the reference the engine is measured against."""
        import torch

        outputs: list[str] = []
        tokenizer = getattr(self.processor, "tokenizer", self.processor)
        tokenizer.padding_side = "left"
        for start in range(0, len(requests), self.batch_size):
            batch = list(requests[start : start + self.batch_size])
            inputs = self._inputs(batch).to(self.device)
            torch.manual_seed(batch[0].seed)  # one seed per batch: runs differ, rows of a batch share a stream
            first = batch[0]
            with torch.inference_mode():
                generated = self.model.generate(
                    **inputs, do_sample=first.temperature > 0, temperature=first.temperature,
                    top_p=first.top_p if first.top_p is not None else 1.0, max_new_tokens=first.max_new_tokens,
                )
            new = generated[:, inputs["input_ids"].shape[1]:]
            outputs.extend(tokenizer.batch_decode(new, skip_special_tokens=True))
        return outputs


VIDEO_TOKEN_TYPE = 2  # transformers' modality code for video tokens (text 0, image 1)


def _takes_token_types(model: Any) -> bool:
    import inspect

    get_rope_index = getattr(getattr(model, "model", None), "get_rope_index", None)
    return get_rope_index is not None and "mm_token_type_ids" in inspect.signature(get_rope_index).parameters


def frame_rates(frames: Sequence[EvalFrame]) -> tuple[float, float]:
    """(the source video's frame rate, the rate of the sampled frames), read off indices and times."""
    first, last = frames[0], frames[-1]
    span = last.pts_seconds - first.pts_seconds
    if span <= 0:
        source = first.index / first.pts_seconds if first.index > 0 and first.pts_seconds > 0 else 1.0
        return source, source
    return (last.index - first.index) / span, (len(frames) - 1) / span


def _torchvision_available() -> bool:
    try:
        import torchvision  # noqa: F401
    except Exception:  # a torchvision built for another torch fails on import, not just missing
        return False
    return True


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
