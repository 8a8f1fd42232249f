from __future__ import annotations

import asyncio
import json

import pytest
from pydantic import BaseModel, Field

from tests.models.conftest import fast_model, user
from videokr.models.gateway import Gateway
from videokr.errors import Transient, Verdict
from videokr.models.structured import (
    DEFAULT_MAX_INVALID,
    DEFAULT_MAX_REPAIRS,
    InvalidStructuredOutput,
    StructuredOutputVerdict,
    ask_structured,
    parse_reply,
)
from videokr.testing import TestServer
from videokr.store import Store


class Keywords(BaseModel):
    keywords: list[str] = Field(min_length=1)


def good(body: dict, fp: str) -> str:
    return json.dumps({"keywords": ["entropy", "heat engine"]})


async def structured(server: TestServer, store: Store, text: str = "topic") -> object:
    async with Gateway({"m": fast_model(server)}, store) as gateway:
        return await ask_structured(gateway, "m", user(text), Keywords, step="keywords", step_version="1")


def test_default_repairs() -> None:
    assert DEFAULT_MAX_REPAIRS == 2


def test_valid_reply_is_parsed_and_the_schema_is_sent(store: Store) -> None:
    seen: list[dict] = []

    def responder(body: dict, fp: str) -> str:
        seen.append(body)
        return "```json\n" + good(body, fp) + "\n```"

    with TestServer(responder=responder) as server:
        result = asyncio.run(structured(server, store))
    assert result.ok and result.value.keywords == ["entropy", "heat engine"] and result.requests == 1
    assert seen[0]["response_format"]["type"] == "json_schema"
    assert seen[0]["response_format"]["json_schema"]["schema"]["required"] == ["keywords"]


def test_an_invalid_reply_is_repaired(store: Store) -> None:
    def responder(body: dict, fp: str) -> str:
        return good(body, fp) if len(body["messages"]) > 1 else '{"keywords": []}'

    with TestServer(responder=responder) as server:
        result = asyncio.run(structured(server, store))
        assert result.ok and result.requests == 2
        repair = server.stats.total_received
        assert repair == 2
        # a rerun replays the conversation from the cache
        again = asyncio.run(structured(server, store))
        assert again.ok and server.stats.total_received == 2


def test_quarantine_after_the_repairs_keeps_raw_reply_and_error(store: Store) -> None:
    with TestServer(responder=lambda body, fp: "I cannot do JSON today.") as server:
        with pytest.raises(InvalidStructuredOutput) as caught:
            asyncio.run(structured(server, store))
    assert isinstance(caught.value, Transient) and not isinstance(caught.value, Verdict)
    assert "invalid after 2 repairs" in str(caught.value) and "Invalid JSON" in str(caught.value)
    assert "(1 of 3 before the item is rejected)" in str(caught.value)
    detail = caught.value.detail
    assert detail["raw_reply"] == "I cannot do JSON today." and detail["requests"] == 1 + DEFAULT_MAX_REPAIRS
    assert detail["invalid_replies"] == 1 and detail["max_invalid"] == DEFAULT_MAX_INVALID == 3
    # every invalid reply stays in the cache for audits, marked so that no run replays it
    rows = store.execute("SELECT state, invalid, response FROM model_calls").fetchall()
    assert len(rows) == 3 and all(state == "failed" and invalid == 1 for state, invalid, _ in rows)
    assert all("I cannot do JSON today." in response for _, _, response in rows)


def test_an_invalid_reply_is_asked_again_by_the_next_run_not_replayed(store: Store) -> None:
    """Regression: the rerun used to replay the same cached invalid replies forever."""
    sent = {"n": 0}

    def responder(body: dict, fp: str) -> str:
        sent["n"] += 1
        return "not json" if sent["n"] <= 1 + DEFAULT_MAX_REPAIRS else good(body, fp)

    with TestServer(responder=responder) as server:
        with pytest.raises(InvalidStructuredOutput):
            asyncio.run(structured(server, store))
        assert server.stats.total_received == 1 + DEFAULT_MAX_REPAIRS
        result = asyncio.run(structured(server, store))
        assert result.ok and result.value.keywords == ["entropy", "heat engine"]
        assert server.stats.total_received == 2 + DEFAULT_MAX_REPAIRS
        again = asyncio.run(structured(server, store))  # the valid reply is stored: never sent again
        assert again.ok and again.reply.cached and server.stats.total_received == 2 + DEFAULT_MAX_REPAIRS
    (reasked,) = server.stats.repeats_after_answer  # the first request, asked once more; nothing else twice
    assert server.stats.received[reasked] == 2 and sum(server.stats.received.values()) == 2 + DEFAULT_MAX_REPAIRS


def test_always_invalid_is_a_verdict_after_max_invalid_runs(store: Store) -> None:
    with TestServer(responder=lambda body, fp: "{not json") as server:
        for run in (1, 2):
            with pytest.raises(InvalidStructuredOutput, match=f"{run} of 3"):
                asyncio.run(structured(server, store))
        with pytest.raises(StructuredOutputVerdict) as caught:
            asyncio.run(structured(server, store))
        assert server.stats.total_received == 3 * (1 + DEFAULT_MAX_REPAIRS)
    assert isinstance(caught.value, Verdict) and caught.value.code == "invalid_output"
    assert str(caught.value).startswith("m returned invalid structured output 3 times: (top): Invalid JSON")
    assert caught.value.detail["raw_reply"] == "{not json"


def test_max_invalid_is_a_parameter(store: Store) -> None:
    async def once() -> None:
        async with Gateway({"m": fast_model(server)}, store) as gateway:
            await ask_structured(gateway, "m", user("t"), Keywords, step="k", step_version="1", max_repairs=0,
                                 max_invalid=1)

    with TestServer(responder=lambda body, fp: "[]") as server:
        with pytest.raises(StructuredOutputVerdict, match="1 times"):
            asyncio.run(once())
        assert server.stats.total_received == 1


def test_a_refused_request_is_a_verdict_and_a_server_error_is_transient(server: TestServer, store: Store) -> None:
    server.responder = good
    server.queue_faults(["400"])
    with pytest.raises(Verdict, match="m refused the request: HTTP 400: Invalid request: content policy"):
        asyncio.run(structured(server, store, "one"))
    server.queue_faults(["500"] * 8)
    with pytest.raises(Transient, match="gave up after 8 attempts") as caught:
        asyncio.run(structured(server, store, "two"))
    assert not isinstance(caught.value, Verdict)
    result = asyncio.run(structured(server, store, "two"))  # the next run asks again
    assert result.ok


def test_schema_violation_fault_is_repaired(server: TestServer, store: Store) -> None:
    server.responder = good
    server.queue_faults(["schema_violation"])
    result = asyncio.run(structured(server, store))
    assert result.ok and result.requests == 2


def test_parse_reply_errors() -> None:
    with pytest.raises(ValueError, match="empty"):
        parse_reply("  ", Keywords)
    assert parse_reply('{"keywords": ["a"]}', Keywords).keywords == ["a"]
