"""A workspace's plan: its steps' settings, its models' prices, and the ratios a pilot measured.

Why separate from `plan.py`: the arithmetic is pure; what feeds it comes from the workspace.

- Models and prices: each model step draws one eligible model per instance (§3.4, the pool of
  `videokr.yaml`, or the step's own `models:`), so its cost per request is the mean over the
  eligible configured models. A model without a configured `price:` makes its step "unpriced"
  rather than priced at an invented figure.
- Self-consistency asks each candidate's own generator, so it costs the mean over the models
  eligible for example generation; the video dependency filter asks every model of its
  `models:` (the two self-hosted ones by default) on each candidate.
- Tokens per request: until a pilot ran, the request side is estimated from the prompt the
  step would send (the template in use, filled with fields of ASSUMED lengths, plus the reply
  schema and the images at the model's `image_tokens`: the visual judge's `frames`; for
  generation, re-derivation and CoT validation the paper's mean video (344.1 s) at the
  generation fps, capped by the model's `max_images`; the video dependency filter's `frames`),
  with the model door's estimator; the reply side is `ASSUMED_OUTPUT_TOKENS`. Once a step has at least
  `MIN_MEASURED_ITEMS` stored replies, their mean usage replaces both.
- Ratios: once a step has at least `MIN_MEASURED_ITEMS` finished items, its yield (live
  outputs per finished item) replaces the default; once the step before it has that many
  live outputs, its feed (items it would take in now per such output) does too; a model step's
  requests per item become its stored calls (repairs included) per finished item.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from videokr.corpus.plan import (
    ASSUMED_OUTPUT_TOKENS,
    MIN_MEASURED_ITEMS,
    PAPER_GENERATION_FPS,
    PAPER_MEAN_DURATION_S,
    ModelCost,
    Stage,
    paper_stages,
    with_ratios,
)
from videokr.models.config import ModelConfig, PoolConfig
from videokr.models.structured import response_format_for
from videokr.models.tokens import estimate_request_tokens
from videokr.store import Store

# What each stage's outputs are (the kind of record its accepted items hold).
OUTPUT_KINDS = {
    "knowledge_points": "knowledge_point",
    "scenarios": "scenario",
    "search_keywords": "search_keyword",
    "youtube_search": "search_hit",
    "youtube_videos": "youtube_video",
    "metadata_relevance": "relevance",
    "download": "video",
    "visual_relevance": "relevance",
    "safety": "safety_check",
    "example_generation": "candidate_example",
    "self_consistency": "example_check",
    "video_dependency": "example_check",
    "cot_validation": "example",
}
# Steps that ask the models of another step's pool (self-consistency: the candidate's generator).
POOL_OF = {"self_consistency": "example_generation"}
# Steps that show frames at the generation fps of the paper's mean video, capped by the model's image limit.
FPS_FRAME_STEPS = frozenset({"example_generation", "self_consistency", "cot_validation"})

# ASSUMED characters of each prompt field, for the request-size estimate before a pilot ran.
ASSUMED_FIELD_CHARS = {
    "discipline": 20, "subject": 25, "course": 40, "lecture": 60, "objectives": 300, "term": 30,
    "definition": 600,  # a paragraph of ~100 words
    "scenario": 150, "title": 70, "channel": 25, "duration": 8,
    "seed_examples": 3 * 1500,  # three seeds, each a question, options, answer and a worked reasoning
    "skill_definition": 400, "knowledge": 900, "frame_interval": 12, "skill_name": 10, "seed_count": 1,
    "question": 300, "options": 250, "answer_format": 80, "answer": 1,
    "reasoning": 1500,  # the re-derived step-by-step reasoning the CoT validator checks
}
DEFAULT_FIELD_CHARS = 40
FREE_BACKENDS = frozenset({"offline", "openai"})  # moderation backends that bill nothing per image


@dataclass(frozen=True)
class Observation:
    """What the store says about one step so far."""

    finished: int = 0  # accepted + rejected items
    outputs: int = 0  # live output records of the stage's kind
    offered: int | None = None  # items its inputs() yields now (None: not counted)
    calls: int = 0  # stored model requests (repairs included)
    replies: int = 0  # of which with a reply
    tokens_in: int = 0
    tokens_out: int = 0


def _context(config: Any, root: Path, store: Store | None) -> Any:
    from videokr.pipeline.step import StepContext

    return StepContext(root=root, recipe=tuple(config.recipe), settings={"models": config.models, "pool": config.pool},
                       store=store)


def build(config: Any, root: Path, store: Store | None, name: str) -> Any:
    """The step `name` with its section of the configuration (it need not be in the recipe)."""
    from videokr.pipeline.recipe import build_step

    return build_step(name, config.step_section(name), _context(config, root, store))


def _schema(step: Any) -> Any:
    """The reply schema a step's requests carry (None: a free-text reply)."""
    schema = getattr(step, "schema", None)
    if schema is not None:
        return schema
    if step.name == "metadata_relevance":
        from videokr.steps.metadata_relevance import MetadataVerdict

        return MetadataVerdict
    if step.name == "example_generation":
        from videokr.steps.example_generation import GeneratedExample

        return GeneratedExample
    if step.name == "self_consistency":
        from videokr.steps.self_consistency import Rederived

        return Rederived
    if step.name == "cot_validation":
        from videokr.steps.cot_validation import Review

        return Review
    if step.name == "video_dependency":
        return None
    from videokr.steps.visual_relevance import VisualAnswer

    return VisualAnswer


