"""Argilla 2.x: the on-disk dataset a queue exports, and a dataset saved by `Dataset.to_disk` read back.

argilla itself is not installed in tests: its client checks a live server as soon as a Settings or
Field is built, so the files are checked against the layout read from argilla 2.8.0's source
(argilla/datasets/_io/_disk.py: `.argilla/dataset.json`, `.argilla/settings.json`, `records.json`;
`Settings.serialize`, `Record.to_dict`, the field/question/metadata models). A dataset "annotated in
Argilla" is our export with what the server adds (ids, timestamps, record status) and the
responses as `Record.to_dict` writes them: `{question: [{"value": ..., "user_id": UUID}]}`.
tests/review/data/argilla-audit/ is one hand-made, real-shaped saved dataset.
"""

from __future__ import annotations

import json
import shutil
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.review.test_interop_common import (
    served,
    final_of,
    key,
    tool_answers,
    interop,  # noqa: F401 - the fixture
)
from videokr.review.interop import argilla, detect_format, read_answers
from videokr.review.interop.controls import CONTROLS
from videokr.review.interop.importing import verdicts_from
from videokr.review.schema import QUEUES, ReviewVerdict
from videokr.review.verdicts import save_verdict, verdicts
from videokr.store import Store

DATA = Path(__file__).parent / "data"
USER_IDS = {"alice": "2b7e9a51-3c0d-4f6e-8a1b-9c2d3e4f5a60", "bob": "7d1c4e88-0a2b-4c3d-9e5f-6a7b8c9d0e1f"}
BY_ID = {user_id: name for name, user_id in USER_IDS.items()}
NOW = datetime(2026, 3, 9, 12, 0, 0, tzinfo=timezone.utc)
MEDIA = "http://127.0.0.1:8765"
QUESTION_SETTINGS = {
    "label_selection": {"type", "options", "visible_options"},
    "text": {"type", "use_markdown"},
}


def export(interop: dict[str, Any], queue: str, out: Path) -> Path:
    argilla.write_dataset(
        out,
        queue,
        interop["items"][queue],
        final_of(interop["verdicts"][queue]),
        media=served(interop, MEDIA),
    )
    return out


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def annotate(dataset: Path, verdicts: list[ReviewVerdict]) -> Path:
    """What `to_disk` saves after reviewers answered `verdicts` in Argilla: server ids, responses, status."""
    server = load(dataset / ".argilla/dataset.json")
    dataset_id = str(uuid.uuid5(uuid.NAMESPACE_URL, server["name"]))
    server.update(
        id=dataset_id,
        status="ready",
        workspace_id="0f3e2d1c-b0a9-4877-8665-544332211000",
        inserted_at="2026-03-03T09:00:00.000000",
        updated_at="2026-03-03T09:00:05.000000",
        last_activity_at="2026-03-05T17:42:10.000000",
    )
    (dataset / ".argilla/dataset.json").write_text(json.dumps(server))
    settings = load(dataset / ".argilla/settings.json")
    for part in ("fields", "questions", "metadata"):
        for prop in settings[part]:
            prop.update(
                id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{part}/{prop['name']}")),
                dataset_id=dataset_id,
                inserted_at="2026-03-03T09:00:01.000000",
                updated_at="2026-03-03T09:00:01.000000",
            )
    (dataset / ".argilla/settings.json").write_text(json.dumps(settings))
    records = load(dataset / "records.json")
    for record in records:
        mine = sorted(
            (v for v in verdicts if v.item_id == record["metadata"]["videokr_item_id"]), key=lambda v: v.round
        )
        responses: dict[str, list[dict[str, Any]]] = {}
        for verdict in mine:
            for question, values in tool_answers(verdict).items():
                responses.setdefault(question, []).append(
                    {"value": "\n".join(values), "user_id": USER_IDS[verdict.reviewer]}
                )
        record.update(
            responses=responses,
            status="completed" if mine else "pending",
            _server_id=str(uuid.uuid5(uuid.NAMESPACE_URL, record["id"])),
        )
    (dataset / "records.json").write_text(json.dumps(records))
    return dataset


def imported(dataset: Path, interop: dict[str, Any], **kwargs: Any):
    answers, skipped = argilla.read_answers(dataset)
    known = {q: {i.item_id for i in items} for q, items in interop["items"].items()}
    result = verdicts_from(
        answers,
        tool=argilla.TOOL,
        known_items=known.__getitem__,
        reviewers=kwargs.pop("reviewers", BY_ID),
        now=NOW,
        **kwargs,
    )
    return result, skipped


