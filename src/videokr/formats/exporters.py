"""Exports: the store's SFT, RL and evaluation sets in the formats training tools read.

- `llamafactory`: ShareGPT JSON + `dataset_info.json`, byte-compatible with the official SFT converter;
- `verl`: `train.parquet` / `test.parquet` with the official RL converter's schema;
- `hf`: a parquet dataset in conversational form (`messages` / `prompt`) with video entries,
  loadable with `datasets.load_dataset(DIR)` and usable by TRL;
- `jsonl`: the official VideoKR JSONL layout; export → import round-trips losslessly.

Each exporter is a function of (items, out_dir, options) → ExportReport; items it cannot
write (an SFT target without a chain of thought) are reported with the reason, never dropped silently.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from videokr.formats.instructions import VIDEO_TAG, answer_tagged, rl_prompt, sft_target, sft_user_prompt
from videokr.formats.official import resolve_video
from videokr.records import EvalItem, Example, ProblemType

Item = Example | EvalItem
SetName = Literal["sft", "rl", "eval"]
FORMATS = ("llamafactory", "verl", "hf", "jsonl")

# Frame/pixel settings written into verl's `videos` entries. The paper trains with at most 128
# frames and 4,096 video tokens (§5.1): 64 temporal groups of 2 frames × 64 merged tokens, i.e.
# 64 × (2·patch)² pixels per frame. The official release writes 128·28·28 pixels, which gives
# 8,192 tokens at 128 frames; it stays available as `release`.
VIDEO_PRESETS: dict[str, dict[str, float | int]] = {
    "paper-qwen2.5-vl": {"fps": 2.0, "max_frames": 128, "min_frames": 4,
                         "max_pixels": 64 * 28 * 28, "min_pixels": 64 * 28 * 28},
    "paper-qwen3-vl": {"fps": 2.0, "max_frames": 128, "min_frames": 4,
                       "max_pixels": 64 * 32 * 32, "min_pixels": 64 * 32 * 32},
    "release": {"fps": 2.0, "max_frames": 128, "min_frames": 4,
                "max_pixels": 128 * 28 * 28, "min_pixels": 128 * 28 * 28},
}
DEFAULT_VIDEO_PRESET = "paper-qwen2.5-vl"
# The official RL converter holds out 500 random RL examples (seed 42) as verl's test set.
RELEASE_VAL_SIZE = 500
RELEASE_VAL_SEED = 42
LLAMAFACTORY_DATASET = "videokr_train"


@dataclass
class ExportOptions:
    video_root: Path | None = None
    absolute_paths: bool = False
    video_prefix: str = ""
    video_preset: str = DEFAULT_VIDEO_PRESET
    val_size: int = RELEASE_VAL_SIZE
    val_seed: int = RELEASE_VAL_SEED
    dataset_name: str = LLAMAFACTORY_DATASET

    def video(self, item: Item) -> str:
        path = item.video_path
        if "://" in path:
            return path
        if self.absolute_paths:
            return str(resolve_video(path, self.video_root).resolve())
        if self.video_prefix:
            prefix = self.video_prefix.strip().strip("/")
            if prefix and not path.startswith(prefix + "/"):
                path = f"{prefix}/{path}"
        return path


@dataclass
class ExportReport:
    format: str
    files: list[Path] = field(default_factory=list)
    written: int = 0
    skipped: list[str] = field(default_factory=list)  # "id: reason"


def export(items: Sequence[Item], set_name: SetName, fmt: str, out_dir: Path, options: ExportOptions) -> ExportReport:
    try:
        writer = _WRITERS[fmt]
    except KeyError:
        raise ValueError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}") from None
    if options.video_preset not in VIDEO_PRESETS:
        raise ValueError(f"unknown video preset {options.video_preset!r}; choose one of {', '.join(VIDEO_PRESETS)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    return writer(items, set_name, out_dir, options)


# -- LLaMA-Factory -------------------------------------------------------------------


def llamafactory_row(item: Example, options: ExportOptions) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "user", "content": f"{VIDEO_TAG}{sft_user_prompt(item)}"},
            {"role": "assistant", "content": sft_target(item)},
        ],
        "videos": [options.video(item)],
    }


def _write_llamafactory(items: Sequence[Item], set_name: SetName, out: Path, options: ExportOptions) -> ExportReport:
    report = ExportReport("llamafactory")
    rows = []
    for item in items:
        if not isinstance(item, Example) or not item.cot:
            report.skipped.append(f"{item.id}: no chain of thought, so no SFT target")
            continue
        rows.append(llamafactory_row(item, options))
    data_file = out / f"{options.dataset_name}.json"
    _write_text(data_file, json.dumps(rows, ensure_ascii=False, indent=2) + "\n")
    info = {
        options.dataset_name: {
            "file_name": data_file.name,
            "formatting": "sharegpt",
            "columns": {"messages": "messages", "videos": "videos"},
            "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant"},
        }
    }
    info_file = out / "dataset_info.json"
    _write_text(info_file, json.dumps(info, ensure_ascii=False, indent=2) + "\n")
    report.files += [data_file, info_file]
    report.written = len(rows)
    return report


# -- verl ----------------------------------------------------------------------------


def verl_row(item: Item, options: ExportOptions) -> dict[str, Any]:
    settings = VIDEO_PRESETS[options.video_preset]
    return {
        "data_source": "videokr",
        "prompt": [{"role": "user", "content": rl_prompt(item)}],
        "videos": [{"video": options.video(item), **settings}],
        "ability": "video_qa",
        "reward_model": {"style": "rule", "ground_truth": answer_tagged(item)},
        "extra_info": {
            "problem_id": item.id,
            "problem_type": item.problem_type.value,
            "answer": item.answer,
            "solution": answer_tagged(item),
            "source_path": item.video_path,
        },
    }


def release_val_indices(n: int, val_size: int, seed: int) -> set[int]:
    """The held-out positions the official RL converter picks: a seeded shuffle, first `val_size`."""
    order = list(range(n))
    random.Random(seed).shuffle(order)
    return set(order[: min(max(val_size, 0), n)])


def _write_verl(items: Sequence[Item], set_name: SetName, out: Path, options: ExportOptions) -> ExportReport:
    report = ExportReport("verl")
    if set_name != "eval" and 0 < len(items) <= options.val_size:
        raise ValueError(
            f"the {set_name} set has {len(items)} examples, not more than the {options.val_size} held out as "
            f"verl's test set, so no training row would be left; pass a smaller --val-size (val_size), "
            f"e.g. {max(1, len(items) // 10)}"
        )
    rows = [verl_row(item, options) for item in items]
    held_out = set(range(len(rows))) if set_name == "eval" else release_val_indices(
        len(rows), options.val_size, options.val_seed
    )
    counters = {"train": 0, "test": 0}
    for index, row in enumerate(rows):
        name = "test" if index in held_out else "train"
        row["extra_info"]["split"] = name
        row["extra_info"]["index"] = counters[name]
        counters[name] += 1
    for name in ("train", "test"):
        path = out / f"{name}.parquet"
        _write_parquet(path, [r for r in rows if r["extra_info"]["split"] == name], like=rows)
        report.files.append(path)
    report.written = len(rows)
    return report


# -- Hugging Face datasets -----------------------------------------------------------


def _content(video: str | None = None, text: str | None = None) -> dict[str, Any]:
    return {"type": "video" if video is not None else "text", "video": video, "text": text}


def hf_row(item: Item, set_name: SetName, options: ExportOptions) -> dict[str, Any]:
    video = options.video(item)
    user = {"role": "user", "content": [_content(video=video), _content(text=sft_user_prompt(item))]}
    row: dict[str, Any] = {
        "id": item.id,
        "prompt": [user],
        "videos": [video],
        "problem_type": item.problem_type.value,
        "options": item.lettered_options(),
        "answer": item.answer,
        "solution": answer_tagged(item),
        "subject": item.subject,
        "discipline": item.discipline.value if item.discipline else None,
    }
    if set_name == "sft" and isinstance(item, Example) and item.cot:
        assistant = {"role": "assistant", "content": [_content(text=sft_target(item))]}
        row["completion"] = [assistant]
        row["messages"] = [user, assistant]
    return row


def _write_hf(items: Sequence[Item], set_name: SetName, out: Path, options: ExportOptions) -> ExportReport:
    report = ExportReport("hf")
    rows = []
    for item in items:
        if set_name == "sft" and not (isinstance(item, Example) and item.cot):
            report.skipped.append(f"{item.id}: no chain of thought, so no SFT target")
            continue
        rows.append(hf_row(item, set_name, options))
    split = "test" if set_name == "eval" else "train"
    path = out / "data" / f"{split}-00000-of-00001.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_parquet(path, rows)
    report.files.append(path)
    report.written = len(rows)
    return report


# -- official JSONL ------------------------------------------------------------------


def jsonl_row(item: Item) -> dict[str, Any]:
    """One line of the official layout, plus every field videokr keeps, so import restores it."""
    if isinstance(item, EvalItem):
        row: dict[str, Any] = {
            "id": item.id,
            "problem_type": "multiple-choice" if item.problem_type is ProblemType.MULTIPLE_CHOICE else "open-ended",
            "question": item.question,
        }
        if item.options:
            row["options"] = item.lettered_options()
        row.update(answer=item.answer, video_path=item.video_path, dataset=item.dataset, subject=item.subject,
                   question_type=item.question_type, youtube_id=item.youtube_id)
    else:
        row = {"problem_id": item.id, "problem_type": item.problem_type.value, "question": item.question}
        if item.options:
            row["options"] = item.lettered_options()
        row["solution"] = answer_tagged(item)
        if item.cot:
            row["think"] = item.cot
        row.update(video_path=item.video_path, subject=item.subject,
                   skill=item.skill.value if item.skill else None, knowledge_point=item.knowledge_point,
                   knowledge_point_id=item.knowledge_point_id, split=item.split, youtube_id=item.youtube_id)
    row["discipline"] = item.discipline.value if item.discipline else None
    if item.video_id != item.video_path:
        row["video_id"] = item.video_id
    row["provenance"] = item.provenance.model_dump(mode="json", exclude_defaults=True)
    row = {k: v for k, v in row.items() if v is not None and v != {}}
    row.update(item.extra)
    return row


def _write_jsonl(items: Sequence[Item], set_name: SetName, out: Path, options: ExportOptions) -> ExportReport:
    report = ExportReport("jsonl")
    path = out / f"videokr-{set_name}.jsonl"
    lines = [json.dumps(jsonl_row(item), ensure_ascii=False) for item in items]
    _write_text(path, "".join(line + "\n" for line in lines))
    report.files.append(path)
    report.written = len(lines)
    return report


# -- helpers -------------------------------------------------------------------------


def _write_text(path: Path, text: str) -> None:
    """Write via a temporary file and rename, so a killed export never leaves half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def _write_parquet(path: Path, rows: list[dict[str, Any]], like: list[dict[str, Any]] | None = None) -> None:
    """Write rows; an empty part keeps the schema of `like` so every file loads alike."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.Table.from_pylist(like).schema if like else None
    table = pa.Table.from_pylist(rows, schema=schema)
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table, tmp)
    tmp.replace(path)


_WRITERS: dict[str, Callable[[Sequence[Item], SetName, Path, ExportOptions], ExportReport]] = {
    "llamafactory": _write_llamafactory,
    "verl": _write_verl,
    "hf": _write_hf,
    "jsonl": _write_jsonl,
}
