"""How fast the review app lists a page and opens an item of a 100,000-item queue.

The app materialises a queue into the `review_items` table once (on refresh) and answers each
page and item with indexed queries. The baseline, run in the same process on the same store, is
what an app without that table does on every request: build the queue (here: read and parse all
100,000 items, the cheapest stand-in for calling the provider) and slice the page / find the item.
Both are timed through the real ASGI app (Starlette's test client), median of N requests.

    .venv/bin/python benchmarks/bench_review.py [--items 100000] [--repeat 15]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import urllib.parse
from pathlib import Path

from starlette.testclient import TestClient

from videokr.review import catalog
from videokr.review.app import build_asgi
from videokr.review.schema import ReviewItem, ReviewVerdict
from videokr.review.verdicts import save_verdict
from videokr.workspace import Workspace

TOKEN = "bench"
TARGET_MS = 100.0


def synthetic(n: int) -> list[ReviewItem]:
    groups = [f"{d}/{s}" for d in ("Natural Sciences", "Engineering", "Healthcare", "Humanities & Social Sciences")
              for s in ("VidR", "KnowVid", "KnowVidR")]
    return [ReviewItem(queue="quality", item_id=f"ex-{i:06d}", group=groups[i % len(groups)],
                       title=f"What happens at [00:{i % 60:02d}] in clip {i}?", timestamps=[float(i % 60)],
                       fields={"question": f"What happens in clip {i}?", "options": ["A. up", "B. down"],
                               "answer": "B", "reasoning": f"At [00:{i % 60:02d}] it falls."})
            for i in range(n)]


def median_ms(client: TestClient, url: str, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        answer = client.get(url)
        times.append((time.perf_counter() - start) * 1000)
        assert answer.status_code == 200, (url, answer.status_code)
    return statistics.median(times)


def baseline_ms(store, item_id: str, page_no: int, repeat: int) -> tuple[float, float]:
    """Build the queue per request (read + parse every item), then slice a page / find the item."""
    def build() -> list[ReviewItem]:
        rows = store.execute("SELECT data FROM review_items WHERE queue='quality' ORDER BY position").fetchall()
        return [ReviewItem.model_validate(json.loads(r[0])) for r in rows]

    lists, opens = [], []
    for _ in range(repeat):
        start = time.perf_counter()
        items = build()
        _ = items[(page_no - 1) * catalog.PAGE_SIZE: page_no * catalog.PAGE_SIZE]
        lists.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        items = build()
        _ = next(i for i in items if i.item_id == item_id)
        opens.append((time.perf_counter() - start) * 1000)
    return statistics.median(lists), statistics.median(opens)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace.init(Path(tmp) / "ws")
        items = synthetic(args.items)
        start = time.perf_counter()
        catalog.refresh(ws.store, "quality", items)
        refresh_s = time.perf_counter() - start
        for i in range(0, args.items, 10):  # a tenth reviewed
            save_verdict(ws.store, ReviewVerdict(queue="quality", item_id=items[i].item_id, reviewer="ana",
                                                 payload={"non_visual_solvable": False, "reasoning_error": False,
                                                          "answer_changing_error": False}))
        _, asgi = build_asgi(ws, token=TOKEN, host="testserver", port=80, refresh=False)
        client = TestClient(asgi)
        client.get(f"/?token={TOKEN}")
        page_no = args.items // catalog.PAGE_SIZE // 2  # a page in the middle
        item_id = items[args.items // 2 + 7].item_id
        list_ms = median_ms(client, f"/q/quality?page={page_no}", args.repeat)
        open_ms = median_ms(client, f"/q/quality/item?id={urllib.parse.quote(item_id)}", args.repeat)
        base_list, base_open = baseline_ms(ws.store, item_id, page_no, max(3, args.repeat // 3))
    print(f"queue of {args.items:,} items (materialised once in {refresh_s:.1f} s)")
    print(f"list a page : {list_ms:7.1f} ms median (target < {TARGET_MS:.0f}); baseline build-per-request "
          f"{base_list:8.1f} ms; ratio {base_list / list_ms:6.1f}x")
    print(f"open an item: {open_ms:7.1f} ms median (target < {TARGET_MS:.0f}); baseline build-per-request "
          f"{base_open:8.1f} ms; ratio {base_open / open_ms:6.1f}x")


if __name__ == "__main__":
    main()
