"""The embedded store: one SQLite file per workspace, the source of truth for every step.

Why SQLite in WAL mode: readers never block the writer, a commit is atomic on disk, and a
process killed at any instant leaves a file that opens and resumes — exactly what a
pipeline that pays per model call needs. Records are kept as validated JSON keyed by
(kind, id); the stage ledger keeps, per step and item, the outcome and the fingerprint of
what produced it, so a rerun redoes only what changed; the lineage table says which item of
which step produced which record, so "the live outputs of step N" is a query, reprocessing an
item supersedes what it made before, and no step overwrites another step's facts.

Other modules (the model-call cache, the hash cache) add tables of their own with
`Store.ensure_schema`, inside the same file and the same transactions.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from videokr.hashing import digest
from videokr.records import Outcome, Record, record_from_json, utcnow

SCHEMA_VERSION = 2

_CORE_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS items (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    data TEXT NOT NULL,
    digest TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE TABLE IF NOT EXISTS ledger (
    step TEXT NOT NULL,
    item_id TEXT NOT NULL,
    version TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('accepted', 'rejected', 'quarantined')),
    reason TEXT,
    code TEXT,
    detail TEXT,
    attempts INTEGER NOT NULL DEFAULT 1,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (step, item_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ledger_by_outcome ON ledger (step, outcome);
CREATE TABLE IF NOT EXISTS outputs (
    step TEXT NOT NULL,
    item_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    record_id TEXT NOT NULL,
    PRIMARY KEY (step, item_id, kind, record_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS outputs_by_record ON outputs (kind, record_id);
CREATE INDEX IF NOT EXISTS outputs_by_step ON outputs (step, kind, record_id);
"""


def digest_of(text: str) -> str:
    return digest(text)


@dataclass(frozen=True)
class LedgerEntry:
    step: str
    item_id: str
    version: str
    fingerprint: str
    outcome: Outcome
    reason: str | None
    detail: dict[str, Any] | None
    attempts: int
    updated_at: str
    code: str | None = None


@dataclass
class ItemOutcome:
    """What one step made of one item, as the store commits it (see `Store.commit_outcomes`)."""

    item_id: str
    fingerprint: str
    outcome: Outcome
    records: Sequence[Record] = ()
    reason: str | None = None
    code: str | None = None
    detail: dict[str, Any] | None = None


@dataclass
class PutCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    def __iadd__(self, other: "PutCounts") -> "PutCounts":
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged
        return self


class StoreError(RuntimeError):
    pass


