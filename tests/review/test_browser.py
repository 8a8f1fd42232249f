"""The review app in a real browser (Debian's chromium driven by Playwright): sign in, every queue, play and
seek a real H.264 video to a cited moment over HTTP ranges, label an item, reload and find it kept."""

from __future__ import annotations

import urllib.parse
from pathlib import Path

import pytest

from tests.review.browser import running_app, chromium
from tests.review.world import private_copy
from videokr.review.verdicts import verdicts

pytestmark = pytest.mark.slow  # `make test-all` (CI) runs them; `make chromium` installs the browser


def test_review_in_a_browser(world: Path, tmp_path: Path):
    with running_app(private_copy(world, tmp_path / "copy")) as (app, url), chromium() as browser:
        page = browser.new_page()
        media_requests = []
        page.on("request", lambda r: media_requests.append(r) if "/media/" in r.url else None)
        page.goto(url)
        assert "token=" not in page.url and page.url.endswith("/")
        assert page.locator("tr.queue").count() == 5

        for queue in ("audit", "seeds", "quality", "syllabus"):
            page.goto(url.split("?")[0] + f"q/{queue}")
            page.locator("a.item-link").first.click()
            page.wait_for_selector("form#verdict")
            assert page.locator("h1.item-title").inner_text()
        page.goto(url.split("?")[0] + "q/reannotation")
        assert "Nothing here" in page.content()

        # quality: the video plays, and a cited-moment button seeks it
        page.goto(url.split("?")[0] + "q/quality")
        page.locator("a.item-link").first.click()
        page.wait_for_function("document.getElementById('player').readyState >= 1")
        page.locator("button.jump[data-t='4.0']").first.click()
        page.wait_for_function("Math.abs(document.getElementById('player').currentTime - 4.0) < 0.5")
        page.wait_for_function("document.getElementById('player').readyState >= 2")
        assert page.evaluate("document.getElementById('player').error") is None
        page.keyboard.press("Space")  # play (a key press is a user gesture)
        page.wait_for_function("!document.getElementById('player').paused && "
                               "document.getElementById('player').currentTime > 4.1")
        page.keyboard.press("Space")
        assert media_requests and any("range" in r.headers for r in media_requests)
        assert any(r.headers.get("range", "").startswith("bytes=") for r in media_requests)

        # label with the keyboard (2: the second flag), save, reload: kept
        item_id = urllib.parse.parse_qs(urllib.parse.urlsplit(page.url).query)["id"][0]
        page.fill("form#verdict input[name=reviewer]", "dora")
        page.evaluate("document.activeElement.blur()")
        page.keyboard.press("2")
        with page.expect_navigation():
            page.keyboard.press("s")
        page.reload()
        assert page.locator("input[name=reasoning_error]").is_checked()
        assert not page.locator("input[name=non_visual_solvable]").is_checked()
        assert "saved as dora, round 1" in page.content()
        saved = [v for v in verdicts(app.store, "quality", item_id=item_id) if v.reviewer == "dora"]
        assert saved and saved[0].payload["reasoning_error"] is True
