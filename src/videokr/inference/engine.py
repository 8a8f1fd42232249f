"""A batched decoding engine for Qwen2.5-VL / Qwen3-VL on ``transformers`` models.

Why not ``model.generate``: for a 4.5k-token video prompt it spends most of each decoding step
in Python and in re-reading a growing cache, so a GPU runs a batch of 8 at a few dozen tokens
per second. This engine keeps the model's own prefill (vision tower, deepstack, M-RoPE
positions: everything that makes the model what it is) and replaces only the token-by-token
loop:

- **Static ring cache.** One key/value buffer per layer, ``[rows, kv_heads, slots, head_dim]``,
  allocated once. Every row writes its next token into the same slot, which advances by one
  per step modulo the slot count; each row carries an additive mask of the slots it owns.
  Attention does not care where a key sits (its position is already rotated into it), so a
  finished row is refilled with the next request's prompt in place: continuous batching with
  fixed shapes.
- **One CUDA graph per step.** Embedding, the decoder layers, the final norm and the LM head
  run as one captured graph, so a step costs the GPU's time, not Python's.
- **Decode-time M-RoPE is plain RoPE.** A generated token has the same temporal, height and
  width position, so every M-RoPE section (interleaved or not) rotates by the same angle.
- **Grouped-query attention without copies**: queries are grouped per key/value head, so the
  cache is read once per step and never repeated across heads.
- **Per-request sampling streams.** Each request draws from its own generator seeded by its
  ``seed``, so an output does not depend on which requests shared its batch.

Prefill runs one request at a time through the model's ``forward`` (no padding to get wrong).
The engine is tested token for token against ``model.generate`` on tiny random models.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np


DECODE_ATTENTION = ("sdpa", "matmul")  # PyTorch's fused attention (default; faster on an H100), grouped matmuls


@dataclass(frozen=True)
class Sampling:
    """How one request is decoded. ``temperature`` 0 means greedy."""

    max_new_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0
    ignore_eos: bool = False  # for throughput measurements at a fixed output length


@dataclass
class Generated:
    tokens: list[int]
    finished: bool  # stopped on an end-of-sequence token (False: hit max_new_tokens)


def decoder_parts(model: Any) -> tuple[Any, Any]:
    """(the text decoder, the LM head) of a Qwen-VL ``...ForConditionalGeneration``."""
    inner = getattr(model, "model", None)
    text = getattr(inner, "language_model", inner)
    head = getattr(model, "lm_head", None)
    for name in ("embed_tokens", "layers", "norm", "rotary_emb"):
        if not hasattr(text, name):
            raise TypeError(f"{type(model).__name__} is not a Qwen-VL style decoder (no text model {name})")
    if head is None:
        raise TypeError(f"{type(model).__name__} has no lm_head")
    return text, head


def supports(model: Any) -> bool:
    try:
        decoder_parts(model)
    except TypeError:
        return False
    return True


def _rotate_half(x: Any) -> Any:
    import torch

    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class _DecodeState:
    """Everything one decoding step reads and writes, at fixed addresses (CUDA graphs need them)."""

    def __init__(self, model: Any, rows: int, slots: int, attention: str = "sdpa") -> None:
        import torch

        if attention not in DECODE_ATTENTION:
            raise ValueError(f"attention must be one of {', '.join(DECODE_ATTENTION)}, not {attention!r}")
        self.attention = attention
        self.text, self.head = decoder_parts(model)
        config = self.text.config
        attn = self.text.layers[0].self_attn
        self.heads = int(config.num_attention_heads)
        self.kv_heads = int(config.num_key_value_heads)
        self.head_dim = int(getattr(attn, "head_dim", config.hidden_size // config.num_attention_heads))
        self.scale = float(getattr(attn, "scaling", self.head_dim**-0.5))
        self.rows, self.slots = rows, slots
        weight = self.text.embed_tokens.weight
        device, dtype = weight.device, weight.dtype
        self.device, self.dtype = device, dtype
        shape = (rows, self.kv_heads, slots, self.head_dim)
        self.keys = [torch.zeros(shape, device=device, dtype=dtype) for _ in self.text.layers]
        self.values = [torch.zeros(shape, device=device, dtype=dtype) for _ in self.text.layers]
        self.bias = torch.full((rows, slots), float("-inf"), device=device, dtype=torch.float32)
        self.tokens = torch.zeros(rows, device=device, dtype=torch.long)
        self.positions = torch.zeros(rows, device=device, dtype=torch.long)
        self.slot = torch.zeros(1, device=device, dtype=torch.long)
        rotary = self.text.rotary_emb
        self.inv_freq = rotary.inv_freq.to(device=device, dtype=torch.float32)
        self.rope_scaling = float(getattr(rotary, "attention_scaling", 1.0))
        self.logits: Any = None

    def step(self) -> Any:
        """Feed ``tokens`` at ``positions`` into slot ``slot``; return next-token logits [rows, vocab]."""
        import torch

        rows, groups = self.rows, self.heads // self.kv_heads
        self.bias.index_fill_(1, self.slot, 0.0)
        freqs = self.positions.to(torch.float32)[:, None] * self.inv_freq[None, :]
        angles = torch.cat((freqs, freqs), dim=-1)
        cos = (angles.cos() * self.rope_scaling).to(self.dtype)[:, None, :]
        sin = (angles.sin() * self.rope_scaling).to(self.dtype)[:, None, :]
        bias = self.bias[:, None, None, :]
        allowed = bias == 0 if self.attention == "sdpa" else None
        hidden = self.text.embed_tokens(self.tokens)[:, None, :]
        for index, layer in enumerate(self.text.layers):
            attn = layer.self_attn
            normed = layer.input_layernorm(hidden)
            q = attn.q_proj(normed).view(rows, self.heads, self.head_dim)
            k = attn.k_proj(normed).view(rows, self.kv_heads, self.head_dim)
            v = attn.v_proj(normed).view(rows, self.kv_heads, self.head_dim)
            if getattr(attn, "q_norm", None) is not None:
                q, k = attn.q_norm(q), attn.k_norm(k)
            q = q * cos + _rotate_half(q) * sin
            k = k * cos + _rotate_half(k) * sin
            keys, values = self.keys[index], self.values[index]
            keys.index_copy_(2, self.slot, k[:, :, None, :])
            values.index_copy_(2, self.slot, v[:, :, None, :])
            if self.attention == "sdpa":
                out = torch.nn.functional.scaled_dot_product_attention(
                    q[:, :, None, :], keys, values, attn_mask=allowed, scale=self.scale, enable_gqa=True)
            else:  # queries grouped per key/value head: the cache is read once, never repeated
                q = q.view(rows, self.kv_heads, groups, self.head_dim)
                scores = torch.matmul(q, keys.transpose(-1, -2)).float() * self.scale + bias
                out = torch.matmul(torch.softmax(scores, dim=-1).to(self.dtype), values)
            out = out.reshape(rows, 1, self.heads * self.head_dim)
            hidden = hidden + attn.o_proj(out)
            hidden = hidden + layer.mlp(layer.post_attention_layernorm(hidden))
        logits = self.head(self.text.norm(hidden)[:, 0, :]).float()
        self.positions.add_(1)
        self.slot.add_(1).remainder_(self.slots)
        return logits

    def reset(self) -> None:
        self.bias.fill_(float("-inf"))
        self.positions.zero_()
        self.slot.zero_()

    def load_prompt(self, row: int, keys: Sequence[Any], values: Sequence[Any], end_slot: int, next_position: int) -> None:
        """Place a prefilled prompt's keys/values so that they end just before ``end_slot``."""
        import torch

        length = keys[0].shape[-2]
        if length >= self.slots:
            raise ValueError(f"a prompt of {length} tokens does not fit {self.slots} cache slots")
        index = (torch.arange(length, device=self.device) + (end_slot - length)) % self.slots
        for layer_keys, layer_values, k, v in zip(self.keys, self.values, keys, values):
            layer_keys[row].index_copy_(1, index, k[0].to(self.dtype))
            layer_values[row].index_copy_(1, index, v[0].to(self.dtype))
        self.bias[row].fill_(float("-inf"))
        self.bias[row].index_fill_(0, index, 0.0)
        self.positions[row] = next_position


