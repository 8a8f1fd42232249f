"""Generation backends: one interface, three engines.

- ``openai``: any OpenAI-compatible chat endpoint (a provider, a vLLM or SGLang server);
  frames go as JPEG images, each preceded by its timestamp.
- ``transformers``: Qwen2.5-VL and Qwen3-VL checkpoints through their own processors,
  frames passed as the video input; requests are batched.
- ``vllm``: offline vLLM when it is installed.

Every backend receives the same :class:`GenerationRequest` and returns one text per request.
Sampling is per request (``seed``), so the runs of an evaluation are independent samples.
Each backend also says which of its settings can change an output (``output_settings()``:
the model it loads or calls, the endpoint, the decoding, …); the runner keys stored outputs
on them, so a changed setting generates anew. An API key is never among them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np

from videokr.evaluate.frames import EvalFrame
from videokr.inference import qwen_video

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


_SECRET_PARAMS = ("key", "token", "secret", "sig", "password", "auth")


def public_url(url: str) -> str:
    """A base URL without what could be a credential: user info and key-like query parameters."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if not any(word in k.lower() for word in _SECRET_PARAMS)]
    return urlunsplit((parts.scheme, host, parts.path.rstrip("/"), urlencode(query), ""))


def chat_messages(request: GenerationRequest) -> list[dict[str, Any]]:
    """One user message: every frame of the budget as an image after its timestamp, then the prompt."""
    from videokr.models.frames import user_message_with_frames

    return [user_message_with_frames(request.prompt, request.frames, max_images=max(1, len(request.frames)))]


class OpenAIBackend:
    """Any OpenAI-compatible endpoint, through the model client (:mod:`videokr.models`).

    Requests go through the gateway, so they share its limits, retries, accounting and
    request cache; each run's ``seed`` is part of the request, so runs stay independent. The
    endpoint's URL salts the cache key: another server answering to the same model name is
    asked, not answered from the first one's replies.
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

    def _config(self) -> Any:
        return self.models[self.model]

    def output_settings(self) -> dict[str, Any]:
        from videokr.models.frames import JPEG_QUALITY

        config = self._config()
        return {"model": config.model, "base_url": public_url(config.base_url), "params": dict(config.params),
                "image": {"format": "jpeg", "quality": JPEG_QUALITY}}

    def generate(self, requests: Sequence[GenerationRequest]) -> list[str]:
        import asyncio

        return asyncio.run(self._generate(requests))

    async def _generate(self, requests: Sequence[GenerationRequest]) -> list[str]:
        import asyncio

        from videokr.models.gateway import Gateway

        salt = "endpoint " + public_url(self._config().base_url)
        async with Gateway(self.models, self.store) as gateway:
            replies = await asyncio.gather(*(
                gateway.chat(self.model, chat_messages(r), params=_params(r), step=self.step,
                             step_version=self.step_version, salt=salt) for r in requests
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

    Inputs come from :mod:`videokr.inference.qwen_video` and decoding runs on
    :mod:`videokr.inference.engine` (static cache, CUDA graphs, continuous batching,
    per-request seeds); ``decoding="generate"`` keeps plain ``model.generate``.
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
        self.source = str(getattr(getattr(model, "config", None), "_name_or_path", "") or type(model).__name__)
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
        backend = cls(model, processor, device=device, **kwargs)
        backend.source = path
        return backend

    def decoding_used(self) -> str:
        """The decoding that runs: the engine falls back to ``generate`` for models it does not support."""
        from videokr.inference import engine

        return "generate" if self.decoding == "generate" or not engine.supports(self.model) else "engine"

    def output_settings(self) -> dict[str, Any]:
        decoding = self.decoding_used()
        settings: dict[str, Any] = {
            "model": self.source,
            "dtype": str(getattr(self.model, "dtype", "")),
            "decoding": decoding,
            "inputs": qwen_video.input_settings(self.processor, self.model, self.vision),
        }
        if decoding == "generate":  # one sampling stream per batch: the batch shapes the outputs
            settings["batch_size"] = self.batch_size
        return settings

    def _inputs(self, batch: Sequence[GenerationRequest]) -> Any:
        """The model inputs of a batch (:func:`videokr.inference.qwen_video.build_inputs`)."""
        return qwen_video.build_inputs(self.model, self.processor, [r.prompt for r in batch],
                                       [r.frames for r in batch], self.vision)

    def _numpy_inputs(self, batch: Sequence[GenerationRequest]) -> Any:
        """The same inputs built without torchvision (:func:`videokr.inference.qwen_video.numpy_inputs`)."""
        return qwen_video.numpy_inputs(self.model, self.processor, [r.prompt for r in batch],
                                       [r.frames for r in batch], self.vision)

    def generate(self, requests: Sequence[GenerationRequest]) -> list[str]:
        from videokr.inference import engine

        if self.decoding_used() == "generate":
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


class VLLMBackend:
    """Offline vLLM (``pip install vllm``); frames go in as the video input."""

    name = "vllm"

    def __init__(self, model: str, **engine_kwargs: Any) -> None:
        try:
            from vllm import LLM
        except ImportError as exc:
            raise RuntimeError("the vllm backend needs vLLM installed (pip install vllm)") from exc
        self.llm = LLM(model=model, limit_mm_per_prompt={"video": 1}, **engine_kwargs)
        self.model = model
        self.engine_kwargs = dict(engine_kwargs)

    def output_settings(self) -> dict[str, Any]:
        return {"model": self.model, "engine": {k: qwen_video.plain_value(v) for k, v in self.engine_kwargs.items()}}

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
