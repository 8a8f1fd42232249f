"""The test server itself: each fault is what it claims to be, seen through the real openai client."""

from __future__ import annotations

import asyncio
import json

import httpx2
import openai
import pytest

from videokr.testing import FaultRates, TestServer, body_fingerprint


def _client(server: TestServer, timeout: float = 0.5) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=server.base_url, api_key="k", max_retries=0, timeout=timeout)


BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


async def _post(server: TestServer, body: dict = BODY) -> httpx2.Response:
    client = _client(server)
    try:
        return await client.post("/chat/completions", cast_to=httpx2.Response, body=body)
    finally:
        await client.close()


def test_answers_a_chat_completion_deterministically(server: TestServer) -> None:
    first = asyncio.run(_post(server)).json()
    second = asyncio.run(_post(server)).json()
    assert first == second
    assert first["choices"][0]["message"]["content"].startswith("reply ")
    assert first["usage"]["prompt_tokens"] >= 1
    fp = body_fingerprint(BODY)
    assert server.stats.received[fp] == 2 and server.stats.answered[fp] == 2
    assert server.stats.repeats_after_answer == [fp]


def test_429_carries_retry_after(server: TestServer) -> None:
    server.retry_after_s = 1.5
    server.queue_faults(["429"])
    with pytest.raises(openai.RateLimitError) as caught:
        asyncio.run(_post(server))
    assert caught.value.response.headers["retry-after"] == "1.5"


@pytest.mark.parametrize(
    ("fault", "error"),
    [("500", openai.InternalServerError), ("timeout", openai.APITimeoutError),
     ("truncated", openai.APIConnectionError), ("disconnect", openai.APIConnectionError)],
)
def test_faults_surface_as_client_errors(server: TestServer, fault: str, error: type[Exception]) -> None:
    server.timeout_delay_s = 1.0
    server.queue_faults([fault])
    with pytest.raises(error):
        asyncio.run(_post(server))
    assert server.stats.faults[fault] == 1
    assert not server.stats.answered  # a fault is never counted as an answer


def test_malformed_and_schema_violation(server: TestServer) -> None:
    server.queue_faults(["malformed", "schema_violation"])
    malformed = asyncio.run(_post(server))
    with pytest.raises(json.JSONDecodeError):
        json.loads(malformed.text)
    violating = asyncio.run(_post(server)).json()
    assert "not in the format" in violating["choices"][0]["message"]["content"]
    assert sum(server.stats.answered.values()) == 1  # the schema violation is a complete reply


def test_random_fault_rates_are_roughly_honoured() -> None:
    with TestServer(rates=FaultRates(p429=0.3, p500=0.2), seed=1) as server:

        async def many() -> None:
            client = _client(server)
            for i in range(300):
                try:
                    await client.post("/chat/completions", cast_to=httpx2.Response,
                                      body={"model": "m", "messages": [{"role": "user", "content": str(i)}]})
                except openai.APIStatusError:
                    pass
            await client.close()

        asyncio.run(many())
    faults = server.stats.faults
    assert 60 <= faults["429"] <= 120 and 35 <= faults["500"] <= 90
    assert server.stats.total_received == 300


def test_script_decides_per_request(server: TestServer) -> None:
    server.script = lambda body, fp, attempt: "500" if attempt == 0 else None
    with pytest.raises(openai.InternalServerError):
        asyncio.run(_post(server))
    assert asyncio.run(_post(server)).status_code == 200


def test_api_key_is_checked_when_configured() -> None:
    with TestServer(api_key="sk-right") as server:
        with pytest.raises(openai.AuthenticationError):
            asyncio.run(_post(server))
    assert server.stats.auth_failures == 1


def test_files_and_batches_endpoints(server: TestServer) -> None:
    lines = [{"custom_id": f"c{i}", "method": "POST", "url": "/v1/chat/completions",
              "body": {"model": "m", "messages": [{"role": "user", "content": f"q{i}"}]}} for i in range(3)]
    data = "".join(json.dumps(line) + "\n" for line in lines).encode()

    async def go() -> tuple[object, bytes]:
        client = _client(server, timeout=5)
        uploaded = await client.files.create(file=("in.jsonl", data), purpose="batch")
        batch = await client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions",
                                            completion_window="24h")
        batch = await client.batches.retrieve(batch.id)
        content = await client.files.content(batch.output_file_id)
        await client.close()
        return batch, content.read()

    batch, output = asyncio.run(go())
    assert batch.status == "completed" and batch.request_counts.completed == 3
    rows = [json.loads(line) for line in output.decode().splitlines()]
    assert [r["custom_id"] for r in rows] == ["c0", "c1", "c2"]
    assert all(r["response"]["status_code"] == 200 for r in rows)
