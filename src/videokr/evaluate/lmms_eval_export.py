"""Export the VideoKR-Eval task for lmms-eval, scored with videokr's extraction.

``videokr eval export-lmms-eval DIR`` writes ``DIR/videokr_eval/{videokr_eval.yaml, utils.py}``.
Copy that folder into ``lmms_eval/tasks/`` (or pass ``--include_path DIR``) and run
``lmms-eval --tasks videokr_eval``. The task reads the same ``VideoKR_eval.jsonl``, builds the
prompt of the chosen model family (Appendix C.2), and scores multiple choice with
:func:`videokr.scoring.rules.score_item` — so an answer like "I cannot determine the answer"
is no answer, not option I. Open-ended items are reported unscored unless a rule settles them.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from videokr.evaluate.backends import EVAL_MAX_NEW_TOKENS, EVAL_TEMPERATURE, EVAL_TOP_P
from videokr.evaluate.prompts import FAMILIES, VIDEOKR

TASK = "videokr_eval"

UTILS = '''"""lmms-eval task utilities for VideoKR-Eval, exported by videokr (scoring by videokr)."""

import os
from collections import defaultdict
from pathlib import Path

from videokr.evaluate.prompts import PromptItem, build_prompt
from videokr.scoring.extract import option_texts
from videokr.scoring.reward import normalise_problem_type
from videokr.scoring.rules import score_item

FAMILY = {family!r}


def _problem_type(doc):
    options = doc.get("option") or doc.get("options")
    raw = doc.get("problem_type") or ("multiple choice" if options else "open-ended")
    return normalise_problem_type(raw)


def videokr_eval_doc_to_visual(doc):
    raw = str(doc.get("video_path", "")).strip()
    if not raw:
        raise FileNotFoundError("document has no video_path")
    root = Path(os.environ.get("VIDEOKR_EVAL_ROOT", ".")).expanduser()
    path = Path(raw).expanduser()
    path = path if path.is_absolute() else root / raw.lstrip("./")
    if not path.exists():
        raise FileNotFoundError(f"video not found: {{path}} (set VIDEOKR_EVAL_ROOT to the dataset folder)")
    return [str(path)]


def videokr_eval_doc_to_text(doc, lmms_eval_specific_kwargs=None):
    options = tuple(option_texts(doc.get("option") or doc.get("options")))
    item = PromptItem(str(doc.get("question", "")), options, _problem_type(doc))
    return build_prompt((lmms_eval_specific_kwargs or {{}}).get("family", FAMILY), "videokr_eval", item)


def videokr_eval_doc_to_target(doc):
    return str(doc.get("solution", doc.get("answer", ""))).strip()


def videokr_eval_process_results(doc, results):
    output = results[0] if isinstance(results, list) else str(results)
    options = doc.get("option") or doc.get("options") or None
    answer = videokr_eval_doc_to_target(doc).replace("<answer>", "").replace("</answer>", "").strip()
    score = score_item(output, answer, _problem_type(doc), options)
    return {{"videokr_eval_acc": {{
        "id": doc.get("id"), "dataset": doc.get("dataset", "unknown"), "subject": doc.get("subject", "unknown"),
        "question_type": _problem_type(doc), "pred_answer": score.pred, "answer": answer,
        "correct": score.correct, "skipped": score.correct is None, "raw_output": output,
    }}}}


def videokr_eval_aggregate_results(results):
    buckets = {{"question_type": defaultdict(list), "subject": defaultdict(list), "dataset": defaultdict(list)}}
    scored = [r for r in results if not r["skipped"]]
    for r in scored:
        for key, bucket in buckets.items():
            bucket[r[key]].append(bool(r["correct"]))
    overall = 100.0 * sum(bool(r["correct"]) for r in scored) / len(scored) if scored else 0.0
    print(f"VideoKR-Eval accuracy: {{overall:.2f}}% over {{len(scored)}} scored, {{len(results) - len(scored)}} unscored")
    for key, bucket in buckets.items():
        for value, marks in sorted(bucket.items()):
            print(f"  {{key}} {{value}}: {{100.0 * sum(marks) / len(marks):.2f}}% ({{len(marks)}})")
    return overall
'''


def task_yaml(family: str = VIDEOKR, data_files: str = "VideoKR_eval.jsonl", dataset_path: str = "minuzero/VideoKR-Eval") -> dict:
    return {
        "task": TASK,
        "tag": "video_qa",
        "dataset_path": dataset_path,
        "dataset_kwargs": {"data_files": {"test": [data_files]}},
        "test_split": "test",
        "output_type": "generate_until",
        "doc_to_visual": "!function utils.videokr_eval_doc_to_visual",
        "doc_to_text": "!function utils.videokr_eval_doc_to_text",
        "doc_to_target": "!function utils.videokr_eval_doc_to_target",
        "generation_kwargs": {"max_new_tokens": EVAL_MAX_NEW_TOKENS, "temperature": EVAL_TEMPERATURE,
                              "top_p": EVAL_TOP_P, "num_beams": 1, "do_sample": True},
        "process_results": "!function utils.videokr_eval_process_results",
        "metric_list": [{"metric": "videokr_eval_acc", "aggregation": "!function utils.videokr_eval_aggregate_results",
                         "higher_is_better": True}],
        "lmms_eval_specific_kwargs": {"default": {"family": family}},
        "metadata": {"version": 0.1},
    }


def export_task(directory: Path, family: str = VIDEOKR, data_files: str = "VideoKR_eval.jsonl",
                dataset_path: str = "minuzero/VideoKR-Eval") -> Path:
    """Write the task folder; returns it. `dataset_path="json"` with a local `data_files` reads a local file."""
    if family not in FAMILIES:
        raise ValueError(f"unknown model family {family!r}; choose one of {', '.join(FAMILIES)}")
    folder = directory / TASK
    folder.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(task_yaml(family, data_files, dataset_path), sort_keys=False, allow_unicode=True)
    text = text.replace("'!function ", "!function ").replace("_results'", "_results").replace("_visual'", "_visual")
    text = text.replace("_text'", "_text").replace("_target'", "_target")
    (folder / f"{TASK}.yaml").write_text(text, encoding="utf-8")
    (folder / "utils.py").write_text(UTILS.format(family=family), encoding="utf-8")
    return folder
