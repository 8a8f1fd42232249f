"""Supervised fine-tuning (§5.1): the training loop of `videokr train sft`.

One script for every scale: run plainly it trains on the CPU or one GPU; run under
``accelerate launch`` it trains on several GPUs with whatever accelerate's config says
(DDP, or FSDP2 with ``fsdp_version: 2``). accelerate owns devices, mixed precision,
sharding and the saving of sharded state; this module owns the recipe:

- the global batch (32 in the paper) is made of ``micro_batch`` examples per device per
  forward pass, accumulated; the loss is the mean over all response tokens of the step
  (:mod:`videokr.train.loss`), so it does not depend on how the batch is cut;
- AdamW (fused on CUDA), cosine schedule with warmup, gradient clipping;
- the vision tower and the projector frozen (:mod:`videokr.train.model`);
- every ``save_steps`` a checkpoint (:mod:`videokr.train.checkpoint`); a killed run resumes
  at the same step, with the same data order (:mod:`videokr.train.order`) and the
  optimizer's state;
- every logged step's loss, learning rate, gradient norm and tokens/s in ``metrics.jsonl``
  (and TensorBoard), progress with ETA on stderr;
- the final model in Hugging Face format in the output directory.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from videokr.records import Example
from videokr.train import checkpoint as ckpt
from videokr.train.config import SFTConfig, compile_layers_for
from videokr.train.data import Row, SFTRows, Skipped, collate, lookahead, training_budget
from videokr.train.loss import forward_loss_sum
from videokr.train.packing import pack_rows
from videokr.train.processes import gather_over_processes, sum_over_processes
from videokr.train.trackers import accelerator_options, log_metrics, start_trackers
from videokr.train.model import (enable_checkpointing, freeze_vision, load_model, load_processor, parameter_counts,
                                 parameter_groups, saved_dtype)
from videokr.train.order import DataOrder, accumulation_steps, total_steps

INSTALL_HINT = "pip install 'videokr[train]'"
TRAINING_MODULES = ("torch", "transformers", "accelerate")
MIXED_PRECISION = {"bf16": "bf16", "fp16": "fp16", "fp32": "no"}


class TrainError(RuntimeError):
    """A run that cannot start or cannot go on; the message says why and what to do."""


@dataclass
class SFTResult:
    out: Path
    steps: int  # optimizer steps done, over the whole run (resumes included)
    total_steps: int
    resumed_from: int | None  # the checkpoint's step, when the run resumed
    examples: int  # examples trained on, over the whole run
    skipped: int  # examples skipped, over the whole run
    skipped_now: list[Skipped] = field(default_factory=list)  # those of this invocation
    last_loss: float | None = None
    main_process: bool = True  # under `accelerate launch`, whether this process reports


def missing_modules() -> list[str]:
    """The training dependencies that do not import here."""
    missing = []
    for name in TRAINING_MODULES:
        try:
            __import__(name)
        except ImportError:
            missing.append(name)
    return missing


def run_settings(examples: Sequence[Example], config: SFTConfig, steps: int) -> dict[str, Any]:
    """What the data order and the schedule depend on: a resumed run must match them."""
    from videokr.hashing import digest_json

    return {"examples": digest_json([e.id for e in examples]), "count": len(examples), "seed": config.seed,
            "global_batch": config.global_batch, "total_steps": steps, "lr": config.lr,
            "warmup_ratio": config.warmup_ratio}


def train_sft(examples: Sequence[Example], model_path: Path, out: Path, config: SFTConfig,
              video_root: Path | None = None, *, resume: bool = True, show_progress: bool = True,
              on_step: Callable[[dict[str, Any]], None] | None = None) -> SFTResult:
    """Fine-tune the checkpoint at ``model_path`` on ``examples``; the result lands in ``out``.

    ``resume`` picks up from the latest checkpoint in ``out`` (else an earlier run's
    checkpoints and logs there are cleared); ``on_step`` receives every step's metrics after
    the step (and its checkpoint, if one was due) is done, on the main process."""
    if missing := missing_modules():
        raise TrainError(f"training needs {', '.join(missing)}: {INSTALL_HINT}")
    if not examples:
        raise TrainError("no SFT examples to train on")
    if not (model_path / "config.json").is_file():
        raise TrainError(f"{model_path}: no model checkpoint there (no config.json)")
    return _Run(examples, model_path, out, config, video_root, resume, show_progress, on_step).train()


class _Run:
    """One invocation of the loop (a fresh start or a resume)."""

    def __init__(self, examples: Sequence[Example], model_path: Path, out: Path, config: SFTConfig,
                 video_root: Path | None, resume: bool, show_progress: bool,
                 on_step: Callable[[dict[str, Any]], None] | None) -> None:
        self.examples = list(examples)
        self.model_path = model_path
        self.out = out
        self.config = config
        self.video_root = video_root
        self.resume = resume
        self.show_progress = show_progress
        self.on_step = on_step
        self._clock = 0.0

    def train(self) -> SFTResult:
        self.out.mkdir(parents=True, exist_ok=True)
        acc = self._accelerator()
        processor = self._prepare(acc)
        resumed_from = self._restore(acc, self.position)
        self._describe(acc)
        skipped_now: list[Skipped] = []
        last_loss = self._loop(skipped_now)
        if self.position.examples == 0:
            raise TrainError(nothing_trained(skipped_now))
        ckpt.save_final(acc, self.model, processor, self.model_path, self.out, saved_dtype(self.model_path))
        acc.wait_for_everyone()
        acc.end_training()
        p = self.position
        return SFTResult(self.out, p.step, self.steps, resumed_from, p.examples, p.skipped, skipped_now, last_loss,
                         acc.is_main_process)

    def _accelerator(self) -> Any:
        from accelerate import Accelerator
        from accelerate.utils import set_seed

        acc = Accelerator(mixed_precision=MIXED_PRECISION[self.config.precision],
                          **accelerator_options(self.out))
        set_seed(self.config.seed)
        try:
            self.accum = accumulation_steps(self.config.global_batch, self.config.micro_batch, acc.num_processes)
        except ValueError as exc:
            raise TrainError(str(exc)) from None
        self.acc = acc
        return acc

    def _prepare(self, acc: Any) -> Any:
        """Model (vision frozen), data, order, optimizer and schedule, handed to accelerate; the processor."""
        import torch
        from transformers import get_cosine_schedule_with_warmup

        config = self.config
        model = load_model(self.model_path)
        processor = load_processor(self.model_path)
        self.tokenizer = getattr(processor, "tokenizer", processor)
        self.frozen = freeze_vision(model, tower=config.freeze_vision_tower, projector=config.freeze_projector)
        model.config.use_cache = False
        if config.gradient_checkpointing:
            enable_checkpointing(model)
        from accelerate.utils import DistributedType

        sharded = acc.distributed_type == DistributedType.FSDP
        self.compiled = compile_layers_for(config.compile, acc.device.type, sharded)
        if self.compiled:
            from videokr.inference.engine import compile_layers

            compile_layers(model)
        model.train()
        self.parameters = parameter_counts(model)
        self.budget = training_budget(config.video_budget, model.config, config.max_frames, config.max_video_tokens)
        self.rows = SFTRows(self.examples, model, processor, self.budget, self.video_root, config.max_length)
        self.steps = total_steps(len(self.examples), config.global_batch, config.epochs, config.max_steps)
        self.order = DataOrder(len(self.examples), config.global_batch, config.seed, acc.process_index,
                               acc.num_processes)
        optimizer = torch.optim.AdamW(parameter_groups(model, config.weight_decay), lr=config.lr,
                                      betas=config.adam_betas, eps=config.adam_eps,
                                      fused=True if acc.device.type == "cuda" else None)
        # Built on the optimizer itself and stepped once per optimizer step here (accelerate would
        # step a prepared scheduler once per process); saved with the checkpoints all the same.
        self.scheduler = get_cosine_schedule_with_warmup(optimizer, math.ceil(config.warmup_ratio * self.steps),
                                                         self.steps)
        self.model, self.optimizer = acc.prepare(model, optimizer)
        self.position = ckpt.Position(settings=run_settings(self.examples, config, self.steps))
        acc.register_for_checkpointing(self.scheduler, self.position)
        return processor

    def _describe(self, acc: Any) -> None:
        """The run's settings in ``sft_config.json`` and TensorBoard."""
        config = self.config
        if acc.is_main_process:
            trainable, total = self.parameters
            (self.out / ckpt.RUN_CONFIG).write_text(json.dumps({
                "model": str(self.model_path), "examples": len(self.examples), "total_steps": self.steps,
                "accumulation_steps": self.accum, "processes": acc.num_processes,
                "distributed": str(acc.distributed_type), "compiled": self.compiled,
                "video_budget": self.budget.name,
                "max_frames": self.budget.max_frames, "max_video_tokens": self.budget.max_video_tokens,
                "trainable_parameters": trainable, "parameters": total, "frozen": self.frozen,
                "settings": config.model_dump(mode="json"),
            }, indent=2) + "\n", encoding="utf-8")
        start_trackers(acc, self.out, config.model_dump())

    def _restore(self, acc: Any, position: ckpt.Position) -> int | None:
        """Load the latest checkpoint (resume) or clear what an earlier run left (fresh start)."""
        latest = ckpt.latest_checkpoint(self.out)
        if self.resume and latest is not None:
            settings = dict(position.settings)
            acc.load_state(str(latest))
            try:
                ckpt.check_settings(position.settings, settings, latest)
            except ckpt.ResumeError as exc:
                raise TrainError(str(exc)) from None
            if acc.is_main_process:
                ckpt.truncate_log(self.out / ckpt.METRICS, position.step)
                ckpt.truncate_log(self.out / ckpt.SKIPPED, position.step)
            acc.wait_for_everyone()
            return position.step
        if acc.is_main_process:
            ckpt.clear_run(self.out)
        acc.wait_for_everyone()
        return None

    def _loop(self, skipped_now: list[Skipped]) -> float | None:
        from videokr.progress import progress_bar

        position, acc = self.position, self.acc
        start = position.step
        planned = ((step, index) for step in range(start, self.steps) for index in self.order.process_examples(step))
        window = self.config.global_batch // acc.num_processes + 2 * max(1, self.config.data_workers)
        stream = lookahead(lambda item: (item[0], self.rows.row(item[1])), planned, self.config.data_workers, window)
        state = {"loss": None, "tokens_per_s": 0.0}

        def status() -> str:
            loss = "—" if state["loss"] is None else f"{state['loss']:.4f}"
            return f"loss {loss} · {state['tokens_per_s']:,.0f} tok/s"

        with ExitStack() as stack:
            stack.callback(stream.close)
            advance = (stack.enter_context(progress_bar("sft", self.steps, status))
                       if self.show_progress and acc.is_main_process else (lambda n=1: None))
            advance(start)
            self._clock = time.perf_counter()
            for step in range(start, self.steps):
                share = [next(stream)[1] for _ in self.order.process_examples(step)]
                metrics = self._step(step, share, skipped_now)
                state.update(loss=metrics["loss"], tokens_per_s=metrics["tokens_per_s"])
                advance(1)
        return state["loss"]

    def _step(self, step: int, share: list[Row | Skipped], skipped_now: list[Skipped]) -> dict[str, Any]:
        """One optimizer step on this process's share of the step's examples."""
        import torch

        acc, position, config = self.acc, self.position, self.config
        rows = [r for r in share if isinstance(r, Row)]
        skips = gather_over_processes(acc, [(s.example_id, s.reason) for s in share if isinstance(s, Skipped)])
        counts = sum_over_processes(acc, [len(rows), sum(r.response_tokens for r in rows), sum(r.tokens for r in rows)])
        trained, learned, tokens = (int(v) for v in counts)
        if trained == 0 and position.examples == 0:
            raise TrainError(nothing_trained([Skipped(i, why) for i, why in skips]))

        loss_sum = torch.zeros((), device=acc.device)
        grad_norm = None
        if learned > 0:
            for index, micro in enumerate(self._micro_batches(rows)):
                last = index == self.accum - 1
                batch = {k: v.to(acc.device) for k, v in self._batch(micro).items()}
                # DDP syncs gradients on the last pass only; FSDP reduce-scatters every pass, keeping them sharded
                context = acc.no_sync(self.model) if (self._defer_sync and not last) else nullcontext()
                with context:
                    micro_sum = forward_loss_sum(self.model, batch)
                    acc.backward(micro_sum * acc.num_processes / learned)
                loss_sum += micro_sum.detach()
            params = [p for p in self.model.parameters() if p.requires_grad]
            grad_norm = acc.clip_grad_norm_(params, config.max_grad_norm if config.max_grad_norm > 0 else math.inf)
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
        lr = self.scheduler.get_last_lr()[0]
        self.scheduler.step()
        loss = sum_over_processes(acc, [float(loss_sum)])[0] / learned if learned else None

        position.step = step + 1
        position.examples += trained
        position.skipped += len(skips)
        position.tokens += tokens
        skipped_now.extend(Skipped(i, why) for i, why in skips)
        now = time.perf_counter()
        elapsed, self._clock = now - self._clock, now  # wall clock since the last step: data waits included
        metrics = {"step": step + 1, "epoch": self.order.epoch_of(step), "loss": loss, "lr": lr,
                   "grad_norm": _number(grad_norm), "examples": trained, "skipped": len(skips), "tokens": tokens,
                   "response_tokens": learned, "tokens_per_s": tokens / elapsed if elapsed > 0 else 0.0,
                   "seconds": elapsed}
        self._record(metrics, skips)
        if (step + 1) % config.save_steps == 0 and step + 1 < self.steps:
            ckpt.save_checkpoint(acc, self.out, step + 1, config.keep_checkpoints)
            self._clock = time.perf_counter()  # saving is not training time
        if self.on_step is not None and acc.is_main_process:
            self.on_step(metrics)
        return metrics

    def _record(self, metrics: dict[str, Any], skips: list[tuple[str, str]]) -> None:
        """A step's skipped examples, and its metrics when it is a logged step (the last one always is)."""
        step, acc = metrics["step"], self.acc
        logged = step % self.config.logging_steps == 0 or step == self.steps
        if acc.is_main_process:
            ckpt.append_lines(self.out / ckpt.SKIPPED, [{"step": step, "id": i, "reason": why} for i, why in skips])
            if logged:
                ckpt.append_lines(self.out / ckpt.METRICS, [metrics])
        if logged:
            log_metrics(acc, metrics)

    @property
    def _defer_sync(self) -> bool:
        from accelerate.utils import DistributedType

        return self.acc.num_processes > 1 and self.acc.distributed_type != DistributedType.FSDP

    def _batch(self, micro: list[Row]) -> dict[str, Any]:
        """A micro-batch's model inputs: padded rows, or with ``packing`` one packed row."""
        if self.config.packing and len(micro) > 1:
            return pack_rows([r.inputs for r in micro], self.acc.unwrap_model(self.model))
        return collate(micro, self.tokenizer)

    def _micro_batches(self, rows: list[Row]) -> list[list[Row]]:
        """``accum`` micro-batches of at most ``micro_batch`` rows; with several processes an
        empty one becomes a masked filler row, so every process runs the same forward passes."""
        size = self.config.micro_batch
        batches = [rows[i * size : (i + 1) * size] for i in range(self.accum)]
        if self.acc.num_processes == 1 or all(batches):
            return [b for b in batches if b]
        filler = self._filler(rows)
        return [b if b else [filler] for b in batches]

    def _filler(self, rows: list[Row]) -> Row:
        """A row with every label masked: it runs the model (and its collectives) and learns nothing."""
        if rows:
            return rows[0].masked()
        for index in range(len(self.rows)):
            made = self.rows.row(index)
            if isinstance(made, Row):
                return made.masked()
        raise TrainError(nothing_trained([]))


def _number(value: Any) -> float | None:
    """A float of a scalar tensor, a sharded (DTensor) one included."""
    if value is None:
        return None
    if hasattr(value, "full_tensor"):
        value = value.full_tensor()
    return float(value)


def nothing_trained(skipped: Sequence[Skipped]) -> str:
    shown = "; ".join(f"{s.example_id}: {s.reason}" for s in list(skipped)[:3])
    more = f" (and {len(skipped) - 3} more)" if len(skipped) > 3 else ""
    hint = " Is the workspace's video_root right?" if skipped else ""
    return f"no example could be trained on: {shown}{more}.{hint}" if skipped else "no example could be trained on"
