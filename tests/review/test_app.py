"""The review app over ASGI (Starlette's test client): routes, sign-in and guards, byte ranges, saving."""

from __future__ import annotations

import threading
import urllib.parse
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.review.world import private_copy
from videokr.models.audit import audit_summaries
from videokr.review import catalog
from videokr.review.app import build_asgi
from videokr.review.security import cookie_name
from videokr.review.verdicts import final_verdicts, verdicts
from videokr.store import Store
from videokr.workspace import Workspace

TOKEN = "test-token-123"
HOST = "testserver"


@pytest.fixture(scope="module")
def app(world: Path, tmp_path_factory: pytest.TempPathFactory):
    ws = private_copy(world, tmp_path_factory.mktemp("app") / "copy")
    review, asgi = build_asgi(Workspace.open(ws), token=TOKEN, host=HOST, port=80)
    return review, asgi


@pytest.fixture
def client(app) -> TestClient:
    client = TestClient(app[1], follow_redirects=False)
    signed = client.get(f"/?token={TOKEN}")
    assert signed.status_code == 303 and signed.headers["location"] == "/"
    assert "HttpOnly" in signed.headers["set-cookie"] and "SameSite=Strict" in signed.headers["set-cookie"]
    return client


def first_item(app, queue: str) -> str:
    rows, _ = catalog.page(app[0].store, queue)  # type: ignore[arg-type]
    return rows[0].item_id


def test_no_token_no_entry(app):
    bare = TestClient(app[1], follow_redirects=False)
    assert bare.get("/").status_code == 401
    assert bare.get("/?token=wrong").status_code == 401
    assert bare.post("/q/audit/verdict", data={"id": "x"}).status_code == 401
    kept = bare.get(f"/q/quality?token={TOKEN}&page=2")
    assert kept.status_code == 303 and kept.headers["location"] == "/q/quality?page=2"


def test_wrong_host_and_origin(client):
    assert client.get("/", headers={"host": "evil.example"}).status_code == 400
    assert client.get("/", headers={"host": "testserver:81"}).status_code == 400
    refused = client.post("/q/audit/refresh", headers={"origin": "http://evil.example"})
    assert refused.status_code == 403
    assert client.post("/q/audit/refresh", headers={"origin": "http://testserver"}).status_code == 303


def test_get_cannot_change_state(app, client):
    item_id = first_item(app, "audit")
    before = verdicts(app[0].store)
    for path in (f"/q/audit/verdict?id={urllib.parse.quote(item_id)}&label=hard&reviewer=x", "/q/audit/refresh",
                 "/reviewer?reviewer=x"):
        assert client.get(path).status_code == 405
    assert verdicts(app[0].store) == before


def test_pages_of_every_queue(app, client):
    index = client.get("/")
    assert index.status_code == 200
    for title in ("Model audits", "Seed curation", "Quality assessment", "Re-annotation", "Syllabus drafts"):
        assert title in index.text
    assert "knowledge_points" in index.text and "≤ 3%" in index.text  # eligibility against the threshold
    for queue in ("audit", "seeds", "quality", "syllabus"):
        listed = client.get(f"/q/{queue}")
        assert listed.status_code == 200 and "item-link" in listed.text, queue
        item_id = first_item(app, queue)
        page = client.get(f"/q/{queue}/item?id={urllib.parse.quote(item_id, safe='')}")
        assert page.status_code == 200 and 'id="verdict"' in page.text, queue
    assert "Nothing here" in client.get("/q/reannotation").text
    assert client.get("/q/nope").status_code == 404
    assert client.get("/q/audit/item?id=missing").status_code == 404


def test_quality_item_shows_video_and_cited_moment(app, client):
    item_id = first_item(app, "quality")
    page = client.get(f"/q/quality/item?id={item_id}").text
    assert f'src="/media/quality?id={item_id}"' in page
    assert 'data-t="4.0"' in page and "[00:04]" in page
    assert "Keyboard shortcuts" in page


