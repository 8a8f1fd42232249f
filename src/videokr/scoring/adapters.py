"""videokr's GRPO reward in the shapes other RL libraries call, with one scoring code.

Every function here unpacks what a library hands over and calls
:mod:`videokr.scoring.reward` (``R = 0.1·format + 0.9·accuracy``, Appendix C.1) — the same code
that scores evaluation — so training and evaluation cannot drift apart. Nothing here scores.

**verl** — ``compute_score(data_source, solution_str, ground_truth, extra_info, **kwargs)``
lives in :mod:`videokr.scoring.reward` and is re-exported here, so either file can be named::

    custom_reward_function.path=$(python -c 'import videokr.scoring.reward as m; print(m.__file__)')
    custom_reward_function.name=compute_score

**TRL** (``trl.GRPOTrainer``) calls each reward function as
``f(prompts=..., completions=..., completion_ids=..., **columns)``: ``completions`` are strings
(standard datasets) or lists of messages (conversational ones); every other dataset column
arrives as a keyword list, one entry per completion, next to ``trainer_state``, ``log_extra``
and ``log_metric``; the function returns ``list[float]``. ``videokr export --set rl --format hf``
writes the columns read here: ``solution`` (the answer in ``<answer>`` tags; a bare ``answer``
column is used when there is no ``solution``), ``problem_type`` and ``options``. Either the
paper's reward as one function::

    from videokr.scoring.adapters import trl_reward
    GRPOTrainer(..., reward_funcs=[trl_reward])

or its two terms, weighted by TRL, which then logs them separately (the same total)::

    from videokr.scoring.adapters import trl_format_reward, trl_accuracy_reward, TRL_REWARD_WEIGHTS
    GRPOTrainer(..., reward_funcs=[trl_format_reward, trl_accuracy_reward],
                args=GRPOConfig(..., reward_weights=list(TRL_REWARD_WEIGHTS)))   # [0.1, 0.9]

Never both: that counts the reward twice. :func:`make_trl_rewards` builds the three for
``strict`` mode or for a dataset without a ``problem_type`` column.

**EasyR1** loads a reward function from a file path (``worker.reward.reward_function=PATH:NAME``,
keyword arguments from ``worker.reward.reward_function_kwargs``) and reads the module's
``REWARD_TYPE``: ``"batch"`` calls ``f(list[RewardInput]) -> list[RewardScore]``,
``"sequential"`` calls ``f(RewardInput) -> RewardScore``, where ``RewardInput`` is
``{"response", "response_length", "ground_truth"}`` and ``RewardScore`` is
``{"overall", "format", "accuracy"}``. :func:`easyr1_compute_score` answers both calls::

    worker.reward.reward_function=$(python -c 'import videokr.scoring.adapters as m; print(m.__file__)'):easyr1_compute_score
    worker.reward.reward_function_kwargs='{problem_type: "multiple choice"}'

EasyR1 hands over only the dataset's answer column (``data.answer_key``) as ``ground_truth``,
so the problem type comes from the keyword arguments (one type per run), or the ground truth
is a mapping with ``solution``/``answer``, ``problem_type`` and (optional) ``options`` — e.g. a
struct column named by ``data.answer_key`` — which scores a mixed set item by item.

Ground truths may be bare (``"B"``) or in ``<answer>`` tags: the adapters read them as
:func:`videokr.scoring.reward.reward` does (a bare one is wrapped), which is also what the
official verl function gives on the tagged ground truths videokr's exports write.

What is scored is the generated text as the library decodes it. The official format check
wants the text to *start* with ``<think>``: with a chat template that writes ``<think>`` into
the prompt, or a tokenizer whose response parser moves the reasoning out of ``content``, every
response scores format 0 (TRL is warned about the second case once).
"""

from __future__ import annotations

import warnings
from typing import Any, Callable, Mapping, Sequence

from videokr.scoring.reward import (
    ACCURACY_WEIGHT,
    DEFAULT_MODE,
    FORMAT_WEIGHT,
    MODES,
    Mode,
    compute_score,
    format_reward,
    score_batch,
)

__all__ = [
    "REWARD_NAME", "REWARD_TYPE", "TRL_REWARD_WEIGHTS", "TRLRewardFunc", "compute_score",
    "completion_text", "easyr1_compute_score", "make_trl_rewards", "trl_accuracy_reward",
    "trl_format_reward", "trl_reward",
]

TRLRewardFunc = Callable[..., list[float]]

TRL_REWARD_WEIGHTS: tuple[float, float] = (FORMAT_WEIGHT, ACCURACY_WEIGHT)
"""``reward_weights`` for ``[trl_format_reward, trl_accuracy_reward]``: the paper's 0.1 and 0.9."""

# EasyR1 reads these two module attributes of the file it loads.
REWARD_NAME = "videokr"
REWARD_TYPE = "batch"

_REASONING_KEYS = ("reasoning_content", "reasoning", "thinking")
_warned_reasoning = False


# --- completions ---------------------------------------------------------------------------------


def completion_text(completion: Any) -> str:
    """The text a completion says: a string as it is; for a list of messages, the last assistant
    message's ``content`` (a string, or the ``text`` of its parts joined)."""
    if completion is None:
        return ""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Mapping):
        return _message_text(completion)
    messages = list(completion)
    if not messages:
        return ""
    assistant = [m for m in messages if isinstance(m, Mapping) and m.get("role", "assistant") == "assistant"]
    return _message_text((assistant or messages)[-1])


