"""Generation throughput on one GPU: videokr's decoding engine against plain ``model.generate``.

A random-initialised Qwen3-VL-8B-shaped model (full-size shapes, bf16, SDPA), video prompts of
4,552 tokens (128 frames of 256×256 = 64 temporal groups × 64 tokens, plus timestamps and 200
text tokens), 256 new tokens per request, sampling at temperature 1.0 / top-p 1.0, the end-of-
sequence token ignored so every request has the same output length. The baseline is what a
user gets by default: ``model.generate`` on a batch of 8 identical-length prompts.

    python benchmarks/bench_generate.py                  # baseline + engine at 8, 32, 64 rows
    python benchmarks/bench_generate.py --rows 8 32 --no-baseline
    python benchmarks/bench_generate.py --small          # tiny shapes, a smoke run on CPU or GPU

Prints one JSON line per measurement and the ratio of each engine run to the baseline.
Requests of the engine runs carry different pixels, so no work is shared between them.
"""

from __future__ import annotations

import argparse
import json
import time
import traceback
from typing import Any


def make_config(small: bool) -> Any:
    from transformers import Qwen3VLConfig

    if small:
        text = dict(hidden_size=256, intermediate_size=512, num_hidden_layers=2, num_attention_heads=4,
                    num_key_value_heads=2, head_dim=64, vocab_size=151936, max_position_embeddings=32768)
        vision = dict(depth=2, hidden_size=128, intermediate_size=256, num_heads=2, out_hidden_size=256,
                      deepstack_visual_indexes=[0, 1])
        sections = [8, 12, 12]
    else:  # Qwen3-VL-8B
        text = dict(hidden_size=4096, intermediate_size=12288, num_hidden_layers=36, num_attention_heads=32,
                    num_key_value_heads=8, head_dim=128, vocab_size=151936, max_position_embeddings=262144)
        vision = dict(depth=27, hidden_size=1152, intermediate_size=4304, num_heads=16, out_hidden_size=4096,
                      deepstack_visual_indexes=[8, 16, 24])
        sections = [24, 20, 20]
    rope = {"rope_type": "default", "rope_theta": 5e6, "mrope_section": sections, "mrope_interleaved": True}
    text.update(rope_parameters=rope, rope_scaling=rope, rope_theta=5e6)  # spelled both ways across versions
    vision.update(patch_size=16, spatial_merge_size=2, temporal_patch_size=2, num_position_embeddings=2304)
    return Qwen3VLConfig(text_config=text, vision_config=vision, image_token_id=151655, video_token_id=151656,
                         vision_start_token_id=151652, vision_end_token_id=151653, tie_word_embeddings=False)


