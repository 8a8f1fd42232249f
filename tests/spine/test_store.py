import sqlite3

import pytest

from videokr.records import Outcome, Video
from videokr.store import Store, StoreError


def test_put_is_idempotent_and_detects_changes(store):
    v = Video(id="v", path="a.mp4")
    assert store.put(v).inserted == 1
    assert store.put(v).unchanged == 1
    assert store.put(v.model_copy(update={"duration_s": 3.0})).updated == 1
    assert store.get("video", "v").duration_s == 3.0
    assert store.count("video") == 1


def test_transaction_is_all_or_nothing(store):
    with pytest.raises(RuntimeError):
        with store.transaction():
            store.put(Video(id="a", path="a.mp4"))
            store.record_outcome("s", "a", version="1", fingerprint="f", outcome=Outcome.ACCEPTED)
            raise RuntimeError("boom")
    assert store.count("video") == 0
    assert store.ledger_summary() == {}


def test_ledger_summary_adds_up(store):
    for i, outcome in enumerate([Outcome.ACCEPTED, Outcome.ACCEPTED, Outcome.REJECTED, Outcome.QUARANTINED]):
        store.record_outcome("step", str(i), version="1", fingerprint="f", outcome=outcome, reason="r")
    row = store.ledger_summary()["step"]
    assert row == {"accepted": 2, "rejected": 1, "quarantined": 1, "in": 4}
    store.record_outcome("step", "3", version="1", fingerprint="g", outcome=Outcome.ACCEPTED)
    assert store.ledger_get("step", "3").attempts == 2


def test_wal_mode_and_reopen(tmp_path):
    path = tmp_path / "s.sqlite"
    Store(path).put(Video(id="v", path="a.mp4"))
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert Store(path).count("video") == 1


def test_refuses_a_newer_schema(tmp_path):
    path = tmp_path / "s.sqlite"
    Store(path).set_meta("schema_version", "999")
    with pytest.raises(StoreError, match="newer videokr"):
        Store(path)


def test_not_a_database_is_a_clear_error(tmp_path):
    path = tmp_path / "s.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="cannot open store"):
        Store(path)


def test_extension_schema(store):
    store.ensure_schema("cache", "CREATE TABLE IF NOT EXISTS cache (k TEXT PRIMARY KEY, v TEXT)")
    with store.transaction() as conn:
        conn.execute("INSERT INTO cache VALUES ('a', 'b')")
    assert store.execute("SELECT v FROM cache").fetchone()[0] == "b"
