"""Tiny Qwen2.5-VL / Qwen3-VL checkpoints on disk, laid out as a user's checkpoint is.

The models and the tokenizer are those of ``tests/scoring/tiny_qwen.py`` (real architectures,
random weights, a tokenizer trained on the spot); next to them go the processor's files
(image and video processor configs, chat template) that a released checkpoint carries, so
where torchvision imports the checkpoint loads with its processor, and elsewhere with its
tokenizer, exactly as a real one does.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.scoring.tiny_qwen import CHAT_TEMPLATE, tiny_qwen3vl, tiny_qwen25vl, tiny_tokenizer

FAMILIES = ("qwen2.5-vl", "qwen3-vl")
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]


def _processor_files(family: str) -> dict[str, dict]:
    if family == "qwen3-vl":
        common = {"patch_size": 16, "temporal_patch_size": 2, "merge_size": 2, "image_mean": [0.5] * 3,
                  "image_std": [0.5] * 3, "processor_class": "Qwen3VLProcessor"}
        return {
            "preprocessor_config.json": {**common, "image_processor_type": "Qwen2VLImageProcessorFast",
                                         "size": {"shortest_edge": 65536, "longest_edge": 16777216}},
            "video_preprocessor_config.json": {**common, "video_processor_type": "Qwen3VLVideoProcessor",
                                               "size": {"shortest_edge": 4096, "longest_edge": 25165824}},
        }
    common = {"patch_size": 14, "temporal_patch_size": 2, "merge_size": 2, "image_mean": CLIP_MEAN,
              "image_std": CLIP_STD, "processor_class": "Qwen2_5_VLProcessor"}
    return {
        "preprocessor_config.json": {**common, "image_processor_type": "Qwen2VLImageProcessor",
                                     "min_pixels": 3136, "max_pixels": 12845056},
        "video_preprocessor_config.json": {**common, "video_processor_type": "Qwen2VLVideoProcessor",
                                           "size": {"shortest_edge": 128 * 28 * 28, "longest_edge": 768 * 28 * 28}},
    }


def save_tiny_checkpoint(family: str, path: Path) -> Path:
    """Write a tiny random checkpoint of ``family`` to ``path`` (weights, tokenizer, processor files)."""
    tok = tiny_tokenizer()
    model = (tiny_qwen3vl if family == "qwen3-vl" else tiny_qwen25vl)(tok)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    for name, content in _processor_files(family).items():
        (path / name).write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")
    (path / "chat_template.jinja").write_text(CHAT_TEMPLATE, encoding="utf-8")
    return path
