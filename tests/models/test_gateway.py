"""The gateway against real HTTP: stored before used, retried as it should be, never sent twice."""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
import time
from pathlib import Path

import pytest

from tests.models.conftest import fast_model, user
from videokr.models.cache import CallCache
from videokr.models.gateway import Gateway
from videokr.testing import TestServer
from videokr.store import Store


def run(coro):  # noqa: ANN001, ANN201
    return asyncio.run(coro)


async def ask(models: dict, store: Store | None, texts: list[str], *, step: str = "s", version: str = "1",
              **kwargs: object) -> list:
    async with Gateway(models, store, **kwargs) as gateway:
        return await asyncio.gather(*(gateway.chat("m", user(t), step=step, step_version=version) for t in texts))


def test_reply_is_stored_and_a_rerun_sends_nothing(server: TestServer, store: Store) -> None:
    models = {"m": fast_model(server)}
    first = run(ask(models, store, ["a", "b", "c"]))
    assert all(r.ok and not r.cached for r in first)
    assert server.stats.total_received == 3
    stored = CallCache(store).get(first[0].fingerprint)
    assert stored is not None and stored.state == "done" and stored.response == first[0].body
    again = run(ask(models, store, ["a", "b", "c"]))
    assert [r.body for r in again] == [r.body for r in first]
    assert all(r.cached for r in again)
    assert server.stats.total_received == 3


def test_each_transient_fault_is_retried_until_answered(server: TestServer, store: Store) -> None:
    server.timeout_delay_s = 1.0
    faults = ["429", "500", "timeout", "malformed", "truncated", "disconnect"]
    server.queue_faults(faults)
    (reply,) = run(ask({"m": fast_model(server, max_attempts=10)}, store, ["x"]))
    assert reply.ok and reply.content.startswith("reply ")
    assert server.stats.total_received == len(faults) + 1
    row = store.execute("SELECT attempts, sends FROM model_calls").fetchone()
    assert row == (len(faults) + 1, len(faults) + 1)


def test_retry_after_is_honoured(server: TestServer, store: Store) -> None:
    server.retry_after_s = 0.4
    server.queue_faults(["429"])
    start = time.monotonic()
    (reply,) = run(ask({"m": fast_model(server, backoff_base_s=0.001)}, store, ["x"]))
    assert reply.ok and time.monotonic() - start >= 0.4


def test_a_refusal_is_not_retried_and_is_reported(server: TestServer, store: Store) -> None:
    server.queue_faults(["400"])
    (reply,) = run(ask({"m": fast_model(server)}, store, ["x"]))
    assert not reply.ok and reply.status_code == 400 and "content policy" in reply.error
    assert server.stats.total_received == 1
    assert CallCache(store).get(reply.fingerprint).state == "failed"


def test_spent_attempts_are_reported_and_retried_by_the_next_run(server: TestServer, store: Store) -> None:
    server.queue_faults(["500"] * 3)
    (reply,) = run(ask({"m": fast_model(server, max_attempts=3)}, store, ["x"]))
    assert not reply.ok and "gave up after 3 attempts" in reply.error and "HTTP 500" in reply.error
    (kept,) = run(ask({"m": fast_model(server, max_attempts=3)}, store, ["x"], retry_failed=False))
    assert not kept.ok and server.stats.total_received == 3
    (retried,) = run(ask({"m": fast_model(server, max_attempts=3)}, store, ["x"]))
    assert retried.ok and server.stats.total_received == 4


def test_breaker_pauses_a_failing_model_instead_of_spending_every_retry(server: TestServer, store: Store) -> None:
    server.script = lambda body, fp, attempt: "500"
    model = fast_model(server, max_attempts=50, breaker_failures=5, breaker_cooldown_s=0.2,
                       breaker_give_up_s=0.6, concurrency=4)
    replies = run(ask({"m": model}, store, [f"q{i}" for i in range(20)]))
    assert not any(r.ok for r in replies)
    assert any("paused" in r.error for r in replies)
    # without the breaker 20 requests x 50 attempts would be sent
    assert server.stats.total_received < 100


def test_the_same_request_under_two_step_versions_is_sent_once(server: TestServer, store: Store) -> None:
    models = {"m": fast_model(server)}
    first = run(ask(models, store, ["a", "b"], step="one", version="1"))
    assert server.stats.total_received == 2
    bumped = run(ask(models, store, ["a", "b"], step="one", version="2"))  # a parsing fix, say
    other = run(ask(models, store, ["a", "b"], step="two", version="1"))
    assert server.stats.total_received == 2
    assert all(r.cached for r in bumped + other) and [r.body for r in bumped] == [r.body for r in first]
    # the step that first asked is kept for accounting
    assert CallCache(store).totals(by=("step",)) == [
        {"step": "one", "calls": 2, "done": 2, "failed": 0, "tokens_in": first[0].tokens_in * 2,
         "tokens_out": first[0].tokens_out + first[1].tokens_out, "cost_usd": 0.0, "sends": 2, "invalid": 0}]
    changed = run(ask(models, store, ["a", "c"], step="one", version="2"))  # a changed request is asked
    assert server.stats.total_received == 3 and changed[0].cached and not changed[1].cached


