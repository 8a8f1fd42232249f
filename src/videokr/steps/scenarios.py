"""§3.2 Knowledge-based video scenario generation: each knowledge point → 1–3 short realistic scenarios.

Searching for a term ("Newton's second law") finds lectures; searching for a situation in
which the knowledge is at work ("a rocket launching into the sky") finds videos that embody
it. One model drawn from the pool writes `min_scenarios`–`max_scenarios` one-sentence
scenarios per knowledge point; scenario ids are `<knowledge point id>:s<i>`.

The items are the live knowledge points merged by course and term
(`knowledge_points.merge_knowledge_points`): a point whose term another lecture of the same
course already gave is rejected with code `duplicate`, naming the point kept, and costs no
model call.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property, lru_cache
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BaseModel, Field, create_model, model_validator

from videokr.hashing import digest_json
from videokr.models.gateway import Gateway
from videokr.pipeline.recipe import register
from videokr.pipeline.step import Result
from videokr.prompts.step import PromptConfig, PromptedStep
from videokr.records import KnowledgePoint, Scenario
from videokr.steps.knowledge_points import STEP as KNOWLEDGE_POINTS
from videokr.steps.knowledge_points import merge_knowledge_points

STEP = "scenarios"
# "1–3 short scenarios that describe realistic situations involving each knowledge point" (§3.2)
MIN_SCENARIOS = 1
MAX_SCENARIOS = 3
MAX_SCENARIO_WORDS = 40  # "short": one sentence
DUPLICATE_CODE = "duplicate"


class PointItem(BaseModel):
    """A live knowledge point and the point kept for its course and term (itself unless it is a duplicate)."""

    point: KnowledgePoint
    kept: str

    @property
    def duplicate(self) -> bool:
        return self.kept != self.point.id


class ScenariosConfig(PromptConfig):
    PLACEHOLDERS: ClassVar[frozenset[str]] = frozenset({
        "discipline", "subject", "course", "lecture", "term", "definition", "min_scenarios", "max_scenarios",
        "max_scenario_words"})

    min_scenarios: int = Field(default=MIN_SCENARIOS, ge=1, description="scenarios per knowledge point, at least")
    max_scenarios: int = Field(default=MAX_SCENARIOS, ge=1, description="scenarios per knowledge point, at most")
    max_scenario_words: int = Field(default=MAX_SCENARIO_WORDS, ge=1, description="a scenario is one short sentence")

    @model_validator(mode="after")
    def _range(self) -> "ScenariosConfig":
        if self.min_scenarios > self.max_scenarios:
            raise ValueError(f"min_scenarios ({self.min_scenarios}) is above max_scenarios ({self.max_scenarios})")
        return self


def one_line(value: str) -> str:
    return " ".join(value.split())


def distinct(texts: list[str]) -> list[str]:
    """The texts without repeats (case and spacing ignored), first occurrence kept, in order."""
    seen: set[str] = set()
    kept = []
    for text in texts:
        key = one_line(text).casefold()
        if key not in seen:
            seen.add(key)
            kept.append(text)
    return kept


@lru_cache(maxsize=16)
def reply_schema(min_scenarios: int, max_scenarios: int, max_words: int) -> type[BaseModel]:
    def short(value: str) -> str:
        value = one_line(value)
        if not value:
            raise ValueError("a scenario is empty")
        if len(value.split()) > max_words:
            raise ValueError(f"the scenario {value[:60]!r} is longer than {max_words} words; "
                             "write one short sentence")
        return value

    return create_model(
        "Scenarios",
        scenarios=(list[Annotated[str, AfterValidator(short)]],
                   Field(min_length=min_scenarios, max_length=max_scenarios)),
    )


@register
class ScenariosStep(PromptedStep[PointItem]):
    name = STEP
    version = "1"
    Config = ScenariosConfig
    after = (KNOWLEDGE_POINTS,)
    reads = "knowledge_point"
    writes = ("scenario",)

    SEEN: ClassVar[set[str]] = {"id", "discipline", "subject", "course", "lecture", "term", "definition"}

    def inputs(self, store: Any) -> Iterator[PointItem]:
        points = list(store.live_outputs(self.after, "knowledge_point"))
        kept = merge_knowledge_points(points)
        for point in points:
            yield PointItem(point=point, kept=kept[point.id])

    def item_id(self, item: PointItem) -> str:
        return item.point.id

    def item_fingerprint(self, item: PointItem) -> str:
        seen = item.point.model_dump(mode="json", include=self.SEEN)
        if item.duplicate:
            return digest_json({"point": seen, "kept": item.kept})
        return digest_json({"point": seen, "model": self.draw_model(item.point.id)})

    @cached_property
    def schema(self) -> type[BaseModel]:
        c = self.config
        assert isinstance(c, ScenariosConfig)
        return reply_schema(c.min_scenarios, c.max_scenarios, c.max_scenario_words)

    def values(self, point: KnowledgePoint) -> dict[str, Any]:
        c = self.config
        assert isinstance(c, ScenariosConfig)
        return {"discipline": point.discipline.value, "subject": point.subject, "course": point.course,
                "lecture": point.lecture, "term": point.term, "definition": point.definition,
                "min_scenarios": c.min_scenarios, "max_scenarios": c.max_scenarios,
                "max_scenario_words": c.max_scenario_words}

    async def ask(self, item: PointItem, gateway: Gateway) -> Result:
        point = item.point
        if item.duplicate:
            return Result.reject(f"the term {point.term!r} of course {point.course!r} is kept as {item.kept}",
                                 code=DUPLICATE_CODE, detail={"kept": item.kept})
        model = self.draw_model(point.id)
        reply = await self.ask_json(gateway, model, self.values(point), self.schema)
        texts = distinct(reply.scenarios)  # type: ignore[attr-defined]
        return Result.accept(*(Scenario(id=f"{point.id}:s{i}", knowledge_point_id=point.id, text=text, model=model)
                               for i, text in enumerate(texts, 1)), detail={"model": model})
