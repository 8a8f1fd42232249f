from __future__ import annotations

import asyncio
import json

from pydantic import BaseModel, Field

from tests.models.conftest import fast_model, user
from videokr.models.gateway import Gateway
from videokr.models.structured import DEFAULT_MAX_REPAIRS, ask_structured, parse_reply
from videokr.models.testserver import TestServer
from videokr.pipeline.step import Result
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
        result = asyncio.run(structured(server, store))
    assert not result.ok and result.requests == 1 + DEFAULT_MAX_REPAIRS
    assert "invalid after 2 repairs" in result.error and "Invalid JSON" in result.error
    detail = result.quarantine_detail()
    assert detail["raw_reply"] == "I cannot do JSON today."
    quarantined = Result.quarantine(result.error, detail=detail)
    assert quarantined.outcome.value == "quarantined"


def test_schema_violation_fault_is_repaired(server: TestServer, store: Store) -> None:
    server.responder = good
    server.queue_faults(["schema_violation"])
    result = asyncio.run(structured(server, store))
    assert result.ok and result.requests == 2


def test_parse_reply_errors() -> None:
    import pytest

    with pytest.raises(ValueError, match="empty"):
        parse_reply("  ", Keywords)
    assert parse_reply('{"keywords": ["a"]}', Keywords).keywords == ["a"]
