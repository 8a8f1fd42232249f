"""The generic runner and its CLI: Batch format in and out, faults, kill -9, secrets."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.models.conftest import fast_model
from videokr.cli.main import app
from videokr.models.gateway import Gateway
from videokr.models.runner import RequestFileError, read_requests, run_batch_lines
from videokr.testing import FaultRates, TestServer, body_fingerprint
from videokr.store import Store


def write_requests(path: Path, n: int, *, extra: list[dict] | None = None) -> Path:
    with path.open("w") as handle:
        for i in range(n):
            handle.write(json.dumps({"custom_id": f"req-{i}", "method": "POST", "url": "/v1/chat/completions",
                                     "body": {"model": "gpt-x", "messages": [{"role": "user", "content": f"q {i}"}],
                                              "max_tokens": 16}}) + "\n")
        for line in extra or []:
            handle.write(json.dumps(line) + "\n")
    return path


def read_out(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_bad_request_files_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text('{"custom_id": "a", "body": {}}\n\n{"custom_id": "a", "body": {}}\n')
    with pytest.raises(RequestFileError, match=r"r.jsonl:3: custom_id 'a' already used on line 1"):
        read_requests(path)
    path.write_text('{"custom_id": "a"\n')
    with pytest.raises(RequestFileError, match=r"r.jsonl:1: not valid JSON"):
        read_requests(path)
    path.write_text('{"body": {}}\n')
    with pytest.raises(RequestFileError, match=r"r.jsonl:1: missing or empty 'custom_id'"):
        read_requests(path)


def test_every_custom_id_gets_one_line_errors_included(server: TestServer, tmp_path: Path) -> None:
    bad = [{"custom_id": "wrong-url", "method": "POST", "url": "/v1/embeddings", "body": {"input": "x"}},
           {"custom_id": "refused", "method": "POST", "url": "/v1/chat/completions",
            "body": {"messages": [{"role": "user", "content": "refuse me"}]}}]
    server.script = lambda body, fp, attempt: "400" if body["messages"][0]["content"] == "refuse me" else None
    requests = write_requests(tmp_path / "in.jsonl", 20, extra=bad)
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(app, ["llm", "run", str(requests), "--model", "m", "--out", str(out),
                                      "--base-url", server.base_url, "--store", str(tmp_path / "c.sqlite")])
    assert result.exit_code == 1, result.output  # two requests failed: the output is written, the exit says so
    assert "2 of 22 requests failed" in " ".join(result.output.split())
    rows = read_out(out)
    assert [r["custom_id"] for r in rows] == [f"req-{i}" for i in range(20)] + ["wrong-url", "refused"]
    assert all(r["response"]["status_code"] == 200 and r["error"] is None for r in rows[:20])
    assert rows[20]["error"]["code"] == "invalid_request" and "/v1/embeddings" in rows[20]["error"]["message"]
    assert rows[21]["error"]["code"] == "http_400" and rows[21]["response"]["status_code"] == 400
    assert rows[0]["response"]["body"]["object"] == "chat.completion"
    assert rows[0]["id"].startswith("batch_req_")


def test_2000_requests_through_faults_all_answered_none_resent_after_answer(tmp_path: Path) -> None:
    """Done-when: 10% 429, 5% 500, 2% timeouts, 5% malformed; 2,000 requests."""
    rates = FaultRates(p429=0.10, p500=0.05, ptimeout=0.02, pmalformed=0.05)
    requests = read_requests(write_requests(tmp_path / "in.jsonl", 2000))
    out = tmp_path / "out.jsonl"
    with TestServer(rates=rates, seed=7, timeout_delay_s=0.6, retry_after_s=0.05) as server:
        model = fast_model(server, concurrency=64, timeout_s=0.3, max_attempts=12)

        async def go() -> object:
            async with Gateway({"m": model}, Store(tmp_path / "c.sqlite")) as gateway:
                return await run_batch_lines(requests, gateway, "m", out)

        summary = asyncio.run(go())
    rows = read_out(out)
    assert len(rows) == 2000 and len({r["custom_id"] for r in rows}) == 2000
    answered = [r for r in rows if r["error"] is None and r["response"]["status_code"] == 200]
    reported = [r for r in rows if r["error"] is not None]
    assert len(answered) + len(reported) == 2000
    assert summary.ok == len(answered) >= 1995
    assert server.stats.repeats_after_answer == []
    assert max(server.stats.answered.values()) == 1
    for kind in ("429", "500", "timeout", "malformed"):
        assert server.stats.faults[kind] > 0


def _cli(*args: str, env: dict | None = None) -> list[str]:
    return [sys.executable, "-m", "videokr.cli.main", *args]


def test_kill_9_at_random_points_then_rerun_gives_the_uninterrupted_output(tmp_path: Path) -> None:
    n, concurrency, kills = 400, 8, 3
    requests = write_requests(tmp_path / "in.jsonl", n)
    common = ["--model", "m", "--concurrency", str(concurrency), "--max-attempts", "30", "--backoff-base", "0.01",
              "--timeout", "5"]
    rates = FaultRates(p429=0.1, p500=0.05)
    env = {**os.environ, "COLUMNS": "120"}

    with TestServer(rates=rates, seed=1, latency_s=0.02) as reference_server:
        ref_out = tmp_path / "ref.jsonl"
        subprocess.run(_cli("llm", "run", str(requests), "--out", str(ref_out), "--base-url",
                            reference_server.base_url, "--store", str(tmp_path / "ref.sqlite"), *common),
                       check=True, env=env, capture_output=True)

    out = tmp_path / "out.jsonl"
    store_path = tmp_path / "killed.sqlite"
    rng = random.Random(4)
    in_flight_sets: list[set[str]] = []
    with TestServer(rates=rates, seed=2, latency_s=0.02) as server:
        args = _cli("llm", "run", str(requests), "--out", str(out), "--base-url", server.base_url,
                    "--store", str(store_path), *common)
        for _ in range(kills):
            answered_before = set(server.stats.answered)
            start = server.stats.total_received
            target = start + rng.randint(20, 90)
            process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 60
            while server.stats.total_received < target and process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.002)
            assert process.poll() is None, "the run finished before the kill; make it longer"
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
            time.sleep(0.2)  # let the server finish writing what it was writing
            answered = set(server.stats.answered)
            unstored = answered - stored_server_fingerprints(store_path)
            in_flight_sets.append(unstored)  # may still hold an earlier kill's, not re-sent by this run yet
            # first answered during this run but not stored: in flight at this kill
            assert len(unstored - answered_before) <= concurrency
        subprocess.run(args, check=True, env=env, capture_output=True)

    assert out.read_bytes() == ref_out.read_bytes()
    allowed = set().union(*in_flight_sets)
    repeats = server.stats.repeats_after_answer
    assert set(repeats) <= allowed
    # each request in flight at a kill may be sent again (more than once if that resend meets a fault)
    assert len(set(repeats)) <= concurrency * kills
    assert len(server.stats.answered) == n


def stored_server_fingerprints(store_path: Path) -> set[str]:
    """The server's fingerprints (of the request body as sent) of every stored reply."""
    rows = Store(store_path).execute("SELECT request FROM model_calls WHERE state='done'")
    return {body_fingerprint(json.loads(request)) for (request,) in rows}


