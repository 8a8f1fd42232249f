"""Small steps the runner tests drive: importable by worker processes and Ray workers."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable, Sequence

from pydantic import Field

from videokr.errors import Transient, Verdict
from videokr.pipeline.step import Resources, Result, Step, StepConfig
from videokr.records import Scenario, SearchKeyword
from videokr.store import Store


class WordsConfig(StepConfig):
    RUN_ONLY = StepConfig.RUN_ONLY | {"crash_on"}  # fault injection: not what the step computes

    suffix: str = "!"
    reject: list[str] = Field(default_factory=list)
    crash_on: str | None = None  # an item that kills its worker process
    fail_once_marker: str | None = None  # a file: fail transiently while it exists


class Words(Step[Scenario]):
    """Each scenario's words become keywords; `reject` words are verdicts."""

    name = "words"
    Config = WordsConfig
    after = ("seed",)
    reads = "scenario"
    writes = ("search_keyword",)
    resources = Resources(kind="video")

    def process(self, item: Scenario) -> Result:
        config = self.config
        assert isinstance(config, WordsConfig)
        if config.crash_on and item.text == config.crash_on:
            os._exit(9)  # the worker dies mid-item
        if config.fail_once_marker and os.path.exists(config.fail_once_marker):
            raise Transient("the service is down")
        if item.text in config.reject:
            raise Verdict(f"{item.text!r} is not allowed", code="not_allowed")
        return Result.accept(*(
            SearchKeyword(id=f"{item.id}-{i}", scenario_id=item.id, knowledge_point_id=item.knowledge_point_id,
                          text=word + config.suffix)
            for i, word in enumerate(item.text.split())
        ))


class AsyncWords(Words):
    name = "async_words"

    async def aprocess(self, item: Scenario) -> Result:
        await asyncio.sleep(0.001 * (hash(item.id) % 5))
        return self.process(item)


class Count(Step[SearchKeyword]):
    """A global step: every keyword learns how many keywords there are."""

    name = "count"
    after = ("words",)
    reads = "search_keyword"
    writes = ("search_keyword",)
    scope = "global"

    def process_all(self, items: Sequence[SearchKeyword]) -> Iterable[tuple[SearchKeyword, Result]]:
        for item in items:
            yield item, Result.accept(SearchKeyword(id=f"n-{item.id}", scenario_id=item.scenario_id,
                                                    knowledge_point_id=item.knowledge_point_id,
                                                    text=f"{item.text} of {len(items)}"))


def seed_scenarios(store: Store, texts: dict[str, str]) -> None:
    """Scenarios as if a `seed` step had produced them (one item each)."""
    from videokr.records import Outcome
    from videokr.store import ItemOutcome

    store.commit_outcomes("seed", "1", [
        ItemOutcome(sid, text, Outcome.ACCEPTED, (Scenario(id=sid, knowledge_point_id="kp", text=text),))
        for sid, text in texts.items()
    ])
    gone = {i for i, _ in store.execute("SELECT item_id, 1 FROM ledger WHERE step='seed'")} - set(texts)
    store.retire("seed", sorted(gone))