def video_prompt(config: Any, seed: int, frames: int = 128, side: int = 256, text_tokens: int = 200,
                 device: str = "cuda") -> dict[str, Any]:
    """One request's model inputs, laid out as the Qwen3-VL processor lays out a video prompt."""
    import torch

    g = torch.Generator().manual_seed(seed)
    vision = config.vision_config
    groups, side_patches = frames // vision.temporal_patch_size, side // vision.patch_size
    per_group = (side_patches // vision.spatial_merge_size) ** 2
    ids: list[int] = []
    for t in range(groups):
        ids += [1000 + t % 50, 1001]  # stands in for "<t seconds>"
        ids += [config.vision_start_token_id] + [config.video_token_id] * per_group + [config.vision_end_token_id]
    ids += torch.randint(2000, 100000, (text_tokens,), generator=g).tolist()
    input_ids = torch.tensor([ids])
    patches = groups * side_patches * side_patches
    width = 3 * vision.temporal_patch_size * vision.patch_size**2
    return {
        "input_ids": input_ids.to(device),
        "attention_mask": torch.ones_like(input_ids).to(device),
        "mm_token_type_ids": ((input_ids == config.video_token_id).int() * 2).to(device),
        "pixel_values_videos": torch.randn(patches, width, generator=g).to(device, torch.bfloat16),
        "video_grid_thw": torch.tensor([[groups, side_patches, side_patches]]).to(device),
    }


def batch_of(prompts: list[dict[str, Any]]) -> dict[str, Any]:
    import torch

    return {k: torch.cat([p[k] for p in prompts]) for k in prompts[0]}


def sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed(call: Any) -> tuple[Any, float]:
    """(what ``call()`` returns, its wall seconds with the GPU's queue drained before and after)."""
    import torch

    sync()
    start = time.perf_counter()
    with torch.inference_mode():
        result = call()
    sync()
    return result, time.perf_counter() - start


def run_baseline(model: Any, config: Any, batch: int, new_tokens: int, device: str) -> dict[str, Any]:
    inputs = batch_of([video_prompt(config, 0, device=device)] * batch)  # identical rows, as users batch
    out, seconds = timed(lambda: model.generate(**inputs, max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                                                do_sample=True, temperature=1.0, top_p=1.0))
    new = (out.shape[1] - inputs["input_ids"].shape[1]) * out.shape[0]
    return {"probe": "baseline model.generate", "batch": batch, "prompt_len": int(inputs["input_ids"].shape[1]),
            "new_tokens": int(new), "s": round(seconds, 3), "new_tok_per_s": round(new / seconds, 1)}


def time_prefill(model: Any, config: Any, device: str, label: str, count: int = 4) -> dict[str, Any]:
    """Seconds per request for the whole prefill and for the vision tower alone."""
    from videokr.inference import engine

    prompts = [video_prompt(config, 100 + i, device=device) for i in range(count + 1)]
    timings = {}
    for name, call in (
        ("vision_s", lambda p: model.model.visual(p["pixel_values_videos"], grid_thw=p["video_grid_thw"])),
        ("prefill_s", lambda p: engine.prefill(model, p)),
    ):
        timed(lambda: call(prompts[-1]))  # warm-up
        timings[name] = round(timed(lambda: [call(p) for p in prompts[:count]])[1] / count, 4)
    return {"probe": "prefill per request", "vision_attention": label, **timings}


def profile_prefill(model: Any, config: Any, device: str) -> None:
    import torch
    from torch.profiler import ProfilerActivity, profile

    from videokr.inference import engine

    prompt = video_prompt(config, 999, device=device)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == "cuda" else [])
    with torch.inference_mode():
        engine.prefill(model, prompt)
        with profile(activities=activities) as prof:
            engine.prefill(model, prompt)
            sync()
    key = "cuda_time_total" if device == "cuda" else "cpu_time_total"
    print(prof.key_averages().table(sort_by=key, row_limit=18), flush=True)


