"""GRPO (§5.1, Appendix C.1): the training loop of `videokr train grpo`.

Each step takes ``batch_prompts`` prompts of the live RL set (in the SFT run's seeded order,
:class:`videokr.train.order.DataOrder`), samples ``group_size`` responses to each at the
rollout temperature with the project's decoding engine (:mod:`videokr.inference.engine`, the
one evaluation uses, so rollouts are what evaluation would generate), scores them with
:func:`videokr.scoring.reward.score_batch` (the *same* code that scores evaluation:
R = 0.1·format + 0.9·accuracy), turns rewards into group advantages and takes one AdamW step
on ``grpo_loss`` (:mod:`videokr.train.grpo_math`): the clipped surrogate with ρ = 1 (one update
per batch, the paper's setting) plus ``kl_coef`` × the k3 KL to a frozen copy of the starting
model.

The prompt is exactly the verl export's (:func:`videokr.formats.instructions.rl_prompt`, its
``<video>`` tag being where the video goes), in the model's chat template, the video under the
training budget, the inputs built by :mod:`videokr.inference.qwen_video`, as SFT builds them.
Model loading, vision freezing, checkpoints and the data order are SFT's
(:mod:`videokr.train.model`, :mod:`videokr.train.checkpoint`, :mod:`videokr.train.order`).

The update runs each group's prompt through the policy (and the reference) once, its
``group_size`` responses on top of it (:mod:`videokr.train.shared_prefix`): the same
log-probabilities and gradients as a pass per response, at a fraction of the work. It runs in
float32 or, with ``precision: bf16``, in bfloat16 weights.

Under ``accelerate launch`` (or ``torchrun``) it runs data-parallel: every process holds the whole
policy and reference, takes every N-th prompt of the step (:meth:`DataOrder.process_examples`),
samples and scores its groups, and backpropagates them with no communication; then the gradients
are summed across processes once per step and every process takes the same optimizer step. The
loss weights use the step's token count over all processes, and each response's seed depends on
its prompt's place in the step, not on the process: N processes train exactly the batches, the
rollouts and (up to summation order) the weights one process would. FSDP is refused: rollouts need
the whole policy on each device, which an 8B with ``recompute_prompt: true`` fits on one H200.
"""

from __future__ import annotations

import copy
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from videokr.formats.instructions import VIDEO_TAG, answer_tagged, rl_prompt
from videokr.formats.official import resolve_video
from videokr.inference import qwen_video
from videokr.records import Example
from videokr.train import checkpoint as ckpt
from videokr.train.data import Skipped, budget_frames, training_budget
from videokr.train.grpo_config import GRPOConfig
from videokr.train.model import freeze_vision, load_model, load_processor, parameter_counts, parameter_groups, saved_dtype
from videokr.train.order import DataOrder, total_steps
from videokr.train.processes import gather_over_processes, sum_over_processes
from videokr.train.sft import INSTALL_HINT, TrainError, nothing_trained, missing_modules
from videokr.train.shared_prefix import group_backward, group_logprobs
from videokr.train.trackers import accelerator_options, log_metrics, start_trackers

RUN_CONFIG = "grpo_config.json"
ROLLOUTS = "rollouts.jsonl"


@dataclass
class GRPOResult:
    out: Path
    steps: int
    total_steps: int
    resumed_from: int | None
    prompts: int
    skipped: int
    skipped_now: list[Skipped] = field(default_factory=list)
    last_reward: float | None = None
    main_process: bool = True  # under `accelerate launch`, the process that reports


@dataclass
class Prompt:
    """One RL example's prompt inputs (batch dimension 1) and what its reward is scored against."""

    example_id: str
    inputs: dict[str, Any]
    ground_truth: str
    problem_type: str


def rl_user_text(example: Example) -> str:
    """The verl export's prompt without its leading ``<video>`` tag: the builder puts the video first."""
    text = rl_prompt(example)
    return text.removeprefix(VIDEO_TAG).removeprefix("\n")


