"""Training verbs: `videokr train sft` and `videokr train grpo` (§5.1). Each stage registers itself on the `train` group."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from videokr.cli.common import fail, workspace
from videokr.progress import console

train_app = typer.Typer(help="Train models on the workspace's live sets (§5.1).", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    train_app.command("sft")(sft)
    train_app.command("grpo")(grpo)
    train_app.command("tiny-model")(tiny_model)
    app.add_typer(train_app, name="train")


def _section(ws: Any, name: str, overrides: dict[str, Any]) -> Any:
    """The workspace's `train.NAME` section with the command line's options laid over it."""
    from pydantic import ValidationError

    from videokr.train.config import SECTIONS

    kind = SECTIONS[name]
    section = ws.config.train.get(name) or kind()
    chosen = {k: v for k, v in overrides.items() if v is not None}
    try:
        return kind.model_validate({**section.model_dump(), **chosen})
    except ValidationError as exc:
        fail("; ".join(f"train.{name}.{'.'.join(str(p) for p in e['loc'])}: {e['msg'].removeprefix('Value error, ')}"
                       for e in exc.errors()))


def _model_and_out(ws: Any, stage: str, model: Path | None, out: Path | None, config: Any) -> tuple[Path, Path]:
    """The checkpoint to start from and the output folder: from the command line, else `train.STAGE` of
    videokr.yaml; a clear error when neither says."""
    model_path = _path(model, config.model, ws.root)
    out_path = _path(out, config.out, ws.root)
    if model_path is None:
        fail(f"which model? pass --model PATH (or set train.{stage}.model in videokr.yaml)")
    if out_path is None:
        fail(f"where to? pass --out DIR (or set train.{stage}.out in videokr.yaml)")
    return model_path, out_path  # type: ignore[return-value]


def _path(given: Path | None, configured: str | None, root: Path) -> Path | None:
    """A path from the command line (as typed) or from videokr.yaml (relative to the workspace)."""
    if given is not None:
        return given
    if configured is None:
        return None
    path = Path(configured)
    return path if path.is_absolute() else root / path


def sft(
    ctx: typer.Context,
    model: Path = typer.Option(None, "--model", help="checkpoint directory to fine-tune (or train.sft.model)"),
    out: Path = typer.Option(None, "--out",
                             help="output directory: checkpoints, metrics, final model (or train.sft.out)"),
    max_steps: int = typer.Option(None, "--max-steps", help="stop after N optimizer steps (the schedule follows it)"),
    resume: bool = typer.Option(True, "--resume/--no-resume", help="pick up from the latest checkpoint in --out"),
    global_batch: int = typer.Option(None, "--global-batch", help="examples per optimizer step (paper: 32)"),
    micro_batch: int = typer.Option(None, "--micro-batch", help="examples per device per forward pass"),
    save_steps: int = typer.Option(None, "--save-steps", help="checkpoint every N steps"),
    video_budget: str = typer.Option(None, "--video-budget", help="paper (default) | release | a budget preset"),
    precision: str = typer.Option(None, "--precision", help="bf16 (paper) | fp16 | fp32"),
    max_frames: int = typer.Option(None, "--max-frames", help="cap the frames per video (below the budget's)"),
    max_video_tokens: int = typer.Option(None, "--max-video-tokens", help="cap the video tokens (below the budget's)"),
) -> None:
    """Supervised fine-tuning on the live SFT set, with the paper's settings unless videokr.yaml says otherwise.

    Runs on the CPU, one GPU, or several GPUs under `accelerate launch` (DDP, FSDP2); see docs/training.md.
    """
    ws = workspace(ctx)
    config = _section(ws, "sft", {"max_steps": max_steps, "global_batch": global_batch, "micro_batch": micro_batch,
                                  "save_steps": save_steps, "video_budget": video_budget, "precision": precision,
                                  "max_frames": max_frames, "max_video_tokens": max_video_tokens})
    model_path, out_path = _model_and_out(ws, "sft", model, out, config)
    examples = _ready(ws, model_path, "sft")

    from videokr.train.model import ModelError
    from videokr.train.sft import TrainError, train_sft

    try:
        result = train_sft(examples, model_path, out_path, config,  # type: ignore[arg-type]
                           ws.video_root(), resume=resume)
    except (TrainError, ModelError) as exc:
        fail(str(exc))
    if not result.main_process:
        return
    began = f"resumed at step {result.resumed_from}" if result.resumed_from is not None else "from the start"
    loss = f", last loss {result.last_loss:.4f}" if result.last_loss is not None else ""
    console.print(f"[green]sft done[/] ({began}): {result.steps}/{result.total_steps} steps, "
                  f"{result.examples} examples{loss}")
    _report_end(result, out_path)


def grpo(
    ctx: typer.Context,
    model: Path = typer.Option(None, "--model",
                               help="checkpoint to start from: the SFT model, or an instruct model with --zero-rl "
                                    "(or train.grpo.model)"),
    out: Path = typer.Option(None, "--out", help="output directory: checkpoints, metrics, final model (or train.grpo.out)"),
    zero_rl: bool = typer.Option(None, "--zero-rl", help="start from an instruct model, no SFT (recorded in the run)"),
    max_steps: int = typer.Option(None, "--max-steps", help="stop after N steps (each: batch_prompts × group_size rollouts)"),
    resume: bool = typer.Option(True, "--resume/--no-resume", help="pick up from the latest checkpoint in --out"),
    save_steps: int = typer.Option(None, "--save-steps", help="checkpoint every N steps (50)"),
    video_budget: str = typer.Option(None, "--video-budget", help="paper (default) | release | a budget preset"),
    max_frames: int = typer.Option(None, "--max-frames", help="cap the frames per video (below the budget's)"),
    max_video_tokens: int = typer.Option(None, "--max-video-tokens", help="cap the video tokens (below the budget's)"),
    train_vision: bool = typer.Option(None, "--train-vision/--freeze-vision",
                                      help="train the vision tower and projector too (frozen by default, as in SFT)"),
    seed: int = typer.Option(None, "--seed", help="data order and rollout sampling seed (42)"),
    save_rollouts: bool = typer.Option(None, "--save-rollouts", help="every response and its reward in OUT/rollouts.jsonl"),
    precision: str = typer.Option(None, "--precision", help="fp32 (default) | bf16 (bfloat16 weights: a GPU's choice)"),
    rollout_rows: int = typer.Option(None, "--rollout-rows", min=1,
                                     help="rollouts decoded together (default: as many as free memory holds)"),
) -> None:
    """GRPO on the live RL set with the train.grpo settings of videokr.yaml (the paper's unless it says otherwise).

    Runs on the CPU, one GPU, or several GPUs data-parallel under `accelerate launch --multi_gpu`; see docs/training.md.
    """
    ws = workspace(ctx)
    frozen = None if train_vision is None else not train_vision
    config = _section(ws, "grpo", {"zero_rl": zero_rl, "max_steps": max_steps, "save_steps": save_steps,
                                   "video_budget": video_budget, "max_frames": max_frames,
                                   "max_video_tokens": max_video_tokens, "freeze_vision_tower": frozen,
                                   "freeze_projector": frozen, "seed": seed, "save_rollouts": save_rollouts,
                                   "precision": precision, "rollout_rows": rollout_rows})
    model_path, out_path = _model_and_out(ws, "grpo", model, out, config)
    if model_path.is_dir() and not (model_path / "config.json").is_file():
        fail(f"{model_path}: no model checkpoint there (no config.json)")
    examples = _ready(ws, model_path, "rl")

    from videokr.train.grpo import train_grpo
    from videokr.train.model import ModelError
    from videokr.train.sft import TrainError

    try:
        result = train_grpo(examples, model_path, out_path, config, ws.video_root(), resume=resume)
    except (TrainError, ModelError, ValueError) as exc:
        fail(str(exc))
    if not result.main_process:
        return
    began = f"resumed at step {result.resumed_from}" if result.resumed_from is not None else "from the start"
    reward = f", last mean reward {result.last_reward:.3f}" if result.last_reward is not None else ""
    console.print(f"[green]grpo done[/] ({began}{', zero-RL' if config.zero_rl else ''}): {result.steps}/"
                  f"{result.total_steps} steps, {result.prompts} prompts{reward}")
    _report_end(result, out_path)


def tiny_model(
    out: Path = typer.Argument(..., help="directory to write the checkpoint into"),
    family: str = typer.Option("qwen2.5-vl", "--family", help="qwen2.5-vl | qwen3-vl"),
) -> None:
    """Write a tiny random-initialised checkpoint (real architecture, a few MB) to try training and evaluation
    end to end on a CPU in seconds. It learns; it knows nothing."""
    from videokr.testing.tiny_models import FAMILIES, save_tiny_checkpoint
    from videokr.train.sft import INSTALL_HINT, missing_modules

    if family not in FAMILIES:
        fail(f"--family {family!r}: choose one of {', '.join(FAMILIES)}")
    if missing := missing_modules():
        fail(f"a checkpoint needs {', '.join(missing)}: {INSTALL_HINT}")
    if out.exists() and any(out.iterdir()):
        fail(f"{out}: not empty; choose a new directory")
    save_tiny_checkpoint(family, out)
    console.print(f"[green]tiny {family} checkpoint[/] in {out}  (videokr train sft --model {out} --out …)")


def _ready(ws: Any, model: Path, set_name: str) -> list[Any]:
    """What every training verb checks before loading anything: the model folder, the live set, the packages."""
    from videokr.sets import live_set
    from videokr.train.sft import INSTALL_HINT, missing_modules

    if not model.is_dir():
        fail(f"{model}: no such model directory")
    examples = live_set(ws.store, set_name)  # type: ignore[arg-type]
    if not examples:
        fail(f"the workspace has no live {set_name.upper()} examples; run `videokr run` first (import, …, split)")
    if missing := missing_modules():
        fail(f"training needs {', '.join(missing)}: {INSTALL_HINT}")
    return examples


def _report_end(result: Any, out: Path) -> None:
    """What every training verb says last: the examples it skipped and where the model is."""
    if result.skipped:
        console.print(f"[yellow]{result.skipped} example(s) skipped[/] (listed in {out / 'skipped.jsonl'})")
        for item in result.skipped_now[:5]:
            console.print(f"  {item.example_id}: {item.reason}")
    console.print(f"model: {out}  (videokr eval run --backend transformers --model {out})")
