"""Rule scoring: multiple choice by letter, open-ended only where a rule is certain.

Multiple choice is decided by the extracted letter (:mod:`videokr.scoring.extract`): no
stated answer is wrong. Open-ended answers are compared after normalisation (case,
punctuation, articles, spacing) and, when both sides state one number with the same
wording around it, numerically within :data:`NUMERIC_REL_TOL`. Anything a rule cannot
settle is left *unscored* (``correct=None``) for a judge, never counted wrong.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal, Sequence

from videokr.scoring.extract import LETTERS, extract, option_texts
from videokr.scoring.reward import MULTIPLE_CHOICE, OPEN_ENDED, normalise_problem_type

NUMERIC_REL_TOL = 0.01  # 1%: "reasonable precision" of the official judge prompt, made a rule
NUMERIC_ABS_TOL = 1e-9

Method = Literal["rule", "judge", "unscored"]

_ARTICLES = re.compile(r"\b(?:a|an|the)\b")
_PUNCT = re.compile(r"[^\w\s.%/-]|(?<!\d)[.](?!\d)|[.](?=\s|$)")
_NUMBER = re.compile(r"[-+−]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?|[-+−]?\.\d+")


@dataclass(frozen=True, slots=True)
class Score:
    pred: str | None  # the letter (multiple choice) or the answer text (open-ended)
    correct: bool | None  # None: not scored (open-ended without a judge and no certain rule)
    method: Method


def normalise_text(text: str) -> str:
    """Lower case, no punctuation or articles, single spaces: "The Mitochondria." → "mitochondria"."""
    text = text.lower().replace("−", "-")
    text = _PUNCT.sub(" ", text)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def single_number(text: str) -> tuple[float, str] | None:
    """The one number in ``text`` and the words around it, or None (no number, or several)."""
    found = _NUMBER.findall(text)
    if len(found) != 1:
        return None
    raw = found[0]
    value = float(raw.replace(",", "").replace("−", "-"))
    if not math.isfinite(value):
        return None
    rest = normalise_text(_NUMBER.sub(" ", text, count=1))
    return value, rest


def numbers_agree(a: float, b: float, rel_tol: float = NUMERIC_REL_TOL) -> bool:
    return math.isclose(a, b, rel_tol=rel_tol, abs_tol=NUMERIC_ABS_TOL)


def rule_open_ended(pred: str | None, answer: str, rel_tol: float = NUMERIC_REL_TOL) -> bool | None:
    """True/False where a rule is certain, None where only a judge could tell."""
    if pred is None or not pred.strip():
        return None
    p, a = normalise_text(pred), normalise_text(answer)
    if p == a and p:
        return True
    pn, an = single_number(pred), single_number(answer)
    if pn and an and (pn[1] == an[1] or not pn[1] or not an[1]):
        return numbers_agree(pn[0], an[0], rel_tol) or (None if pn[1] != an[1] else False)
    return None


def score_multiple_choice(output: str | None, answer: str, options: Sequence[str] | dict | None) -> Score:
    texts = option_texts(options)
    n = len(texts) if texts else len(LETTERS)
    pred = extract(output, texts or None, n_options=n).choice
    gold = str(answer).strip().upper()
    if len(gold) != 1 or gold not in LETTERS:
        got = extract(f"<answer>{answer}</answer>", texts or None, n_options=n).choice
        if got is None:
            raise ValueError(f"multiple-choice answer {answer!r} is not a letter A–J nor an option's text")
        gold = got
    return Score(pred, pred == gold, "rule")


def score_item(
    output: str | None,
    answer: str,
    problem_type: str | None,
    options: Sequence[str] | dict | None = None,
) -> Score:
    """Score one output by rule; open-ended items a rule cannot settle come back unscored."""
    kind = normalise_problem_type(problem_type) if problem_type else (MULTIPLE_CHOICE if options else OPEN_ENDED)
    if kind == MULTIPLE_CHOICE:
        return score_multiple_choice(output, answer, options)
    if kind != OPEN_ENDED:
        raise ValueError(f"unknown problem type {problem_type!r}; expected multiple choice or open-ended")
    pred = extract(output).text
    verdict = rule_open_ended(pred, answer)
    return Score(pred, verdict, "rule" if verdict is not None else "unscored")
