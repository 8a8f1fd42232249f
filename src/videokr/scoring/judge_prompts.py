"""The official VideoKR-Eval judge prompts, verbatim (lmms-eval task ``videokr_eval``).

Placeholders: ``{question}`` (question, then the options one per line as "A. text"),
``{answer}`` (the gold answer) and ``{prediction}`` (the ``<answer>`` content when the output
has one, else the whole output). The judge answers "1" or "0".
"""

from __future__ import annotations

MULTIPLE_CHOICE_JUDGE_PROMPT = """You are a strict evaluator assessing answer correctness. You must output 1 for fully correct answers and 0 for any other case.
Question:
{question}
Ground Truth Answer:
{answer}
Model Prediction:
{prediction}
# Evaluation Rules for Multiple Choice Questions
- The model prediction may contain reasoning, but focus on the final answer.
- Score 1 if the predicted answer matches the ground truth answer.
- The answer can be given as just the letter (A, B, C, ...) or include the full option text.
- Ignore minor differences in formatting, capitalization, or spacing.
- Score 0 for any incorrect answer, even if the reasoning process seems correct.

Return only "1" or "0" with no additional text or formatting."""

OPEN_ENDED_JUDGE_PROMPT = """You are a fair evaluator assessing answer correctness.
Question:
{question}
Ground Truth Answer:
{answer}
Model Prediction:
{prediction}
# Scoring Rules
- Score 1: The prediction is correct - it captures the key information from the ground truth answer. Minor wording differences, extra non-contradictory details, or more verbose phrasing are acceptable.
- Score 0: The prediction is clearly wrong - it contradicts the ground truth, is completely irrelevant, or misses all key information.

# Additional Guidelines
- Focus on the final answer in the prediction, ignoring any reasoning process.
- Ignore differences in formatting, capitalization, or spacing.
- Treat numerical answers as correct if they match within reasonable precision.
- If the ground truth is very short (e.g., a single word or symbol), score 1 if the prediction contains that information in a reasonable context.
- A more detailed answer that includes the ground truth information plus reasonable elaboration should score 1, not be penalized.
- Synonyms, abbreviations, and equivalent expressions (e.g., "DHT" for "Dihydrotestosterone", "O(n log n)" for "n log n", "High blood pressure" for "Hypertension") should score 1.

Return only "1" or "0" with no additional text or formatting."""

# The official judge's sampling settings and default model.
JUDGE_TEMPERATURE = 1.0
JUDGE_MAX_TOKENS = 256
JUDGE_DEFAULT_MODEL = "gpt-4o"