def at_import(verdicts: list[ReviewVerdict]) -> list[ReviewVerdict]:
    """Argilla's saved responses carry no time: an imported verdict is as of the import."""
    return sorted((v.model_copy(update={"updated_at": NOW}) for v in verdicts), key=key)


# -- the layout ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("queue", QUEUES)
def test_the_dataset_has_argillas_disk_layout(interop, queue, tmp_path):
    out = export(interop, queue, tmp_path / queue)
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == [
        ".argilla/dataset.json",
        ".argilla/settings.json",
        "records.json",
    ]
    dataset = load(out / ".argilla/dataset.json")
    assert set(dataset) == {
        "id",
        "inserted_at",
        "updated_at",
        "name",
        "status",
        "guidelines",
        "allow_extra_metadata",
        "distribution",
        "workspace_id",
        "last_activity_at",
    }
    assert dataset["name"] == f"videokr-{queue}" and dataset["distribution"] == {
        "strategy": "overlap",
        "min_submitted": 1,
    }
    settings = load(out / ".argilla/settings.json")
    assert set(settings) == {
        "guidelines",
        "questions",
        "fields",
        "vectors",
        "metadata",
        "allow_extra_metadata",
        "distribution",
        "mapping",
    }
    for prop in settings["fields"] + settings["questions"]:
        assert set(prop) >= {
            "id",
            "name",
            "settings",
            "title",
            "required",
            "description",
            "dataset_id",
            "type",
        }
        assert prop["type"] == prop["settings"]["type"]
    for field in settings["fields"]:
        assert field["settings"] == {"type": "text", "use_markdown": field["name"] in ("video", "context")}
    by_name = {q["name"]: q for q in settings["questions"]}
    assert list(by_name) == [c.name for c in CONTROLS[queue]]
    for control in CONTROLS[queue]:
        question = by_name[control.name]
        assert set(question["settings"]) == QUESTION_SETTINGS[question["type"]]
        assert question["required"] == control.required
        if control.kind == "choice":
            assert question["type"] == "label_selection"
            assert [o["value"] for o in question["settings"]["options"]] == list(control.options)
            visible = question["settings"]["visible_options"]
            assert visible == (len(control.options) if len(control.options) >= 3 else None)
        else:
            assert question["type"] == "text"
    for meta in settings["metadata"]:
        assert (
            meta["settings"]["type"] == "terms" and "type" not in meta
        )  # as MetadataField.serialize writes it
    names = [p["name"] for part in ("fields", "questions", "metadata") for p in settings[part]]
    assert len(names) == len(set(names)), "Argilla needs unique property names"
    records = load(out / "records.json")
    fields = {f["name"] for f in settings["fields"]}
    questions = set(by_name)
    assert len(records) == len(interop["items"][queue])
    for record, item in zip(records, interop["items"][queue]):
        assert set(record) == {
            "id",
            "fields",
            "metadata",
            "suggestions",
            "responses",
            "vectors",
            "status",
            "_server_id",
        }
        assert record["id"] == item.item_id and record["status"] == "pending" and record["responses"] == {}
        assert set(record["fields"]) <= fields and "context" in record["fields"]
        assert all(isinstance(v, str) and v for v in record["fields"].values())
        assert record["metadata"] == {
            "group": item.group,
            "videokr_queue": queue,
            "videokr_item_id": item.item_id,
        }
        for question, suggestion in record["suggestions"].items():
            assert question in questions and set(suggestion) == {"value", "score", "agent"}
            if by_name[question]["type"] == "label_selection":
                assert suggestion["value"] in [o["value"] for o in by_name[question]["settings"]["options"]]


def test_the_video_field_plays_the_served_file_and_links_the_moments(interop, tmp_path):
    out = export(interop, "quality", tmp_path / "q")
    first, second = load(out / "records.json")
    assert first["fields"]["video"].startswith(
        '<video controls preload="metadata" width="100%"><source src="http://127.0.0.1:8765/videos/clip%20one.mp4"'
    )
    assert 'href="http://127.0.0.1:8765/videos/clip%20one.mp4#t=83.5"' in first["fields"]["video"]
    assert first["fields"]["options"].splitlines()[1] == "B. It slows down"
    assert "https://media.example.org/v/titration.mp4" in second["fields"]["video"]
    assert first["suggestions"]["reasoning_error"] == {
        "value": "yes",
        "score": None,
        "agent": "videokr: alice, round 1",
    }
    assert second["suggestions"]["reasoning_error"]["agent"] == "videokr: bob, round 2"


