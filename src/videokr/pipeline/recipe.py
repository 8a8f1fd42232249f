"""Recipes: the steps of a pipeline, in order, with their settings from `videokr.yaml`.

    recipe: [import, videos, probe, decontam, split, export]
    steps:
      import: {sources: [{path: data/sft.jsonl, kind: sft}]}
      probe: {executor: process, workers: 8}
      mine: {uses: "my_package.steps:MyStep", threshold: 0.5}

Every step class registers under its name; a step of the user's own joins with `uses:
MODULE:CLASS`. Each section is validated by the step's typed config when the workspace is
read, so a misspelt key fails before anything runs, naming the step and the key.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from videokr.pipeline.runner import StepReport, pending_count, run_step
from videokr.pipeline.step import Step, StepConfig, StepContext
from videokr.store import Store

STEP_TYPES: dict[str, type[Step[Any]]] = {}


class RecipeError(ValueError):
    """A recipe or step section that cannot run; the message names the step and the key."""


def register(cls: type[Step[Any]]) -> type[Step[Any]]:
    """Class decorator: make a step available to recipes under its `name`."""
    STEP_TYPES[cls.name] = cls
    return cls


def _load_builtin() -> None:
    import videokr.steps  # noqa: F401  (registers the built-in steps)


def step_type(name: str, section: dict[str, Any] | None = None) -> type[Step[Any]]:
    _load_builtin()
    uses = (section or {}).get("uses")
    if uses:
        module_name, _, class_name = str(uses).partition(":")
        try:
            cls = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError) as exc:
            raise RecipeError(f"steps.{name}.uses: cannot load {uses!r} ({exc})") from None
        if not (isinstance(cls, type) and issubclass(cls, Step)):
            raise RecipeError(f"steps.{name}.uses: {uses!r} is not a videokr Step")
        return cls
    if name not in STEP_TYPES:
        raise RecipeError(f"unknown step {name!r}; known steps: {', '.join(sorted(STEP_TYPES))} "
                          "(or give `uses: MODULE:CLASS` in its section)")
    return STEP_TYPES[name]


def step_config(name: str, cls: type[Step[Any]], section: dict[str, Any] | None) -> StepConfig:
    data = {k: v for k, v in (section or {}).items() if k != "uses"}
    try:
        return cls.Config.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"steps.{name}.{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise RecipeError(problems) from None


@dataclass
class Recipe:
    steps: list[Step[Any]]

    def names(self) -> list[str]:
        return [s.name for s in self.steps]

    def get(self, name: str) -> Step[Any]:
        for step in self.steps:
            if step.name == name:
                return step
        raise RecipeError(f"step {name!r} is not in this recipe ({', '.join(self.names())})")

    def select(self, only: Sequence[str] | None = None, until: str | None = None) -> list[Step[Any]]:
        chosen = self.steps
        if until is not None:
            index = self.names().index(self.get(until).name)
            chosen = chosen[: index + 1]
        if only:
            for name in only:
                self.get(name)
            chosen = [s for s in chosen if s.name in set(only)]
        return chosen


def build_step(name: str, section: dict[str, Any] | None, context: StepContext,
               overrides: dict[str, Any] | None = None) -> Step[Any]:
    cls = step_type(name, section)
    merged = {**(section or {}), **(overrides or {})}
    return cls(step_config(name, cls, merged), context)


def build_recipe(names: Sequence[str], sections: dict[str, dict[str, Any]], context: StepContext) -> Recipe:
    unknown = sorted(set(sections) - set(names) - set(STEP_TYPES))
    if unknown:
        raise RecipeError(f"steps: section(s) {', '.join(unknown)} name no step of the recipe ({', '.join(names)})")
    steps = [build_step(name, sections.get(name), context) for name in names]
    for index, step in enumerate(steps):
        earlier = set(names[:index])
        missing = [a for a in step.after if a not in earlier and a in names]
        if missing:
            raise RecipeError(f"step {step.name} reads from {', '.join(missing)}, which must come before it")
    return Recipe(steps)


def run_recipe(
    store: Store,
    recipe: Recipe,
    *,
    only: Sequence[str] | None = None,
    until: str | None = None,
    limit: int | None = None,
    dry_run: bool = False,
    on_step: Callable[[Step[Any]], Callable[[int], None] | None] | None = None,
    on_report: Callable[[StepReport], None] | None = None,
) -> list[StepReport]:
    """Run the chosen steps in order; each takes the live accepted outputs of the ones before."""
    reports = []
    for step in recipe.select(only, until):
        progress = on_step(step) if on_step is not None else None
        report = run_step(store, step, limit=limit, dry_run=dry_run, on_progress=progress)
        reports.append(report)
        if on_report is not None:
            on_report(report)
    return reports


def funnel(store: Store, recipe: Recipe) -> list[dict[str, Any]]:
    """Per step, in recipe order: in, accepted, rejected (and by reason), quarantined, pending."""
    summary = store.ledger_summary()
    rows = []
    for step in recipe.steps:
        counts = summary.get(step.name, {"in": 0, "accepted": 0, "rejected": 0, "quarantined": 0})
        try:
            offered, pending = pending_count(store, step)
            error = None
        except Exception as exc:  # an input that cannot be read now (a missing file) is shown, not raised
            offered, pending, error = None, None, f"{type(exc).__name__}: {exc}"
        row = {
            "step": step.name,
            "in": counts["in"],
            "accepted": counts["accepted"],
            "rejected": counts["rejected"],
            "rejected_by_reason": store.rejection_reasons(step.name),
            "quarantined": counts["quarantined"],
            "pending": pending,
            "offered": offered,
        }
        if error:
            row["error"] = error
        rows.append(row)
    return rows
