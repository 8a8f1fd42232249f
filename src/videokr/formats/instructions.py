"""The training instructions of the official SFT and RL converters, as data.

The SFT and RL converters word the same instruction with small differences (blank line
before "Options:", a trailing newline after the open-ended instruction, a `<video>` tag
with or without a newline). Exports must match them byte for byte, so that a model trained
on a videokr export sees exactly the prompts the released checkpoints were trained on.
"""

from __future__ import annotations

from videokr.records import Example, EvalItem, ProblemType

ANSWER_INSTRUCTION = (
    "\nPlease answer this question based on the visual content.\n"
    "Provide your thinking process between the <think> and </think> tags, "
    "and then give your final answer between the <answer> and </answer> tags.\n"
)
MC_ANSWER_FORMAT = (
    "Please provide only the single option letter (e.g., A, B, C, D, etc.) within the <answer>...</answer> tags."
)
OPEN_ANSWER_FORMAT = "Please provide only your final answer within the <answer>...</answer> tags."
VIDEO_TAG = "<video>"


def sft_user_prompt(item: Example | EvalItem) -> str:
    """The user turn of the official SFT converter (without the leading `<video>` tag)."""
    text = item.question.strip()
    if item.options:
        text += "\n\nOptions:\n" + "\n".join(item.lettered_options())
    if item.problem_type is ProblemType.MULTIPLE_CHOICE:
        return text + ANSWER_INSTRUCTION + MC_ANSWER_FORMAT
    return text + ANSWER_INSTRUCTION + OPEN_ANSWER_FORMAT + "\n"


def sft_target(item: Example) -> str:
    """The assistant turn: `<think>cot</think>\\n<answer>answer</answer>`."""
    if not item.cot:
        raise ValueError(f"example {item.id!r} has no chain of thought; it cannot be an SFT target")
    return f"<think>{item.cot.strip()}</think>\n<answer>{item.answer}</answer>"


def rl_prompt(item: Example | EvalItem) -> str:
    """The user prompt of the official RL converter, starting with `<video>\\n`."""
    text = item.question.strip()
    is_mc = item.problem_type is ProblemType.MULTIPLE_CHOICE
    if is_mc and item.options and not _lists_options_already(text):
        text = text.rstrip() + "\nOptions:\n" + "\n".join(item.lettered_options())
    text += ANSWER_INSTRUCTION + (MC_ANSWER_FORMAT if is_mc else OPEN_ANSWER_FORMAT)
    return f"{VIDEO_TAG}\n{text.strip()}"


def _lists_options_already(question: str) -> bool:
    return "Options:" in question or "\nA." in question or "\nA:" in question


def answer_tagged(item: Example | EvalItem) -> str:
    return f"<answer>{item.answer}</answer>"
