"""A model-bound step for recipe tests: search keywords per example, asked through the gateway."""

from __future__ import annotations

import json

from pydantic import BaseModel

from videokr.models.gateway import Gateway
from videokr.models.step import ModelStep
from videokr.models.structured import ask_structured
from videokr.pipeline.step import Result, StepConfig
from videokr.records import Example, SearchKeyword


class KeywordsConfig(StepConfig):
    model: str = "loop"
    prompt: str = "Search keywords for this question: {question}"


class Keywords(BaseModel):
    keywords: list[str]


class KeywordsStep(ModelStep[Example]):
    name = "keywords"
    Config = KeywordsConfig
    after = ("import",)
    reads = "example"
    writes = ("search_keyword",)

    async def ask(self, item: Example, gateway: Gateway) -> Result:
        config = self.config
        assert isinstance(config, KeywordsConfig)
        messages = [{"role": "user", "content": config.prompt.format(question=item.question)}]
        answer = await ask_structured(gateway, config.model, messages, Keywords, step=self.name,
                                      step_version=self.version)
        if not answer.ok:  # a dry run: nothing to keep
            return Result.quarantine("dry run")
        return Result.accept(*(SearchKeyword(id=f"{item.id}-{i}", scenario_id=item.id, knowledge_point_id=item.id,
                                             text=word) for i, word in enumerate(answer.value.keywords)))


def keywords_reply(body: dict, fingerprint: str) -> str:
    """The loopback server's answer: deterministic keywords from the question's last words."""
    text = body["messages"][-1]["content"]
    return json.dumps({"keywords": text.rstrip("?").split()[-3:]})


class StopAfterConfig(StepConfig):
    accept: int = 3  # items accepted before the step says no further item can succeed now


class StopAfterStep(ModelStep[Example]):
    """Accepts a few items, then stops the run as a spent quota would (`errors.Stop`)."""

    name = "stopper"
    Config = StopAfterConfig
    after = ("import",)
    reads = "example"
    writes = ("search_keyword",)

    async def ask(self, item: Example, gateway: Gateway) -> Result:
        from videokr.errors import Stop

        config = self.config
        assert isinstance(config, StopAfterConfig)
        self.done = getattr(self, "done", 0) + 1
        if self.done > config.accept:
            raise Stop("daily quota spent; it resets at 08:00 UTC")
        return Result.accept(SearchKeyword(id=f"{item.id}-k", scenario_id=item.id, knowledge_point_id=item.id,
                                           text=item.question[:20]))