class _Stepper:
    """Runs ``_DecodeState.step`` eagerly, or replays it as a CUDA graph."""

    def __init__(self, state: _DecodeState, cuda_graph: bool) -> None:
        self.state = state
        self.graph = None
        if cuda_graph:
            import torch

            stream = torch.cuda.Stream()
            stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(stream):
                for _ in range(2):  # warm-up: lets the allocator and libraries settle before capture
                    state.step()
            torch.cuda.current_stream().wait_stream(stream)
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph):
                state.logits = state.step()
            state.reset()

    def __call__(self) -> Any:
        if self.graph is None:
            return self.state.step()
        self.graph.replay()
        return self.state.logits


def prefill_cache(model: Any, inputs: dict[str, Any]) -> tuple[Any, Any, int]:
    """Run one prompt through the model's own forward: (its cache, the last position's logits,
    the position of the next token).

    The next position is the prompt's length plus the model's M-RoPE offset (a video's
    positions advance by frame groups, not tokens), so what follows the prompt is placed as
    the model itself would place it. Gradients flow through the cache when grad is enabled
    (the shared-prefix training forward of GRPO uses that)."""
    import torch

    inner = getattr(model, "model", None)
    if inner is not None and hasattr(inner, "rope_deltas"):
        inner.rope_deltas = None  # never let a previous request's positions leak in
    out = model(**inputs, use_cache=True, logits_to_keep=1)
    length = int(inputs["input_ids"].shape[-1])
    deltas = getattr(out, "rope_deltas", None)
    if deltas is None and inner is not None:
        deltas = getattr(inner, "rope_deltas", None)
    delta = int(torch.as_tensor(deltas).reshape(-1)[0]) if deltas is not None else 0
    return out.past_key_values, out.logits[:, -1, :], length + delta


