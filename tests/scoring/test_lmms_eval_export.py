from __future__ import annotations

import importlib.util
from pathlib import Path

import yaml
from typer.testing import CliRunner

from videokr.cli.main import app


def _load_yaml(path: Path) -> dict:
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor("!function", lambda loader, node: f"function:{loader.construct_scalar(node)}")
    return yaml.load(path.read_text(), Loader=Loader)  # noqa: S506 - our own file, custom tag only


def test_exported_task_scores_with_videokr(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["eval", "export-lmms-eval", str(tmp_path)])
    assert result.exit_code == 0, result.output
    folder = tmp_path / "videokr_eval"
    config = _load_yaml(folder / "videokr_eval.yaml")
    assert config["task"] == "videokr_eval"
    assert config["process_results"] == "function:utils.videokr_eval_process_results"
    assert config["generation_kwargs"]["temperature"] == 0.1 and config["generation_kwargs"]["max_new_tokens"] == 8192

    spec = importlib.util.spec_from_file_location("exported_utils", folder / "utils.py")
    utils = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(utils)  # type: ignore[union-attr]
    ten = [f"{'ABCDEFGHIJ'[i]}. option {i}" for i in range(10)]
    doc = {"id": "x", "question": "Q?", "option": ten, "problem_type": "multiple-choice", "answer": "I",
           "dataset": "MMVU", "subject": "Chemistry"}
    prompt = utils.videokr_eval_doc_to_text(doc)
    assert prompt.startswith("Q?\nA. option 0") and "<answer><your answer here></answer>" in prompt
    wrong = utils.videokr_eval_process_results(doc, ["I cannot determine the answer"])["videokr_eval_acc"]
    assert wrong["correct"] is False and wrong["pred_answer"] is None  # not read as option I
    right = utils.videokr_eval_process_results(doc, ["<think>…</think><answer>I</answer>"])["videokr_eval_acc"]
    assert right["correct"] is True
    oe = {"id": "y", "question": "Q?", "problem_type": "open-ended", "solution": "<answer>ATP</answer>"}
    skipped = utils.videokr_eval_process_results(oe, ["<answer>adenosine triphosphate</answer>"])["videokr_eval_acc"]
    assert skipped["skipped"] is True
    assert utils.videokr_eval_aggregate_results([wrong, right, skipped]) == 50.0