def build_prompt(example: Example, model: Any, processor: Any, budget: Any, video_root: Path | None) -> Prompt | Skipped:
    """An example's prompt inputs, or why its video cannot be used (the run counts it and goes on)."""
    path = resolve_video(example.video_path, video_root)
    try:
        frames = budget_frames(path, budget)
    except Exception as exc:  # any unreadable video skips its example, as in SFT
        said = str(exc) or type(exc).__name__
        return Skipped(example.id, said if str(path) in said else f"video {path}: {said}")
    inputs = qwen_video.prompt_inputs(model, processor, rl_user_text(example), frames, keep_size=True)
    kind = example.problem_type.value if hasattr(example.problem_type, "value") else str(example.problem_type)
    return Prompt(example.id, dict(inputs), answer_tagged(example), kind)


def sample_group(model: Any, prompts: Sequence[Prompt], group_size: int, temperature: float, max_new_tokens: int,
                 seed: int, eos_ids: Sequence[int], rows: int | None = None,
                 positions: Sequence[int] | None = None) -> list[list[int]]:
    """``group_size`` responses per prompt (contiguous per prompt), sampled by the decoding engine.

    Each prompt is prefilled once for its whole group (the engine shares a prefill between
    requests given the same inputs); each response has its own seed, from ``seed`` and its
    prompt's place in the step (``positions``, by default 0, 1, …), so a resumed run — or the
    same step split over several processes — samples the same rollouts. ``rows`` responses
    decode together (continuous batching); by default as many as the device's free memory
    holds caches for."""
    from videokr.inference.engine import DecodingEngine, Sampling

    wanted = max(1, len(prompts) * group_size)
    longest = max((int(p.inputs["input_ids"].shape[-1]) for p in prompts), default=1) + max_new_tokens
    rows = min(wanted, rows or rollout_rows(model, longest, wanted))
    was_training = model.training
    model.eval()
    try:
        engine = DecodingEngine(model, rows=max(1, rows), eos_token_ids=eos_ids, batch_vision=False)
        inputs = [p.inputs for p in prompts for _ in range(group_size)]
        places = range(len(prompts)) if positions is None else positions
        specs = [Sampling(max_new_tokens, temperature=temperature, top_p=1.0,
                          seed=seed * 1_000_003 + place * group_size + k)
                 for place in places for k in range(group_size)]
        return [g.tokens for g in engine.generate(inputs, specs)]
    finally:
        engine = None
        model.train(was_training)
        _release_device_memory(model)


def _release_device_memory(model: Any) -> None:
    """Hand the rollouts' caches (and their CUDA graph's pool) back before the update needs the memory."""
    import gc

    import torch

    if next(model.parameters()).device.type == "cuda":
        gc.collect()
        torch.cuda.empty_cache()


ROLLOUT_MEMORY_SHARE = 0.5  # of the free device memory, for the rollouts' key/value caches