def test_replies_stored_under_the_older_key_are_found_not_bought_again(server: TestServer, store: Store) -> None:
    from videokr.models.fingerprint import legacy_request_fingerprint

    body = {"model": "test-model", "messages": user("old"), **fast_model(server).params}
    legacy = legacy_request_fingerprint(model="test-model", body=body, step="s", step_version="1")
    CallCache(store).insert_done(legacy, model="m", step="s", step_version="1", body=body,
                                 response_text='{"choices":[{"message":{"content":"stored long ago"}}]}',
                                 tokens_in=3, tokens_out=4, cost_usd=0.5, via="direct")
    (reply,) = run(ask({"m": fast_model(server)}, store, ["old"], step="s", version="1"))
    assert reply.cached and reply.content == "stored long ago" and server.stats.total_received == 0
    rows = store.execute("SELECT fingerprint, cost_usd FROM model_calls").fetchall()
    assert rows == [(reply.fingerprint, 0.5)]  # re-keyed, not copied: the cost is counted once
    (again,) = run(ask({"m": fast_model(server)}, store, ["old"], step="s", version="2"))
    assert again.cached and server.stats.total_received == 0


def test_an_older_cache_table_gains_the_invalid_column(tmp_path: Path) -> None:
    from videokr.models.cache import SCHEMA_DDL

    path = tmp_path / "old.sqlite"
    old = Store(path)
    with old.transaction() as conn:
        for statement in SCHEMA_DDL.replace("    invalid INTEGER NOT NULL DEFAULT 0,\n", "").split(";"):
            if statement.strip():
                conn.execute(statement)
    assert "invalid" not in {row[1] for row in old.execute("PRAGMA table_info(model_calls)")}
    cache = CallCache(Store(path))
    assert "invalid" in {row[1] for row in cache.store.execute("PRAGMA table_info(model_calls)")}
    assert cache.totals() == []


def test_an_unusable_reply_is_kept_for_audit_and_asked_again(server: TestServer, store: Store) -> None:
    async def go() -> tuple:
        async with Gateway({"m": fast_model(server)}, store) as gateway:
            first = await gateway.chat("m", user("x"), step="s", step_version="1")
            count = gateway.mark_invalid(first, "not what the schema wants")
            again = await gateway.chat("m", user("x"), step="s", step_version="1")
            return first, count, again, gateway.meter

    first, count, again, meter = run(go())
    assert count == 1 and meter.invalid == 1
    assert not again.cached and server.stats.total_received == 2
    row = store.execute("SELECT state, invalid, sends FROM model_calls").fetchone()
    assert row == ("done", 1, 2)
    # marking the same stored reply twice counts it once; a new reply counts again
    cache = CallCache(store)
    assert cache.mark_invalid(first.fingerprint, "bad") == 2
    assert cache.mark_invalid(first.fingerprint, "bad") == 2
    stored = cache.get(first.fingerprint)
    assert stored.state == "failed" and stored.error == "bad" and stored.response == again.body


@pytest.mark.parametrize("fault,status,kind", [("400", 400, "Verdict"), ("500", 500, "Transient"),
                                               ("429", 429, "Transient")])
def test_a_failed_reply_says_whether_it_is_a_verdict(server: TestServer, store: Store, fault: str, status: int,
                                                     kind: str) -> None:
    from videokr.errors import Transient, Verdict

    server.queue_faults([fault] * 2)
    (reply,) = run(ask({"m": fast_model(server, max_attempts=2)}, store, ["x"]))
    failure = reply.failure()
    assert reply.status_code == status and type(failure).__name__ == kind
    assert isinstance(failure, Verdict if kind == "Verdict" else Transient) and str(failure).startswith("m")
    with pytest.raises(type(failure)):
        reply.raise_for_failure()