def _message_text(message: Any) -> str:
    global _warned_reasoning
    if not isinstance(message, Mapping):
        return str(message)
    content = message.get("content")
    if content is None:
        text = ""
    elif isinstance(content, str):
        text = content
    else:  # multimodal content parts: [{"type": "text", "text": ...}, ...]
        text = "".join(
            str(part.get("text") or "") if isinstance(part, Mapping) else str(part) for part in content
        )
    if not _warned_reasoning and any(message.get(k) for k in _REASONING_KEYS) and "<think>" not in text:
        _warned_reasoning = True
        warnings.warn(
            "a completion message carries its reasoning outside 'content' (parsed out by the tokenizer's response "
            "template); videokr scores 'content' only, so the <think> block is missing and the format reward is 0. "
            "Use a chat template without a response parser for GRPO with videokr's reward.",
            stacklevel=3,
        )
    return text


def _column(kwargs: Mapping[str, Any], name: str, n: int) -> list[Any] | None:
    values = kwargs.get(name)
    if values is None:
        return None
    values = list(values)
    if len(values) != n:
        raise ValueError(f"{n} completions but {len(values)} values in the dataset column {name!r}")
    return values


def _trl_inputs(
    completions: Sequence[Any], kwargs: Mapping[str, Any], mode: Mode, problem_type: str | None
) -> tuple[list[str], list[str], list[str | None], list[Sequence[str] | None] | None]:
    n = len(completions)
    outputs = [completion_text(c) for c in completions]
    truths = _column(kwargs, "solution", n)
    if truths is None:
        truths = _column(kwargs, "answer", n)
    if truths is None:
        raise ValueError(
            "videokr's reward needs the ground truth: the dataset has neither a 'solution' nor an 'answer' column "
            "(videokr export --set rl --format hf writes both)"
        )
    kinds = _column(kwargs, "problem_type", n)
    if kinds is None:
        if problem_type is None:
            raise ValueError(
                "videokr's reward needs the problem type: the dataset has no 'problem_type' column; add one or "
                "build the reward functions with make_trl_rewards(problem_type=...)"
            )
        kinds = [problem_type] * n
    options = _column(kwargs, "options", n) if mode == "strict" else None
    if options is not None:
        options = [list(o) if o is not None and len(o) else None for o in options]
        if not any(options):
            options = None
    return outputs, [str(t if t is not None else "") for t in truths], kinds, options


# --- TRL -----------------------------------------------------------------------------------------


def make_trl_rewards(
    mode: Mode = DEFAULT_MODE, problem_type: str | None = None
) -> tuple[TRLRewardFunc, TRLRewardFunc, TRLRewardFunc]:
    """TRL reward functions ``(reward, format, accuracy)`` for one reward mode.

    ``problem_type`` is used for datasets without a ``problem_type`` column (one type for all).
    Each function returns exactly what :func:`videokr.scoring.reward.score_batch` returns for the
    same outputs, ground truths and problem types (``reward``, ``format_reward`` and
    ``accuracy_reward``); TRL names its logged metrics after the functions' ``__name__``.
    """
    if mode not in MODES:
        raise ValueError(f"unknown reward mode {mode!r}; choose one of {', '.join(MODES)}")

    def videokr_reward(prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float]:
        outputs, truths, kinds, options = _trl_inputs(completions, kwargs, mode, problem_type)
        return score_batch(outputs, truths, kinds, mode, options).reward

    def videokr_format(prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float]:
        return [format_reward(completion_text(c), mode) for c in completions]

    def videokr_accuracy(prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float]:
        outputs, truths, kinds, options = _trl_inputs(completions, kwargs, mode, problem_type)
        return score_batch(outputs, truths, kinds, mode, options).accuracy_reward

    return videokr_reward, videokr_format, videokr_accuracy


trl_reward, trl_format_reward, trl_accuracy_reward = make_trl_rewards()


# --- EasyR1 --------------------------------------------------------------------------------------


def easyr1_compute_score(
    reward_inputs: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    problem_type: str | None = None,
    mode: Mode = DEFAULT_MODE,
) -> dict[str, float] | list[dict[str, float]]:
    """EasyR1's reward function, batch (a list in, a list out) or sequential (a dict in, a dict out).

    Each ``RewardScore`` is ``{"overall": R, "format": f, "accuracy": a}`` with the numbers of
    :func:`videokr.scoring.reward.score_batch`. ``problem_type`` and ``mode`` arrive from
    ``worker.reward.reward_function_kwargs``; a mapping ground truth (``solution`` or ``answer``,
    ``problem_type``, ``options``) overrides them item by item.
    """
    single = isinstance(reward_inputs, Mapping)
    items = [reward_inputs] if single else list(reward_inputs)
    outputs: list[str] = []
    truths: list[str] = []
    kinds: list[str | None] = []
    options: list[Sequence[str] | None] = []
    for index, item in enumerate(items):
        truth = item.get("ground_truth")
        kind = item.get("problem_type", problem_type)
        opts = item.get("options")
        if isinstance(truth, Mapping):
            kind = truth.get("problem_type", kind)
            opts = truth.get("options", opts)
            truth = truth.get("solution", truth.get("answer"))
        if kind is None:
            raise ValueError(
                f"reward input {index}: no problem type; pass problem_type in worker.reward.reward_function_kwargs "
                "or make the ground truth a mapping with 'problem_type'"
            )
        outputs.append(str(item.get("response") or ""))
        truths.append(str(truth if truth is not None else ""))
        kinds.append(kind)
        options.append(list(opts) if opts is not None and len(opts) else None)
    batch = score_batch(outputs, truths, kinds, mode, options if mode == "strict" and any(options) else None)
    scores = [
        {"overall": batch.reward[i], "format": batch.format_reward[i], "accuracy": batch.accuracy_reward[i]}
        for i in range(len(batch))
    ]
    return scores[0] if single else scores
