"""Scoring a file of predictions: one JSON object a line in, the same object plus scores out.

Input fields: ``id``, ``question``, ``options`` (list, "A. text" list or {letter: text}; empty
for open-ended), ``answer`` (letter or text), ``problem_type``, ``output`` (the raw model
output). Added: ``pred``, ``correct`` (true/false, or null when unscored), ``scored_by``
(rule | judge | unscored), ``reward``, ``format_reward``, ``accuracy_reward``.

The reward is computed as the official verl data preparation sets it up: the problem type
normalised to "multiple choice" / "open-ended" and the gold answer wrapped in ``<answer>``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from videokr.jsonlines import json_objects
from videokr.scoring.judge import Judge
from videokr.scoring.reward import DEFAULT_MODE, Mode, normalise_problem_type, score_one
from videokr.scoring.rules import score_item

REQUIRED_FIELDS = ("id", "question", "answer", "problem_type", "output")


class PredictionError(ValueError):
    pass


@dataclass
class Tally:
    correct: int = 0
    scored: int = 0
    unscored: int = 0

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.scored if self.scored else None


@dataclass
class ScoreReport:
    lines: int = 0
    overall: Tally = field(default_factory=Tally)
    by_type: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    bad: list[str] = field(default_factory=list)
    reward_sum: float = 0.0


def score_prediction(
    item: dict[str, Any], *, mode: Mode = DEFAULT_MODE, judge: Judge | None = None
) -> dict[str, Any]:
    """One prediction scored: rule first, then the judge for what a rule cannot settle."""
    missing = [k for k in REQUIRED_FIELDS if k not in item]
    if missing:
        raise PredictionError(f"missing field(s) {', '.join(missing)}")
    options = item.get("options") or item.get("option") or None
    output = item["output"]
    if output is not None and not isinstance(output, str):
        raise PredictionError(f"'output' must be a string, got {type(output).__name__}")
    kind = normalise_problem_type(item["problem_type"]) or ("multiple choice" if options else "open-ended")
    if kind not in ("multiple choice", "open-ended"):
        raise PredictionError(f"unknown problem_type {item['problem_type']!r}")
    answer = str(item["answer"]).strip()
    if not answer:
        raise PredictionError("'answer' is empty")
    score = score_item(output, answer, kind, options)
    scored_by, correct = score.method, score.correct
    if correct is None and judge is not None:
        verdict = judge.judge(str(item["question"]), options, answer, output or "", kind)
        if verdict.correct is not None:
            scored_by, correct = "judge", verdict.correct
    gold = answer
    if kind == "multiple choice" and len(answer) > 1:
        from videokr.scoring.extract import extract

        gold = extract(f"<answer>{answer}</answer>", options).choice or answer
    r = score_one(output, gold, kind, mode, options if mode == "strict" else None)
    return {
        **item,
        "pred": score.pred,
        "correct": correct,
        "scored_by": scored_by,
        "reward": r.reward,
        "format_reward": r.format_reward,
        "accuracy_reward": r.accuracy_reward,
    }


def read_predictions(path: Path) -> Iterator[tuple[int, dict[str, Any] | PredictionError]]:
    """(line number, object or the reason it is unusable) for each non-blank line."""
    for number, item, problem in json_objects(path):
        yield number, item if item is not None else PredictionError(str(problem))


def score_file(
    path: Path, out: Path | None = None, *, mode: Mode = DEFAULT_MODE, judge: Judge | None = None
) -> ScoreReport:
    """Score every line; bad lines are reported by number and skipped, good ones written."""
    report = ScoreReport()
    sink = out.open("w", encoding="utf-8") if out else None
    try:
        for number, item in read_predictions(path):
            report.lines += 1
            if isinstance(item, PredictionError):
                report.bad.append(f"{path}:{number}: {item}")
                continue
            try:
                scored = score_prediction(item, mode=mode, judge=judge)
            except (PredictionError, ValueError) as exc:
                report.bad.append(f"{path}:{number}: {exc}")
                continue
            kind = normalise_problem_type(scored["problem_type"]) or "unknown"
            for tally in (report.overall, report.by_type[kind]):
                if scored["correct"] is None:
                    tally.unscored += 1
                else:
                    tally.scored += 1
                    tally.correct += int(scored["correct"])
            report.reward_sum += scored["reward"]
            if sink:
                sink.write(json.dumps(scored, ensure_ascii=False) + "\n")
    finally:
        if sink:
            sink.close()
    return report