def test_api_key_never_reaches_store_output_or_messages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capfd: pytest.CaptureFixture) -> None:
    right, wrong = "sk-test-RIGHT-0123456789", "sk-test-WRONG-9876543210"
    monkeypatch.setenv("VIDEOKR_RIGHT_KEY", right)
    monkeypatch.setenv("VIDEOKR_WRONG_KEY", wrong)
    requests = write_requests(tmp_path / "in.jsonl", 30)
    store = tmp_path / "c.sqlite"
    with TestServer(api_key=right, rates=FaultRates(p500=0.2, p429=0.1)) as server:
        server.script = lambda body, fp, attempt: "400" if body["messages"][0]["content"] == "q 3" else None
        runner = CliRunner()
        ok = runner.invoke(app, ["llm", "run", str(requests), "--model", "m", "--out", str(tmp_path / "a.jsonl"),
                                 "--base-url", server.base_url, "--api-key-env", "VIDEOKR_RIGHT_KEY",
                                 "--store", str(store), "--backoff-base", "0.01"])
        bad = runner.invoke(app, ["llm", "run", str(requests), "--model", "m2", "--out", str(tmp_path / "b.jsonl"),
                                  "--base-url", server.base_url, "--api-key-env", "VIDEOKR_WRONG_KEY",
                                  "--store", str(store)])
    assert ok.exit_code == 1 and bad.exit_code == 1  # 'q 3' was refused; every request of `bad` failed
    assert server.stats.auth_failures == 30
    b_rows = read_out(tmp_path / "b.jsonl")
    assert all(r["error"]["code"] == "http_401" for r in b_rows)
    assert "***" in b_rows[0]["error"]["message"]
    Store(store).execute("PRAGMA wal_checkpoint(FULL)")
    captured = capfd.readouterr()
    texts = [ok.output, bad.output, captured.out, captured.err]
    blobs = [p.read_bytes() for p in tmp_path.iterdir() if p.is_file()]
    for secret in (right, wrong):
        assert all(secret not in text for text in texts)
        assert all(secret.encode() not in blob for blob in blobs)


def test_cost_batch_and_dry_run_through_the_cli(tmp_path: Path) -> None:
    requests = write_requests(tmp_path / "in.jsonl", 6)
    store = str(tmp_path / "c.sqlite")
    runner = CliRunner()
    env = {"COLUMNS": "200"}
    with TestServer() as server:
        dry = runner.invoke(app, ["llm", "run", str(requests), "--model", "m", "--out", str(tmp_path / "d.jsonl"),
                                  "--base-url", server.base_url, "--store", store, "--dry-run"], env=env)
        assert dry.exit_code == 0 and "6 requests would be sent" in dry.output
        assert server.stats.total_received == 0
        assert all(r["error"]["code"] == "dry_run" for r in read_out(tmp_path / "d.jsonl"))
        batch = runner.invoke(app, ["llm", "batch", str(requests), "--model", "m", "--out", str(tmp_path / "b.jsonl"),
                                    "--base-url", server.base_url, "--store", store, "--poll", "0.01"], env=env)
        assert batch.exit_code == 0, batch.output
        assert "6 answered" in batch.output
        direct = runner.invoke(app, ["llm", "run", str(requests), "--model", "m", "--out", str(tmp_path / "r.jsonl"),
                                     "--base-url", server.base_url, "--store", store], env=env)
        assert "0 sent now, 6 from the cache" in direct.output
        assert server.stats.total_received == 0
    cost = runner.invoke(app, ["cost", "--store", store, "--by", "step,model,via"], env=env)
    assert cost.exit_code == 0 and "batch" in cost.output and "total" in cost.output
    assert (tmp_path / "b.jsonl").read_bytes() == (tmp_path / "r.jsonl").read_bytes()