def prefill(model: Any, inputs: dict[str, Any]) -> tuple[list[Any], list[Any], Any, int]:
    """Run one request's prompt through the model: (keys, values, last logits, next position)."""
    cache, logits, next_position = prefill_cache(model, inputs)
    keys, values = [], []
    for index in range(len(decoder_parts(model)[0].layers)):
        k, v = _layer_kv(cache, index)
        keys.append(k)
        values.append(v)
    return keys, values, logits.float(), next_position


def _layer_kv(cache: Any, index: int) -> tuple[Any, Any]:
    layers = getattr(cache, "layers", None)
    if layers is not None:
        return layers[index].keys, layers[index].values
    if hasattr(cache, "key_cache"):
        return cache.key_cache[index], cache.value_cache[index]
    return cache[index][0], cache[index][1]


class Sampler:
    """Greedy or temperature/top-p sampling, one seeded stream per request."""

    def __init__(self, sampling: Sampling) -> None:
        self.sampling = sampling
        self.rng = np.random.default_rng(sampling.seed)

    def draw(self) -> float:
        return float(self.rng.random())


NUCLEUS_CANDIDATES = 256  # top-p looks at the top 256 tokens first; a full sort only if they hold too little mass


def choose_tokens(logits: Any, samplers: Sequence[Sampler | None]) -> Any:
    """Next token per row: argmax for greedy rows, inverse-CDF over the top-p set for the others."""
    import torch

    tokens = logits.argmax(dim=-1)
    sampled = [i for i, s in enumerate(samplers) if s is not None and s.sampling.temperature > 0]
    if not sampled:
        return tokens
    index = torch.tensor(sampled, device=logits.device)
    temperature = torch.tensor([samplers[i].sampling.temperature for i in sampled], device=logits.device)
    top_ps = [samplers[i].sampling.top_p for i in sampled]
    uniform = torch.tensor([samplers[i].draw() for i in sampled], device=logits.device, dtype=torch.float32)
    probs = torch.softmax(logits[index] / temperature[:, None], dim=-1)
    order = None
    if min(top_ps) < 1.0:
        top_p = torch.tensor(top_ps, device=logits.device)[:, None]
        full = probs
        probs, order = full.topk(min(NUCLEUS_CANDIDATES, full.shape[-1]), dim=-1)
        if bool((probs.sum(dim=-1, keepdim=True) < top_p).any()):  # the nucleus reaches past the candidates
            probs, order = full.sort(dim=-1, descending=True)
        before = probs.cumsum(dim=-1) - probs
        probs = probs.masked_fill(before >= top_p, 0.0)  # the top token always stays
    cumulative = probs.cumsum(dim=-1)
    target = uniform * cumulative[:, -1]
    pick = torch.searchsorted(cumulative, target[:, None]).clamp_(max=cumulative.shape[-1] - 1)
    tokens[index] = (order.gather(-1, pick) if order is not None else pick)[:, 0]
    return tokens


