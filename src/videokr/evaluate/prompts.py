"""The evaluation prompts of Appendix C.2, verbatim, per model family and benchmark.

A prompt depends on the model family (each model is evaluated with the prompt its authors
released, else lmms-eval's default), the benchmark and, for some, the problem type. The
paper's paragraphs are joined with single newlines, as lmms-eval joins its pre/post prompts;
``{question}`` is the question text and ``{options}`` the options as "A. text" lines. Where a
template names only ``{question}`` (VideoKR / OneThinker, VideoAuto-R1, Video-R1 / VideoRFT),
the options follow the question on their own lines, as the official task builds it.
"""

from __future__ import annotations

from dataclasses import dataclass

from videokr.scoring.extract import LETTERS

# --- model families --------------------------------------------------------------------------

VIDEOKR = "videokr"  # VideoKR and OneThinker
VIDEOAUTO_R1 = "videoauto-r1"
VIDEO_R1 = "video-r1"  # Video-R1 and VideoRFT
QWEN_INSTRUCT = "qwen-instruct"
QWEN_THINKING = "qwen-thinking"
INTERNVL = "internvl"  # InternVL3.5-8B: grouped with Qwen (MMVU) and thinking models (SciVideoBench, VideoKR-Eval)
FRONTIER = "frontier"  # GPT-5.4, Gemini 3 Pro, Claude Opus 4.5
OTHER = "other"
FAMILIES = (VIDEOKR, VIDEOAUTO_R1, VIDEO_R1, QWEN_INSTRUCT, QWEN_THINKING, INTERNVL, FRONTIER, OTHER)

# --- benchmarks ----------------------------------------------------------------------------

VIDEO_MME = "videomme"
MVBENCH = "mvbench"
LONGVIDEOBENCH = "longvideobench"
VIDEOMMMU = "videommmu"
MMVU = "mmvu"
SCIVIDEOBENCH = "scivideobench"
VIDEOKR_EVAL = "videokr_eval"
GENERAL_BENCHMARKS = (VIDEO_MME, MVBENCH, LONGVIDEOBENCH)
KNOWLEDGE_BENCHMARKS = (VIDEOMMMU, MMVU, SCIVIDEOBENCH, VIDEOKR_EVAL)
BENCHMARK_NAMES = GENERAL_BENCHMARKS + KNOWLEDGE_BENCHMARKS

# --- templates (Appendix C.2) ----------------------------------------------------------------

VIDEOKR_TEMPLATE = (
    "{question}\n"
    "Please answer this question based on the visual content.\n"
    "Provide your thinking process between the <think> and </think> tags, and then give your final answer "
    "between the <answer> and </answer> tags.\n"
    "At the end, you must output the final answer in the format:\n"
    "<answer><your answer here></answer>"
)

VIDEOAUTO_R1_VIDEOMME_TEMPLATE = (
    "Select the best answer to the following multiple-choice question based on the video. Respond with only "
    "the letter (A, B, C, or D) of the correct option\n"
    "{question}\n"
    "Put your final answer in \\boxed{{}}."
)
VIDEOAUTO_R1_TEMPLATE = "{question}\nPut your final answer in \\boxed{{}}."

_VIDEO_R1_HEAD = (
    "{question}\n"
    "Please think about this question as if you were a human pondering deeply.\n"
    "Engage in an internal dialogue using expressions such as 'let me think', 'wait', 'Hmm', 'oh, I see', "
    "'let's break it down', etc, or other natural language thought expressions.\n"
    "It's encouraged to include self-reflection or verification in the reasoning process.\n"
    "Provide your detailed reasoning between the <think> </think> tags, and then give your final answer "
    "between the <answer> </answer> tags.\n"
)
VIDEO_R1_MC_TEMPLATE = (
    _VIDEO_R1_HEAD
    + "Please provide only the single option letter (e.g., A, B, C, D, etc.) within the <answer> </answer> tags."
)
VIDEO_R1_OE_TEMPLATE = _VIDEO_R1_HEAD + "Please provide your text answer within the <answer> </answer> tags."