def request_images(step_name: str, config: Any, model: ModelConfig, *, fps: float = PAPER_GENERATION_FPS) -> int:
    """Images one request of the step carries to `model`: its frames, capped by the model's image limit."""
    if step_name in ("visual_relevance", "video_dependency"):
        return min(int(getattr(config, "frames", 0) or 0), model.max_images)
    if step_name in FPS_FRAME_STEPS:
        return min(math.floor(PAPER_MEAN_DURATION_S * fps) + 1, model.max_images)  # first frame at 0 s
    return 0


def request_tokens(step: Any, model: ModelConfig, *, fps: float = PAPER_GENERATION_FPS) -> int:
    """Estimated input tokens of one request of `step` to `model`, from the prompt it would send."""
    from videokr.prompts import placeholders, render_prompt

    config = step.config
    images = request_images(step.name, config, model, fps=fps)
    values: dict[str, Any] = {}
    for name in placeholders(step.template):
        if name == "frame_count":
            values[name] = images
        elif name == "description":
            values[name] = "x" * int(getattr(config, "description_chars", DEFAULT_FIELD_CHARS))
        elif hasattr(config, name):
            values[name] = getattr(config, name)
        else:
            values[name] = "x" * ASSUMED_FIELD_CHARS.get(name, DEFAULT_FIELD_CHARS)
    text = render_prompt(step.template, values)
    content: Any = text
    if images:
        content = [{"type": "text", "text": text}] + [{"type": "image_url", "image_url": {"url": ""}}] * images
    body: dict[str, Any] = {"messages": [{"role": "user", "content": content}]}
    schema = _schema(step)
    if schema is not None:
        body["response_format"] = response_format_for(schema, json_schema=model.json_schema)
    return estimate_request_tokens(body, image_tokens=model.image_tokens).input_tokens


def _dependency_models(step: Any, configured: dict[str, Any]) -> tuple[dict[str, ModelConfig], str]:
    """The video dependency filter's models: the workspace's, else the built-in self-hosted ones."""
    from videokr.models.config import self_hosted_models

    builtin = self_hosted_models()
    found: dict[str, ModelConfig] = {}
    for name in step.asked:
        model = configured.get(name, builtin.get(name))
        if model is None:
            return {}, f"steps.{step.name}.models: {name} not configured under `models:`"
        found[name] = model if isinstance(model, ModelConfig) else ModelConfig.model_validate(model)
    return found, ""


def _models(step: Any, pool_step: Any = None, configured: dict[str, Any] | None = None,
            fps: float = PAPER_GENERATION_FPS) -> tuple[tuple[ModelCost, ...], str]:
    """The eligible configured models of a model step with their request sizes; a note when there are none.

    `pool_step`: the step whose pool it draws from (self-consistency: the generator's)."""
    if step.name == "video_dependency":
        models, note = _dependency_models(step, configured or {})
    else:
        owner = pool_step if pool_step is not None else step
        try:
            names = owner.pool.eligible(owner.name)
        except (ValueError, RuntimeError) as exc:
            return (), str(exc)
        if not names:
            return (), owner.pool.why_none(owner.name)
        models, note = {name: owner.pool.models[name] for name in names}, ""
    if not models:
        return (), note
    costs = []
    for name in sorted(models):
        model = models[name]
        price = model.price if "price" in model.model_fields_set else None
        costs.append(ModelCost(name, float(request_tokens(step, model, fps=fps)),
                               float(ASSUMED_OUTPUT_TOKENS[step.name]), price))
    return tuple(costs), ""


