"""The GRPO reward of Appendix C.1: R = 0.1 · format + 0.9 · accuracy.

- format = 1 iff the output is ``<think>…</think><answer>…</answer>``;
- accuracy = exact match of the ``<answer>`` content for multiple choice, and the mean F1 of
  ROUGE-1, ROUGE-2 and ROUGE-L (Porter stemming, ``rouge-score``) for open-ended questions.

Two modes, one formula:

``official`` (default) gives the number the official verl reward gives on the same input:

- format: the whole output matches ``<think>.*?</think>\\s*<answer>.*?</answer>`` (any text,
  tags included, inside the two blocks; whitespace allowed only between them);
- the answer is the *first* ``<answer>…</answer>`` block, stripped; none → ``""``;
- the ground truth is read the same way, so it must be wrapped in ``<answer>`` tags (the
  official verl data is); a bare ``"B"`` reads as ``""`` and then matches every output
  without an answer block — kept for parity, and :func:`reward` wraps bare answers itself;
- multiple choice compares the two strings exactly (``"(B)"`` ≠ ``"B"``, ``"b"`` ≠ ``"B"``);
- the problem type must be exactly ``"multiple choice"`` or ``"open-ended"``; any other
  spelling (``"multiple-choice"``, as the evaluation files write it) scores accuracy 0.

``strict`` reads what a careful human would:

- format: exactly one think block, then exactly one answer block, nothing else;
- the answer is the *last* non-empty answer block, read by :mod:`videokr.scoring.extract`
  (``"(B)"``, ``"B."``, ``"b"`` and the option's text all mean B; "I cannot tell" is no answer);
- ground truth may be bare or wrapped; problem-type spellings are normalised.

The functions are pure; :func:`score_batch` is the fast path for many outputs (it reads each
distinct ground truth once and shares one caching ROUGE tokenizer).

>>> reward("<think>the valve opens</think><answer>C</answer>", "C", "multiple choice")
1.0
>>> reward("C", "C", "multiple choice")  # right answer, wrong format: no answer block
0.0
>>> round(reward("<think>…</think><answer>B</answer>", "C", "multiple choice"), 2)
0.1
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Literal, Sequence

from videokr.scoring.extract import extract

FORMAT_WEIGHT = 0.1
ACCURACY_WEIGHT = 0.9
ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")
ROUGE_USE_STEMMER = True
MULTIPLE_CHOICE = "multiple choice"
OPEN_ENDED = "open-ended"
OFFICIAL_PROBLEM_TYPES = frozenset({MULTIPLE_CHOICE, OPEN_ENDED})

Mode = Literal["official", "strict"]
MODES: tuple[Mode, ...] = ("official", "strict")
DEFAULT_MODE: Mode = "official"

_FIRST_ANSWER = re.compile(r"<answer>\s*(.*?)\s*</answer>", re.DOTALL)
_OFFICIAL_FORMAT = re.compile(r"<think>.*?</think>\s*<answer>.*?</answer>", re.DOTALL)
_STRICT_FORMAT = re.compile(
    r"<think>(?:(?!</?think>|</?answer>).)*</think>\s*<answer>(?:(?!</?think>|</?answer>).)*</answer>", re.DOTALL
)
_ANSWER_BLOCKS = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Reward:
    reward: float
    format_reward: float
    accuracy_reward: float


# --- pieces --------------------------------------------------------------------------------


def official_answer(text: str | None) -> str:
    """The first ``<answer>`` block's content, stripped; ``""`` when there is none."""
    match = _FIRST_ANSWER.search(text or "")
    return match.group(1).strip() if match else ""


def strict_answer(text: str | None) -> str:
    """The last non-empty ``<answer>`` block's content, stripped; ``""`` when there is none."""
    blocks = [b.strip() for b in _ANSWER_BLOCKS.findall(text or "")]
    blocks = [b for b in blocks if b]
    return blocks[-1] if blocks else ""


def format_reward(output: str | None, mode: Mode = DEFAULT_MODE) -> float:
    pattern = _OFFICIAL_FORMAT if mode == "official" else _STRICT_FORMAT
    return 1.0 if pattern.fullmatch(output or "") else 0.0


def normalise_problem_type(problem_type: str | None) -> str:
    """``"multiple choice"`` or ``"open-ended"`` from any spelling the data files use."""
    value = str(problem_type or "").strip().lower().replace("_", " ").replace("-", " ")
    if "multiple" in value or value in {"mc", "mcq", "choice"}:
        return MULTIPLE_CHOICE
    if value in {"open ended", "open", "free form", "numerical", "oe"}:
        return OPEN_ENDED
    return value


