"""The exactly-once cache of model calls, in the workspace store.

One row per request fingerprint. Its life:

    (absent) --claim--> claimed(owner, lease) --reply stored--> done
                               |--permanent error / retries spent--> failed --claim--> claimed ...
    done --the caller found the reply unusable (mark_invalid)--> failed, invalid+1 --claim--> ...

- A reply is committed here *before* any caller sees it, so a process killed at any instant
  has either stored a reply (never asked again) or not (asked again on the next run).
- Claiming is a write transaction on the same SQLite file, so concurrent workers — threads or
  processes — never both send a request: the second finds a live claim and waits for the
  first's reply. A claim is a lease that its owner renews while the request is in flight; a
  claim whose lease ran out, or whose owner process is gone (same host, pid not alive), may be
  taken over, which is how a rerun after `kill -9` resumes without waiting.
- A failure is not a verdict: a failed row is asked again by the next run that wants it.
- A reply the caller could not use (structured output that fails its schema after the repairs)
  is marked invalid: the row keeps the reply and the error for audits, counts the invalid
  replies in `invalid`, and goes back to `failed`, so the next run asks again instead of
  replaying it. A stored reply that was used is never sent again.
- The key is the request (`videokr.models.fingerprint`); rows stored under the key of older
  versions (which held the step and its version) are re-keyed when a request first finds them.

Requests are kept with image data replaced by a digest, so the cache holds what was asked
(for audits and quarantine) without copying every frame.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from videokr.hashing import digest
from videokr.records import utcnow
from videokr.store import Store

SCHEMA_NAME = "model_calls"
SCHEMA_DDL = """
CREATE TABLE IF NOT EXISTS model_calls (
    fingerprint TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    step TEXT NOT NULL,
    step_version TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('claimed', 'done', 'failed')),
    owner TEXT,
    lease_until REAL,
    request TEXT NOT NULL,
    response TEXT,
    status_code INTEGER,
    error TEXT,
    tokens_in INTEGER NOT NULL DEFAULT 0,
    tokens_out INTEGER NOT NULL DEFAULT 0,
    cost_usd REAL NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    sends INTEGER NOT NULL DEFAULT 0,
    invalid INTEGER NOT NULL DEFAULT 0,
    via TEXT,
    latency_s REAL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS model_calls_by_step ON model_calls (step, model, state);
