"""Keys never reach a terminal, an output file or the store; `llm run|batch` exit non-zero on failure.

The provider here is the loopback server on 127.0.0.1, which (like some providers) echoes the
key it was sent in its 401 body. The commands run as real processes, so stdout, stderr and
the exit status are what a shell would see.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.models.conftest import fast_model
from tests.models.test_runner import read_out, write_requests
from videokr.jsonlines import json_objects
from videokr.models.batch import BatchRunner
from videokr.models.config import ModelConfig
from videokr.models.runner import read_requests
from videokr.models.secrets import one_line, redact, remember
from videokr.testing import TestServer
from videokr.store import Store

RIGHT = "sk-test-RIGHT-0123456789abcdef"
WRONG = "sk-test-WRONG-9876543210fedcba"


def videokr(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "videokr.cli.main", *args], capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "200", **env}, timeout=120)


def assert_secret_nowhere(secret: str, texts: list[str], directory: Path) -> None:
    for text in texts:
        assert secret not in text
    for path in directory.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


# -- redact -------------------------------------------------------------------------------


def test_redact_removes_every_known_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIDEOKR_TEST_CONFIGURED_KEY", "configured-key-value-123")
    monkeypatch.setenv("YOUTUBE_API_KEY", "youtube-key-value-456")
    ModelConfig(base_url="http://127.0.0.1:1/v1", model="m", api_key_env="VIDEOKR_TEST_CONFIGURED_KEY")
    remember("handed-to-a-client-789")
    text = ("configured-key-value-123 youtube-key-value-456 handed-to-a-client-789 "
            "Authorization: Bearer abc.def-ghi_jkl0123 key sk-proj-AbCdEf0123456789xyz "
            "https://www.googleapis.com/youtube/v3/videos?id=x&key=AIzaSyA-0123456789abcdefghijklmnopqrstu&part=y")
    cleaned = redact(text)
    for secret in ("configured-key-value-123", "youtube-key-value-456", "handed-to-a-client-789", "abc.def-ghi_jkl0123",
                   "AbCdEf0123456789xyz", "AIzaSyA-0123456789abcdefghijklmnopqrstu"):
        assert secret not in cleaned
    assert "Bearer ***" in cleaned and "sk-***" in cleaned and "&key=***&part=y" in cleaned


def test_redact_leaves_ordinary_words_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIDEOKR_TEST_SHORT_KEY", "test")  # a local server's key: not a secret worth hiding
    ModelConfig(base_url="http://127.0.0.1:1/v1", model="m", api_key_env="VIDEOKR_TEST_SHORT_KEY")
    text = "task-manager-0123456789 failed the test of the bearer; HTTP 500: internal error"
    assert redact(text) == text
    assert redact(None) is None
    assert one_line("first\n  second\tthird") == "first second third"


# -- the commands --------------------------------------------------------------------------


def test_llm_batch_with_a_wrong_key_prints_one_line_and_exits_1(tmp_path: Path) -> None:
    requests = write_requests(tmp_path / "in.jsonl", 4)
    out, store = tmp_path / "out.jsonl", tmp_path / "c.sqlite"
    with TestServer(api_key=RIGHT) as server:
        done = videokr("llm", "batch", str(requests), "--model", "m", "--out", str(out), "--base-url",
                       server.base_url, "--api-key-env", "VIDEOKR_KEY", "--store", str(store), "--poll", "0.01",
                       env={"VIDEOKR_KEY": WRONG})
    assert server.stats.auth_failures >= 1  # the server did echo the key back
    assert done.returncode == 1
    assert "Traceback" not in done.stderr + done.stdout
    message = " ".join((done.stdout + done.stderr).split())
    assert "answered HTTP 401: Incorrect API key provided: ***" in message
    assert_secret_nowhere(WRONG, [done.stdout, done.stderr], tmp_path)


def test_llm_run_when_every_request_fails_exits_1_without_the_key(tmp_path: Path) -> None:
    requests = write_requests(tmp_path / "in.jsonl", 5)
    out, store = tmp_path / "out.jsonl", tmp_path / "c.sqlite"
    with TestServer(api_key=RIGHT) as server:
        done = videokr("llm", "run", str(requests), "--model", "m", "--out", str(out), "--base-url", server.base_url,
                       "--api-key-env", "VIDEOKR_KEY", "--store", str(store), env={"VIDEOKR_KEY": WRONG})
    assert server.stats.auth_failures == 5
    assert done.returncode == 1, done.stdout + done.stderr
    assert "every request failed" in " ".join((done.stdout + done.stderr).split())
    assert "Traceback" not in done.stderr + done.stdout
    rows = read_out(out)
    assert len(rows) == 5 and all(r["error"]["code"] == "http_401" for r in rows)
    assert all("***" in r["error"]["message"] for r in rows)
    Store(store).execute("PRAGMA wal_checkpoint(FULL)")
    failed = Store(store).execute("SELECT count(*) FROM model_calls WHERE state='failed'").fetchone()[0]
    assert failed == 5  # the failures are stored, with their error column redacted
    assert_secret_nowhere(WRONG, [done.stdout, done.stderr], tmp_path)


def test_llm_batch_exit_status_says_whether_everything_was_answered(tmp_path: Path) -> None:
    bad = [{"custom_id": "wrong-url", "method": "POST", "url": "/v1/embeddings", "body": {"input": "x"}}]
    requests = write_requests(tmp_path / "in.jsonl", 3, extra=bad)
    good = write_requests(tmp_path / "good.jsonl", 3)
    store = str(tmp_path / "c.sqlite")
    with TestServer(batch_polls_until_done=1000) as server:
        common = ["--model", "m", "--base-url", server.base_url, "--store", store, "--poll", "0.01"]
        pending = videokr("llm", "batch", str(good), "--out", str(tmp_path / "p.jsonl"), *common, "--max-wait", "0",
                          env={})
        assert pending.returncode == 75, pending.stdout + pending.stderr
        assert "rerun the same command to resume" in " ".join((pending.stdout + pending.stderr).split())
        server.batch_polls_until_done = 1
        resumed = videokr("llm", "batch", str(good), "--out", str(tmp_path / "p.jsonl"), *common, env={})
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        partial = videokr("llm", "batch", str(requests), "--out", str(tmp_path / "o.jsonl"), *common, env={})
    assert partial.returncode == 1, partial.stdout + partial.stderr
    assert "1 of 4 requests failed" in " ".join((partial.stdout + partial.stderr).split())
    rows = read_out(tmp_path / "o.jsonl")
    assert [r["error"] is None for r in rows] == [True, True, True, False]


def test_batch_replies_holding_line_separators_are_kept(tmp_path: Path) -> None:
    """A reply with U+2028 written unescaped by the provider is one line of the output file."""
    lines = read_requests(write_requests(tmp_path / "in.jsonl", 3))
    with TestServer(ascii_output=False, responder=lambda body, fp: f"one\u2028two\u2029three é {fp[:4]}") as server:
        result = asyncio.run(BatchRunner("m", fast_model(server), Store(tmp_path / "c.sqlite"))
                             .run(lines, tmp_path / "out.jsonl", poll_s=0.01))
    assert (result.answered, result.errors) == (3, 0)
    rows = [row for _, row, _ in json_objects(tmp_path / "out.jsonl")]  # lines end at \n only
    contents = [r["response"]["body"]["choices"][0]["message"]["content"] for r in rows]
    assert all(c.startswith("one\u2028two\u2029three é ") for c in contents)