class Store:
    """A workspace's records, ledger and caches in one SQLite file.

    Writes go through `transaction()`; everything written inside one either lands
    whole or not at all. One connection per thread; several processes may share a file.
    """

    def __init__(self, path: str | Path, *, timeout_s: float = 60.0) -> None:
        self.path = Path(path)
        self._timeout_s = timeout_s
        self._local = threading.local()
        self._schemas: dict[str, str] = {}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = self._conn()
        with self._write(conn):
            for statement in _split_sql(_CORE_SCHEMA):
                conn.execute(statement)
            row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if row is None:
                conn.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            elif int(row[0]) < SCHEMA_VERSION:
                _migrate(conn, int(row[0]))
            elif int(row[0]) > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path} was written by a newer videokr (schema {row[0]} > {SCHEMA_VERSION}); "
                    "upgrade videokr to open it"
                )

    # -- connections and transactions -------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(
                    self.path, timeout=self._timeout_s, isolation_level=None, check_same_thread=True
                )
                # WAL is persistent in the file; switching needs a lock that concurrent openers contend for,
                # so only the first opener switches.
                _enable_wal(conn, self._timeout_s)
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"cannot open store {self.path}: {exc}") from exc
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(f"PRAGMA busy_timeout={int(self._timeout_s * 1000)}")
            self._local.conn = conn
            self._local.depth = 0
        return conn

    @contextmanager
    def _write(self, conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
        depth = self._local.depth
        if depth == 0:
            conn.execute("BEGIN IMMEDIATE")
        self._local.depth = depth + 1
        try:
            yield conn
        except BaseException:
            self._local.depth = depth
            if depth == 0:
                conn.execute("ROLLBACK")
            raise
        self._local.depth = depth
        if depth == 0:
            conn.execute("COMMIT")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """All writes inside land together or not at all; nests."""
        with self._write(self._conn()) as conn:
            yield conn

    def execute(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Cursor:
        return self._conn().execute(sql, tuple(params))

    def ensure_schema(self, name: str, ddl: str) -> None:
        """Create the tables of an extension module (idempotent, once per process)."""
        if self._schemas.get(name) == ddl:
            return
        with self.transaction() as conn:
            for statement in _split_sql(ddl):
                conn.execute(statement)
        self._schemas[name] = ddl

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- records ----------------------------------------------------------------------

    def put(self, record: Record) -> PutCounts:
        return self.put_many([record])

    def put_many(self, records: Iterable[Record]) -> PutCounts:
        """Insert or update records; a record whose content is unchanged is not rewritten."""
        counts = PutCounts()
        rows = []
        for record in records:
            data = record.to_json()
            rows.append((record.kind, record.id, data, digest_of(data)))
        if not rows:
            return counts
        now = utcnow()
        with self.transaction() as conn:
            for kind, id_, data, data_digest in rows:
                old = conn.execute("SELECT digest FROM items WHERE kind=? AND id=?", (kind, id_)).fetchone()
                if old is None:
                    counts.inserted += 1
                elif old[0] == data_digest:
                    counts.unchanged += 1
                    continue
                else:
                    counts.updated += 1
                conn.execute(
                    "INSERT INTO items (kind, id, data, digest, updated_at) VALUES (?,?,?,?,?) "
                    "ON CONFLICT (kind, id) DO UPDATE SET data=excluded.data, digest=excluded.digest, "
                    "updated_at=excluded.updated_at",
                    (kind, id_, data, data_digest, now),
                )
        return counts

    def get(self, kind: str, id_: str) -> Record | None:
        row = self.execute("SELECT data FROM items WHERE kind=? AND id=?", (kind, id_)).fetchone()
        return None if row is None else record_from_json(kind, row[0])

    def has(self, kind: str, id_: str) -> bool:
        return self.execute("SELECT 1 FROM items WHERE kind=? AND id=?", (kind, id_)).fetchone() is not None

    def delete(self, kind: str, id_: str) -> bool:
        with self.transaction() as conn:
            return conn.execute("DELETE FROM items WHERE kind=? AND id=?", (kind, id_)).rowcount > 0

    def iter_records(self, kind: str, *, where: str = "", params: Iterable[Any] = ()) -> Iterator[Record]:
        """Records of one kind in id order; `where` filters with SQL over json_extract(data, ...)."""
        sql = "SELECT data FROM items WHERE kind=?"
        if where:
            sql += f" AND ({where})"
        sql += " ORDER BY id"
        cursor = self._conn().execute(sql, (kind, *params))
        while batch := cursor.fetchmany(1000):
            for (data,) in batch:
                yield record_from_json(kind, data)

    def iter_json(self, kind: str) -> Iterator[dict[str, Any]]:
        """Raw dicts, for readers that need speed more than validation (statistics)."""
        cursor = self._conn().execute("SELECT data FROM items WHERE kind=? ORDER BY id", (kind,))
        while batch := cursor.fetchmany(1000):
            for (data,) in batch:
                yield json.loads(data)

    def count(self, kind: str) -> int:
        return self.execute("SELECT count(*) FROM items WHERE kind=?", (kind,)).fetchone()[0]

    def counts_by_kind(self) -> dict[str, int]:
        return dict(self.execute("SELECT kind, count(*) FROM items GROUP BY kind ORDER BY kind").fetchall())

    # -- the stage ledger -------------------------------------------------------------

    def ledger_index(self, step: str) -> dict[str, tuple[str, Outcome]]:
        """item_id -> (fingerprint, outcome) for one step, loaded at once for fast skipping."""
        rows = self.execute("SELECT item_id, fingerprint, outcome FROM ledger WHERE step=?", (step,))
        return {item_id: (fp, Outcome(outcome)) for item_id, fp, outcome in rows}

    def ledger_get(self, step: str, item_id: str) -> LedgerEntry | None:
        row = self.execute(
            "SELECT step, item_id, version, fingerprint, outcome, reason, detail, attempts, updated_at, code "
            "FROM ledger WHERE step=? AND item_id=?",
            (step, item_id),
        ).fetchone()
        return None if row is None else _entry(row)

    def ledger_entries(self, step: str, outcome: Outcome | None = None) -> list[LedgerEntry]:
        sql = (
            "SELECT step, item_id, version, fingerprint, outcome, reason, detail, attempts, updated_at, code "
            "FROM ledger WHERE step=?"
        )
        params: tuple[Any, ...] = (step,)
        if outcome is not None:
            sql += " AND outcome=?"
            params += (outcome.value,)
        return [_entry(row) for row in self.execute(sql + " ORDER BY item_id", params)]

    def record_outcome(
        self,
        step: str,
        item_id: str,
        *,
        version: str,
        fingerprint: str,
        outcome: Outcome,
        reason: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        self.record_outcomes(step, version, [(item_id, fingerprint, outcome, reason, detail)])

    def record_outcomes(
        self,
        step: str,
        version: str,
        rows: Iterable[tuple[str, str, Outcome, str | None, dict[str, Any] | None]],
    ) -> None:
        """Ledger rows (item_id, fingerprint, outcome, reason, detail) of one step, in one transaction."""
        self._ledger_rows(step, version, ((i, f, o, r, None, d) for i, f, o, r, d in rows))

    def _ledger_rows(
        self,
        step: str,
        version: str,
        rows: Iterable[tuple[str, str, Outcome, str | None, str | None, dict[str, Any] | None]],
    ) -> None:
        now = utcnow()
        params = [
            (
                step, item_id, version, fingerprint, Outcome(outcome).value, reason, code,
                None if detail is None else json.dumps(detail, ensure_ascii=False, sort_keys=True), now,
            )
            for item_id, fingerprint, outcome, reason, code, detail in rows
        ]
        with self.transaction() as conn:
            conn.executemany(
                "INSERT INTO ledger (step, item_id, version, fingerprint, outcome, reason, code, detail, attempts, "
                "updated_at) VALUES (?,?,?,?,?,?,?,?,1,?) ON CONFLICT (step, item_id) DO UPDATE SET "
                "version=excluded.version, fingerprint=excluded.fingerprint, outcome=excluded.outcome, "
                "reason=excluded.reason, code=excluded.code, detail=excluded.detail, "
                "attempts=ledger.attempts+1, updated_at=excluded.updated_at",
                params,
            )

    # -- lineage ----------------------------------------------------------------------

    def commit_outcomes(self, step: str, version: str, results: Sequence[ItemOutcome]) -> list[ItemOutcome]:
        """Commit items of one step with their records, in one transaction; returns them as committed.

        For each item: the records it produced before are superseded (a record no other
        item still produces is deleted); an accepted item's records are written and linked
        to it; a rejected or quarantined item leaves no live outputs. A record that another
        producer already holds with different content is not overwritten: the item is
        rejected with code `conflict`, naming the holder — one step never overwrites another
        step's facts, and one item never another's.
        """
        committed: list[ItemOutcome] = []
        now = utcnow()
        serialized: list[list[tuple[str, str]]] = []  # per item, per record: (JSON, digest)
        for res in results:
            texts = [r.to_json() for r in res.records] if res.outcome is Outcome.ACCEPTED else []
            serialized.append([(text, digest_of(text)) for text in texts])
        with self.transaction() as conn:
            had = self._outputs_of_items(conn, step, [r.item_id for r in results])
            stored = self._digests(conn, list({(r.kind, r.id) for res in results if res.outcome is Outcome.ACCEPTED
                                                for r in res.records}))
            in_batch: dict[tuple[str, str], tuple[str, str]] = {}  # record -> (digest, item) written by this batch
            item_rows: list[tuple[str, str, str, str, str]] = []
            output_rows: list[tuple[str, str, str, str]] = []
            for res, texts in zip(results, serialized):
                keep: set[tuple[str, str]] = set()
                if res.outcome is Outcome.ACCEPTED:
                    keep = {(r.kind, r.id) for r in res.records}
                    conflict = self._first_conflict(conn, step, res, texts, stored, in_batch)
                    if conflict is not None:
                        keep = set()
                        res = ItemOutcome(res.item_id, res.fingerprint, Outcome.REJECTED, (), conflict, "conflict",
                                          res.detail)
                gone = [key for key in had.get(res.item_id, ()) if key not in keep]
                for kind, rid in gone:
                    conn.execute("DELETE FROM outputs WHERE step=? AND item_id=? AND kind=? AND record_id=?",
                                 (step, res.item_id, kind, rid))
                    if (kind, rid) not in in_batch:
                        self._drop_if_orphan(conn, kind, rid)
                if res.outcome is Outcome.ACCEPTED:
                    for record, (data, data_digest) in zip(res.records, texts):
                        key = (record.kind, record.id)
                        in_batch[key] = (data_digest, res.item_id)
                        item_rows.append((record.kind, record.id, data, data_digest, now))
                        output_rows.append((step, res.item_id, record.kind, record.id))
                committed.append(res)
            conn.executemany(
                "INSERT INTO items (kind, id, data, digest, updated_at) VALUES (?,?,?,?,?) "
                "ON CONFLICT (kind, id) DO UPDATE SET data=excluded.data, digest=excluded.digest, "
                "updated_at=excluded.updated_at WHERE items.digest != excluded.digest",
                item_rows,
            )
            conn.executemany("INSERT OR IGNORE INTO outputs (step, item_id, kind, record_id) VALUES (?,?,?,?)",
                             output_rows)
            self._ledger_rows(
                step, version, ((r.item_id, r.fingerprint, r.outcome, r.reason, r.code, r.detail) for r in committed)
            )
        return committed

    @staticmethod
    def _outputs_of_items(conn: sqlite3.Connection, step: str, item_ids: list[str]) -> dict[str, list[tuple[str, str]]]:
        found: dict[str, list[tuple[str, str]]] = {}
        for start in range(0, len(item_ids), 500):
            chunk = item_ids[start : start + 500]
            rows = conn.execute(
                f"SELECT item_id, kind, record_id FROM outputs WHERE step=? AND item_id IN ({','.join('?' * len(chunk))})",
                (step, *chunk),
            )
            for item_id, kind, rid in rows:
                found.setdefault(item_id, []).append((kind, rid))
        return found

    @staticmethod
    def _digests(conn: sqlite3.Connection, keys: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
        by_kind: dict[str, list[str]] = {}
        for kind, id_ in keys:
            by_kind.setdefault(kind, []).append(id_)
        found: dict[tuple[str, str], str] = {}
        for kind, ids in by_kind.items():
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                rows = conn.execute(
                    f"SELECT id, digest FROM items WHERE kind=? AND id IN ({','.join('?' * len(chunk))})", (kind, *chunk)
                )
                found.update({(kind, id_): d for id_, d in rows})
        return found

    @staticmethod
    def _first_conflict(
        conn: sqlite3.Connection, step: str, res: ItemOutcome, texts: list[tuple[str, str]],
        stored: dict[tuple[str, str], str], in_batch: dict[tuple[str, str], tuple[str, str]],
    ) -> str | None:
        """Why this item may not write its records: another producer holds one with other content."""
        for record, (_, mine) in zip(res.records, texts):
            key = (record.kind, record.id)
            earlier = in_batch.get(key)
            if earlier is not None and earlier[1] != res.item_id:
                if earlier[0] != mine:
                    return (f"{record.kind} {record.id!r} already exists with other content, made by step {step} "
                            f"from item {earlier[1]!r}; it is not overwritten")
                continue
            if key in stored and stored[key] != mine:
                holder = conn.execute(
                    "SELECT step, item_id FROM outputs WHERE kind=? AND record_id=? AND NOT (step=? AND item_id=?) "
                    "ORDER BY step, item_id LIMIT 1",
                    (record.kind, record.id, step, res.item_id),
                ).fetchone()
                if holder is not None:
                    return (f"{record.kind} {record.id!r} already exists with other content, made by step "
                            f"{holder[0]} from item {holder[1]!r}; it is not overwritten")
        return None

    def retire(self, step: str, item_ids: Iterable[str]) -> int:
        """Forget items a step no longer takes in (their input went away): ledger rows and live outputs."""
        n = 0
        with self.transaction() as conn:
            for item_id in item_ids:
                old = conn.execute("SELECT kind, record_id FROM outputs WHERE step=? AND item_id=?",
                                   (step, item_id)).fetchall()
                conn.execute("DELETE FROM outputs WHERE step=? AND item_id=?", (step, item_id))
                for kind, rid in old:
                    self._drop_if_orphan(conn, kind, rid)
                n += conn.execute("DELETE FROM ledger WHERE step=? AND item_id=?", (step, item_id)).rowcount
        return n

    @staticmethod
    def _drop_if_orphan(conn: sqlite3.Connection, kind: str, rid: str) -> None:
        if conn.execute("SELECT 1 FROM outputs WHERE kind=? AND record_id=? LIMIT 1", (kind, rid)).fetchone() is None:
            conn.execute("DELETE FROM items WHERE kind=? AND id=?", (kind, rid))

    def live_outputs(self, steps: str | Sequence[str], kind: str, *, where: str = "",
                     params: Iterable[Any] = ()) -> Iterator[Record]:
        """The records of `kind` that accepted items of `steps` produced and still hold, in id order.

        This is what feeds the next step. `where` filters with SQL over json_extract(i.data, ...)."""
        steps = [steps] if isinstance(steps, str) else list(steps)
        marks = ",".join("?" * len(steps))
        sql = (
            f"SELECT i.data FROM items i WHERE i.kind=? AND EXISTS (SELECT 1 FROM outputs o WHERE o.kind=i.kind "
            f"AND o.record_id=i.id AND o.step IN ({marks}))"
        )
        if where:
            sql += f" AND ({where})"
        sql += " ORDER BY i.id"
        cursor = self._conn().execute(sql, (kind, *steps, *params))
        while batch := cursor.fetchmany(1000):
            for (data,) in batch:
                yield record_from_json(kind, data)

    def producers(self, kind: str, record_id: str) -> list[tuple[str, str]]:
        """(step, item id) pairs that hold a record: its lineage."""
        return [tuple(r) for r in self.execute(
            "SELECT step, item_id FROM outputs WHERE kind=? AND record_id=? ORDER BY step, item_id", (kind, record_id)
        )]

    def outputs_of(self, step: str, item_id: str) -> list[tuple[str, str]]:
        """(kind, record id) pairs an item of a step produced and still holds."""
        return [tuple(r) for r in self.execute(
            "SELECT kind, record_id FROM outputs WHERE step=? AND item_id=? ORDER BY kind, record_id", (step, item_id)
        )]

    def ledger_summary(self) -> dict[str, dict[str, int]]:
        """Per step: accepted, rejected, quarantined, and their sum `in`."""
        summary: dict[str, dict[str, int]] = {}
        for step, outcome, n in self.execute(
            "SELECT step, outcome, count(*) FROM ledger GROUP BY step, outcome ORDER BY step"
        ):
            row = summary.setdefault(step, {o.value: 0 for o in Outcome})
            row[outcome] = n
        for row in summary.values():
            row["in"] = sum(row[o.value] for o in Outcome)
        return summary

    def forget_step(self, step: str) -> int:
        """Drop a step's ledger and live outputs so that everything is redone on the next run."""
        ids = [r[0] for r in self.execute("SELECT item_id FROM ledger WHERE step=?", (step,))]
        return self.retire(step, ids)

    def rejection_reasons(self, step: str) -> dict[str, int]:
        """Rejected items of a step counted by reason code (the reason's text when no code was given)."""
        rows = self.execute(
            "SELECT coalesce(code, reason, '-'), count(*) FROM ledger WHERE step=? AND outcome='rejected' "
            "GROUP BY 1 ORDER BY 2 DESC, 1",
            (step,),
        )
        return {code: n for code, n in rows}

    # -- metadata ---------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else row[0]

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value=excluded.value",
                (key, value),
            )


def _enable_wal(conn: sqlite3.Connection, timeout_s: float) -> None:
    """Switch a new file to WAL, waiting out openers that race to do the same (the busy handler does not)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _entry(row: tuple[Any, ...]) -> LedgerEntry:
    step, item_id, version, fingerprint, outcome, reason, detail, attempts, updated_at, code = row
    return LedgerEntry(
        step, item_id, version, fingerprint, Outcome(outcome), reason,
        None if detail is None else json.loads(detail), attempts, updated_at, code,
    )


def _migrate(conn: sqlite3.Connection, found: int) -> None:
    """Bring a store written by an older videokr up to this schema, in the open's transaction."""
    if found < 2:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(ledger)")}
        if "code" not in columns:
            conn.execute("ALTER TABLE ledger ADD COLUMN code TEXT")
    conn.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION),))


def _split_sql(ddl: str) -> list[str]:
    return [s.strip() for s in ddl.split(";") if s.strip()]