class _CachingStemmer:
    """Porter stemming memoised per word: GRPO scores the same words thousands of times."""

    def __init__(self) -> None:
        from nltk.stem import porter

        self._stemmer = porter.PorterStemmer()
        self._cache: dict[str, str] = {}

    def stem(self, word: str) -> str:
        hit = self._cache.get(word)
        if hit is None:
            hit = self._cache[word] = self._stemmer.stem(word)
        return hit


class _CachingTokenizer:
    """rouge-score's own tokenizer with stemming, memoised per text (bounded)."""

    def __init__(self, limit: int = 100_000) -> None:
        from rouge_score import tokenize

        self._tokenize = tokenize.tokenize
        self._stemmer = _CachingStemmer() if ROUGE_USE_STEMMER else None
        self._cache: dict[str, list[str]] = {}
        self._limit = limit

    def tokenize(self, text: str) -> list[str]:
        hit = self._cache.get(text)
        if hit is None:
            hit = self._tokenize(text, self._stemmer)
            if len(self._cache) >= self._limit:
                self._cache.clear()
            self._cache[text] = hit
        return hit


_SCORER: Any = None


def _scorer() -> Any:
    global _SCORER
    if _SCORER is None:
        from rouge_score import rouge_scorer

        _SCORER = rouge_scorer.RougeScorer(list(ROUGE_TYPES), tokenizer=_CachingTokenizer())
    return _SCORER


def rouge_f1(reference: str, hypothesis: str) -> float:
    """Mean F1 of ROUGE-1, ROUGE-2 and ROUGE-L with stemming, clipped to [0, 1]."""
    scores = _scorer().score(str(reference), str(hypothesis))
    value = sum(scores[t].fmeasure for t in ROUGE_TYPES) / len(ROUGE_TYPES)
    return max(0.0, min(1.0, value))


def accuracy_reward(
    output: str | None,
    ground_truth: str,
    problem_type: str | None,
    mode: Mode = DEFAULT_MODE,
    options: Sequence[str] | None = None,
) -> float:
    if mode == "official":
        kind = str(problem_type or "")
        if kind not in OFFICIAL_PROBLEM_TYPES:
            return 0.0
        predicted, gold = official_answer(output), official_answer(ground_truth)
    else:
        kind = normalise_problem_type(problem_type)
        predicted = strict_answer(output)
        gold = strict_answer(ground_truth) or str(ground_truth or "").strip()
    if kind == MULTIPLE_CHOICE:
        if mode == "official":
            return 1.0 if predicted == gold else 0.0
        return _strict_choice_match(predicted, gold, options)
    if kind == OPEN_ENDED:
        if mode == "strict" and not predicted:
            return 0.0
        return rouge_f1(gold, predicted)
    return 0.0


def _strict_choice_match(predicted: str, gold: str, options: Sequence[str] | None) -> float:
    if not predicted:
        return 0.0
    n = len(options) if options else None
    got = extract(f"<answer>{predicted}</answer>", options, n_options=n if n else 10).choice
    want = extract(f"<answer>{gold}</answer>", options, n_options=n if n else 10).choice or gold.upper()
    return 1.0 if got is not None and got == want else 0.0


def reward(
    output: str | None,
    ground_truth: str,
    problem_type: str | None,
    mode: Mode = DEFAULT_MODE,
    options: Sequence[str] | None = None,
) -> float:
    """R = 0.1 · format + 0.9 · accuracy for one output; a bare ground truth is wrapped first."""
    return score_one(output, ground_truth, problem_type, mode, options).reward


def score_one(
    output: str | None,
    ground_truth: str,
    problem_type: str | None,
    mode: Mode = DEFAULT_MODE,
    options: Sequence[str] | None = None,
) -> Reward:
    if mode not in MODES:
        raise ValueError(f"unknown reward mode {mode!r}; choose one of {', '.join(MODES)}")
    gt = wrap_answer(ground_truth)
    fmt = format_reward(output, mode)
    try:
        acc = accuracy_reward(output, gt, problem_type, mode, options)
    except ImportError:  # rouge-score missing: every open-ended reward would silently be 0
        raise
    except Exception:  # the official reward scores a failing item 0 rather than crash the trainer
        acc = 0.0
    return Reward(FORMAT_WEIGHT * fmt + ACCURACY_WEIGHT * acc, fmt, acc)


def wrap_answer(ground_truth: Any) -> str:
    """``"<answer>B</answer>"`` from ``"B"``; wrapped answers are returned as they are."""
    text = str(ground_truth if ground_truth is not None else "").strip()
    if not text or _FIRST_ANSWER.search(text):
        return text
    return f"<answer>{text}</answer>"


# --- many at once --------------------------------------------------------------------------


@dataclass
class RewardBatch:
    reward: list[float] = field(default_factory=list)
    format_reward: list[float] = field(default_factory=list)
    accuracy_reward: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.reward)


