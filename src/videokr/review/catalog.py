"""Queue items materialised in the store, so that listing and opening stay fast at 100,000 items.

Why a table: building a queue from its provider reads records, files and the ledger (seconds at
scale); a reviewer pages through it hundreds of times. `refresh` writes a queue's items once,
in one transaction, in the provider's order; pages and items are then indexed queries, and
progress joins the verdicts table. The table is a cache of what providers say: refreshing
replaces it and never touches a verdict.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from videokr.records import utcnow
from videokr.review.schema import QUEUES, QueueName, ReviewItem
from videokr.review.verdicts import ensure_verdict_schema
from videokr.store import Store

SCHEMA_NAME = "review_items"
SCHEMA_DDL = """
CREATE TABLE IF NOT EXISTS review_items (
    queue TEXT NOT NULL,
    item_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    grp TEXT NOT NULL,
    title TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (queue, item_id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS review_items_by_position ON review_items (queue, position);
CREATE INDEX IF NOT EXISTS review_items_by_group ON review_items (queue, grp, position);
"""
REFRESHED_META = "review.refreshed:"  # + queue: when its items were last materialised
PAGE_SIZE = 50

State = Literal["all", "open", "done", "round2"]
STATES: tuple[State, ...] = ("all", "open", "done", "round2")


def ensure_catalog_schema(store: Store) -> None:
    ensure_verdict_schema(store)
    store.ensure_schema(SCHEMA_NAME, SCHEMA_DDL)


def refresh(store: Store, queue: QueueName, items: list[ReviewItem]) -> int:
    """Replace a queue's materialised items with `items` (one transaction); returns how many."""
    ensure_catalog_schema(store)
    rows = [(queue, item.item_id, n, item.group, item.title, item.model_dump_json())
            for n, item in enumerate(dict((i.item_id, i) for i in items).values())]
    with store.transaction() as conn:
        conn.execute("DELETE FROM review_items WHERE queue=?", (queue,))
        conn.executemany("INSERT INTO review_items (queue, item_id, position, grp, title, data) "
                         "VALUES (?,?,?,?,?,?)", rows)
        store.set_meta(REFRESHED_META + queue, utcnow())
    return len(rows)


def refreshed_at(store: Store, queue: QueueName) -> str | None:
    return store.get_meta(REFRESHED_META + queue)


@dataclass(frozen=True)
class Row:
    """One line of a queue's list: the item and how many verdicts it has in each round."""

    item_id: str
    position: int
    group: str
    title: str
    round1: int
    round2: int


# Verdict counts of one listed item: primary-key lookups, so a page costs the same at any queue size.
_COUNTS = ("(SELECT count(*) FROM review_verdicts v WHERE v.queue=i.queue AND v.item_id=i.item_id AND v.round=1), "
           "(SELECT count(*) FROM review_verdicts v WHERE v.queue=i.queue AND v.item_id=i.item_id AND v.round=2)")
_HAS = "EXISTS (SELECT 1 FROM review_verdicts v WHERE v.queue=i.queue AND v.item_id=i.item_id{})"


def _filter(queue: QueueName, group: str | None, state: State) -> tuple[str, list[Any]]:
    where, params = ["i.queue=?"], [queue]
    if group:
        where.append("i.grp=?")
        params.append(group)
    if state == "open":
        where.append("NOT " + _HAS.format(""))
    elif state == "done":
        where.append(_HAS.format(""))
    elif state == "round2":  # the second-reviewer pass: reviewed once, not yet a second time
        where.append(_HAS.format(" AND v.round=1") + " AND NOT " + _HAS.format(" AND v.round=2"))
    return " AND ".join(where), params


def page(store: Store, queue: QueueName, *, offset: int = 0, limit: int = PAGE_SIZE, group: str | None = None,
         state: State = "all") -> tuple[list[Row], int]:
    """One page of a queue in provider order, and how many items match the filter."""
    ensure_catalog_schema(store)
    where, params = _filter(queue, group, state)
    total = store.execute(f"SELECT count(*) FROM review_items i WHERE {where}", params).fetchone()[0]
    rows = store.execute(
        f"SELECT i.item_id, i.position, i.grp, i.title, {_COUNTS} FROM review_items i WHERE {where} "
        "ORDER BY i.position LIMIT ? OFFSET ?", [*params, limit, max(0, offset)]).fetchall()
    return [Row(*row) for row in rows], total


def item(store: Store, queue: QueueName, item_id: str) -> tuple[ReviewItem, int] | None:
    """A materialised item and its position, or None."""
    ensure_catalog_schema(store)
    row = store.execute("SELECT data, position FROM review_items WHERE queue=? AND item_id=?",
                        (queue, item_id)).fetchone()
    return None if row is None else (ReviewItem.model_validate(json.loads(row[0])), row[1])


def neighbour(store: Store, queue: QueueName, position: int, *, forward: bool, group: str | None = None,
              state: State = "all") -> str | None:
    """The id of the next (or previous) item after `position` that the same filter lists."""
    where, params = _filter(queue, group, state)
    op, order = (">", "ASC") if forward else ("<", "DESC")
    row = store.execute(f"SELECT i.item_id FROM review_items i WHERE {where} AND i.position {op} ? "
                        f"ORDER BY i.position {order} LIMIT 1", [*params, position]).fetchone()
    return None if row is None else row[0]


@dataclass(frozen=True)
class Progress:
    group: str
    items: int
    reviewed: int  # with at least one verdict
    second: int  # with a round-2 verdict


def progress(store: Store, queue: QueueName) -> list[Progress]:
    """Per group, in first-listed order: items, reviewed, reviewed a second time."""
    ensure_catalog_schema(store)
    rows = store.execute(
        "SELECT i.grp, count(*), sum(r.item_id IS NOT NULL), sum(coalesce(r.second, 0)), min(i.position) "
        "FROM review_items i LEFT JOIN (SELECT item_id, max(round = 2) AS second FROM review_verdicts "
        "WHERE queue=? GROUP BY item_id) r ON r.item_id = i.item_id WHERE i.queue=? GROUP BY i.grp "
        "ORDER BY min(i.position)", (queue, queue)).fetchall()
    return [Progress(grp, n, reviewed or 0, second or 0) for grp, n, reviewed, second, _ in rows]


def queue_sizes(store: Store) -> dict[QueueName, int]:
    ensure_catalog_schema(store)
    counts = dict(store.execute("SELECT queue, count(*) FROM review_items GROUP BY queue").fetchall())
    return {queue: counts.get(queue, 0) for queue in QUEUES}