def test_export_refuses_a_directory_that_holds_a_dataset(interop, tmp_path):
    export(interop, "audit", tmp_path / "a")
    with pytest.raises(FileExistsError, match="dataset.json exists"):
        export(interop, "audit", tmp_path / "a")


# -- round trips --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("queue", QUEUES)
def test_saved_dataset_round_trip(interop, queue, tmp_path):
    want = interop["verdicts"][queue]
    dataset = annotate(export(interop, queue, tmp_path / queue), want)
    assert detect_format(dataset) == "argilla"
    got, unanswered = imported(dataset, interop)
    assert [str(p) for p in got.problems] == [] and unanswered == 0
    assert sorted(got.verdicts, key=key) == at_import(want)
    store = Store(tmp_path / "videokr.sqlite")
    for verdict in got.verdicts:
        save_verdict(store, verdict)
    assert sorted(verdicts(store, queue), key=key) == at_import(want)


@pytest.mark.parametrize("queue", QUEUES)
def test_accepting_the_suggestions_gives_the_current_verdict(interop, queue, tmp_path):
    dataset = export(interop, queue, tmp_path / queue)
    records = load(dataset / "records.json")
    final = final_of(interop["verdicts"][queue])
    for record in records:
        reviewer = final[record["id"]].reviewer
        record["responses"] = {
            q: [{"value": s["value"], "user_id": USER_IDS[reviewer]}]
            for q, s in record["suggestions"].items()
        }
    (dataset / "records.json").write_text(json.dumps(records))
    got, _ = imported(dataset, interop)
    assert not got.problems
    assert sorted(got.verdicts, key=key) == at_import(
        [v.model_copy(update={"round": 1}) for v in final.values()]
    )


def test_the_real_shaped_sample(interop):
    got, unanswered = imported(DATA / "argilla-audit", interop)
    assert [str(p) for p in got.problems] == []
    assert unanswered == 1
    items = interop["items"]["audit"]
    assert sorted(got.verdicts, key=key) == sorted(
        [
            ReviewVerdict(
                queue="audit",
                item_id=items[0].item_id,
                reviewer="alice",
                round=1,
                payload={"label": "soft"},
                note="made up the unit",
                updated_at=NOW,
            ),
            ReviewVerdict(
                queue="audit",
                item_id=items[0].item_id,
                reviewer="bob",
                round=2,
                payload={"label": "soft"},
                note=None,
                updated_at=NOW,
            ),
        ],
        key=key,
    )
    _, answers, _ = read_answers(DATA / "argilla-audit")
    assert {a.user for a in answers} == set(USER_IDS.values())


# -- bad input ----------------------------------------------------------------------------------------------


def test_bad_records_are_named_and_the_good_ones_imported(interop, tmp_path):
    dataset = annotate(export(interop, "quality", tmp_path / "q"), interop["verdicts"]["quality"])
    records = load(dataset / "records.json")
    stranger = json.loads(json.dumps(records[0]))
    stranger["id"], stranger["metadata"]["videokr_item_id"] = "ex-404", "ex-404"
    wrong = json.loads(json.dumps(records[1]))  # ex-q2: alice's answer broken, bob's (round 2) fine
    wrong["responses"]["non_visual_solvable"][0]["value"] = "perhaps"
    unlabeled = json.loads(json.dumps(records[0]))
    unlabeled["id"], unlabeled["metadata"] = "loose", {}
    (dataset / "records.json").write_text(json.dumps([records[0], stranger, wrong, unlabeled, 7]))
    got, _ = imported(dataset, interop)
    where = f"{dataset / 'records.json'}"
    assert [str(p) for p in got.problems] == [
        f"{where}: record 2 (id ex-404), user {USER_IDS['alice']}: item 'ex-404' is not in the quality queue of "
        "this workspace",
        f"{where}: record 3 (id ex-q2), user {USER_IDS['alice']}: alice: non_visual_solvable: 'perhaps' is "
        "not one of yes, no",
        f"{where}: record 4 (id loose): no videokr queue and item id (was the task exported by `videokr review "
        "export`?)",
        f"{where}: record 5: expected a JSON object, got int",
    ]
    quality = interop["verdicts"]["quality"]
    assert sorted(got.verdicts, key=key) == at_import([quality[0], quality[2]])


def test_a_directory_without_records(tmp_path):
    (tmp_path / "ds" / ".argilla").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="records.json: no such file"):
        argilla.read_answers(tmp_path / "ds")
    shutil.rmtree(tmp_path / "ds")
    with pytest.raises(FileNotFoundError, match="no such file or directory"):
        detect_format(tmp_path / "ds")