CREATE INDEX IF NOT EXISTS model_calls_by_owner ON model_calls (owner, state);
"""

DEFAULT_LEASE_S = 120.0

ClaimState = Literal["done", "claimed", "busy", "failed"]


def new_owner() -> str:
    """host:pid:token — the token tells apart two workers of one process."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _owner_is_dead(owner: str | None) -> bool:
    if not owner:
        return True
    parts = owner.rsplit(":", 2)
    if len(parts) != 3 or parts[0] != socket.gethostname():
        return False  # another machine: only the lease can tell
    try:
        pid = int(parts[1])
    except ValueError:
        return False
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def compact_request(body: dict[str, Any]) -> str:
    """The request as JSON with each data URL replaced by `<image sha256:…, N bytes>`."""

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        if isinstance(node, str) and node.startswith("data:") and ";base64," in node[:64]:
            return f"<image sha256:{digest(node, 16)}, {len(node)} bytes>"
        return node

    return json.dumps(walk(body), ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class CachedCall:
    fingerprint: str
    state: str
    response: dict[str, Any] | None
    status_code: int | None
    error: str | None
    tokens_in: int
    tokens_out: int
    cost_usd: float
    via: str | None
    invalid: int = 0


@dataclass(frozen=True)
class Claim:
    state: ClaimState
    call: CachedCall | None = None


class CallCache:
    def __init__(self, store: Store, *, owner: str | None = None, lease_s: float = DEFAULT_LEASE_S) -> None:
        self.store = store
        self.owner = owner or new_owner()
        self.lease_s = lease_s
        store.ensure_schema(SCHEMA_NAME, SCHEMA_DDL)
        _add_missing_columns(store)

    # -- reading ----------------------------------------------------------------------

    def get(self, fingerprint: str) -> CachedCall | None:
        row = self.store.execute(
            f"SELECT {_CALL_COLUMNS} FROM model_calls WHERE fingerprint=?",
            (fingerprint,),
        ).fetchone()
        return None if row is None else _call(row)

    def done_fingerprints(self, fingerprints: list[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(fingerprints), 500):
            chunk = fingerprints[start : start + 500]
            marks = ",".join("?" * len(chunk))
            found.update(
                fp
                for (fp,) in self.store.execute(
                    f"SELECT fingerprint FROM model_calls WHERE state='done' AND fingerprint IN ({marks})", chunk
                )
            )
        return found

    # -- claiming ---------------------------------------------------------------------

    def claim(self, fingerprint: str, *, model: str, step: str, step_version: str, body: dict[str, Any],
              take_failed: bool = True, legacy: str | None = None) -> Claim:
        """Take the request for this worker, or learn that it is done or someone else's.

        `legacy` is the request's key under the older fingerprint; a reply stored under it is
        moved to `fingerprint` and returned as done.
        """
        now = time.time()
        query = f"SELECT {_CALL_COLUMNS}, owner, lease_until FROM model_calls WHERE fingerprint=?"
        with self.store.transaction() as conn:
            row = conn.execute(query, (fingerprint,)).fetchone()
            if row is None and legacy and legacy != fingerprint:
                moved = conn.execute(
                    "UPDATE model_calls SET fingerprint=?, updated_at=? WHERE fingerprint=? AND state='done'",
                    (fingerprint, utcnow(), legacy),
                ).rowcount
                if moved:
                    row = conn.execute(query, (fingerprint,)).fetchone()
            if row is None:
                stamp = utcnow()
                conn.execute(
                    "INSERT INTO model_calls (fingerprint, model, step, step_version, state, owner, lease_until, "
                    "request, created_at, updated_at) VALUES (?,?,?,?,'claimed',?,?,?,?,?)",
                    (fingerprint, model, step, step_version, self.owner, now + self.lease_s,
                     compact_request(body), stamp, stamp),
                )
                return Claim("claimed")
            call = _call(row[:_N_CALL_COLUMNS])
            owner, lease_until = row[_N_CALL_COLUMNS], row[_N_CALL_COLUMNS + 1]
            if call.state == "done":
                return Claim("done", call)
            if call.state == "failed" and not take_failed:
                return Claim("failed", call)
            if call.state == "claimed" and owner != self.owner and (lease_until or 0) > now and not _owner_is_dead(
                owner
            ):
                return Claim("busy", call)
            conn.execute(
                "UPDATE model_calls SET state='claimed', owner=?, lease_until=?, updated_at=? WHERE fingerprint=?",
                (self.owner, now + self.lease_s, utcnow(), fingerprint),
            )
            return Claim("claimed", call)

    def renew_leases(self) -> int:
        """Extend every claim this worker holds; called periodically while requests are in flight."""
        with self.store.transaction() as conn:
            return conn.execute(
                "UPDATE model_calls SET lease_until=? WHERE owner=? AND state='claimed'",
                (time.time() + self.lease_s, self.owner),
            ).rowcount

    def release_all(self) -> int:
        """Give up this worker's claims (on a clean stop) so another may take them at once."""
        with self.store.transaction() as conn:
            return conn.execute(
                "UPDATE model_calls SET lease_until=0 WHERE owner=? AND state='claimed'", (self.owner,)
            ).rowcount

    # -- writing outcomes -------------------------------------------------------------

    def store_reply(
        self,
        fingerprint: str,
        *,
        response_text: str,
        status_code: int,
        tokens_in: int,
        tokens_out: int,
        cost_usd: float,
        attempts: int,
        via: str,
        latency_s: float | None,
    ) -> bool:
        """Commit a reply; False if another worker's reply got there first (theirs is kept).

        Tokens and cost add to the row's: a request asked again after an invalid reply has cost both.
        """
        with self.store.transaction() as conn:
            return (
                conn.execute(
                    "UPDATE model_calls SET state='done', response=?, status_code=?, error=NULL, "
                    "tokens_in=tokens_in+?, tokens_out=tokens_out+?, cost_usd=cost_usd+?, attempts=attempts+?, "
                    "sends=sends+?, via=?, latency_s=?, owner=NULL, lease_until=NULL, updated_at=? "
                    "WHERE fingerprint=? AND state!='done'",
                    (response_text, status_code, tokens_in, tokens_out, cost_usd, attempts, attempts, via,
                     latency_s, utcnow(), fingerprint),
                ).rowcount
                > 0
            )

    def store_failure(self, fingerprint: str, *, error: str, status_code: int | None, response_text: str | None,
                      attempts: int) -> None:
        with self.store.transaction() as conn:
            conn.execute(
                "UPDATE model_calls SET state='failed', error=?, status_code=?, response=?, attempts=attempts+?, "
                "sends=sends+?, owner=NULL, lease_until=NULL, updated_at=? WHERE fingerprint=? AND state!='done'",
                (error, status_code, response_text, attempts, attempts, utcnow(), fingerprint),
            )

    def insert_done(self, fingerprint: str, *, model: str, step: str, step_version: str, body: dict[str, Any],
                    response_text: str, tokens_in: int, tokens_out: int, cost_usd: float, via: str) -> bool:
        """Store a reply that arrived without a claim (a Batch API result); never overwrites one."""
        stamp = utcnow()
        with self.store.transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO model_calls (fingerprint, model, step, step_version, state, request, response, "
                "status_code, tokens_in, tokens_out, cost_usd, attempts, sends, via, created_at, updated_at) "
                "VALUES (?,?,?,?,'done',?,?,200,?,?,?,1,1,?,?,?) ON CONFLICT (fingerprint) DO UPDATE SET "
                "state='done', response=excluded.response, status_code=200, error=NULL, "
                "tokens_in=model_calls.tokens_in+excluded.tokens_in, "
                "tokens_out=model_calls.tokens_out+excluded.tokens_out, "
                "cost_usd=model_calls.cost_usd+excluded.cost_usd, "
                "via=excluded.via, owner=NULL, lease_until=NULL, updated_at=excluded.updated_at "
                "WHERE model_calls.state!='done'",
                (fingerprint, model, step, step_version, compact_request(body), response_text, tokens_in,
                 tokens_out, cost_usd, via, stamp, stamp),
            )
            return cursor.rowcount > 0

    def mark_invalid(self, fingerprint: str, error: str) -> int:
        """The stored reply is unusable: keep it for audits, ask again next time; the invalid count.

        Only a `done` row changes (so two callers that saw the same reply count it once); the
        count returned is the row's after the change, or as it stands when there was nothing to
        change.
        """
        with self.store.transaction() as conn:
            conn.execute(
                "UPDATE model_calls SET state='failed', error=?, invalid=invalid+1, owner=NULL, lease_until=NULL, "
                "updated_at=? WHERE fingerprint=? AND state='done'",
                (error, utcnow(), fingerprint),
            )
            row = conn.execute("SELECT invalid FROM model_calls WHERE fingerprint=?", (fingerprint,)).fetchone()
        return 0 if row is None else int(row[0])

    # -- accounting -------------------------------------------------------------------

    def totals(self, *, by: tuple[str, ...] = ("step", "model")) -> list[dict[str, Any]]:
        """Calls, tokens and cost of stored replies, grouped."""
        allowed = {"step", "model", "via", "state"}
        if not set(by) <= allowed:
            raise ValueError(f"group by one of {sorted(allowed)}")
        keys = ", ".join(by)
        rows = self.store.execute(
            f"SELECT {keys}, count(*), sum(state='done'), sum(state='failed'), sum(tokens_in), sum(tokens_out), "
            f"sum(cost_usd), sum(sends), sum(invalid) FROM model_calls GROUP BY {keys} ORDER BY {keys}"
        ).fetchall()
        out = []
        for row in rows:
            entry = dict(zip(by, row[: len(by)]))
            calls, done, failed, tin, tout, cost, sends, invalid = row[len(by) :]
            entry.update(calls=calls, done=done or 0, failed=failed or 0, tokens_in=tin or 0, tokens_out=tout or 0,
                         cost_usd=cost or 0.0, sends=sends or 0, invalid=invalid or 0)
            out.append(entry)
        return out


_CALL_COLUMNS = "fingerprint, state, response, status_code, error, tokens_in, tokens_out, cost_usd, via, invalid"
_N_CALL_COLUMNS = len(_CALL_COLUMNS.split(","))


def _call(row: tuple[Any, ...]) -> CachedCall:
    fingerprint, state, response, status_code, error, tokens_in, tokens_out, cost_usd, via, invalid = row
    parsed = None
    if response is not None:
        try:
            parsed = json.loads(response)
        except json.JSONDecodeError:
            parsed = {"raw": response}
    return CachedCall(fingerprint, state, parsed, status_code, error, tokens_in, tokens_out, cost_usd, via,
                      invalid or 0)


def _add_missing_columns(store: Store) -> None:
    """Columns added since a store was created (CREATE TABLE IF NOT EXISTS leaves old tables as they were)."""
    columns = {row[1] for row in store.execute("PRAGMA table_info(model_calls)")}
    if "invalid" in columns:
        return
    try:
        with store.transaction() as conn:
            conn.execute("ALTER TABLE model_calls ADD COLUMN invalid INTEGER NOT NULL DEFAULT 0")
    except sqlite3.OperationalError as exc:  # another process added it first
        if "duplicate column" not in str(exc):
            raise