class DecodingEngine:
    """Continuous-batching generation over a fixed number of rows.

    ``rows`` requests decode together; when one finishes, the next waiting request is
    prefilled into its row. ``cuda_graph`` defaults to on for CUDA models. ``batch_vision``
    makes the model's vision tower attend all frame groups in one call
    (:mod:`videokr.inference.vision_attention`; it patches the model instance).
    """

    def __init__(self, model: Any, *, rows: int = 32, cuda_graph: bool | None = None,
                 eos_token_ids: Iterable[int] | None = None, attention: str = "sdpa",
                 batch_vision: bool = True, compile_prefill: bool = False) -> None:
        decoder_parts(model)
        self.model = model
        self.rows = rows
        self.attention = attention
        if batch_vision:
            from videokr.inference.vision_attention import batch_vision_attention

            batch_vision_attention(model)
        if compile_prefill:
            compile_layers(model)
        device = next(model.parameters()).device
        self.cuda_graph = device.type == "cuda" if cuda_graph is None else cuda_graph
        self.eos = set(eos_token_ids) if eos_token_ids is not None else _eos_ids(model)
        self._state: _DecodeState | None = None
        self._stepper: _Stepper | None = None

    def _prepare(self, rows: int, slots: int) -> tuple[_DecodeState, _Stepper]:
        state = self._state
        if state is None or state.rows != rows or state.slots < slots:
            self._state = self._stepper = None  # free the old buffers before allocating new ones
            if self.cuda_graph:
                import torch

                torch.cuda.empty_cache()
            state = _DecodeState(self.model, rows, slots, self.attention)
            self._state, self._stepper = state, _Stepper(state, self.cuda_graph)
        state.reset()
        assert self._stepper is not None
        return state, self._stepper

    def generate(self, inputs: Sequence[dict[str, Any]], sampling: Sequence[Sampling]) -> list[Generated]:
        """Generate for every request; ``inputs[i]`` is the processor output of request ``i`` alone.

        Requests given the same input object (the runs of one item) are prefilled once; each
        still samples with its own seed."""
        import torch

        if len(inputs) != len(sampling):
            raise ValueError("one Sampling per request")
        if not inputs:
            return []
        lengths = [int(x["input_ids"].shape[-1]) for x in inputs]
        slots = max(lengths) + max(s.max_new_tokens for s in sampling) + 1
        slots = -(-slots // 64) * 64  # round up, so similar calls reuse the buffers and the graph
        rows = min(self.rows, len(inputs))
        results: list[Generated | None] = [None] * len(inputs)
        with torch.inference_mode():
            state, stepper = self._prepare(rows, slots)
            first_use = {}
            for i, x in enumerate(inputs):
                first_use.setdefault(id(x), i)
            # long prompts first; requests given the same input object stay together and share a prefill
            waiting = deque(sorted(range(len(inputs)), key=lambda i: (-lengths[i], first_use[id(inputs[i])], i)))
            uses = Counter(id(x) for x in inputs)
            shared: dict[int, tuple[Any, Any, Any, int]] = {}
            owner: list[int | None] = [None] * rows
            samplers: list[Sampler | None] = [None] * rows
            outputs: list[list[int]] = [[] for _ in range(rows)]
            pending = torch.zeros(rows, dtype=torch.long, device=state.device)
            host_slot = 0

            def admit(row: int) -> None:
                request = waiting.popleft()
                key = id(inputs[request])
                done = shared.get(key)
                if done is None:
                    done = prefill(self.model, _to_device(inputs[request], state.device))
                uses[key] -= 1
                if uses[key]:
                    shared[key] = done
                else:
                    shared.pop(key, None)
                keys, values, logits, position = done
                state.load_prompt(row, keys, values, host_slot, position)
                owner[row], samplers[row], outputs[row] = request, Sampler(sampling[request]), []
                first = choose_tokens(logits, [samplers[row]])
                pending[row] = first[0]
                finish_if_done(row, int(first[0]))

            def finish_if_done(row: int, token: int) -> None:
                request = owner[row]
                assert request is not None
                spec = sampling[request]
                outputs[row].append(token)
                stop = token in self.eos and not spec.ignore_eos
                if stop or len(outputs[row]) >= spec.max_new_tokens:
                    results[request] = Generated(outputs[row], finished=stop)
                    owner[row] = samplers[row] = None

            for row in range(rows):
                while owner[row] is None and waiting:
                    admit(row)
            while any(o is not None for o in owner):
                state.tokens.copy_(pending)
                logits = stepper()
                host_slot = (host_slot + 1) % state.slots
                chosen = choose_tokens(logits, samplers)
                pending.copy_(chosen)
                chosen_host = chosen.tolist()
                for row in range(rows):
                    if owner[row] is not None:
                        finish_if_done(row, chosen_host[row])
                    while owner[row] is None and waiting:
                        admit(row)
        assert all(r is not None for r in results)
        return results  # type: ignore[return-value]


def compile_layers(model: Any) -> int:
    """``torch.compile`` each decoder layer and vision block (one compiled graph shared by all,
    dynamic in sequence length): fuses the norms, rotary and activations of the prefill.
    Decoding calls the layers' parts directly, so the step graph is unaffected."""
    import torch._dynamo

    text, _ = decoder_parts(model)
    blocks = list(text.layers) + list(getattr(getattr(getattr(model, "model", None), "visual", None), "blocks", []))
    # Each layer is its own compile (its index is a constant of the graph): let all of them compile
    # instead of falling back to eager after the default limit of 8.
    config = torch._dynamo.config
    config.cache_size_limit = max(config.cache_size_limit, len(blocks) + 8)
    if hasattr(config, "accumulated_cache_size_limit"):
        config.accumulated_cache_size_limit = max(config.accumulated_cache_size_limit, 4 * len(blocks))
    for block in blocks:
        block.compile(dynamic=True)
    return len(blocks)


def _to_device(inputs: dict[str, Any], device: Any) -> dict[str, Any]:
    return {k: (v.to(device) if hasattr(v, "to") else v) for k, v in inputs.items()}


def _eos_ids(model: Any) -> set[int]:
    ids: set[int] = set()
    for config in (getattr(model, "generation_config", None), getattr(model.config, "text_config", None), model.config):
        value = getattr(config, "eos_token_id", None) if config is not None else None
        if value is None:
            continue
        ids.update([value] if isinstance(value, int) else list(value))
        if ids:
            break
    return ids