def observe(store: Store, step: Any, *, count_offered: bool) -> Observation:
    """Finished items, live outputs, offered items and stored model calls of one step."""
    from videokr.models.cache import CallCache

    summary = store.ledger_summary().get(step.name, {})
    kind = OUTPUT_KINDS[step.name]
    outputs = int(store.execute("SELECT count(DISTINCT record_id) FROM outputs WHERE step=? AND kind=?",
                                (step.name, kind)).fetchone()[0])
    offered = None
    if count_offered:
        try:
            offered = sum(1 for _ in step.inputs(store))
        except Exception:  # an input that cannot be read now: keep the default feed
            offered = None
    calls = replies = tin = tout = 0
    for row in CallCache(store).totals(by=("step",)):
        if row["step"] == step.name:
            calls, replies = row["done"] + row["failed"], row["done"]
            tin, tout = row["tokens_in"], row["tokens_out"]
    return Observation(summary.get("accepted", 0) + summary.get("rejected", 0), outputs, offered, calls, replies,
                       tin, tout)


def measured(stage: Stage, seen: Observation, before: Observation | None, min_items: int) -> Stage:
    """`stage` with what the workspace measured in place of the defaults, where enough was measured."""
    changes: dict[str, Any] = {}
    sources: dict[str, str] = {}
    if seen.finished >= min_items:
        changes["yield_"] = seen.outputs / seen.finished
        sources["yield"] = "measured"
        if stage.kind == "model":
            changes["requests_per_item"] = seen.calls / seen.finished
            sources["requests"] = "measured"
    if before is not None and before.outputs >= min_items and seen.offered is not None:
        changes["feed"] = seen.offered / before.outputs
        sources["feed"] = "measured"
    if stage.kind == "model" and seen.replies >= min_items and stage.models:
        tin, tout = seen.tokens_in / seen.replies, seen.tokens_out / seen.replies
        changes["models"] = tuple(ModelCost(m.model, tin, tout, m.price) for m in stage.models)
        sources["tokens"] = "measured"
    return with_ratios(stage, sources=sources, **changes) if changes else stage


def workspace_stages(config: Any, root: Path, store: Store | None, *,
                     min_items: int = MIN_MEASURED_ITEMS) -> tuple[list[Stage], int]:
    """The stages of a workspace's corpus chain, and its daily YouTube budget.

    `store` None (no workspace yet) plans from the paper's funnel alone."""
    from videokr.steps.youtube_search import SearchConfig, VideosConfig

    steps = {s.name: build(config, root, store, s.name) for s in paper_stages() if s.name in OUTPUT_KINDS}
    search, videos, safety = steps["youtube_search"].config, steps["youtube_videos"].config, steps["safety"].config
    assert isinstance(search, SearchConfig) and isinstance(videos, VideosConfig)
    fps = float(steps["example_generation"].config.fps)
    stages = []
    for stage in paper_stages(top_k=search.top_k, safety_frames=safety.frames, videos_per_call=videos.batch_size,
                              dependency_models=len(steps["video_dependency"].asked)):
        if stage.kind == "model":
            pool_step = steps.get(POOL_OF.get(stage.name, ""))
            models, note = _models(steps[stage.name], pool_step, dict(config.models or {}), fps)
            if models and any(m.price is None for m in models) and not note:
                unpriced = [m.model for m in models if m.price is None]
                note = f"no price configured for {', '.join(unpriced)}"
            tokens = {"tokens": "assumption"} if models else {}
            stage = with_ratios(stage, models=models, note=note, sources={**tokens, "requests": "paper"})
        elif stage.kind == "moderation":
            backend = str(getattr(safety, "backend", ""))
            stage = with_ratios(stage, priced=backend in FREE_BACKENDS,
                                note="" if backend in FREE_BACKENDS else f"{backend} moderation: no price configured")
        stages.append(stage)
    if store is not None:
        stages = _apply_measurements(stages, steps, store, min_items)
    return stages, min(search.daily_quota, videos.daily_quota)


def _apply_measurements(stages: list[Stage], steps: dict[str, Any], store: Store, min_items: int) -> list[Stage]:
    done = []
    before: Observation | None = None
    for stage in stages:
        if stage.name not in steps:  # a stage that sends nothing (decontamination): the paper's ratio stays
            done.append(stage)
            continue
        count_offered = before is not None and before.outputs >= min_items
        seen = observe(store, steps[stage.name], count_offered=count_offered)
        done.append(measured(stage, seen, before, min_items))
        before = seen
    return done


SHORT = {"assumption": "assumed"}


def sources_label(sources: dict[str, str]) -> str:
    """Where a stage's ratios came from, as 'feed/yield': e.g. 'paper/assumed', 'measured/measured'."""
    return "/".join(SHORT.get(sources.get(k, "-"), sources.get(k, "-")) for k in ("feed", "yield"))
