from __future__ import annotations

import asyncio
import json
from pathlib import Path

from tests.models.conftest import fast_model
from tests.models.test_runner import read_out, write_requests
from videokr.models.batch import BatchRunner
from videokr.models.gateway import Gateway
from videokr.models.runner import read_requests, run_batch_lines
from videokr.testing import TestServer
from videokr.store import Store


def test_batch_results_land_in_the_same_cache_as_direct_calls(tmp_path: Path) -> None:
    lines = read_requests(write_requests(tmp_path / "in.jsonl", 12))
    store = Store(tmp_path / "c.sqlite")
    with TestServer(batch_polls_until_done=3) as server:
        model = fast_model(server)
        model.price.input_per_mtok, model.price.output_per_mtok = 1.0, 1.0
        runner = BatchRunner("m", model, store)
        # answer two requests directly first: they must not be uploaded
        async def direct() -> None:
            async with Gateway({"m": model}, store) as gateway:
                await run_batch_lines(lines[:2], gateway, "m", tmp_path / "direct.jsonl")

        asyncio.run(direct())
        first = asyncio.run(runner.run(lines, tmp_path / "out.jsonl", poll_s=0.01, max_wait_s=0))
        assert first.out is None and first.status in ("validating", "in_progress")  # "crash": stop waiting
        resumed = asyncio.run(BatchRunner("m", model, store).run(lines, tmp_path / "out.jsonl", poll_s=0.01))
        assert resumed.status == "completed" and resumed.answered == 12 and resumed.errors == 0
        uploads = [f for f in server.files.values() if f["purpose"] == "batch"]
        assert len(uploads) == 1 and len(server.batches) == 1  # resumed, not resubmitted
        uploaded = server.file_contents[uploads[0]["id"]].decode().splitlines()
        assert len(uploaded) == 10
        assert sum(server.batch_lines_answered.values()) == 10
        direct_before = server.stats.total_received
        # a direct run over the same requests finds everything in the cache
        async def again() -> None:
            async with Gateway({"m": model}, store) as gateway:
                await run_batch_lines(lines, gateway, "m", tmp_path / "direct2.jsonl")

        asyncio.run(again())
        assert server.stats.total_received == direct_before
    assert (tmp_path / "out.jsonl").read_bytes() == (tmp_path / "direct2.jsonl").read_bytes()
    via = dict(store.execute("SELECT via, sum(cost_usd) / count(*) FROM model_calls GROUP BY via").fetchall())
    assert set(via) == {"direct", "batch"}
    rows = read_out(tmp_path / "out.jsonl")
    assert all(r["response"]["status_code"] == 200 for r in rows)
    batch_costs = store.execute("SELECT tokens_in, tokens_out, cost_usd FROM model_calls WHERE via='batch'").fetchall()
    assert all(abs(cost - (tin + tout) / 1e6 * 0.5) < 1e-12 for tin, tout, cost in batch_costs)


def test_batch_line_errors_are_reported(tmp_path: Path) -> None:
    requests = write_requests(tmp_path / "in.jsonl", 2, extra=[
        {"custom_id": "bad", "method": "GET", "url": "/v1/chat/completions", "body": {"messages": []}}])
    with TestServer() as server:
        runner = BatchRunner("m", fast_model(server), Store(tmp_path / "c.sqlite"))
        result = asyncio.run(runner.run(read_requests(requests), tmp_path / "out.jsonl", poll_s=0.01))
    rows = read_out(tmp_path / "out.jsonl")
    assert result.answered == 2 and result.errors == 1
    assert rows[2]["error"]["code"] == "invalid_request" and "GET" in rows[2]["error"]["message"]
    json.dumps(rows)