def score_batch(
    outputs: Sequence[str | None],
    ground_truths: Sequence[str],
    problem_types: Sequence[str | None] | str,
    mode: Mode = DEFAULT_MODE,
    options: Sequence[Sequence[str] | None] | None = None,
    *,
    wrap_ground_truth: bool = True,
) -> RewardBatch:
    """Rewards for many outputs. Same numbers as :func:`score_one` item by item, faster.

    ``problem_types`` may be one string for the whole batch. With ``wrap_ground_truth=False``
    ground truths are used exactly as given (the official verl entry point does this).
    """
    n = len(outputs)
    if len(ground_truths) != n:
        raise ValueError(f"{n} outputs but {len(ground_truths)} ground truths")
    kinds = [problem_types] * n if isinstance(problem_types, str) else list(problem_types)
    if len(kinds) != n:
        raise ValueError(f"{n} outputs but {len(kinds)} problem types")
    if options is not None and len(options) != n:
        raise ValueError(f"{n} outputs but {len(options)} option lists")
    if mode not in MODES:
        raise ValueError(f"unknown reward mode {mode!r}; choose one of {', '.join(MODES)}")

    fmt_pattern = _OFFICIAL_FORMAT if mode == "official" else _STRICT_FORMAT
    read_answer = official_answer if mode == "official" else strict_answer
    gold_cache: dict[str, str] = {}
    out = RewardBatch([0.0] * n, [0.0] * n, [0.0] * n)
    for i in range(n):
        text = outputs[i] or ""
        fmt = 1.0 if fmt_pattern.fullmatch(text) else 0.0
        raw_gt = ground_truths[i]
        key = raw_gt if isinstance(raw_gt, str) else repr(raw_gt)  # a list or dict ground truth is not hashable
        gold = gold_cache.get(key)
        if gold is None:
            gt = wrap_answer(raw_gt) if wrap_ground_truth else str(raw_gt or "")
            gold = read_answer(gt) if mode == "official" else (strict_answer(gt) or gt.strip())
            gold_cache[key] = gold
        kind = kinds[i] if mode == "official" else normalise_problem_type(kinds[i])
        try:
            if kind == MULTIPLE_CHOICE:
                if mode == "official":
                    acc = 1.0 if read_answer(text) == gold else 0.0
                else:
                    acc = _strict_choice_match(read_answer(text), gold, options[i] if options else None)
            elif kind == OPEN_ENDED:
                predicted = read_answer(text)
                acc = 0.0 if (mode == "strict" and not predicted) else rouge_f1(gold, predicted)
            else:
                acc = 0.0
        except ImportError:  # rouge-score missing: never a silent 0
            raise
        except Exception:
            acc = 0.0
        out.format_reward[i] = fmt
        out.accuracy_reward[i] = acc
        out.reward[i] = FORMAT_WEIGHT * fmt + ACCURACY_WEIGHT * acc
    return out


# --- verl ----------------------------------------------------------------------------------


def compute_score(
    data_source: str | None,
    solution_str: str,
    ground_truth: str,
    extra_info: dict[str, Any] | None = None,
    **kwargs: Any,
) -> float | dict[str, float]:
    """verl's ``custom_reward_function`` entry point (``reward_model.ground_truth`` as given).

    ``extra_info["problem_type"]`` selects the metric; ``extra_info["reward_mode"]`` or the
    keyword ``mode`` selects ``official`` (default) or ``strict``; ``return_dict=True`` returns
    ``{"score", "format_score", "accurate_score"}`` as the official function does, and
    ``use_format_reward=False`` drops the format term.
    """
    info = extra_info if extra_info is not None and hasattr(extra_info, "get") else {}
    mode: Mode = kwargs.get("mode") or info.get("reward_mode") or DEFAULT_MODE
    problem_type = info.get("problem_type") or ""
    options = info.get("options") if mode == "strict" else None
    batch = score_batch(
        [solution_str], [ground_truth], [str(problem_type)], mode,
        [options] if options else None, wrap_ground_truth=(mode == "strict"),
    )
    fmt = batch.format_reward[0] if kwargs.get("use_format_reward", True) else 0.0
    acc = batch.accuracy_reward[0]
    score = ACCURACY_WEIGHT * acc + FORMAT_WEIGHT * fmt
    if kwargs.get("return_dict"):
        return {"score": score, "format_score": fmt, "accurate_score": acc}
    return score


def iter_rewards(items: Iterable[tuple[str, str, str]], mode: Mode = DEFAULT_MODE) -> Iterable[Reward]:
    """Per-item rewards for (output, ground truth, problem type) triples, streamed."""
    for output, gt, kind in items:
        yield score_one(output, gt, kind, mode)