_SELECT_BEST = (
    "Select the best answer to the following multiple-choice question based on the video. Respond with only "
    "the letter (A, B, C, or D) of the correct option.\n"
    "Question: {question} Possible answer choices:\n"
    "{options}\n"
)
QWEN_INSTRUCT_MC_TEMPLATE = _SELECT_BEST + "The best answer is:"
QWEN_THINKING_MC_TEMPLATE = (
    _SELECT_BEST
    + "Please reason step-by-step, identify relevant visual content, analyze key timestamps and clues, and then "
    "provide the final answer."
)
OTHER_VIDEOMME_TEMPLATE = _SELECT_BEST + "Answer with the option's letter from the given choices directly."
OTHER_MVBENCH_TEMPLATE = "{question}\n{options}\nOnly give the best option."
OTHER_LONGVIDEOBENCH_TEMPLATE = "{question}\n{options}\nAnswer with the option's letter from the given choices directly."
OTHER_VIDEOMMMU_PERCEPTION_TEMPLATE = "{question}\n{options}\nPlease ignore the Quiz question in last frame of the video."
OTHER_VIDEOMMMU_ADAPTATION_MC_TEMPLATE = (
    "You should watch and learn the video content. Then apply what you learned to answer the following "
    "multi-choice question. The image for this question is at the end of the video.\n"
    "{question}\n{options}"
)
OTHER_VIDEOMMMU_ADAPTATION_OE_TEMPLATE = (
    "You should watch and learn the video content. Then apply what you learned to answer the following "
    "open-ended question. The image for this question is at the end of the video.\n"
    "{question}"
)

_COT_LETTER = (
    "Answer the given multiple-choice question step by step. Begin by explaining your reasoning process clearly. "
    "Conclude by stating the final answer using the following format: \"Therefore, the final answer is: $LETTER\" "
    "(without quotes), where $LETTER is one of the options. Think step by step before answering."
)
_COT_ANSWER = (
    "Answer the given question step by step. Begin by explaining your reasoning process clearly.\n"
    "Conclude by stating the final answer using the following format: \"Therefore, the final answer is: $ANSWER\" "
    "(without quotes), where $ANSWER is the final answer of the question. Think step by step before answering."
)
MMVU_COT_MC_TEMPLATE = "{question}\n{options}\nVisual Information: processed video\n" + _COT_LETTER
MMVU_COT_OE_TEMPLATE = "{question}\nVisual Information: processed video\n" + _COT_ANSWER
MMVU_DIRECT_MC_TEMPLATE = (
    "{question}\n{options}\nVisual Information: processed video\n"
    "Do not generate any intermediate reasoning process. Answer directly with the option letter from the given "
    "choices."
)
MMVU_DIRECT_OE_TEMPLATE = (
    "{question}\nVisual Information: processed video\n"
    "Do not generate any intermediate reasoning process. Directly output the final answer."
)
SCIVIDEOBENCH_COT_TEMPLATE = "{question}\n{options}\n" + _COT_ANSWER
SCIVIDEOBENCH_DIRECT_TEMPLATE = "{question}\n{options}\nAnswer with the option's letter from the given choices directly."
VIDEOKR_EVAL_COT_MC_TEMPLATE = "{question}\n{options}\n" + _COT_LETTER
VIDEOKR_EVAL_COT_OE_TEMPLATE = "{question}\n" + _COT_ANSWER.replace("clearly.\n", "clearly. ")
VIDEOKR_EVAL_DIRECT_MC_TEMPLATE = "{question}\n{options}\nAnswer with the option's letter from the given choices directly."
VIDEOKR_EVAL_DIRECT_OE_TEMPLATE = "{question}\nPlease answer the question using a single word or phrase."


@dataclass(frozen=True)
class PromptItem:
    """What a prompt needs to know about an item."""

    question: str
    options: tuple[str, ...] = ()  # texts without letters
    problem_type: str = "multiple choice"  # or "open-ended"
    question_type: str | None = None  # VideoMMMU: perception | comprehension | adaptation


def format_options(options: tuple[str, ...] | list[str]) -> str:
    return "\n".join(f"{LETTERS[i]}. {text}" for i, text in enumerate(options))


