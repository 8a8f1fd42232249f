"""Training throughput on one GPU: the steps of `videokr train sft` / `videokr train grpo` against
plain transformers, side by side in one process on the same model, data and optimizer.

A random-initialised Qwen3-VL-8B-shaped model (full-size shapes, bf16 weights, SDPA, fused
AdamW, vision tower and projector frozen), video prompts laid out as the processor lays them
out (128 frames of 256×256 = 4,096 video tokens plus timestamps), see ``bench_generate.py``.

    python benchmarks/bench_train.py sft     # 20 steps: baseline (checkpointed, batch 1) vs videokr
    python benchmarks/bench_train.py grpo    # one step of 32 prompts x 8 rollouts vs generate + per-response passes
    python benchmarks/bench_train.py sft --small --steps 3     # tiny shapes: a smoke run on the CPU
    python benchmarks/bench_train.py sft-batch                 # the largest micro-batch that fits, with and without recomputation
    python benchmarks/bench_train.py sft-pack --steps 8        # packed against padded micro-batches of spread lengths
    python benchmarks/bench_train.py sft-profile --compile     # where the SFT step's time goes; attention kernels alone

**SFT.** Each step is one example (batch 1) — forward, backward, gradient clipping, an AdamW
step. Examples of 6,952 tokens (the video, then 2,600 text tokens of which the last 300–1,100 are
the response, mean 700), the loss on the response only. The baseline is what LLaMA-Factory and TRL give by default: the model's
own loss (``labels=``, logits for every position) with gradient checkpointing. videokr's step
is ``videokr.train.loss.forward_loss_sum`` (logits only where the loss is) with the settings
``train.sft`` is given (``--videokr-checkpointing`` to keep recomputation on). Both runs start
from the same weights and see the same examples in the same order; the per-step losses are
printed side by side (they must agree within 1%).

**GRPO.** One step: 32 prompts (4,296-token video prompts), 8 rollouts each of 256 tokens at
temperature 1.0, rewards (synthetic: a random model earns none), group advantages, the k3 KL
to a frozen reference, one AdamW step. videokr: rollouts by the decoding engine (one prefill per
group, continuous batching, CUDA graphs), the update by the shared-prefix pass
(``videokr.train.shared_prefix``). Baseline: ``model.generate`` per group, then a reference
pass and a policy forward/backward per response. The baseline runs ``--baseline-prompts``
prompts (default 4) and its time is scaled to 32 (every prompt costs it the same); the scale
is printed.

MFU counts the language model's matmuls (6·N·tokens for the layers, the LM head on the
response positions, causal attention) against the bf16 matmul rate measured in the same
process. Prints one JSON line per measurement.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_generate import make_config, sync, video_prompt  # noqa: E402

SFT_TEXT_TOKENS = 2600  # text tokens after the video, the response included: 6,952-token examples
SFT_RESPONSES = (300, 1100)  # response lengths, spread evenly over the steps (mean 700)


def emit(record: dict[str, Any]) -> None:
    print(json.dumps(record), flush=True)


def qwen3vl_2b_config() -> Any:
    """Qwen3-VL-2B's shapes (GRPO's policy, reference, gradients and optimizer state fit one GPU beside
    the 8B's activations only with recomputation; the 2B runs the same code without it)."""
    config = make_config(False)
    text, vision = config.text_config, config.vision_config
    for key, value in dict(hidden_size=2048, intermediate_size=6144, num_hidden_layers=28, num_attention_heads=16,
                           num_key_value_heads=8, head_dim=128).items():
        setattr(text, key, value)
    for key, value in dict(depth=24, hidden_size=1024, intermediate_size=4096, num_heads=16, out_hidden_size=2048,
                           deepstack_visual_indexes=[5, 11, 17]).items():
        setattr(vision, key, value)
    return config


def build_model(small: bool, device: str, shape: str = "8b") -> tuple[Any, Any]:
    import torch
    from transformers import Qwen3VLForConditionalGeneration

    from videokr.train.model import freeze_vision

    config = make_config(small) if small or shape == "8b" else qwen3vl_2b_config()
    torch.manual_seed(0)
    with torch.device(device):
        model = Qwen3VLForConditionalGeneration._from_config(config, dtype=torch.bfloat16, attn_implementation="sdpa")
    freeze_vision(model, tower=True, projector=True)
    model.config.use_cache = False
    return model, config


