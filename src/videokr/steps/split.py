"""§3.5 as a step: the SFT/RL split, random and grouped by video, over the examples that got this far.

The split takes the live examples whose video decontamination cleared (when `decontam` is in
the recipe) and writes one `SplitAssignment` per example; the examples themselves are never
rewritten. It is a global step: any change to its input set recomputes the partition
(seeded, so unchanged inputs give the same assignment).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from pydantic import Field

from videokr.pipeline.recipe import register
from videokr.pipeline.step import Result, Step, StepConfig
from videokr.records import Example, SplitAssignment
from videokr.split import PAPER_SPLIT_RATIO, SplitItem, split_by_video
from videokr.sets import EXAMPLE_STEPS
from videokr.store import Store


class SplitConfig(StepConfig):
    ratio: tuple[int, int] = Field(default=PAPER_SPLIT_RATIO, description="SFT : RL, by examples (§3.5)")
    seed: int = 0
    stratify: bool = True


def cleared_videos(store: Store) -> set[str]:
    return {r.id for r in store.live_outputs("decontam", "decontam_check")}


@register
class SplitStep(Step[Example]):
    name = "split"
    version = "2"
    Config = SplitConfig
    after = (*EXAMPLE_STEPS, "decontam")
    reads = "example"
    writes = ("split_assignment",)
    scope = "global"

    def inputs(self, store: Store) -> Iterator[Example]:
        examples = store.live_outputs(EXAMPLE_STEPS, "example")
        if "decontam" not in self.context.recipe:
            yield from examples  # type: ignore[misc]
            return
        cleared = cleared_videos(store)
        for example in examples:
            if example.video_id in cleared:  # type: ignore[attr-defined]
                yield example  # type: ignore[misc]

    def process_all(self, items: Sequence[Example]) -> Iterable[tuple[Example, Result]]:
        assert isinstance(self.config, SplitConfig)
        result = split_by_video(
            (SplitItem(e.id, e.video_id, e.discipline.value if e.discipline else None, e.subject,
                       e.skill.value if e.skill else None, has_cot=bool(e.cot)) for e in items),
            ratio=self.config.ratio, seed=self.config.seed, stratify=self.config.stratify,
        )
        for example in items:
            chosen = result.assignment[example.id]
            yield example, Result.accept(SplitAssignment(id=example.id, set=chosen, video_id=example.video_id),
                                         detail={"set": chosen})


def apply_split(store: Store, *, ratio: tuple[int, int] = PAPER_SPLIT_RATIO, seed: int = 0,
                stratify: bool = True, after_decontam: bool = False) -> dict[str, str]:
    """Run the split step over the store's live examples; returns example id → set (for scripts and tests)."""
    from videokr.pipeline.runner import run_step
    from videokr.pipeline.step import StepContext

    recipe = ("import", "decontam", "split") if after_decontam else ("import", "split")
    step = SplitStep(SplitConfig(ratio=ratio, seed=seed, stratify=stratify), StepContext(recipe=recipe))
    run_step(store, step)
    return {a.id: a.set for a in store.live_outputs(step.name, "split_assignment")}  # type: ignore[attr-defined]
