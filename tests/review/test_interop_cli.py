"""`videokr review export|import` on a real workspace (the review app's world, copied per test).

The queues come from the real providers; videos are served over loopback by the media stand-in and
fetched from the exported URLs; imported verdicts go through the app's own rules and save path (an
audit label reaches the pool's `model_audits` table).
"""

from __future__ import annotations

import json
import shutil
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.cli_support import invoke
from videokr.review.queues import queue_items
from videokr.review.verdicts import verdicts
from videokr.testing.media_server import MediaServer
from videokr.workspace import Workspace

ALICE = {"id": 11, "email": "alice@lab.example", "first_name": "Alice", "last_name": "Ames"}
BOB = {"id": 12, "email": "bob@lab.example", "first_name": "Bob", "last_name": "Birch"}
ARGILLA_ALICE = "2b7e9a51-3c0d-4f6e-8a1b-9c2d3e4f5a60"


def review_export(ws: Workspace, queue: str, tool: str, out: Path, media_url: str | None = None) -> Any:
    """`videokr review export` of one queue for one tool (with `--media-url` when given)."""
    media = ("--media-url", media_url) if media_url else ()
    return invoke("-w", ws.root, "review", "export", "--queue", queue, "--format", tool, "--out", out, *media)


@pytest.fixture
def ws(world: Path, tmp_path: Path) -> Workspace:
    """A private copy of the shared world (its videos stay where the world's video_root says)."""
    copy = tmp_path / "ws"
    shutil.copytree(world, copy)
    return Workspace.open(copy)


def _reviewers(tmp_path: Path, mapping: dict[str, str]) -> Path:
    path = tmp_path / "reviewers.json"
    path.write_text(json.dumps(mapping), encoding="utf-8")
    return path


def _choices(name: str, value: str) -> dict[str, Any]:
    return {
        "value": {"choices": [value]},
        "id": f"id-{name}",
        "from_name": name,
        "to_name": "context",
        "type": "choices",
        "origin": "manual",
    }


def _annotation(number: int, user: dict[str, Any], flags: tuple[str, str, str], when: str) -> dict[str, Any]:
    names = ("non_visual_solvable", "reasoning_error", "answer_changing_error")
    return {
        "id": number,
        "completed_by": user,
        "result": [_choices(n, v) for n, v in zip(names, flags)],
        "was_cancelled": False,
        "ground_truth": False,
        "created_at": when,
        "updated_at": when,
        "lead_time": 9.5,
    }


def test_label_studio_quality_round_trip(ws, tmp_path):
    items = queue_items(ws.store, "quality", ws)
    assert len(items) >= 3 and all(item.video for item in items)
    out = tmp_path / "ls"
    with MediaServer(ws.video_root()) as server:
        done = review_export(ws, "quality", "label-studio", out, server.base_url)
        assert done.exit_code == 0, done.output
        tasks = json.loads((out / "quality.tasks.json").read_text(encoding="utf-8"))
        assert [t["meta"]["videokr_item_id"] for t in tasks] == [item.item_id for item in items]
        with urllib.request.urlopen(tasks[0]["data"]["video"]) as response:
            assert response.read() == Path(items[0].video).read_bytes()
    assert "<Video" in (out / "quality.label_config.xml").read_text(encoding="utf-8")

    export = []
    for index, task in enumerate(tasks[:3], start=1):
        annotations = [_annotation(10 * index, ALICE, ("no", "yes", "no"), "2026-03-04T10:00:00.000001Z")]
        if index == 1:
            annotations.append(_annotation(10 * index + 1, BOB, ("no", "yes", "yes"), "2026-03-05T10:00:00Z"))
        if index == 3:  # an answer-changing error that is no reasoning error: the app refuses it
            annotations = [_annotation(30, ALICE, ("no", "no", "yes"), "2026-03-04T11:00:00Z")]
        export.append(
            {"id": 700 + index, "data": task["data"], "meta": task["meta"], "annotations": annotations}
        )
    stranger = json.loads(json.dumps(export[1]))
    stranger["id"] = 799
    stranger["meta"]["videokr_item_id"] = stranger["data"]["videokr_item_id"] = "no-such-example"
    export.append(stranger)
    path = tmp_path / "project-export.json"
    path.write_text(json.dumps(export), encoding="utf-8")

    done = invoke(
        "-w",
        ws.root,
        "review",
        "import",
        path,
        "--reviewers",
        _reviewers(tmp_path, {"alice@lab.example": "alice", "bob@lab.example": "bob"}),
    )
    assert done.exit_code == 1
    assert (
        f"{path}: task 3 (Label Studio id 703), annotation 30: alice: answer_changing_error is true but "
        "reasoning_error is false: an error that changes the answer is a reasoning error too"
    ) in done.text
    assert (
        f"{path}: task 4 (Label Studio id 799), annotation 20: item 'no-such-example' is not in the quality "
        "queue" in done.text
    )
    saved = {(v.item_id, v.reviewer, v.round): v for v in verdicts(ws.store, "quality")}
    assert set(saved) == {
        (items[0].item_id, "alice", 1),
        (items[0].item_id, "bob", 2),
        (items[1].item_id, "alice", 1),
    }
    assert saved[(items[0].item_id, "bob", 2)].payload == {
        "non_visual_solvable": False,
        "reasoning_error": True,
        "answer_changing_error": True,
    }

    again = tmp_path / "again"  # the saved verdicts come pre-filled in the next export
    assert review_export(ws, "quality", "label-studio", again, "http://127.0.0.1:1/").exit_code == 0
    first = json.loads((again / "quality.tasks.json").read_text(encoding="utf-8"))[0]
    assert first["predictions"][0]["model_version"] == "videokr: bob, round 2"