def rollout_rows(model: Any, slots: int, wanted: int) -> int:
    """How many rollouts fit together: each holds a key/value cache of ``slots`` positions."""
    import torch

    from videokr.inference.engine import decoder_parts

    param = next(model.parameters())
    if param.device.type != "cuda":
        return wanted
    text, _ = decoder_parts(model)
    config = text.config
    head_dim = int(getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads)
    per_row = 2 * len(text.layers) * int(config.num_key_value_heads) * head_dim * slots * param.element_size()
    free, _ = torch.cuda.mem_get_info(param.device)
    return max(1, min(wanted, int(free * ROLLOUT_MEMORY_SHARE) // max(1, per_row)))


def response_logprobs(model: Any, prompt: Prompt, responses: Sequence[Sequence[int]], pad: int,
                      temperature: float) -> tuple[Any, Any]:
    """Log-probs ``(G, T)`` of each response's tokens given the prompt, and the response mask, by a
    pass per response — what a plain trainer does; the update uses the shared-prefix pass
    (:func:`videokr.train.shared_prefix.group_logprobs`) and the tests hold it to this one.

    Prompt and response go through the model together (the rollout's own context); only the
    positions that predict response tokens reach the LM head. A response is trained up to its
    first vision placeholder token (``<|video_pad|>`` and kin, which a barely trained model can
    sample): fed back, such a token would make the model look for video features it has not
    got; every trained token keeps the exact context it was sampled in."""
    import torch

    from videokr.train.grpo_math import token_logprobs
    from videokr.train.loss import logits_to_keep

    rows = [qwen_video.supervised_row(prompt.inputs, trainable_tokens(model, r)) for r in responses]
    batch = qwen_video.collate_rows(rows, pad)
    device = next(model.parameters()).device
    batch = {k: v.to(device) for k, v in batch.items()}
    labels = batch.pop("labels")
    keep = logits_to_keep(labels)
    logits = model(**batch, use_cache=False, logits_to_keep=keep).logits
    targets = labels[:, labels.shape[1] - keep + 1:]
    mask = targets != qwen_video.IGNORE_INDEX
    logp = token_logprobs(logits[:, :-1, :], torch.where(mask, targets, torch.zeros_like(targets)),
                          temperature=temperature)
    return logp, mask


def vision_token_ids(model: Any) -> set[int]:
    """The ids of the tokens that stand for image or video input in the model's config."""
    config = getattr(model, "config", None)
    names = ("image_token_id", "video_token_id", "vision_start_token_id", "vision_end_token_id")
    return {int(v) for v in (getattr(config, n, None) for n in names) if isinstance(v, int)}


def trainable_tokens(model: Any, response: Sequence[int]) -> list[int]:
    """The response up to (without) its first vision placeholder token."""
    placeholders = vision_token_ids(model)
    for k, token in enumerate(response):
        if token in placeholders:
            return list(response[:k])
    return list(response)


def run_settings(examples: Sequence[Example], config: GRPOConfig, steps: int) -> dict[str, Any]:
    """What the data order, the rollouts and the update depend on: a resumed run must match them."""
    from videokr.hashing import digest_json

    return {"examples": digest_json([e.id for e in examples]), "count": len(examples), "total_steps": steps,
            "grpo": config.recipe()}


def train_grpo(examples: Sequence[Example], model_path: Path, out: Path, config: GRPOConfig,
               video_root: Path | None = None, *, resume: bool = True, show_progress: bool = True,
               on_step: Callable[[dict[str, Any], list[dict[str, Any]]], None] | None = None) -> GRPOResult:
    """GRPO on ``examples`` (the live RL set) from the checkpoint at ``model_path``; results in ``out``.

    ``on_step(metrics, rollouts)`` receives every step's metrics and its responses (text,
    reward parts) after the step, so callers can check or log what was rewarded."""
    if missing := missing_modules():
        raise TrainError(f"training needs {', '.join(missing)}: {INSTALL_HINT}")
    if not examples:
        raise TrainError("no RL examples to train on")
    if not (model_path / "config.json").is_file():
        raise TrainError(f"{model_path}: no model checkpoint there (no config.json)")
    return _GRPORun(list(examples), model_path, out, config, video_root, resume, show_progress, on_step).train()


class _GRPORun:
    def __init__(self, examples: list[Example], model_path: Path, out: Path, config: GRPOConfig,
                 video_root: Path | None, resume: bool, show_progress: bool,
                 on_step: Callable[[dict[str, Any], list[dict[str, Any]]], None] | None) -> None:
        self.examples, self.model_path, self.out, self.config = examples, model_path, out, config
        self.video_root, self.resume, self.show_progress, self.on_step = video_root, resume, show_progress, on_step

    def train(self) -> GRPOResult:
        import torch
        from accelerate import Accelerator
        from accelerate.utils import set_seed

        config = self.config
        self.out.mkdir(parents=True, exist_ok=True)
        from accelerate.utils import DistributedType

        acc = Accelerator(mixed_precision="no", **accelerator_options(self.out))
        if acc.distributed_type not in (DistributedType.NO, DistributedType.MULTI_GPU, DistributedType.MULTI_CPU):
            raise TrainError(f"GRPO runs data-parallel (each process holds the whole policy), not under "
                             f"{acc.distributed_type.value}: launch it with `accelerate launch --multi_gpu` or torchrun")
        set_seed(config.seed)
        self.acc = acc
        model = load_model(self.model_path, torch.bfloat16 if config.precision == "bf16" else torch.float32)
        processor = load_processor(self.model_path)
        self.processor = processor
        self.tokenizer = getattr(processor, "tokenizer", processor)
        frozen = freeze_vision(model, tower=config.freeze_vision_tower, projector=config.freeze_projector)
        model.config.use_cache = False
        self.reference = None
        if config.kl_coef > 0:
            self.reference = copy.deepcopy(model).eval()
            self.reference.requires_grad_(False)
        model.train()
        self.budget = training_budget(config.video_budget, model.config, config.max_frames, config.max_video_tokens)
        self.steps = total_steps(len(self.examples), config.batch_prompts, config.epochs, config.max_steps)
        self.order = DataOrder(len(self.examples), config.batch_prompts, config.seed, acc.process_index,
                               acc.num_processes)
        optimizer = torch.optim.AdamW(parameter_groups(model, config.weight_decay), lr=config.lr,
                                      betas=config.adam_betas, eps=config.adam_eps,
                                      fused=True if acc.device.type == "cuda" else None)
        prepared, self.optimizer = acc.prepare(model, optimizer)
        # The update calls the module itself, never the data-parallel wrapper: gradients stay local
        # until `_sum_gradients` adds them up once per step (the wrapper is kept for checkpoints).
        self.model = acc.unwrap_model(prepared)
        if self.reference is not None:
            self.reference.to(acc.device)
        self.position = ckpt.Position(settings=run_settings(self.examples, config, self.steps))
        acc.register_for_checkpointing(self.position)
        resumed_from = self._restore()
        trainable, total = parameter_counts(model)
        if acc.is_main_process:
            self._describe(frozen, trainable, total)
        start_trackers(acc, self.out, config.model_dump())
        self.pad = qwen_video.pad_id(self.tokenizer)
        self.eos = sorted({int(self.tokenizer.eos_token_id)} | _config_eos(model))
        skipped_now: list[Skipped] = []
        last = self._loop(skipped_now)
        if self.position.examples == 0:
            raise TrainError(nothing_trained(skipped_now))
        ckpt.save_final(acc, self.model, processor, self.model_path, self.out, saved_dtype(self.model_path))
        acc.end_training()
        p = self.position
        return GRPOResult(self.out, p.step, self.steps, resumed_from, p.examples, p.skipped, skipped_now, last,
                          acc.is_main_process)

    def _loop(self, skipped_now: list[Skipped]) -> float | None:
        """The steps from where the run stands, with progress (reward, KL, tokens/s, ETA) on stderr."""
        from contextlib import nullcontext

        from videokr.progress import progress_bar

        state: dict[str, Any] = {"reward": None, "kl": None, "tokens_per_s": 0.0}

        def status() -> str:
            reward = "—" if state["reward"] is None else f"{state['reward']:.3f}"
            kl = "—" if state["kl"] is None else f"{state['kl']:.4f}"
            return f"reward {reward} · kl {kl} · {state['tokens_per_s']:,.0f} tok/s"

        shown = self.show_progress and self.acc.is_main_process
        with (progress_bar("grpo", self.steps, status) if shown else nullcontext(lambda n=1: None)) as advance:
            advance(self.position.step)
            for step in range(self.position.step, self.steps):
                metrics = self._step(step, skipped_now)
                state.update(reward=metrics["reward"], kl=metrics["kl"], tokens_per_s=metrics["tokens_per_s"])
                advance(1)
        return state["reward"]

    def _describe(self, frozen: Any, trainable: int, total: int) -> None:
        config, acc = self.config, self.acc
        (self.out / RUN_CONFIG).write_text(json.dumps({
            "model": str(self.model_path), "zero_rl": config.zero_rl, "examples": len(self.examples),
            "processes": acc.num_processes, "total_steps": self.steps, "video_budget": self.budget.name,
            "max_frames": self.budget.max_frames, "max_video_tokens": self.budget.max_video_tokens,
            "trainable_parameters": trainable, "parameters": total, "frozen": frozen,
            "settings": config.model_dump(mode="json"),
        }, indent=2, default=str) + "\n", encoding="utf-8")

    def _restore(self) -> int | None:
        latest = ckpt.latest_checkpoint(self.out)
        if self.resume and latest is not None:
            settings = dict(self.position.settings)
            self.acc.load_state(str(latest))
            try:
                ckpt.check_settings(self.position.settings, settings, latest)
            except ckpt.ResumeError as exc:
                raise TrainError(str(exc)) from None
            if self.acc.is_main_process:
                for name in (ckpt.METRICS, ckpt.SKIPPED, ROLLOUTS):
                    ckpt.truncate_log(self.out / name, self.position.step)
            self.acc.wait_for_everyone()
            return self.position.step
        if self.acc.is_main_process:
            ckpt.clear_run(self.out)
            (self.out / ROLLOUTS).unlink(missing_ok=True)
        self.acc.wait_for_everyone()
        return None

    def _step(self, step: int, skipped_now: list[Skipped]) -> dict[str, Any]:
        import torch

        from videokr.scoring.reward import score_batch
        from videokr.train.grpo_math import group_advantages, grpo_loss

        config, acc = self.config, self.acc
        position = self.position
        began = time.perf_counter()
        prompts: list[Prompt] = []
        places: list[int] = []  # each prompt's place in the step (all processes): its rollouts' seeds
        skips: list[Skipped] = []
        rank, world = acc.process_index, acc.num_processes
        for place, index in enumerate(self.order.step_examples(step)):
            if place % world != rank:
                continue
            made = build_prompt(self.examples[index], self.model, self.processor, self.budget, self.video_root)
            if isinstance(made, Prompt):
                prompts.append(made)
                places.append(place)
            else:
                skips.append(made)
        G = config.group_size
        responses = sample_group(self.model, prompts, G, config.temperature, config.max_response_tokens,
                                 seed=config.seed * 100_003 + step, eos_ids=self.eos, rows=config.rollout_rows,
                                 positions=places)
        generated = time.perf_counter()
        texts = [self.tokenizer.decode(r, skip_special_tokens=True) for r in responses]
        truths = [p.ground_truth for p in prompts for _ in range(G)]
        kinds = [p.problem_type for p in prompts for _ in range(G)]
        scored = score_batch(texts, truths, kinds, config.reward_mode)
        rewards = torch.tensor(scored.reward, dtype=torch.float32)
        advantages = group_advantages(rewards, G, std=config.adv_std, eps=config.adv_eps,
                                      scale_by_std=config.scale_by_std) if prompts else rewards

        lengths = [len(r) for r in responses]
        kept = [trainable_tokens(self.model, r) for r in responses]  # what each response trains on
        trained = [len(k) for k in kept]
        # The step's loss is the aggregate over every process's responses: the weights use its totals.
        totals = sum_over_processes(self.acc, [sum(trained), sum(1 for n in trained if n > 0)])
        learned, nonempty = (int(x) for x in totals)
        weights = [sum(trained[i * G:(i + 1) * G]) / learned if learned else 0.0 for i in range(len(prompts))]
        if config.loss_agg == "seq-mean-token-mean":
            weights = [sum(1 for n in trained[i * G:(i + 1) * G] if n > 0) / max(1, nonempty)
                       for i in range(len(prompts))]
        loss_sum = pg_sum = kl_sum = 0.0
        tokens = 0
        grad_norm = None
        if learned > 0:
            for i, prompt in enumerate(prompts):
                group = kept[i * G:(i + 1) * G]
                if weights[i] == 0:
                    continue
                tokens += G * int(prompt.inputs["input_ids"].shape[1]) + sum(trained[i * G:(i + 1) * G])
                ref = None
                if self.reference is not None:
                    with torch.no_grad():
                        ref, _ = group_logprobs(self.reference, prompt.inputs, group, self.pad, config.temperature)
                group_advantage = advantages[i * G:(i + 1) * G]

                def loss_of(logp: Any, mask: Any, ref: Any = ref, adv: Any = group_advantage) -> Any:
                    return grpo_loss(logp, adv.to(logp.device), mask, ref_logp=ref, kl_coef=config.kl_coef,
                                     kl_estimator=config.kl_estimator, clip_eps=config.clip_eps, agg=config.loss_agg)

                if config.recompute_prompt:
                    parts, _, _ = group_backward(self.model, prompt.inputs, group, self.pad, config.temperature,
                                                 loss_of, scale=weights[i])
                else:
                    parts = loss_of(*group_logprobs(self.model, prompt.inputs, group, self.pad, config.temperature))
                    (parts.loss * weights[i]).backward()
                loss_sum += float(parts.loss.detach()) * weights[i]
                pg_sum += float(parts.pg_loss) * weights[i]
                kl_sum += float(parts.kl) * weights[i]
            params = [p for p in self.model.parameters() if p.requires_grad]
            self._sum_gradients(params)
            limit = config.max_grad_norm if config.max_grad_norm > 0 else math.inf
            grad_norm = float(torch.nn.utils.clip_grad_norm_(params, limit))
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
        done = time.perf_counter()

        loss_sum, pg_sum, kl_sum, tokens = sum_over_processes(self.acc, [loss_sum, pg_sum, kl_sum, tokens])
        tokens = int(tokens)
        local = [{"place": places[k // G], "id": prompts[k // G].example_id, "response": texts[k],
                  "reward": scored.reward[k], "format_reward": scored.format_reward[k],
                  "accuracy_reward": scored.accuracy_reward[k], "advantage": float(advantages[k]),
                  "tokens": lengths[k]} for k in range(len(texts))]
        # the step's order, whatever the split
        everyone = sorted(gather_over_processes(self.acc, local), key=lambda r: r["place"])
        skips = gather_over_processes(self.acc, skips)
        position.step = step + 1
        position.examples += len(everyone) // G if G else 0
        position.skipped += len(skips)
        position.tokens += tokens
        skipped_now.extend(skips)
        n = len(everyone)
        mean = (lambda key: sum(r[key] for r in everyone) / n if n else None)
        metrics = {"step": step + 1, "epoch": self.order.epoch_of(step), "reward": mean("reward"),
                   "format_reward": mean("format_reward"), "accuracy_reward": mean("accuracy_reward"),
                   "kl": kl_sum if learned else None, "pg_loss": pg_sum if learned else None,
                   "loss": loss_sum if learned else None, "response_length": mean("tokens"),
                   "grad_norm": grad_norm, "lr": config.lr, "prompts": n // G if G else 0, "responses": n,
                   "skipped": len(skips), "tokens": tokens, "response_tokens": learned,
                   "tokens_per_s": (tokens + learned) / (done - began) if done > began else 0.0,
                   "generate_s": generated - began, "train_s": done - generated, "seconds": done - began}
        rollouts = [{"step": step + 1, **{k: v for k, v in r.items() if k != "place"}} for r in everyone]
        if acc.is_main_process:
            ckpt.append_lines(self.out / ckpt.SKIPPED, [{"step": step + 1, "id": s.example_id, "reason": s.reason}
                                                        for s in skips])
            ckpt.append_lines(self.out / ckpt.METRICS, [metrics])
            if config.save_rollouts:
                ckpt.append_lines(self.out / ROLLOUTS, rollouts)
        log_metrics(acc, metrics)
        if (step + 1) % config.save_steps == 0 and step + 1 < self.steps:
            ckpt.save_checkpoint(acc, self.out, step + 1, config.keep_checkpoints)
        if self.on_step is not None and acc.is_main_process:
            self.on_step(metrics, rollouts)
        return metrics

    def _sum_gradients(self, params: list[Any]) -> None:
        """Add up the processes' gradients, once per step, in flat buckets (each process backpropagated
        its own groups with no communication; the weights already divide by the step's totals)."""
        if self.acc.num_processes == 1:
            return
        import torch
        import torch.distributed as dist

        for p in params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        bucket: list[Any] = []
        filled = 0
        for p in params + [None]:
            if p is not None:
                bucket.append(p)
                filled += p.numel()
            if bucket and (p is None or filled >= GRADIENT_BUCKET):
                flat = torch.cat([q.grad.reshape(-1) for q in bucket])
                dist.all_reduce(flat)
                offset = 0
                for q in bucket:
                    q.grad.copy_(flat[offset:offset + q.numel()].view_as(q.grad))
                    offset += q.numel()
                bucket, filled = [], 0


GRADIENT_BUCKET = 1 << 26  # elements per all-reduce: 128 MB of bf16 gradients


def _config_eos(model: Any) -> set[int]:
    """The end-of-sequence ids the model's configs name (the chat template's end of turn among them)."""
    found: set[int] = set()
    for cfg in (getattr(model, "generation_config", None), getattr(model, "config", None),
                getattr(getattr(model, "config", None), "text_config", None)):
        value = getattr(cfg, "eos_token_id", None) if cfg is not None else None
        if isinstance(value, int):
            found.add(value)
        elif isinstance(value, (list, tuple)):
            found.update(int(v) for v in value)
    return found
