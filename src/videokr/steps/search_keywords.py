"""§3.2: each scenario → a few YouTube search queries that find videos showing it.

"These scenarios are then transformed into semantically relevant search keywords, helping
retrieve videos that embody the knowledge rather than merely explain it." One model drawn
from the pool writes `min_keywords`–`max_keywords` short queries per scenario (it also sees
the knowledge point's term and subject, so that an ambiguous scenario is searched in the
right sense); repeats (case and spacing ignored) are kept once. Keyword ids are
`<scenario id>:k<i>`; `youtube_search` runs one search per keyword.
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
from videokr.records import Scenario, SearchKeyword
from videokr.steps.knowledge_points import STEP as KNOWLEDGE_POINTS
from videokr.steps.scenarios import STEP as SCENARIOS
from videokr.steps.scenarios import distinct, one_line

STEP = "search_keywords"
# Search queries per scenario (the paper says "search keywords", not how many)
DEFAULT_MIN_KEYWORDS = 1
DEFAULT_MAX_KEYWORDS = 3
MAX_KEYWORD_WORDS = 8  # what people type into a search box
MAX_KEYWORD_CHARS = 100


class ScenarioItem(BaseModel):
    """A live scenario with what the prompt also shows of its knowledge point."""

    scenario: Scenario
    term: str
    subject: str


class SearchKeywordsConfig(PromptConfig):
    PLACEHOLDERS: ClassVar[frozenset[str]] = frozenset({
        "subject", "term", "scenario", "min_keywords", "max_keywords", "max_keyword_words"})

    min_keywords: int = Field(default=DEFAULT_MIN_KEYWORDS, ge=1, description="search queries per scenario, at least")
    max_keywords: int = Field(default=DEFAULT_MAX_KEYWORDS, ge=1, description="search queries per scenario, at most")
    max_keyword_words: int = Field(default=MAX_KEYWORD_WORDS, ge=1, description="words per query, at most")

    @model_validator(mode="after")
    def _range(self) -> "SearchKeywordsConfig":
        if self.min_keywords > self.max_keywords:
            raise ValueError(f"min_keywords ({self.min_keywords}) is above max_keywords ({self.max_keywords})")
        return self


@lru_cache(maxsize=16)
def reply_schema(min_keywords: int, max_keywords: int, max_words: int) -> type[BaseModel]:
    def query(value: str) -> str:
        value = one_line(value)
        if not value:
            raise ValueError("a search query is empty")
        if len(value.split()) > max_words or len(value) > MAX_KEYWORD_CHARS:
            raise ValueError(f"the query {value[:60]!r} is too long: at most {max_words} words, as typed into YouTube")
        return value

    return create_model(
        "SearchKeywords",
        keywords=(list[Annotated[str, AfterValidator(query)]], Field(min_length=min_keywords, max_length=max_keywords)),
    )


@register
class SearchKeywordsStep(PromptedStep[ScenarioItem]):
    name = STEP
    version = "1"
    Config = SearchKeywordsConfig
    after = (SCENARIOS,)
    reads = "scenario"
    writes = ("search_keyword",)

    def inputs(self, store: Any) -> Iterator[ScenarioItem]:
        points = {p.id: p for p in store.live_outputs(KNOWLEDGE_POINTS, "knowledge_point")}
        for scenario in store.live_outputs(self.after, "scenario"):
            point = points.get(scenario.knowledge_point_id)
            if point is not None:  # else its point went away: `scenarios` retires it on its next run
                yield ScenarioItem(scenario=scenario, term=point.term, subject=point.subject)

    def item_id(self, item: ScenarioItem) -> str:
        return item.scenario.id

    def item_fingerprint(self, item: ScenarioItem) -> str:
        return digest_json({"id": item.scenario.id, "kp": item.scenario.knowledge_point_id, "text": item.scenario.text,
                            "term": item.term, "subject": item.subject, "model": self.draw_model(item.scenario.id)})

    @cached_property
    def schema(self) -> type[BaseModel]:
        c = self.config
        assert isinstance(c, SearchKeywordsConfig)
        return reply_schema(c.min_keywords, c.max_keywords, c.max_keyword_words)

    def values(self, item: ScenarioItem) -> dict[str, Any]:
        c = self.config
        assert isinstance(c, SearchKeywordsConfig)
        return {"subject": item.subject, "term": item.term, "scenario": item.scenario.text,
                "min_keywords": c.min_keywords, "max_keywords": c.max_keywords,
                "max_keyword_words": c.max_keyword_words}

    async def ask(self, item: ScenarioItem, gateway: Gateway) -> Result:
        scenario = item.scenario
        model = self.draw_model(scenario.id)
        reply = await self.ask_json(gateway, model, self.values(item), self.schema)
        queries = distinct(reply.keywords)  # type: ignore[attr-defined]
        return Result.accept(*(SearchKeyword(id=f"{scenario.id}:k{i}", scenario_id=scenario.id,
                                             knowledge_point_id=scenario.knowledge_point_id, text=text, model=model)
                               for i, text in enumerate(queries, 1)), detail={"model": model})
