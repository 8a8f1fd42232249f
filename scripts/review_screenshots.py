"""Screenshots of every review queue for docs/review.md (docs/images/review-<queue>.png).

Builds the test workspace of tests/review/world.py (real videos, every queue filled through the
CLI), serves the app on loopback and photographs one item of each queue with Debian's chromium.
The re-annotation queue is empty until `videokr benchmark build` has run; when it is, the
script shows one filtered example of the workspace's own videos so the page can be seen.

    .venv/bin/python scripts/review_screenshots.py [--out docs/images]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.review.browser import chromium, running_app  # noqa: E402
from tests.review.world import build_world  # noqa: E402
from videokr.review import catalog  # noqa: E402
from videokr.review.schema import QUEUES, ReviewItem  # noqa: E402

VIEWPORT = {"width": 1000, "height": 640}


def reannotation_example(ws: Path) -> ReviewItem:
    video = next((ws.parent / "videos").glob("*.mp4"))
    return ReviewItem(queue="reannotation", item_id="MMVU/val-0042", group="MMVU", title="Which way does the ball go?",
                      video=str(video), timestamps=[2.0, 4.0],
                      fields={"question": "Which way does the ball go at [00:02]?", "options": ["A. up", "B. down"],
                              "answer": "B", "reason": "single-frame solvable by every probe model"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as patch:
        ws = build_world(Path(tmp), patch)
        with running_app(ws, reviewer="ana") as (app, url), chromium() as browser:
            if not catalog.page(app.store, "reannotation")[1]:
                catalog.refresh(app.store, "reannotation", [reannotation_example(ws)])
            page = browser.new_page(viewport=VIEWPORT)
            page.goto(url)
            base = url.split("?")[0]
            page.screenshot(path=str(args.out / "review-index.png"))
            for queue in QUEUES:
                page.goto(f"{base}q/{queue}")
                page.locator("a.item-link").first.click()
                page.wait_for_selector("form#verdict")
                if page.locator("#player").count():
                    page.wait_for_function("document.getElementById('player').readyState >= 1")
                    page.locator("button.jump").first.click()
                    page.wait_for_function("document.getElementById('player').readyState >= 2")
                page.screenshot(path=str(args.out / f"review-{queue}.png"))
                print(args.out / f"review-{queue}.png")


if __name__ == "__main__":
    main()
