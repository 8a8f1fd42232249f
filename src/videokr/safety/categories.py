"""What each moderation backend scores, and when a score flags a frame (§3.2's safety filter).

Why here and not in each backend: a step's `thresholds:` in `videokr.yaml` are checked
against these names when the file is read (a misspelt category would otherwise never flag
anything), and the loopback stand-ins of the tests answer with the same names.

A threshold is inclusive: a frame is flagged for a category when its score is at least the
threshold; `None` never flags (the category is scored and kept, not acted on).
"""

from __future__ import annotations

# -- Azure AI Content Safety, image:analyze (the paper's moderation API) ----------------------
AZURE_CATEGORIES = ("Hate", "SelfHarm", "Sexual", "Violence")
AZURE_SEVERITIES = (0, 2, 4, 6)  # outputType FourSeverityLevels: safe, low, medium, high
# Severity ≥ 4 ("medium") flags. Azure's scale calls severity 2 "low": content that is
# unsettling in educational, documentary or artistic contexts (an anatomy lecture, a surgical
# video, footage of a historical battle); flagging at 2 would remove exactly the healthcare
# and humanities videos §3.2 collects. Medium is also the default cut of Azure's own content
# filters.
AZURE_DEFAULT_SEVERITY = 4

# -- OpenAI omni-moderation -------------------------------------------------------------------
OPENAI_CATEGORIES = ("harassment", "harassment/threatening", "hate", "hate/threatening", "illicit",
                     "illicit/violent", "self-harm", "self-harm/intent", "self-harm/instructions", "sexual",
                     "sexual/minors", "violence", "violence/graphic")
# The categories omni-moderation scores images on; the others apply to text and score 0 for an image.
OPENAI_IMAGE_CATEGORIES = ("self-harm", "self-harm/intent", "self-harm/instructions", "sexual", "violence",
                           "violence/graphic")
# category_scores are probabilities: a frame is flagged when the model thinks the category
# more likely present than not. Lower it per category (e.g. sexual/minors) for a stricter filter.
OPENAI_DEFAULT_THRESHOLD = 0.5

# -- the offline detector (NudeNet 3.x, ONNX weights inside its wheel) -------------------------
NUDENET_LABELS = ("FEMALE_GENITALIA_COVERED", "FACE_FEMALE", "BUTTOCKS_EXPOSED", "FEMALE_BREAST_EXPOSED",
                  "FEMALE_GENITALIA_EXPOSED", "MALE_BREAST_EXPOSED", "ANUS_EXPOSED", "FEET_EXPOSED",
                  "BELLY_COVERED", "FEET_COVERED", "ARMPITS_COVERED", "ARMPITS_EXPOSED", "FACE_MALE",
                  "BELLY_EXPOSED", "MALE_GENITALIA_EXPOSED", "ANUS_COVERED", "FEMALE_BREAST_COVERED",
                  "BUTTOCKS_COVERED")
# The labels that make a frame unsafe by default: exposed sexual body parts. Faces, covered
# parts, feet, bellies and armpits are scored and kept but do not flag.
NUDENET_UNSAFE_LABELS = ("FEMALE_GENITALIA_EXPOSED", "MALE_GENITALIA_EXPOSED", "FEMALE_BREAST_EXPOSED",
                         "BUTTOCKS_EXPOSED", "ANUS_EXPOSED")
# A detection's confidence; the detector reports nothing under its own floor of 0.2 (read as 0).
# 0.5 keeps the detector's confident findings and lets its weak guesses on skin-coloured
# scenes (lab gloves, cooking, sports) pass; lower it for a stricter filter.
NUDENET_DEFAULT_THRESHOLD = 0.5

Thresholds = dict[str, float | None]


def default_thresholds(backend: str) -> Thresholds:
    """Every category the backend scores, with the threshold it flags at by default."""
    if backend == "azure":
        return {c: float(AZURE_DEFAULT_SEVERITY) for c in AZURE_CATEGORIES}
    if backend == "openai":
        return {c: OPENAI_DEFAULT_THRESHOLD for c in OPENAI_CATEGORIES}
    if backend == "offline":
        return {c: (NUDENET_DEFAULT_THRESHOLD if c in NUDENET_UNSAFE_LABELS else None)
                for c in NUDENET_LABELS}
    raise ValueError(f"unknown safety backend {backend!r}; backends: azure, openai, offline")


def effective_thresholds(backend: str, overrides: Thresholds | None) -> Thresholds:
    """The defaults with the step's overrides; an override of an unknown category is an error naming it."""
    table = default_thresholds(backend)
    unknown = sorted(set(overrides or {}) - set(table))
    if unknown:
        raise ValueError(f"unknown {backend} safety categor{'y' if len(unknown) == 1 else 'ies'} "
                         f"{', '.join(unknown)}; known: {', '.join(table)}")
    return {**table, **(overrides or {})}


def flagged_categories(scores: list[dict[str, float]], thresholds: Thresholds) -> list[str]:
    """The categories any frame reaches the threshold of, in the thresholds' order.

    A category the reply has but the table does not know (a provider adds one) flags at the
    table's largest threshold, so a new category is acted on rather than silently ignored."""
    known = [t for t in thresholds.values() if t is not None]
    fallback = max(known) if known else None
    seen = {name for frame in scores for name in frame}
    order = list(thresholds) + sorted(seen - set(thresholds))
    flagged = []
    for name in order:
        limit = thresholds.get(name, fallback)
        if limit is not None and any(frame.get(name, 0.0) >= limit for frame in scores):
            flagged.append(name)
    return flagged
