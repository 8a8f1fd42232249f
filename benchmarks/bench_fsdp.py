"""Full-parameter SFT of Qwen3-VL-8B shapes under FSDP2 through accelerate: one GPU against two.

The step is `videokr train sft`'s (``videokr.train.loss.forward_loss_sum``: logits only where the loss
is, loss on the response only, fused AdamW, gradient clipping, vision tower and projector frozen), the
model wrapped by accelerate's FSDP2 plugin with the settings docs/training.md gives users
(``fsdp_version: 2``, each decoder layer and vision block sharded, reshard after forward). Each GPU
takes one 6,952-token example per step (4,096 video tokens + 2,600 text tokens, the last 300–1,100
the response), as in ``bench_train.py sft``.

    python benchmarks/bench_fsdp.py                        # 1 GPU, then 2 GPUs; bf16 parameters
    python benchmarks/bench_fsdp.py --runs 2:mixed         # 2 GPUs, float32 master weights + bf16 compute

Runs (``--runs``, GPUs:precision): ``bf16`` keeps bfloat16 parameters and optimizer state (what fits
an 8B on one GPU: 64 GB of states); ``mixed`` is `precision: bf16`, float32 master weights with bf16
autocast (131 GB of states: needs two GPUs or more). The baseline is the first run; each later run
prints tokens/s per GPU and the scaling efficiency against it (tokens/s per GPU ÷ the baseline's).
Each run is its own ``accelerate launch``; one JSON line per measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

ACCELERATE_CONFIG = """compute_environment: LOCAL_MACHINE
distributed_type: FSDP
num_machines: 1
num_processes: {gpus}
mixed_precision: "{mixed}"
fsdp_config:
  fsdp_version: 2
  fsdp_auto_wrap_policy: TRANSFORMER_BASED_WRAP
  fsdp_state_dict_type: SHARDED_STATE_DICT
  fsdp_reshard_after_forward: true
  fsdp_activation_checkpointing: false
"""


def emit(record: dict[str, Any]) -> None:
    print(json.dumps(record), flush=True)


def worker(args: argparse.Namespace) -> None:
    import torch
    import torch.distributed as dist
    from accelerate import Accelerator

    from bench_train import SFT_RESPONSES, build_model, lm_flops, matmul_peak, sft_sample, timed_step
    from videokr.inference.vision_attention import batch_vision_attention
    from videokr.train.loss import forward_loss_sum
    from videokr.train.model import enable_checkpointing, parameter_groups

    acc = Accelerator()
    device = acc.device
    peak = matmul_peak("cuda")
    model, config = build_model(False, str(device))
    batch_vision_attention(model)  # as `videokr train sft` loads it
    if args.precision == "mixed":
        model = model.float()  # master weights in float32; accelerate autocasts the compute to bf16
    if args.checkpointing:
        enable_checkpointing(model)
    model.train()
    optimizer = torch.optim.AdamW(parameter_groups(model, 0.0), lr=1e-5, fused=True)
    model, optimizer = acc.prepare(model, optimizer)
    params = [p for p in model.parameters() if p.requires_grad]
    low, high = SFT_RESPONSES
    rank, world = acc.process_index, acc.num_processes
    samples = [sft_sample(config, 100 * rank + i, low + (high - low) * ((7 * i) % args.steps) // max(1, args.steps - 1),
                          str(device)) for i in range(args.steps)]
    torch.cuda.reset_peak_memory_stats()

    def backward(sample: dict[str, Any]) -> Any:
        with acc.autocast():
            loss = forward_loss_sum(model, sample) / int((sample["labels"] != -100).sum())
        acc.backward(loss)
        return loss.detach()

    times, losses = map(list, zip(*(timed_step(lambda s=sample: backward(s), optimizer, params, acc.clip_grad_norm_)
                                    for sample in samples)))
    warm = min(2, len(samples) - 1)
    seconds = sum(times[warm:]) / len(times[warm:])
    tokens = sum(int(s["input_ids"].shape[1]) for s in samples[warm:]) / len(samples[warm:])
    flops = sum(lm_flops(config, int(s["input_ids"].shape[1]), int((s["labels"] != -100).sum()))
                for s in samples[warm:]) / len(samples[warm:])
    stats = torch.tensor([torch.cuda.max_memory_allocated() / 2**30, seconds], device=device)
    if world > 1:
        dist.all_reduce(stats, op=dist.ReduceOp.MAX)  # the slowest rank sets the step; the fullest GPU the memory
    if acc.is_main_process:
        emit({"probe": "fsdp sft", "gpus": world, "precision": args.precision, "checkpointing": args.checkpointing,
              "distributed": str(acc.distributed_type), "steps": len(samples), "s_per_step": round(float(stats[1]), 4),
              "tok_per_s_per_gpu": round(tokens / float(stats[1]), 1),
              "tok_per_s": round(world * tokens / float(stats[1]), 1),
              "mfu": round(flops / float(stats[1]) / peak, 3), "peak_gb_per_gpu": round(float(stats[0]), 1),
              "losses": [round(x, 5) for x in losses]})
    acc.wait_for_everyone()
    acc.end_training()


def launch(gpus: int, precision: str, args: argparse.Namespace) -> dict[str, Any] | None:
    mixed = "bf16" if precision == "mixed" else "no"
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "fsdp2.yaml"
        config.write_text(ACCELERATE_CONFIG.format(gpus=gpus, mixed=mixed))
        command = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(config),
                   "--main_process_port", str(29500 + gpus), __file__, "--worker", "--precision", precision,
                   "--steps", str(args.steps)] + (["--checkpointing"] if args.checkpointing else [])
        done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "4"})
    found = None
    for line in done.stdout.splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if record.get("probe") == "fsdp sft":
                found = record
            print(line, flush=True)
    if found is None:
        emit({"probe": "fsdp sft", "gpus": gpus, "precision": precision, "failed": done.returncode,
              "stderr_tail": done.stderr[-1500:]})
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", default="1:bf16,2:bf16", help="comma-separated GPUS:PRECISION (bf16 | mixed)")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--checkpointing", action="store_true", help="recompute activations (videokr's default)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--precision", default="bf16", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    base = None
    for spec in args.runs.split(","):
        gpus, precision = spec.split(":")
        result = launch(int(gpus), precision, args)
        if result is None:
            continue
        if base is None:
            base = result
            continue
        emit({"probe": f"fsdp {result['gpus']} GPU {result['precision']} / {base['gpus']} GPU {base['precision']}",
              "tok_per_s_ratio": round(result["tok_per_s"] / base["tok_per_s"], 3),
              "per_gpu_efficiency": round(result["tok_per_s_per_gpu"] / base["tok_per_s_per_gpu"], 3)})


if __name__ == "__main__":
    main()