def test_argilla_audit_round_trip_sets_the_pool_label(ws, tmp_path):
    items = queue_items(ws.store, "audit", ws)
    assert items
    out = tmp_path / "audit-ds"
    done = review_export(ws, "audit", "argilla", out)
    assert done.exit_code == 0, done.output
    records = json.loads((out / "records.json").read_text(encoding="utf-8"))
    records[0]["responses"] = {
        "label": [{"value": "hard", "user_id": ARGILLA_ALICE}],
        "note": [{"value": "not JSON", "user_id": ARGILLA_ALICE}],
    }
    records[0]["status"] = "completed"
    (out / "records.json").write_text(json.dumps(records), encoding="utf-8")

    done = invoke(
        "-w", ws.root, "review", "import", out, "--reviewers", _reviewers(tmp_path, {ARGILLA_ALICE: "alice"})
    )
    assert done.exit_code == 0, done.output
    assert "imported 1 verdicts (1 audit)" in done.text
    (verdict,) = verdicts(ws.store, "audit")
    assert (verdict.item_id, verdict.reviewer, verdict.round, verdict.payload, verdict.note) == (
        items[0].item_id,
        "alice",
        1,
        {"label": "hard"},
        "not JSON",
    )
    step, model, audit_id = items[0].item_id.split("|", 2)
    row = ws.store.execute(
        "SELECT label, note FROM model_audits WHERE step=? AND model=? AND audit_id=?",
        (step, model, audit_id),
    ).fetchone()
    assert tuple(row) == ("hard", "not JSON")


def test_seed_edits_are_normalised_as_the_app_does(ws, tmp_path):
    items = queue_items(ws.store, "seeds", ws)
    item = next(i for i in items if i.fields.get("options"))
    editable = item.fields["editable"]
    other = next(letter for letter in "ABCD"[: len(editable["options"])] if letter != editable["answer"])
    out = tmp_path / "seeds"
    with MediaServer(ws.video_root()) as server:
        done = review_export(ws, "seeds", "label-studio", out, server.base_url)
    assert done.exit_code == 0, done.output
    task = next(
        t
        for t in json.loads((out / "seeds.tasks.json").read_text())
        if t["meta"]["videokr_item_id"] == item.item_id
    )
    result = [
        _choices("decision", "keep"),
        {
            "value": {"text": [json.dumps({"answer": other.lower()})]},
            "id": "e",
            "from_name": "edited",
            "to_name": "context",
            "type": "textarea",
        },
    ]
    export = [
        {
            "id": 1,
            "data": task["data"],
            "meta": task["meta"],
            "annotations": [
                {
                    "id": 5,
                    "completed_by": ALICE,
                    "result": result,
                    "created_at": "2026-03-04T10:00:00Z",
                    "updated_at": "2026-03-04T10:00:00Z",
                }
            ],
        }
    ]
    path = tmp_path / "seeds-export.json"
    path.write_text(json.dumps(export), encoding="utf-8")
    done = invoke("-w", ws.root, "review", "import", path, "--round", "2")
    assert done.exit_code == 0, done.output
    (verdict,) = verdicts(ws.store, "seeds")
    assert (verdict.reviewer, verdict.round) == ("alice@lab.example", 2)
    assert verdict.payload == {"decision": "keep", "edited": {"answer": other}}  # the letter in capitals


