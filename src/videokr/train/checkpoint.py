"""What a training run keeps in its output directory, and how a killed run picks up again.

```
OUT/
  checkpoints/step-000500/   accelerate's save_state: model, optimizer, scheduler, RNG, position
  metrics.jsonl              one line per logged step: loss, lr, grad norm, tokens/s
  skipped.jsonl              one line per example whose video could not be used
  tensorboard/               the same metrics, when TensorBoard is installed
  sft_config.json            the settings the run was started with
  config.json, model.safetensors, tokenizer…, processor…   the final model (Hugging Face format)
```

A checkpoint is written into ``step-N.tmp`` and renamed when complete, so a run killed while
saving leaves the previous checkpoint as the latest one. The *position* (optimizer steps
done, what was trained on) travels inside the checkpoint, together with the settings the
data order depends on: resuming with other settings is refused rather than silently
training on a different order.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

CHECKPOINTS = "checkpoints"
PREFIX = "step-"
METRICS = "metrics.jsonl"
SKIPPED = "skipped.jsonl"
RUN_CONFIG = "sft_config.json"
# Files of a checkpoint's processor that training does not change: carried over when the
# processor could not be loaded here (no torchvision), so the trained model keeps them.
PROCESSOR_FILES = ("preprocessor_config.json", "video_preprocessor_config.json", "processor_config.json",
                   "chat_template.json", "chat_template.jinja", "tokenizer.json", "tokenizer_config.json",
                   "special_tokens_map.json", "added_tokens.json", "vocab.json", "merges.txt")


class ResumeError(RuntimeError):
    """A checkpoint that does not belong to this run's settings."""


@dataclass
class Position:
    """Where a run is: saved with every checkpoint (accelerate's custom state)."""

    step: int = 0  # optimizer steps done
    examples: int = 0  # examples trained on
    skipped: int = 0  # examples skipped (unreadable videos, too long)
    tokens: int = 0  # input tokens seen, over all processes
    settings: dict[str, Any] = field(default_factory=dict)  # what the data order depends on

    def state_dict(self) -> dict[str, Any]:
        return asdict(self)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            setattr(self, key, value)


def checkpoints(out: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints in ``out``, oldest first."""
    root = out / CHECKPOINTS
    found = []
    if root.is_dir():
        for path in root.iterdir():
            suffix = path.name.removeprefix(PREFIX)
            if path.is_dir() and path.name.startswith(PREFIX) and suffix.isdigit():
                found.append((int(suffix), path))
    return sorted(found)


def latest_checkpoint(out: Path) -> Path | None:
    found = checkpoints(out)
    return found[-1][1] if found else None


def save_checkpoint(accelerator: Any, out: Path, step: int, keep: int) -> Path:
    """``accelerator.save_state`` into ``checkpoints/step-N`` (atomically), keeping the last ``keep``."""
    final = out / CHECKPOINTS / f"{PREFIX}{step:06d}"
    partial = final.with_name(final.name + ".tmp")
    if accelerator.is_main_process:
        shutil.rmtree(partial, ignore_errors=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(partial))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        shutil.rmtree(final, ignore_errors=True)
        partial.rename(final)
        for _, old in checkpoints(out)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def check_settings(saved: dict[str, Any], current: dict[str, Any], checkpoint: Path) -> None:
    """Refuse a checkpoint made with settings that change the data order or the schedule."""
    differ = [f"{key}: {saved.get(key)!r} then, {current.get(key)!r} now"
              for key in sorted(set(saved) | set(current)) if saved.get(key) != current.get(key)]
    if differ:
        raise ResumeError(
            f"{checkpoint} was made with other settings ({'; '.join(differ)}); "
            "pass --no-resume to start over, or another --out"
        )


def clear_run(out: Path) -> None:
    """Remove what an earlier run left in ``out`` (a fresh start must not mix with it)."""
    shutil.rmtree(out / CHECKPOINTS, ignore_errors=True)
    shutil.rmtree(out / "tensorboard", ignore_errors=True)
    for name in (METRICS, SKIPPED):
        (out / name).unlink(missing_ok=True)


def truncate_log(path: Path, step: int) -> None:
    """Keep the lines of a JSON Lines log up to ``step``: a resumed run logs the later ones again."""
    if not path.is_file():
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            if json.loads(line).get("step", 0) <= step:
                kept.append(line)
        except (json.JSONDecodeError, AttributeError):
            continue  # a line cut short by a kill
    path.write_text("".join(k + "\n" for k in kept), encoding="utf-8")


def append_lines(path: Path, rows: list[dict[str, Any]]) -> None:
    if rows:
        with path.open("a", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            handle.flush()


def save_final(accelerator: Any, model: Any, processor: Any, source: Path, out: Path, dtype: Any) -> None:
    """The trained model in Hugging Face format: loadable by ``from_pretrained`` and
    ``videokr eval run --backend transformers --model OUT``. Weights are stored in the
    source checkpoint's dtype (float32 master weights are a training matter)."""
    state = accelerator.get_state_dict(model)  # under FSDP, the full weights gathered
    if not accelerator.is_main_process:
        return
    unwrapped = accelerator.unwrap_model(model)
    state = {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in state.items()}
    unwrapped.config.use_cache = True
    unwrapped.config.dtype = dtype
    unwrapped.save_pretrained(str(out), state_dict=state, safe_serialization=True)
    processor.save_pretrained(str(out))
    for name in PROCESSOR_FILES:
        if (source / name).is_file() and not (out / name).exists():
            shutil.copy2(source / name, out / name)
