"""A model step end to end: structured output, ledger outcomes, quarantine, dry run, exactly-once."""

from __future__ import annotations

import asyncio
import json

from pydantic import BaseModel

from tests.models.conftest import fast_model, user
from videokr.models.gateway import Gateway
from videokr.models.step import ModelStep, run_model_step
from videokr.models.structured import DEFAULT_MAX_INVALID, DEFAULT_MAX_REPAIRS, ask_structured
from videokr.testing import TestServer
from videokr.pipeline.step import Result
from videokr.records import Outcome, SearchKeyword
from videokr.store import Store


class Keywords(BaseModel):
    keywords: list[str]


class KeywordStep(ModelStep[str]):
    name = "search_keywords"
    version = "1"

    def item_id(self, item: str) -> str:
        return item

    def item_fingerprint(self, item: str) -> str:
        return item

    async def ask(self, item: str, gateway: Gateway) -> Result:
        answer = await ask_structured(gateway, "m", user(f"keywords for {item}"), Keywords, step=self.name,
                                      step_version=self.version)
        if not answer.ok:
            return Result.quarantine(answer.error or "failed", detail=answer.quarantine_detail())
        if not answer.value.keywords:
            return Result.reject("no keywords")
        return Result.accept(*(SearchKeyword(id=f"{item}-{i}", scenario_id=item, knowledge_point_id=item, text=k)
                               for i, k in enumerate(answer.value.keywords)))


def responder(body: dict, fp: str) -> str:
    text = body["messages"][0]["content"]
    if "bad" in text:
        return "no json here"
    if "empty" in text:
        return json.dumps({"keywords": []})
    return json.dumps({"keywords": [text[-4:], "video"]})


def run(store: Store, server: TestServer, items: list[str], *, dry_run: bool = False) -> tuple:
    async def go() -> tuple:
        async with Gateway({"m": fast_model(server)}, store, dry_run=dry_run) as gateway:
            report = await run_model_step(store, KeywordStep(), items, gateway, batch_size=7)
            return report, gateway.meter

    return asyncio.run(go())


def test_every_item_ends_accepted_rejected_or_quarantined(store: Store) -> None:
    items = [f"s{i:03d}" for i in range(20)] + ["bad-1", "empty-1"]
    with TestServer(responder=responder) as server:
        dry, meter = run(store, server, items, dry_run=True)
        assert server.stats.total_received == 0 and dry.counts["dry_run"] == 22 and meter.tokens_in > 0
        assert store.ledger_summary() == {}
        report, _ = run(store, server, items)
        assert report.counts == {"accepted": 20, "rejected": 1, "quarantined": 1}
        sent = server.stats.total_received
        assert sent == 22 + 2  # the bad item was repaired twice before quarantine
        entry = store.ledger_get("search_keywords", "bad-1")
        assert entry.outcome is Outcome.QUARANTINED and entry.detail["raw_reply"] == "no json here"
        assert "invalid structured output (1 of 3" in entry.reason
        assert store.count("search_keyword") == 40
        again, _ = run(store, server, items)  # accepted/rejected skipped; the quarantined item is asked again
        assert again.skipped == 21 and server.stats.total_received == sent + 3
        assert again.counts["quarantined"] == 1


def test_an_invalid_reply_quarantines_then_the_next_run_accepts(store: Store) -> None:
    """Regression: the rerun replayed the cached invalid replies, so the item stayed quarantined forever."""
    sent = {"n": 0}

    def first_replies_invalid(body: dict, fp: str) -> str:
        sent["n"] += 1
        return "{malformed" if sent["n"] <= 1 + DEFAULT_MAX_REPAIRS else responder(body, fp)

    with TestServer(responder=first_replies_invalid) as server:
        first, _ = run(store, server, ["s001"])
        assert first.counts["quarantined"] == 1
        assert server.stats.total_received == 1 + DEFAULT_MAX_REPAIRS
        second, _ = run(store, server, ["s001"])
        assert second.counts["accepted"] == 1 and store.count("search_keyword") == 2
        assert server.stats.total_received == 2 + DEFAULT_MAX_REPAIRS
        third, _ = run(store, server, ["s001"])
        assert third.skipped == 1 and server.stats.total_received == 2 + DEFAULT_MAX_REPAIRS
    assert store.ledger_get("search_keywords", "s001").outcome is Outcome.ACCEPTED


def test_always_invalid_output_is_rejected_as_a_verdict_after_max_invalid_runs(store: Store) -> None:
    with TestServer(responder=responder) as server:
        for n in range(1, DEFAULT_MAX_INVALID):
            report, _ = run(store, server, ["bad-1"])
            assert report.counts["quarantined"] == 1
            assert server.stats.total_received == n * (1 + DEFAULT_MAX_REPAIRS)
        report, _ = run(store, server, ["bad-1"])
        assert report.counts["rejected"] == 1
        entry = store.ledger_get("search_keywords", "bad-1")
        assert entry.outcome is Outcome.REJECTED
        assert entry.reason.startswith(f"m returned invalid structured output {DEFAULT_MAX_INVALID} times: ")
        assert entry.detail["raw_reply"] == "no json here"
        sent = server.stats.total_received
        assert sent == DEFAULT_MAX_INVALID * (1 + DEFAULT_MAX_REPAIRS)
        after, _ = run(store, server, ["bad-1"])  # a verdict is final: not asked again
        assert after.skipped == 1 and server.stats.total_received == sent


def test_a_refused_request_rejects_and_a_server_failure_quarantines(store: Store) -> None:
    with TestServer(responder=responder) as server:
        server.queue_faults(["400"])
        refused, _ = run(store, server, ["s001"])
        assert refused.counts["rejected"] == 1
        assert "refused the request" in store.ledger_get("search_keywords", "s001").reason
        server.queue_faults(["500"] * 8)
        failed, _ = run(store, server, ["s002"])
        assert failed.counts["quarantined"] == 1
        retried, _ = run(store, server, ["s002"])
        assert retried.counts["accepted"] == 1