def _with_options(item: PromptItem) -> str:
    return f"{item.question}\n{format_options(item.options)}" if item.options else item.question


def template_for(family: str, benchmark: str, item: PromptItem) -> str:
    """The Appendix C.2 template for this family, benchmark and item."""
    if family not in FAMILIES:
        raise ValueError(f"unknown model family {family!r}; choose one of {', '.join(FAMILIES)}")
    if benchmark not in BENCHMARK_NAMES:
        raise ValueError(f"unknown benchmark {benchmark!r}; choose one of {', '.join(BENCHMARK_NAMES)}")
    mc = item.problem_type == "multiple choice"
    if family == VIDEOKR:
        return VIDEOKR_TEMPLATE
    if family == VIDEOAUTO_R1:
        return VIDEOAUTO_R1_VIDEOMME_TEMPLATE if benchmark == VIDEO_MME else VIDEOAUTO_R1_TEMPLATE
    if family == VIDEO_R1:
        return VIDEO_R1_MC_TEMPLATE if mc else VIDEO_R1_OE_TEMPLATE
    if benchmark in (VIDEO_MME, MVBENCH) and family in (QWEN_INSTRUCT, QWEN_THINKING):
        return QWEN_INSTRUCT_MC_TEMPLATE if family == QWEN_INSTRUCT else QWEN_THINKING_MC_TEMPLATE
    if benchmark == VIDEO_MME:
        return OTHER_VIDEOMME_TEMPLATE
    if benchmark == MVBENCH:
        return OTHER_MVBENCH_TEMPLATE
    if benchmark == LONGVIDEOBENCH:
        return OTHER_LONGVIDEOBENCH_TEMPLATE
    if benchmark == VIDEOMMMU:
        if (item.question_type or "").lower().startswith("adaptation"):
            return OTHER_VIDEOMMMU_ADAPTATION_MC_TEMPLATE if mc else OTHER_VIDEOMMMU_ADAPTATION_OE_TEMPLATE
        return OTHER_VIDEOMMMU_PERCEPTION_TEMPLATE
    reasoning = family in (QWEN_THINKING, INTERNVL, FRONTIER)
    if benchmark == MMVU:
        if family in (QWEN_INSTRUCT, QWEN_THINKING, INTERNVL):
            return MMVU_COT_MC_TEMPLATE if mc else MMVU_COT_OE_TEMPLATE
        return MMVU_DIRECT_MC_TEMPLATE if mc else MMVU_DIRECT_OE_TEMPLATE
    if benchmark == SCIVIDEOBENCH:
        return SCIVIDEOBENCH_COT_TEMPLATE if reasoning else SCIVIDEOBENCH_DIRECT_TEMPLATE
    if reasoning:  # VideoKR-Eval
        return VIDEOKR_EVAL_COT_MC_TEMPLATE if mc else VIDEOKR_EVAL_COT_OE_TEMPLATE
    return VIDEOKR_EVAL_DIRECT_MC_TEMPLATE if mc else VIDEOKR_EVAL_DIRECT_OE_TEMPLATE


def build_prompt(family: str, benchmark: str, item: PromptItem) -> str:
    """The text prompt (the video goes before it as frames)."""
    template = template_for(family, benchmark, item)
    if "{options}" in template:
        return template.format(question=item.question, options=format_options(item.options))
    return template.format(question=_with_options(item))


def family_of(model: str) -> str:
    """A best guess of a model's family from its name; pass ``--family`` to be explicit."""
    name = model.lower()
    if "videokr" in name or "onethinker" in name:
        return VIDEOKR
    if "videoauto" in name:
        return VIDEOAUTO_R1
    if "video-r1" in name or "videorft" in name or "video_r1" in name:
        return VIDEO_R1
    if "qwen" in name:
        return QWEN_THINKING if "thinking" in name else QWEN_INSTRUCT
    if "internvl" in name:
        return INTERNVL
    if any(k in name for k in ("gpt-5", "gemini", "claude")):
        return FRONTIER
    return OTHER
