"""Reviewers' verdicts in the workspace store: save, read, settle, and measure agreement.

One table, `review_verdicts`, keyed by (queue, item, reviewer, round): two reviewers saving the
same item both keep their verdicts, and one reviewer saving again replaces their own. Every
save is one transaction. The steps that act on human decisions read `final_verdicts` — the
second reviewer's verdict where there is one, else the latest first-round verdict — so a
verdict is a source like a file and the runner's fingerprints follow it.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from datetime import datetime
from typing import Any

from videokr.review.schema import QueueName, ReviewVerdict
from videokr.store import Store

SCHEMA_NAME = "review_verdicts"
SCHEMA_DDL = """
CREATE TABLE IF NOT EXISTS review_verdicts (
    queue TEXT NOT NULL,
    item_id TEXT NOT NULL,
    reviewer TEXT NOT NULL,
    round INTEGER NOT NULL,
    payload TEXT NOT NULL,
    note TEXT,
    updated_at TEXT NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (queue, item_id, reviewer, round)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS review_verdicts_by_seq ON review_verdicts (queue, seq);
"""

_COLUMNS = "queue, item_id, reviewer, round, payload, note, updated_at"
# Latest first: a later time wins, and of equal times the later save (seq).
_LATEST = "updated_at DESC, seq DESC"


def ensure_verdict_schema(store: Store) -> None:
    store.ensure_schema(SCHEMA_NAME, SCHEMA_DDL)


def _stamp(when: datetime) -> str:
    # One fixed width, so that the text order of stamps is their time order.
    return when.isoformat(timespec="microseconds")


def _row(verdict: ReviewVerdict) -> tuple[Any, ...]:
    return (
        verdict.queue,
        verdict.item_id,
        verdict.reviewer,
        verdict.round,
        json.dumps(verdict.payload, sort_keys=True, ensure_ascii=False),
        verdict.note,
        _stamp(verdict.updated_at),
    )


def _verdict(row: tuple[Any, ...]) -> ReviewVerdict:
    queue, item_id, reviewer, round_, payload, note, updated_at = row
    return ReviewVerdict(
        queue=queue,
        item_id=item_id,
        reviewer=reviewer,
        round=round_,
        payload=json.loads(payload),
        note=note,
        updated_at=datetime.fromisoformat(updated_at),
    )


def save_verdict(store: Store, verdict: ReviewVerdict) -> ReviewVerdict:
    """Insert or replace this reviewer's verdict for this item and round, in one transaction."""
    ensure_verdict_schema(store)
    with store.transaction() as conn:
        (seq,) = conn.execute("SELECT coalesce(max(seq), 0) + 1 FROM review_verdicts").fetchone()
        conn.execute(
            f"INSERT INTO review_verdicts ({_COLUMNS}, seq) VALUES (?,?,?,?,?,?,?,?) "
            "ON CONFLICT (queue, item_id, reviewer, round) DO UPDATE SET payload=excluded.payload, "
            "note=excluded.note, updated_at=excluded.updated_at, seq=excluded.seq",
            (*_row(verdict), seq),
        )
    return verdict


def verdicts(store: Store, queue: QueueName | None = None, *, item_id: str | None = None) -> list[ReviewVerdict]:
    """Every verdict (of a queue, of one item), by queue, item, round, then save order."""
    ensure_verdict_schema(store)
    where, params = [], []
    if queue is not None:
        where.append("queue=?")
        params.append(queue)
    if item_id is not None:
        where.append("item_id=?")
        params.append(item_id)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    rows = store.execute(
        f"SELECT {_COLUMNS} FROM review_verdicts {clause} ORDER BY queue, item_id, round, seq", params
    ).fetchall()
    return [_verdict(row) for row in rows]


def final_verdicts(store: Store, queue: QueueName) -> dict[str, ReviewVerdict]:
    """Per item, the verdict that counts: the latest round-2 verdict if any, else the latest round-1."""
    ensure_verdict_schema(store)
    rows = store.execute(
        f"SELECT {_COLUMNS} FROM (SELECT *, row_number() OVER (PARTITION BY item_id ORDER BY round DESC, "
        f"{_LATEST}) AS rank FROM review_verdicts WHERE queue=?) WHERE rank=1 ORDER BY item_id",
        (queue,),
    ).fetchall()
    return {row[1]: _verdict(row) for row in rows}


def _latest_by_round(store: Store, queue: QueueName) -> dict[str, dict[int, ReviewVerdict]]:
    rows = store.execute(
        f"SELECT {_COLUMNS} FROM (SELECT *, row_number() OVER (PARTITION BY item_id, round ORDER BY {_LATEST}) "
        "AS rank FROM review_verdicts WHERE queue=?) WHERE rank=1 ORDER BY item_id, round",
        (queue,),
    ).fetchall()
    out: dict[str, dict[int, ReviewVerdict]] = {}
    for row in rows:
        out.setdefault(row[1], {})[row[3]] = _verdict(row)
    return out


def facets(verdict: ReviewVerdict) -> dict[str, str]:
    """The categorical decisions of a verdict, the things two reviewers can agree on.

    Free text (an edited seed, a new question) is not compared word for word: editing is its
    own category beside keeping, since two experts rarely type the same fix.
    """
    payload = verdict.payload
    if verdict.queue == "audit":
        return {"label": payload["label"]}
    if verdict.queue == "quality":
        return {name: str(payload[name]).lower() for name in ("non_visual_solvable", "reasoning_error",
                                                               "answer_changing_error")}
    decision = payload["decision"]
    if verdict.queue in ("seeds", "syllabus") and payload.get("edited") and decision in ("keep", "approve"):
        decision = "edit"
    return {"decision": decision}


def cohen_kappa(pairs: list[tuple[str, str]]) -> float | None:
    """Cohen's kappa of two raters' labels; None where undefined (no pairs, or chance agreement is 1)."""
    if not pairs:
        return None
    n = len(pairs)
    observed = sum(a == b for a, b in pairs) / n
    first, second = Counter(a for a, _ in pairs), Counter(b for _, b in pairs)
    expected = sum(first[label] * second[label] for label in first) / (n * n)
    if math.isclose(expected, 1.0):
        return None
    return (observed - expected) / (1 - expected)


def _figures(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    agreed = sum(a == b for a, b in pairs)
    return {
        "items": len(pairs),
        "agreed": agreed,
        "percent": 100.0 * agreed / len(pairs) if pairs else None,
        "kappa": cohen_kappa(pairs),
    }


def agreement(store: Store, queue: QueueName) -> dict[str, Any]:
    """Agreement between the first and second round on the items that have both.

    Compares each item's latest round-1 and latest round-2 verdicts on their `facets` (all of
    them at once for the headline figures; per facet under `facets` when a queue has several).
    """
    ensure_verdict_schema(store)
    pairs: dict[str, list[tuple[str, str]]] = {}
    whole: list[tuple[str, str]] = []
    for rounds in _latest_by_round(store, queue).values():
        if 1 not in rounds or 2 not in rounds:
            continue
        a, b = facets(rounds[1]), facets(rounds[2])
        whole.append(("|".join(f"{k}={a[k]}" for k in sorted(a)), "|".join(f"{k}={b[k]}" for k in sorted(b))))
        for name in a:
            pairs.setdefault(name, []).append((a[name], b[name]))
    result: dict[str, Any] = {"queue": queue, **_figures(whole)}
    if len(pairs) > 1:
        result["facets"] = {name: _figures(values) for name, values in pairs.items()}
    return result
