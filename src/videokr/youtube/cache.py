"""Search pages the API already answered, kept in the store so that no search is paid for twice.

Why: a search page costs 100 units of a 10,000-unit day. The runner commits finished items
every second; a process killed in between, or an item redone after its ledger row was
dropped, would send the same search again. Like the model-call cache, the answer is stored
under the request itself (endpoint and parameters; the key is never part of them) the moment
it arrives, and a repeated request is answered from here. `videos.list` is not cached: it
costs 1 unit and its answer (licence, removal) should be fresh.
"""

from __future__ import annotations

import json
from typing import Any

from videokr.hashing import digest_json
from videokr.records import utcnow
from videokr.store import Store

SCHEMA = """
CREATE TABLE IF NOT EXISTS youtube_responses (
    request TEXT PRIMARY KEY,
    endpoint TEXT NOT NULL,
    params TEXT NOT NULL,
    body TEXT NOT NULL,
    at TEXT NOT NULL
) WITHOUT ROWID;
"""


class ResponseCache:
    """Answered requests by (endpoint, parameters)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        store.ensure_schema("youtube_responses", SCHEMA)

    @staticmethod
    def request_id(endpoint: str, params: dict[str, str]) -> str:
        if "key" in params:
            raise ValueError("the API key is never part of a cached request")
        return digest_json({"endpoint": endpoint, "params": params})

    def get(self, endpoint: str, params: dict[str, str]) -> dict[str, Any] | None:
        row = self.store.execute("SELECT body FROM youtube_responses WHERE request=?",
                                 (self.request_id(endpoint, params),)).fetchone()
        return None if row is None else json.loads(row[0])

    def put(self, endpoint: str, params: dict[str, str], body: dict[str, Any]) -> None:
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO youtube_responses (request, endpoint, params, body, at) VALUES (?,?,?,?,?)",
                (self.request_id(endpoint, params), endpoint, json.dumps(params, sort_keys=True),
                 json.dumps(body, ensure_ascii=False), utcnow()))