def run_engine(model: Any, config: Any, rows: int, requests: int, new_tokens: int, device: str,
               cuda_graph: bool | None, attention: str = "sdpa", runs: int = 1, share: bool = True) -> dict[str, Any]:
    import torch

    from videokr.inference import engine

    distinct = [video_prompt(config, 1 + i, device=device) for i in range(requests)]
    # runs > 1: each prompt asked `runs` times, as `eval run --runs` does; shared = the same input object
    prompts = [p if share else dict(p) for p in distinct for _ in range(runs)]
    spec = [engine.Sampling(new_tokens, temperature=1.0, top_p=1.0, seed=i, ignore_eos=True) for i in range(len(prompts))]
    eng = engine.DecodingEngine(model, rows=rows, cuda_graph=cuda_graph, attention=attention)
    eng.generate(prompts[:1], [engine.Sampling(4, ignore_eos=True)])  # allocation + graph capture, not timed
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    results, seconds = timed(lambda: eng.generate(prompts, spec))
    new = sum(len(r.tokens) for r in results)
    sample = distinct[: min(4, requests)]
    prefill_s = timed(lambda: [engine.prefill(model, p) for p in sample])[1] / len(sample)
    peak = torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else 0.0
    return {"probe": "videokr engine", "rows": rows, "requests": len(prompts), "runs": runs,
            "shared_prefill": share and runs > 1, "cuda_graph": eng.cuda_graph, "attention": attention,
            "prompt_len": int(prompts[0]["input_ids"].shape[1]), "new_tokens": new, "s": round(seconds, 3),
            "new_tok_per_s": round(new / seconds, 1), "prefill_s_per_request": round(prefill_s, 3),
            "max_mem_gb": round(peak, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[8, 32, 64])
    parser.add_argument("--new-tokens", type=int, default=256)
    parser.add_argument("--baseline-batch", type=int, default=8)
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--no-graph-too", action="store_true", help="also run the engine without CUDA graphs")
    parser.add_argument("--matmul-too", action="store_true", help="also decode with grouped matmul attention")
    parser.add_argument("--profile", action="store_true", help="print where one prefill spends its time")
    parser.add_argument("--compile", action="store_true", help="then compile the layers and run every size again")
    parser.add_argument("--compiled-rows", type=int, nargs="+", help="sizes of the compiled round (default: --rows)")
    parser.add_argument("--runs", type=int, default=1, help="also ask each prompt this many times, with and without "
                        "a shared prefill (rows = the last --rows)")
    parser.add_argument("--small", action="store_true")
    args = parser.parse_args()

    import torch
    import transformers
    from transformers import Qwen3VLForConditionalGeneration

    device = "cuda" if torch.cuda.is_available() else "cpu"
    name = torch.cuda.get_device_name(0) if device == "cuda" else "cpu"
    print(json.dumps({"torch": torch.__version__, "transformers": transformers.__version__, "device": name}), flush=True)
    torch.manual_seed(0)
    config = make_config(args.small)
    with torch.device(device):
        model = Qwen3VLForConditionalGeneration._from_config(config, dtype=torch.bfloat16, attn_implementation="sdpa")
    model.eval()
    base = None
    if not args.no_baseline:
        base = run_baseline(model, config, args.baseline_batch, args.new_tokens, device)
        print(json.dumps(base), flush=True)
    from videokr.inference.vision_attention import batch_vision_attention

    print(json.dumps(time_prefill(model, config, device, "per group (transformers)")), flush=True)
    batch_vision_attention(model)
    print(json.dumps(time_prefill(model, config, device, "batched (videokr)")), flush=True)
    if args.profile:
        profile_prefill(model, config, device)
    runs = [(rows, None, "sdpa", 1, True) for rows in args.rows]
    if args.runs > 1:
        runs += [(args.rows[-1] // args.runs, None, "sdpa", args.runs, share) for share in (False, True)]
    if args.matmul_too:
        runs.append((args.rows[-1], None, "matmul", 1, True))
    if args.no_graph_too:
        runs.append((args.rows[0], False, "sdpa", 1, True))
    rounds = [(False, runs)]
    if args.compile:
        rounds.append((True, [(rows, None, "sdpa", 1, True) for rows in args.compiled_rows or args.rows]))
    for compiled, round_runs in rounds:
        if compiled:
            compile_and_time(model, config, device)
        run_all(model, config, device, round_runs, args.new_tokens, base, compiled)


def compile_and_time(model: Any, config: Any, device: str) -> None:
    from videokr.inference.engine import compile_layers, prefill

    compile_layers(model)
    prompt = video_prompt(config, 500, device=device)
    seconds = timed(lambda: prefill(model, prompt))[1]
    print(json.dumps({"probe": "compile", "first_prefill_s": round(seconds, 1)}), flush=True)
    print(json.dumps(time_prefill(model, config, device, "batched + compiled layers")), flush=True)


def run_all(model: Any, config: Any, device: str, runs: list[tuple[int, bool | None, str, int, bool]], new_tokens: int,
            base: dict[str, Any] | None, compiled: bool) -> None:
    import torch

    for rows, graph, attention, repeats, share in runs:
        try:
            result = run_engine(model, config, rows * repeats, rows, new_tokens, device, graph, attention, repeats, share)
            result["compiled_prefill"] = compiled
        except Exception as exc:  # report and go on to the next size (out of memory, mostly)
            traceback.print_exc()
            print(json.dumps({"probe": "videokr engine", "rows": rows, "error": f"{type(exc).__name__}: {exc}"[:300]}),
                  flush=True)
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            continue
        if base:
            result["vs_baseline"] = round(result["new_tok_per_s"] / base["new_tok_per_s"], 2)
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