def test_range_requests(app, client):
    item_id = first_item(app, "quality")
    item, _ = catalog.item(app[0].store, "quality", item_id)
    size = Path(item.video).stat().st_size
    data = Path(item.video).read_bytes()
    whole = client.get(f"/media/quality?id={item_id}")
    assert whole.status_code == 200 and whole.content == data and whole.headers["accept-ranges"] == "bytes"
    assert whole.headers["content-type"] == "video/mp4"
    part = client.get(f"/media/quality?id={item_id}", headers={"range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == data[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{size}"
    tail = client.get(f"/media/quality?id={item_id}", headers={"range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == data[-10:]
    past = client.get(f"/media/quality?id={item_id}", headers={"range": f"bytes={size}-"})
    assert past.status_code == 416 and past.headers["content-range"] == f"bytes */{size}"
    assert client.get("/media/audit?id=" + urllib.parse.quote(first_item(app, "audit"))).status_code == 404


def test_audit_label_reaches_the_pool(app, client):
    store: Store = app[0].store
    item_id = first_item(app, "audit")
    step, model, audit_id = item_id.split("|")
    saved = client.post("/q/audit/verdict", data={"id": item_id, "reviewer": "ana", "round": "1", "label": "hard"})
    assert saved.status_code == 303
    summary = audit_summaries(store)[(step, model)]
    assert summary.labelled >= 1 and summary.hard >= 1
    assert final_verdicts(store, "audit")[item_id].payload == {"label": "hard"}
    # a second reviewer's label is the one the pool reads
    client.post("/q/audit/verdict", data={"id": item_id, "reviewer": "ben", "round": "2", "label": "fine"})
    assert store.execute("SELECT label FROM model_audits WHERE audit_id=?", (audit_id,)).fetchone()[0] == "fine"
    index = client.get("/").text
    assert "knowledge_points" in index and "loop" in index


def test_bad_form_is_said_on_the_page(app, client):
    item_id = first_item(app, "quality")
    bad = client.post("/q/quality/verdict", data={"id": item_id, "reviewer": "ana", "round": "1",
                                                   "answer_changing_error": "on"})
    assert bad.status_code == 422 and "reasoning_error" in bad.text
    nameless = client.post("/q/quality/verdict", data={"id": item_id, "reviewer": " ", "round": "1"})
    assert nameless.status_code == 422 and "reviewer" in nameless.text
    assert not [v for v in verdicts(app[0].store, "quality", item_id=item_id) if not v.reviewer.strip()]


def test_reannotation_form_rules():
    from videokr.review.forms import FormError, check_example

    good = check_example({"question": "Which way?", "options": ["left", "right"], "answer": "b",
                          "question_type": "multiple-choice"})
    assert good["answer"] == "B"
    for bad in ({"question": "Which?", "options": ["left", "Left"], "answer": "A", "question_type": "multiple-choice"},
                {"question": "Which?", "options": ["left", "right"], "answer": "C", "question_type": "multiple-choice"},
                {"question": "How far?", "options": ["a", "b"], "answer": "3 m", "question_type": "open-ended"},
                {"question": "", "options": [], "answer": "3", "question_type": "open-ended"}):
        with pytest.raises(FormError):
            check_example(bad)


def test_concurrent_saves(app, client):
    store: Store = app[0].store
    item_id = first_item(app, "syllabus")
    errors: list[BaseException] = []

    def work(who: str, decision: str) -> None:
        try:
            with TestClient(app[1], follow_redirects=False) as own:
                own.cookies.set(cookie_name(80), TOKEN)
                for _ in range(5):
                    answer = own.post("/q/syllabus/verdict", data={"id": item_id, "reviewer": who, "round": "1",
                                                                   "decision": decision})
                    assert answer.status_code == 303, answer.text
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=args)
               for args in (("ana", "approve"), ("ben", "reject"), ("ana", "approve"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    kept = {v.reviewer: v.payload["decision"] for v in verdicts(store, "syllabus", item_id=item_id)}
    assert kept == {"ana": "approve", "ben": "reject"}
    client.post("/q/syllabus/verdict", data={"id": item_id, "reviewer": "ana", "round": "1", "decision": "reject"})
    kept = {v.reviewer: v.payload["decision"] for v in verdicts(store, "syllabus", item_id=item_id)}
    assert kept == {"ana": "reject", "ben": "reject"}


def test_blind_second_round_and_agreement(app, client):
    item_id = first_item(app, "seeds")
    quoted = urllib.parse.quote(item_id, safe="")
    client.post("/q/seeds/verdict", data={"id": item_id, "reviewer": "ana", "round": "1", "decision": "keep"})
    client.cookies.set("videokr_reviewer", "cy")
    blind = client.get(f"/q/seeds/item?id={quoted}&round=2").text
    assert "hidden until you save" in blind and "<b>ana</b>" not in blind
    listed = client.get("/q/seeds?state=round2").text
    assert quoted in listed
    client.post("/q/seeds/verdict", data={"id": item_id, "reviewer": "cy", "round": "2", "decision": "drop"})
    seen = client.get(f"/q/seeds/item?id={quoted}&round=2").text
    assert "<b>ana</b>" in seen
    assert "0.0% of 1" in client.get("/").text