def test_a_wrong_key_is_not_a_verdict_on_the_item(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    from videokr.errors import Transient

    monkeypatch.setenv("VIDEOKR_TEST_KEY", "wrong-key")
    with TestServer(api_key="right-key") as keyed:
        model = fast_model(keyed)
        model.api_key_env = "VIDEOKR_TEST_KEY"
        (reply,) = run(ask({"m": model}, store, ["x"]))
    assert reply.status_code == 401 and isinstance(reply.failure(), Transient)
    assert "wrong-key" not in str(reply.failure())


def test_the_same_request_twice_at_once_is_sent_once(server: TestServer, store: Store) -> None:
    server.latency_s = 0.05
    replies = run(ask({"m": fast_model(server)}, store, ["same"] * 10))
    assert len({r.fingerprint for r in replies}) == 1 and all(r.ok for r in replies)
    assert server.stats.total_received == 1


def test_concurrent_workers_in_threads_never_send_the_same_request_twice(tmp_path: Path) -> None:
    texts = [f"q{i}" for i in range(120)]
    with TestServer(latency_s=0.01) as server:
        models = {"m": fast_model(server, timeout_s=5)}
        path = tmp_path / "shared.sqlite"
        errors: list[BaseException] = []

        def worker(order: list[str]) -> None:
            try:
                replies = run(ask(models, Store(path), order))
                assert all(r.ok for r in replies)
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(texts if i % 2 == 0 else texts[::-1],)) for i in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert not errors
    assert len(server.stats.received) == 120
    assert max(server.stats.received.values()) == 1


def _process_worker(base_url: str, path: str, texts: list[str]) -> None:
    from videokr.models.config import Limits, ModelConfig

    model = ModelConfig(base_url=base_url, model="test-model", limits=Limits(concurrency=16, timeout_s=5))
    replies = asyncio.run(ask({"m": model}, Store(path), texts))
    assert all(r.ok for r in replies)


def test_concurrent_worker_processes_never_send_the_same_request_twice(tmp_path: Path) -> None:
    texts = [f"q{i}" for i in range(100)]
    with TestServer(latency_s=0.01) as server:
        context = multiprocessing.get_context("spawn")
        workers = [context.Process(target=_process_worker,
                                   args=(server.base_url, str(tmp_path / "s.sqlite"), texts[i % 2 :: 1]))
                   for i in range(3)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(60)
        assert all(w.exitcode == 0 for w in workers)
    assert max(server.stats.received.values()) == 1
    assert len(server.stats.received) == 100


def test_a_claim_of_a_dead_process_is_taken_over_at_once(server: TestServer, store: Store) -> None:
    cache = CallCache(store, owner="somehost-that-is-this:1:x")
    import socket

    dead = subprocess_pid_that_exited()
    body = {"model": "test-model", "messages": user("x")}
    gateway_fp = Gateway({"m": fast_model(server)}, None).fingerprint("m", body, step="s", step_version="1")
    cache.owner = f"{socket.gethostname()}:{dead}:abcd"
    assert cache.claim(gateway_fp, model="m", step="s", step_version="1", body=body).state == "claimed"
    start = time.monotonic()
    (reply,) = run(ask({"m": fast_model(server)}, store, ["x"]))
    assert reply.ok and time.monotonic() - start < 2


def test_a_live_claim_is_waited_for_not_duplicated(server: TestServer, store: Store) -> None:
    other = CallCache(Store(store.path), lease_s=60)  # another worker of this process, lease held
    body = {"model": "test-model", "messages": user("x")}
    fp = Gateway({"m": fast_model(server)}, None).fingerprint("m", body, step="s", step_version="1")
    assert other.claim(fp, model="m", step="s", step_version="1", body=body).state == "claimed"

    def finish_later() -> None:
        time.sleep(0.3)
        other.store_reply(fp, response_text='{"choices":[{"message":{"content":"theirs"}}]}', status_code=200,
                          tokens_in=1, tokens_out=1, cost_usd=0.0, attempts=1, via="direct", latency_s=0.1)

    thread = threading.Thread(target=finish_later)
    thread.start()
    (reply,) = run(ask({"m": fast_model(server)}, store, ["x"]))
    thread.join()
    assert reply.content == "theirs" and reply.cached
    assert server.stats.total_received == 0


def subprocess_pid_that_exited() -> int:
    import subprocess
    import sys

    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_dry_run_sends_nothing_and_prices(server: TestServer, store: Store) -> None:
    from videokr.models.config import Price

    model = fast_model(server)
    model.price = Price(input_per_mtok=1_000_000, output_per_mtok=0)  # $1 per input token
    async def go() -> tuple:
        async with Gateway({"m": model}, store, dry_run=True) as gateway:
            reply = await gateway.chat("m", user("x" * 40), params={"max_tokens": 10}, step="s", step_version="1")
            return reply, gateway.meter

    reply, meter = run(go())
    assert reply.dry_run and not reply.ok
    assert reply.tokens_in == 10 + 4 and reply.tokens_out == 10
    assert meter.cost_usd == pytest.approx(14.0)
    assert server.stats.total_received == 0