def fresh_optimizer(model: Any, device: str) -> tuple[Any, list[Any]]:
    """Fused AdamW over the trainable parameters (and them), peak memory counted from here."""
    import torch

    from videokr.train.model import parameter_groups

    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    optimizer = torch.optim.AdamW(parameter_groups(model, 0.0), lr=1e-5, fused=device == "cuda")
    return optimizer, [p for p in model.parameters() if p.requires_grad]


def timed_step(backward: Any, optimizer: Any, params: list[Any], clip: Any = None) -> tuple[float, float]:
    """One optimizer step — ``backward()`` returns the (already backpropagated) loss — timed: (seconds, loss).
    ``clip(params, max_norm)`` clips the gradients (torch's by default; accelerate's under FSDP)."""
    import torch

    sync()
    began = time.perf_counter()
    loss = backward()
    (clip or torch.nn.utils.clip_grad_norm_)(params, 1.0)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    sync()
    return time.perf_counter() - began, float(loss)


def matmul_peak(device: str) -> float:
    """The bf16 matmul rate of this device (FLOP/s), measured on 8192³ products."""
    import torch

    if device != "cuda":
        return float("nan")
    a = torch.randn(8192, 8192, device=device, dtype=torch.bfloat16)
    b = torch.randn(8192, 8192, device=device, dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    sync()
    start = time.perf_counter()
    for _ in range(20):
        a @ b
    sync()
    return 20 * 2 * 8192**3 / (time.perf_counter() - start)


def lm_flops(config: Any, tokens: int, response: int) -> float:
    """Matmul FLOPs of one training pass (forward + backward) of the language model."""
    text = config.text_config
    d, layers, inter = text.hidden_size, text.num_hidden_layers, text.intermediate_size
    heads, kv, head_dim = text.num_attention_heads, text.num_key_value_heads, text.head_dim
    per_layer = d * heads * head_dim * 2 + d * kv * head_dim * 2 + 3 * d * inter
    body = 6 * layers * per_layer * tokens
    attention = 6 * layers * tokens * tokens * heads * head_dim  # causal: half of 4·T²·d forward, ×3
    head = 6 * d * text.vocab_size * response
    return float(body + attention + head)


def sft_sample(config: Any, seed: int, response: int, device: str) -> dict[str, Any]:
    import torch

    from videokr.inference.qwen_video import IGNORE_INDEX

    inputs = video_prompt(config, seed, text_tokens=SFT_TEXT_TOKENS, device=device)
    labels = inputs["input_ids"].clone()
    labels[:, : labels.shape[1] - response] = IGNORE_INDEX
    inputs["labels"] = labels
    inputs["attention_mask"] = torch.ones_like(labels)
    return inputs


def run_sft(args: argparse.Namespace) -> None:
    import torch

    from videokr.train.loss import forward_loss_sum
    from videokr.train.model import enable_checkpointing

    device = "cuda" if torch.cuda.is_available() else "cpu"
    peak = matmul_peak(device)
    model, config = build_model(args.small, device)
    low, high = SFT_RESPONSES
    lengths = [low + (high - low) * i // max(1, args.steps - 1) for i in range(args.steps)]
    order = [lengths[(7 * i) % len(lengths)] for i in range(args.steps)]  # spread, not sorted
    samples = [sft_sample(config, i, r, device) for i, r in enumerate(order)]
    start_weights = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
    emit({"probe": "setup", "device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu",
          "torch": torch.__version__, "matmul_peak_tflops": round(peak / 1e12, 1),
          "tokens_mean": sum(int(s["input_ids"].shape[1]) for s in samples) / len(samples)})

    def baseline_step(sample: dict[str, Any]) -> Any:
        out = model(**sample, use_cache=False)
        out.loss.backward()
        return out.loss.detach()

    def videokr_step(sample: dict[str, Any]) -> Any:
        learned = int((sample["labels"] != -100).sum())
        loss = forward_loss_sum(model, sample) / max(1, learned)
        loss.backward()
        return loss.detach()

    def run(label: str, step: Any, checkpointing: bool) -> dict[str, Any]:
        model.load_state_dict(start_weights)
        if checkpointing:
            if label == "baseline":
                model.gradient_checkpointing_enable()  # transformers' default, what users get
            else:
                enable_checkpointing(model)
        else:
            model.gradient_checkpointing_disable()
        model.train()
        optimizer, params = fresh_optimizer(model, device)
        times, losses = map(list, zip(*(timed_step(lambda s=sample: step(s), optimizer, params) for sample in samples)))
        warm = min(2, len(samples) - 1)
        tokens = sum(int(s["input_ids"].shape[1]) for s in samples[warm:])
        flops = sum(lm_flops(config, int(s["input_ids"].shape[1]), int((s["labels"] != -100).sum()))
                    for s in samples[warm:])
        seconds = sum(times[warm:])
        del optimizer
        result = {"probe": f"sft {label}", "checkpointing": checkpointing, "steps": len(samples),
                  "s_per_step": round(seconds / len(times[warm:]), 4), "tok_per_s": round(tokens / seconds, 1),
                  "mfu": round(flops / seconds / peak, 3) if peak == peak else None,
                  "peak_gb": round(torch.cuda.max_memory_allocated() / 2**30, 1) if device == "cuda" else None,
                  "losses": [round(x, 5) for x in losses]}
        emit(result)
        return result

    base = run("baseline", baseline_step, checkpointing=True)
    from videokr.inference.vision_attention import batch_vision_attention

    batch_vision_attention(model)  # videokr's models attend all frame groups at once (train.model.load_model)
    runs = [run("videokr", videokr_step, checkpointing=args.videokr_checkpointing)]
    if args.cudnn_attention:  # the same step with PyTorch's cuDNN attention kernel instead of its default
        from torch.nn.attention import SDPBackend, sdpa_kernel

        def cudnn_step(sample: dict[str, Any]) -> Any:
            with sdpa_kernel([SDPBackend.CUDNN_ATTENTION, SDPBackend.FLASH_ATTENTION]):
                return videokr_step(sample)

        runs.append(run("videokr cudnn-attention", cudnn_step, checkpointing=args.videokr_checkpointing))
    if args.compile:  # the same step with `compile: true` (each layer compiled once, in the first steps)
        from videokr.inference.engine import compile_layers

        compile_layers(model)
        runs.append(run("videokr compile", videokr_step, checkpointing=args.videokr_checkpointing))
    for ours in runs:
        worst = max(abs(a - b) / abs(b) for a, b in zip(ours["losses"], base["losses"]))
        emit({"probe": f"{ours['probe']} / baseline", "speedup": round(ours["tok_per_s"] / base["tok_per_s"], 3),
              "max_loss_rel_diff": round(worst, 5), "losses_agree_1pct": worst <= 0.01})


def run_sft_batch(args: argparse.Namespace) -> None:
    """The largest per-GPU micro-batch of the SFT step, with and without recomputation: micro-batches of
    1, 2, 3, 4, 6, 8 examples (6,952 tokens each) until one runs out of memory; tokens/s and peak memory
    of each that fits (the first of its steps is a warm-up)."""
    import torch

    from videokr.train.loss import forward_loss_sum
    from videokr.train.model import enable_checkpointing

    device = "cuda" if torch.cuda.is_available() else "cpu"
    model, config = build_model(args.small, device)
    optimizer, params = fresh_optimizer(model, device)
    low, high = SFT_RESPONSES
    for checkpointing in (False, True):
        if checkpointing:
            enable_checkpointing(model)
        else:
            model.gradient_checkpointing_disable()
        model.train()
        for size in (1, 2, 3, 4, 6, 8):
            rows = [sft_sample(config, i, low + (high - low) * i // 7, device) for i in range(size)]
            batch = {k: torch.cat([r[k] for r in rows]) for k in rows[0]}
            if device == "cuda":
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
            learned = int((batch["labels"] != -100).sum())

            def backward(batch: dict[str, Any] = batch, learned: int = learned) -> Any:
                loss = forward_loss_sum(model, batch) / learned
                loss.backward()
                return loss.detach()

            try:
                times = [timed_step(backward, optimizer, params)[0] for _ in range(3)]
            except torch.OutOfMemoryError:
                optimizer.zero_grad(set_to_none=True)
                del rows, batch
                emit({"probe": "sft batch", "checkpointing": checkpointing, "micro_batch": size, "fits": False})
                break
            seconds = sum(times[1:]) / len(times[1:])
            emit({"probe": "sft batch", "checkpointing": checkpointing, "micro_batch": size, "fits": True,
                  "s_per_step": round(seconds, 3),
                  "tok_per_s": round(int(batch["input_ids"].numel()) / seconds, 1),
                  "peak_gb": round(torch.cuda.max_memory_allocated() / 2**30, 1) if device == "cuda" else None})
            del rows, batch


def run_sft_pack(args: argparse.Namespace) -> None:
    """Packing against padding: micro-batches of 4 examples of spread lengths (videos of 32, 64 or 128
    frames — 1,024 to 4,096 video tokens — and 600 to 2,600 text tokens), recomputation on, the same
    examples and weights for both; tokens/s counts real tokens only, and the losses must agree."""
    import torch

    from videokr.inference.qwen_video import collate_rows
    from videokr.train.loss import forward_loss_sum
    from videokr.train.model import enable_checkpointing
    from videokr.train.packing import pack_rows

    device = "cuda" if torch.cuda.is_available() else "cpu"
    model, config = build_model(args.small, device)
    if not args.small:
        enable_checkpointing(model)
    model.train()
    size = 4
    rows = []
    for i in range(args.steps * size):
        frames = (32, 64, 128)[(5 * i) % 3] if not args.small else 4
        text = 600 + 2000 * ((7 * i) % 11) // 10
        inputs = video_prompt(config, i, frames=frames, text_tokens=text, device=device)
        labels = inputs["input_ids"].clone()
        labels[:, : labels.shape[1] - min(text - 100, 300 + 800 * ((3 * i) % 7) // 6)] = -100
        inputs["labels"] = labels
        rows.append(inputs)
    start_weights = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
    real = [sum(int(r["input_ids"].shape[1]) for r in rows[s * size:(s + 1) * size]) for s in range(args.steps)]
    padded_len = [size * max(int(r["input_ids"].shape[1]) for r in rows[s * size:(s + 1) * size])
                  for s in range(args.steps)]
    emit({"probe": "setup", "micro_batch": size, "real_tokens_per_step": sum(real) / len(real),
          "padded_tokens_per_step": sum(padded_len) / len(padded_len)})
    results = {}
    for label in ("padded", "packed"):
        model.load_state_dict(start_weights)
        optimizer, params = fresh_optimizer(model, device)

        def backward(micro: list[dict[str, Any]], packed: bool = label == "packed") -> Any:
            batch = pack_rows(micro, model) if packed else collate_rows(micro, 0)  # the layout is timed too
            loss = forward_loss_sum(model, batch) / int((batch["labels"] != -100).sum())
            loss.backward()
            return loss.detach()

        times, losses = map(list, zip(*(timed_step(lambda m=rows[s * size:(s + 1) * size]: backward(m), optimizer, params)
                                        for s in range(args.steps))))
        del optimizer
        warm = min(2, args.steps - 1)
        results[label] = {"probe": f"sft {label}", "s_per_step": round(sum(times[warm:]) / len(times[warm:]), 3),
                          "tok_per_s": round(sum(real[warm:]) / sum(times[warm:]), 1),
                          "peak_gb": round(torch.cuda.max_memory_allocated() / 2**30, 1) if device == "cuda" else None,
                          "losses": [round(x, 5) for x in losses]}
        emit(results[label])
    worst = max(abs(a - b) / abs(b) for a, b in zip(results["packed"]["losses"], results["padded"]["losses"]))
    emit({"probe": "sft packed / padded", "speedup": round(results["packed"]["tok_per_s"] / results["padded"]["tok_per_s"], 3),
          "max_loss_rel_diff": round(worst, 5)})


KERNEL_KINDS = (  # (kind, substrings of a CUDA kernel's name), first match wins
    ("attention", ("flash", "fmha", "attention", "cudnn", "sdpa")),
    ("matmul", ("gemm", "cutlass", "xmma", "nvjet", "cublas", "sm90_", "sm80_")),
    ("optimizer", ("adam", "multi_tensor", "foreach")),
    ("compiled (triton)", ("triton",)),
    ("embedding / index", ("embedding", "index", "scatter", "gather")),
    ("elementwise / reduce", ("elementwise", "reduce", "vectorized", "copy", "fill", "cat")),
)


def kernel_kind(name: str) -> str:
    lowered = name.lower()
    for kind, needles in KERNEL_KINDS:
        if any(n in lowered for n in needles):
            return kind
    return "other"


def attention_kernels(tokens: int, config: Any) -> None:
    """SDPA forward + backward alone at one example's length, per PyTorch backend, with the model's
    grouped KV heads (``enable_gqa``) and with them repeated to every query head."""
    import torch
    from torch.nn.attention import SDPBackend, sdpa_kernel

    text = config.text_config
    heads, kv, dim = text.num_attention_heads, text.num_key_value_heads, text.head_dim
    flops = 6 * tokens * tokens * heads * dim
    for backend in (SDPBackend.FLASH_ATTENTION, SDPBackend.CUDNN_ATTENTION, SDPBackend.EFFICIENT_ATTENTION):
        for grouped in (True, False):
            q = torch.randn(1, heads, tokens, dim, device="cuda", dtype=torch.bfloat16, requires_grad=True)
            k, v = (torch.randn(1, kv if grouped else heads, tokens, dim, device="cuda", dtype=torch.bfloat16,
                                requires_grad=True) for _ in range(2))
            try:
                with sdpa_kernel([backend]):
                    def once() -> None:
                        out = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True,
                                                                               enable_gqa=grouped)
                        out.backward(torch.ones_like(out))
                    for _ in range(3):
                        once()
                    sync()
                    began = time.perf_counter()
                    for _ in range(10):
                        once()
                    sync()
                seconds = (time.perf_counter() - began) / 10
                emit({"probe": "attention alone", "backend": backend.name, "grouped_kv": grouped, "tokens": tokens,
                      "ms_fwd_bwd": round(seconds * 1e3, 2), "tflops": round(flops / seconds / 1e12, 1),
                      "per_step_s": round(seconds * text.num_hidden_layers, 3)})
            except RuntimeError as exc:
                emit({"probe": "attention alone", "backend": backend.name, "grouped_kv": grouped,
                      "error": str(exc).splitlines()[0][:160]})


def run_sft_profile(args: argparse.Namespace) -> None:
    """Where videokr's SFT step (no recomputation; ``--compile`` for ``compile: true``) spends its time:
    the step's phases timed by CUDA events (vision tower forward, the rest of the forward, backward,
    clipping, optimizer), the GPU time of two steps by kind of kernel with the heaviest kernels, then
    the attention kernels alone at the example's length."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    from videokr.train.loss import forward_loss_sum
    from videokr.train.model import vision_module

    from videokr.inference.vision_attention import batch_vision_attention

    device = "cuda"
    model, config = build_model(args.small, device)
    if not args.own_vision_attention:
        batch_vision_attention(model)
    if args.compile:
        from videokr.inference.engine import compile_layers

        compile_layers(model)
    model.gradient_checkpointing_disable()
    model.train()
    optimizer, params = fresh_optimizer(model, device)
    samples = [sft_sample(config, i, 700, device) for i in range(args.steps)]
    marks: dict[str, Any] = {}

    def mark(name: str) -> None:
        marks[name] = torch.cuda.Event(enable_timing=True)
        marks[name].record()

    visual = vision_module(model)
    visual.register_forward_pre_hook(lambda *_: mark("vision_begin"))
    visual.register_forward_hook(lambda *_: mark("vision_end"))

    def step(sample: dict[str, Any]) -> dict[str, float]:
        mark("begin")
        loss = forward_loss_sum(model, sample) / int((sample["labels"] != -100).sum())
        mark("forward")
        loss.backward()
        mark("backward")
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        mark("clip")
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        mark("optimizer")
        sync()
        t = {k: marks["begin"].elapsed_time(v) / 1e3 for k, v in marks.items()}
        return {"vision_forward": t["vision_end"] - t["vision_begin"],
                "rest_of_forward": t["forward"] - (t["vision_end"] - t["vision_begin"]),
                "backward": t["backward"] - t["forward"], "clip": t["clip"] - t["backward"],
                "optimizer": t["optimizer"] - t["clip"], "step": t["optimizer"]}

    phases = [step(s) for s in samples]
    kept = phases[min(2, len(phases) - 1):]
    emit({"probe": "sft phases", "compile": args.compile, "tokens": int(samples[0]["input_ids"].shape[1]),
          **{k: round(sum(p[k] for p in kept) / len(kept), 4) for k in kept[0]}})
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for sample in samples[:2]:
            step(sample)
    kinds: dict[str, float] = {}
    kernels = []
    for event in prof.key_averages():
        if event.device_type != torch.autograd.DeviceType.CUDA:
            continue
        spent = getattr(event, "self_device_time_total", 0) / 2e6  # µs over two steps → s per step
        kind = kernel_kind(event.key)
        kinds[kind] = kinds.get(kind, 0.0) + spent
        kernels.append((spent, event.key, event.count // 2, kind))
    by_kind = {k: round(v, 4) for k, v in sorted(kinds.items(), key=lambda kv: -kv[1])}
    emit({"probe": "sft kernels by kind (s per step)", **by_kind, "total": round(sum(kinds.values()), 4)})
    for spent, name, count, kind in sorted(kernels, reverse=True)[:25]:
        emit({"probe": "sft kernel", "s_per_step": round(spent, 4), "calls": count, "kind": kind,
              "name": name[:140]})
    attention_kernels(int(samples[0]["input_ids"].shape[1]), config)


def run_grpo(args: argparse.Namespace) -> None:
    import torch

    from videokr.train.grpo import Prompt, response_logprobs, sample_group
    from videokr.train.grpo_math import group_advantages, grpo_loss
    from videokr.train.model import parameter_groups
    from videokr.train.shared_prefix import group_backward, group_logprobs

    device = "cuda" if torch.cuda.is_available() else "cpu"
    model, config = build_model(args.small, device, args.shape)
    emit({"probe": "setup", "shape": "small" if args.small else args.shape,
          "parameters_b": round(sum(p.numel() for p in model.parameters()) / 1e9, 3)})
    reference = copy.deepcopy(model).eval().requires_grad_(False)
    optimizer = torch.optim.AdamW(parameter_groups(model, 0.0), lr=5e-6, fused=device == "cuda")
    params = [p for p in model.parameters() if p.requires_grad]
    G, new = args.group, args.new_tokens
    frames = 128 if not args.small else 16

    def prompts(count: int, offset: int) -> list[Prompt]:
        made = []
        for i in range(count):
            inputs = video_prompt(config, offset + i, frames=frames, text_tokens=200, device=device)
            made.append(Prompt(f"p{offset + i}", inputs, "<answer>A</answer>", "multiple choice"))
        return made

    def advantages_for(count: int, seed: int) -> Any:
        rewards = torch.rand(count * G, generator=torch.Generator().manual_seed(seed))
        return group_advantages(rewards, G)

    def update(batch: list[Prompt], responses: list[list[int]], shared: bool) -> float:
        advantages = advantages_for(len(batch), 1)
        began = time.perf_counter()
        for i, prompt in enumerate(batch):
            group = responses[i * G:(i + 1) * G]
            if shared:
                with torch.no_grad():
                    ref, _ = group_logprobs(reference, prompt.inputs, group, 0, 1.0)
                adv = advantages[i * G:(i + 1) * G].to(device)
                if args.recompute_prompt:  # `recompute_prompt: true`: the memory an 8B policy needs
                    group_backward(model, prompt.inputs, group, 0, 1.0,
                                   lambda logp, mask, ref=ref, adv=adv: grpo_loss(logp, adv, mask, ref_logp=ref),
                                   scale=1 / len(batch))
                else:
                    logp, mask = group_logprobs(model, prompt.inputs, group, 0, 1.0)
                    (grpo_loss(logp, adv, mask, ref_logp=ref).loss / len(batch)).backward()
            else:  # a pass per response, as a plain trainer does
                prompt = Prompt(prompt.example_id, {k: v.cpu() for k, v in prompt.inputs.items()},
                                prompt.ground_truth, prompt.problem_type)  # rows are built on the host
                for k, response in enumerate(group):
                    with torch.no_grad():
                        ref, _ = response_logprobs(reference, prompt, [response], 0, 1.0)
                    logp, mask = response_logprobs(model, prompt, [response], 0, 1.0)
                    loss = grpo_loss(logp, advantages[i * G + k:i * G + k + 1].to(device), mask, ref_logp=ref).loss
                    (loss / (len(batch) * G)).backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        sync()
        return time.perf_counter() - began

    def videokr_step(batch: list[Prompt]) -> dict[str, float]:
        sync()
        began = time.perf_counter()
        responses = sample_group(model, batch, G, 1.0, new, seed=7, eos_ids=())
        sync()
        generated = time.perf_counter() - began
        train = update(batch, responses, shared=True)
        return {"generate_s": generated, "train_s": train, "s": generated + train,
                "response_tokens": sum(len(r) for r in responses)}

    def baseline_step(batch: list[Prompt]) -> dict[str, float]:
        sync()
        began = time.perf_counter()
        responses: list[list[int]] = []
        model.eval()
        for prompt in batch:
            inputs = {k: torch.cat([v] * G) for k, v in prompt.inputs.items() if k != "pixel_values_videos"}
            inputs["pixel_values_videos"] = torch.cat([prompt.inputs["pixel_values_videos"]] * G)
            inputs["video_grid_thw"] = torch.cat([prompt.inputs["video_grid_thw"]] * G)
            with torch.no_grad():
                out = model.generate(**inputs, max_new_tokens=new, min_new_tokens=new, do_sample=True,
                                     temperature=1.0, top_p=1.0, use_cache=True)
            responses += out[:, inputs["input_ids"].shape[1]:].tolist()
        model.train()
        sync()
        generated = time.perf_counter() - began
        train = update(batch, responses, shared=False)
        return {"generate_s": generated, "train_s": train, "s": generated + train,
                "response_tokens": sum(len(r) for r in responses)}

    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    videokr_step(prompts(2, 1000))  # warm-up: kernels, allocator, optimizer state
    ours = videokr_step(prompts(args.prompts, 0))
    emit({"probe": "grpo videokr", "prompts": args.prompts, "group": G, "new_tokens": new,
          **{k: round(v, 3) for k, v in ours.items()},
          "peak_gb": round(torch.cuda.max_memory_allocated() / 2**30, 1) if device == "cuda" else None})
    baseline_step(prompts(1, 2000))  # warm-up
    measured = baseline_step(prompts(args.baseline_prompts, 0))
    scale = args.prompts / args.baseline_prompts
    base = {k: v * scale for k, v in measured.items()}
    emit({"probe": "grpo baseline", "measured_prompts": args.baseline_prompts, "scaled_to": args.prompts,
          **{k: round(v, 3) for k, v in base.items()}})
    emit({"probe": "grpo ratio", "step_speedup": round(base["s"] / ours["s"], 2),
          "generate_speedup": round(base["generate_s"] / ours["generate_s"], 2),
          "train_speedup": round(base["train_s"] / ours["train_s"], 2)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=("sft", "sft-batch", "sft-pack", "sft-profile", "grpo"))
    parser.add_argument("--small", action="store_true", help="tiny shapes (a smoke run)")
    parser.add_argument("--steps", type=int, default=20, help="SFT: steps per run")
    parser.add_argument("--videokr-checkpointing", action="store_true", help="SFT: videokr recomputes activations too")
    parser.add_argument("--compile", action="store_true", help="SFT: also time videokr with `compile: true`")
    parser.add_argument("--cudnn-attention", action="store_true",
                        help="SFT: also time videokr with PyTorch's cuDNN attention kernel (an experiment)")
    parser.add_argument("--own-vision-attention", action="store_true",
                        help="sft-profile: keep the vision tower's own per-group attention loop")
    parser.add_argument("--prompts", type=int, default=32, help="GRPO: prompts per step")
    parser.add_argument("--baseline-prompts", type=int, default=4, help="GRPO: prompts the baseline runs")
    parser.add_argument("--recompute-prompt", action="store_true",
                        help="GRPO: videokr with `recompute_prompt: true` (8B on one GPU)")
    parser.add_argument("--shape", choices=("8b", "2b"), default="8b", help="GRPO: Qwen3-VL-8B or -2B shapes")
    parser.add_argument("--group", type=int, default=8)
    parser.add_argument("--new-tokens", type=int, default=256)
    args = parser.parse_args()
    {"sft": run_sft, "sft-batch": run_sft_batch, "sft-pack": run_sft_pack, "sft-profile": run_sft_profile, "grpo": run_grpo}[args.what](args)


if __name__ == "__main__":
    main()
