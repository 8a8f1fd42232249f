"""The paper's §4 numbers: its source benchmarks, Table 2 and Table 9, as named constants.

They are printed beside a workspace's own numbers by `videokr benchmark report`; nothing is
computed from them.
"""

from __future__ import annotations

from videokr.evaluate.benchmarks import DISPLAY_NAMES
from videokr.evaluate.prompts import MMVU, SCIVIDEOBENCH, VIDEOKR_EVAL, VIDEOMMMU

# "We construct VideoKR-Eval from VideoMMMU, MMVU, and SciVideoBench" (§4.2), in Table 2's column order.
SOURCE_BENCHMARKS: tuple[str, ...] = tuple(DISPLAY_NAMES[b] for b in (VIDEOMMMU, MMVU, SCIVIDEOBENCH))
VIDEOKR_EVAL_NAME = DISPLAY_NAMES[VIDEOKR_EVAL]

# Table 2: single-frame answerability (%), by probe model (names of `models:`) and benchmark.
PAPER_TABLE2: dict[str, dict[str, float]] = {
    "claude-4.5-sonnet": {"VideoMMMU": 35.3, "MMVU": 41.3, "SciVideoBench": 21.8, VIDEOKR_EVAL_NAME: 9.5},
    "qwen3-vl-235b-a22b": {"VideoMMMU": 39.3, "MMVU": 45.2, "SciVideoBench": 13.2, VIDEOKR_EVAL_NAME: 10.1},
    "gpt-5.2": {"VideoMMMU": 38.3, "MMVU": 49.7, "SciVideoBench": 23.0, VIDEOKR_EVAL_NAME: 10.7},
}
# Table 2's column heads: the examples each benchmark has.
PAPER_TABLE2_SIZES: dict[str, int] = {"VideoMMMU": 900, "MMVU": 1000, "SciVideoBench": 1000, VIDEOKR_EVAL_NAME: 2000}

# Table 9: per source benchmark, candidates → filtered / retained original / expert-reannotated → final.
TABLE9_COLUMNS = ("candidates", "filtered", "retained", "reannotated", "final")
PAPER_TABLE9: dict[str, dict[str, int]] = {
    "MMVU": {"candidates": 1000, "filtered": 639, "retained": 361, "reannotated": 398, "final": 759},
    "VideoMMMU": {"candidates": 900, "filtered": 560, "retained": 340, "reannotated": 241, "final": 581},
    "SciVideoBench": {"candidates": 1000, "filtered": 447, "retained": 553, "reannotated": 107, "final": 660},
}
PAPER_TABLE9_TOTAL: dict[str, int] = {"candidates": 2900, "filtered": 1646, "retained": 1254, "reannotated": 746,
                                      "final": 2000}