def test_export_and_import_say_what_is_wrong(ws, tmp_path):
    cases = [
        (
            ("review", "export", "--queue", "gossip", "--format", "argilla", "--out", tmp_path / "x"),
            "--queue 'gossip'",
        ),
        (
            ("review", "export", "--queue", "quality", "--format", "csv", "--out", tmp_path / "x"),
            "--format 'csv'",
        ),
        (
            ("review", "export", "--queue", "quality", "--format", "argilla", "--out", tmp_path / "x"),
            "is a local file: pass --media-url",
        ),
        (
            (
                "review",
                "export",
                "--queue",
                "quality",
                "--format",
                "argilla",
                "--out",
                tmp_path / "x",
                "--media-url",
                "http://h",
                "--media-root",
                tmp_path,
            ),
            "the folder --media-url serves: pass --media-root",
        ),
        (("review", "import", tmp_path / "missing.json"), "no such file or directory"),
        (("review", "import", tmp_path, "--format", "argilla"), "records.json: no such file"),
    ]
    for args, message in cases:
        done = invoke("-w", ws.root, *args)
        assert done.exit_code == 1 and message in done.text, (args, done.output)
    unanswered = tmp_path / "unanswered.json"
    unanswered.write_text(json.dumps([{"id": 1, "data": {}, "annotations": []}]), encoding="utf-8")
    done = invoke("-w", ws.root, "review", "import", unanswered)
    assert done.exit_code == 1 and "no verdict to import" in done.text
    bad_map = tmp_path / "map.json"
    bad_map.write_text("[1, 2]", encoding="utf-8")
    done = invoke("-w", ws.root, "review", "import", unanswered, "--reviewers", bad_map)
    assert done.exit_code == 1 and "expected a JSON object of names" in done.text


def test_syllabus_edits_are_checked_as_drafts(ws, tmp_path):
    items = queue_items(ws.store, "syllabus", ws)
    assert len(items) >= 2
    out = tmp_path / "syllabus-ds"
    assert review_export(ws, "syllabus", "argilla", out).exit_code == 0
    records = json.loads((out / "records.json").read_text(encoding="utf-8"))
    edited = json.loads(json.dumps(items[0].fields["syllabus"]))
    edited["courses"][0]["lectures"][0]["lecture"] = "Foundations, revised"
    records[0]["responses"] = {
        "decision": [{"value": "approve", "user_id": ARGILLA_ALICE}],
        "edited": [{"value": json.dumps(edited), "user_id": ARGILLA_ALICE}],
    }
    records[1]["responses"] = {
        "decision": [{"value": "approve", "user_id": ARGILLA_ALICE}],
        "edited": [{"value": '{"courses": []}', "user_id": ARGILLA_ALICE}],
    }
    (out / "records.json").write_text(json.dumps(records), encoding="utf-8")
    done = invoke("-w", ws.root, "review", "import", out)
    assert done.exit_code == 1
    assert (
        f"record 2 (id {items[1].item_id}), user {ARGILLA_ALICE}: argilla:{ARGILLA_ALICE}: the edited "
        "syllabus:" in done.text
    )
    (verdict,) = verdicts(ws.store, "syllabus")
    assert verdict.item_id == items[0].item_id and verdict.payload["decision"] == "approve"
    assert verdict.payload["edited"]["subject"] == items[0].fields["subject"]
    assert verdict.payload["edited"]["courses"][0]["lectures"][0]["lecture"] == "Foundations, revised"
