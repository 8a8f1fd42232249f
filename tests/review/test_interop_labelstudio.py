"""Label Studio: the labeling config and tasks a queue exports, and its JSON / JSON_MIN exports read back.

The tool's exports are simulated as Label Studio writes them: JSON tasks with `annotations[].result[]`
items (`from_name`, `to_name`, `type`, `value`) and `completed_by` (an id, or the expanded user),
and JSON_MIN made from those by the rules of Label Studio's converter (task data keys, one key per
control — a string for one choice or text, `{"choices"|"text": [...]}` for several — `annotator`,
`annotation_id`, times). tests/review/data/ holds one hand-made, real-shaped sample of each.
"""

from __future__ import annotations

import json
import re
import urllib.request
import xml.etree.ElementTree as ET
from copy import deepcopy
from pathlib import Path
from typing import Any

import pytest

from tests.review.test_interop_common import (
    served,
    CHOICE_CONTROLS,
    T0,
    final_of,
    key,
    tool_answers,
    interop,  # noqa: F401 - the fixture
)
from videokr.review.interop import labelstudio
from videokr.review.interop.content import MediaError
from videokr.review.interop.controls import CONTROLS
from videokr.review.interop.importing import verdicts_from
from videokr.review.schema import QUEUES, ReviewVerdict
from videokr.review.verdicts import save_verdict, verdicts
from videokr.store import Store
from videokr.testing.media_server import MediaServer

DATA = Path(__file__).parent / "data"
USERS = {
    "alice": {"id": 11, "email": "alice@lab.example", "first_name": "Alice", "last_name": "Ames"},
    "bob": {"id": 12, "email": "bob@lab.example", "first_name": "Bob", "last_name": "Birch"},
}
BY_EMAIL = {user["email"]: name for name, user in USERS.items()}
BY_ID = {str(user["id"]): name for name, user in USERS.items()}
MEDIA = "http://127.0.0.1:8765/media"


def exported(
    interop: dict[str, Any], queue: str, media_base: str = MEDIA
) -> tuple[str, list[dict[str, Any]]]:
    items = interop["items"][queue]
    final = final_of(interop["verdicts"][queue])
    return (
        labelstudio.labeling_config(queue, items),
        labelstudio.tasks(queue, items, final, media=served(interop, media_base)),
    )


def ls_result(name: str, values: list[str], n: int) -> dict[str, Any]:
    """A classification result as Label Studio stores it (choices or textarea)."""
    type_, field = ("choices", "choices") if name in CHOICE_CONTROLS else ("textarea", "text")
    return {
        "value": {field: values},
        "id": f"Xk{n:04d}pQ",
        "from_name": name,
        "to_name": "context",
        "type": type_,
        "origin": "manual",
    }


def ls_annotation(
    verdict: ReviewVerdict, task_id: int, number: int, *, expand: bool = True
) -> dict[str, Any]:
    user = USERS[verdict.reviewer]
    result = [
        ls_result(name, values, number * 10 + i)
        for i, (name, values) in enumerate(tool_answers(verdict).items())
    ]
    created = verdict.updated_at.replace(second=0)
    return {
        "id": number,
        "completed_by": user if expand else user["id"],
        "result": result,
        "was_cancelled": False,
        "ground_truth": False,
        "created_at": _z(created),
        "updated_at": _z(verdict.updated_at),
        "draft_created_at": _z(created),
        "lead_time": 41.7,
        "prediction": {},
        "result_count": len(result),
        "unique_id": f"3e1c0a6b-0000-4000-8000-{number:012d}",
        "import_id": None,
        "last_action": None,
        "bulk_created": False,
        "task": task_id,
        "project": 7,
        "updated_by": user["id"],
        "parent_prediction": None,
        "parent_annotation": None,
        "last_created_by": None,
    }


def _z(moment) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def ls_export(tasks: list[dict[str, Any]], annotations_of) -> list[dict[str, Any]]:
    """The project's JSON export: the imported tasks with ids, annotations and Label Studio's own fields."""
    out = []
    for index, task in enumerate(tasks, start=1):
        task_id = 100 + index
        annotations = annotations_of(task, task_id)
        predictions = [
            dict(
                p,
                id=900 + index,
                task=task_id,
                project=7,
                created_ago="3 hours",
                created_at=_z(T0),
                updated_at=_z(T0),
                cluster=None,
                neighbors=None,
                mislabeling=0.0,
            )
            for p in task.get("predictions", [])
        ]
        out.append(
            {
                "id": task_id,
                "annotations": annotations,
                "file_upload": "5c1a-tasks.json",
                "drafts": [],
                "predictions": predictions,
                "data": deepcopy(task["data"]),
                "meta": deepcopy(task["meta"]),
                "created_at": _z(T0),
                "updated_at": _z(T0),
                "inner_id": index,
                "total_annotations": len(annotations),
                "cancelled_annotations": 0,
                "total_predictions": len(predictions),
                "comment_count": 0,
                "unresolved_comment_count": 0,
                "last_comment_updated_at": None,
                "project": 7,
                "updated_by": 11,
                "comment_authors": [],
            }
        )
    return out


def with_verdicts(all_verdicts: list[ReviewVerdict], *, expand: bool = True):
    def annotations_of(task, task_id):
        mine = sorted(
            (v for v in all_verdicts if v.item_id == task["meta"]["videokr_item_id"]), key=lambda v: v.round
        )
        return [ls_annotation(v, task_id, task_id * 10 + n, expand=expand) for n, v in enumerate(mine)]

    return annotations_of


def control_types(config: str) -> dict[str, str]:
    """Control tag name → tag type, as Label Studio's converter parses a config (name and toName)."""
    return {
        el.get("name"): el.tag for el in ET.fromstring(config).iter() if el.get("name") and el.get("toName")
    }


def to_json_min(tasks: list[dict[str, Any]], config: str) -> list[dict[str, Any]]:
    """JSON_MIN by the converter's rules: one row per annotation, newest first; a task without any keeps one row."""
    types = control_types(config)
    rows = []
    for task in tasks:
        annotations = sorted(
            (a for a in task["annotations"] if not a.get("was_cancelled")),
            key=lambda a: a["created_at"],
            reverse=True,
        )
        for annotation in annotations or [{}]:
            row = deepcopy(task["data"])
            row["id"] = task["id"]
            outputs: dict[str, list[dict[str, Any]]] = {}
            for result in annotation.get("result", []):
                if result["from_name"] in types:
                    outputs.setdefault(result["from_name"], []).append(
                        dict(result["value"], type=types[result["from_name"]])
                    )
            for name, regions in outputs.items():
                row[name] = _prettify(regions)
            user = annotation.get("completed_by", {})
            row["annotator"] = user.get("email") if isinstance(user, dict) else user
            row.update(
                annotation_id=annotation.get("id"),
                created_at=annotation.get("created_at"),
                updated_at=annotation.get("updated_at"),
                lead_time=annotation.get("lead_time"),
            )
            rows.append(row)
    return rows


def _prettify(regions: list[dict[str, Any]]) -> Any:
    out, kind = [], None
    for region in regions:
        region = dict(region)
        kind = region.pop("type")
        if kind == "Choices" and len(region["choices"]) == 1:
            out.append(region["choices"][0])
        elif kind == "TextArea" and len(region["text"]) == 1:
            out.append(region["text"][0])
        else:
            out.append(region)
    return out[0] if kind in ("Choices", "TextArea") and len(out) == 1 else out


def write_json(path: Path, value: Any) -> Path:
    path.write_text(json.dumps(value, ensure_ascii=False, indent=2), encoding="utf-8")
    return path


def imported(path: Path, interop: dict[str, Any], **kwargs: Any):
    answers, skipped = labelstudio.read_answers(path)
    known = {q: {i.item_id for i in items} for q, items in interop["items"].items()}
    result = verdicts_from(
        answers,
        tool=labelstudio.TOOL,
        known_items=known.__getitem__,
        reviewers=kwargs.pop("reviewers", BY_EMAIL),
        **kwargs,
    )
    return result, skipped


def assert_same(got: list[ReviewVerdict], want: list[ReviewVerdict]) -> None:
    assert sorted(got, key=key) == sorted(want, key=key)


# -- the labeling config --------------------------------------------------------------------------------------


@pytest.mark.parametrize("queue", QUEUES)
def test_labeling_config_is_well_formed_and_its_names_meet(interop, queue):
    config, tasks = exported(interop, queue)
    root = ET.fromstring(config)
    assert root.tag == "View"
    objects = {
        el.get("name"): el
        for el in root.iter()
        if el.get("name") and el.get("value") and not el.get("toName")
    }
    controls = {el.get("name"): el for el in root.iter() if el.get("name") and el.get("toName")}
    names = [el.get("name") for el in root.iter() if el.get("name")]
    assert len(names) == len(set(names)), "tag names must be unique"
    for name, control in controls.items():
        assert control.get("toName") in objects, f"{name} points at {control.get('toName')}"
    assert {c.name for c in CONTROLS[queue]} <= set(controls)
    for control in CONTROLS[queue]:
        tag = controls[control.name]
        assert tag.tag == ("Choices" if control.kind == "choice" else "TextArea")
        if control.kind == "choice":
            assert [c.get("value") for c in tag.iter("Choice")] == list(control.options)
        assert (tag.get("required") == "true") == control.required
    for view in root.iter("View"):
        if view.get("visibleWhen"):
            choices = controls[view.get("whenTagName")]
            assert view.get("whenChoiceValue") in [c.get("value") for c in choices.iter("Choice")]
    variables = set(re.findall(r"\$(\w+)", config))
    has_video = any(item.video for item in interop["items"][queue])
    assert ("video" in variables) == has_video and ("moments" in controls) == has_video
    for task in tasks:
        assert variables <= set(task["data"])
        # JSON_MIN merges data keys and control names into one object: they must not meet
        assert not set(task["data"]) & (
            set(controls)
            | {"id", "annotator", "annotation_id", "created_at", "updated_at", "lead_time", "agreement"}
        )


def test_tasks_carry_the_ids_a_playable_video_and_the_current_verdict(interop):
    with MediaServer(interop["root"]) as server:
        tasks = labelstudio.tasks(
            "quality",
            interop["items"]["quality"],
            final_of(interop["verdicts"]["quality"]),
            media=served(interop, server.base_url),
        )
        local, remote = tasks
        with urllib.request.urlopen(local["data"]["video"]) as response:  # the exported URL plays the file
            assert response.read() == interop["video"].read_bytes()
    assert local["meta"] == {
        "videokr_queue": "quality",
        "videokr_item_id": "ex-q1",
        "videokr_group": "physics/Perception",
    }
    assert local["data"]["videokr_item_id"] == "ex-q1" and local["data"]["videokr_queue"] == "quality"
    assert local["data"]["field_options"].splitlines()[0] == "A. It speeds up"
    assert remote["data"]["video"] == "https://media.example.org/v/titration.mp4"
    (prediction,) = local["predictions"]
    assert prediction["model_version"] == "videokr: alice, round 1"
    cited = [r for r in prediction["result"] if r["type"] == "timelinelabels"]
    assert [r["value"]["ranges"][0]["start"] for r in cited] == [12 * 24 + 1, int(83.5 * 24) + 1]
    assert all(r["value"]["timelinelabels"] == ["cited"] for r in cited)
    assert remote["predictions"][0]["model_version"] == "videokr: bob, round 2"  # the final verdict


def test_items_without_a_verdict_get_only_their_cited_moments(interop):
    tasks = labelstudio.tasks(
        "reannotation", interop["items"]["reannotation"], {}, media=served(interop, MEDIA)
    )
    assert tasks[0]["predictions"][0]["model_version"] == "videokr: cited moments"
    assert {r["type"] for r in tasks[0]["predictions"][0]["result"]} == {"timelinelabels"}
    assert "predictions" not in tasks[1]


def test_export_refuses_local_videos_without_a_media_url_and_existing_files(interop, tmp_path):
    with pytest.raises(MediaError, match="clip one.mp4 is a local file"):
        labelstudio.tasks("seeds", interop["items"]["seeds"], {}, media=served(interop, None))
    assert labelstudio.tasks("syllabus", interop["items"]["syllabus"], {}, media=served(interop, None))
    paths = labelstudio.write_project(
        tmp_path / "out", "audit", interop["items"]["audit"], {}, media=served(interop, None)
    )
    assert [p.name for p in paths] == ["audit.label_config.xml", "audit.tasks.json"]
    with pytest.raises(FileExistsError, match="audit.label_config.xml exists"):
        labelstudio.write_project(
            tmp_path / "out", "audit", interop["items"]["audit"], {}, media=served(interop, None)
        )


# -- round trips --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("queue", QUEUES)
def test_json_export_round_trip(interop, queue, tmp_path):
    """Every verdict, answered in Label Studio as the contract says, comes back identical — and saved as such."""
    _, tasks = exported(interop, queue)
    want = interop["verdicts"][queue]
    path = write_json(tmp_path / "export.json", ls_export(tasks, with_verdicts(want)))
    got, skipped = imported(path, interop)
    assert not got.problems and skipped == 0
    assert_same(got.verdicts, want)
    store = Store(tmp_path / "videokr.sqlite")
    for verdict in got.verdicts:
        save_verdict(store, verdict)
    assert_same(verdicts(store, queue), want)


@pytest.mark.parametrize("queue", QUEUES)
def test_json_min_export_round_trip(interop, queue, tmp_path):
    config, tasks = exported(interop, queue)
    want = interop["verdicts"][queue]
    full = ls_export(tasks, with_verdicts(want))
    path = write_json(tmp_path / "export_min.json", to_json_min(full, config))
    got, skipped = imported(path, interop)
    assert not got.problems and skipped == 0
    assert_same(got.verdicts, want)


@pytest.mark.parametrize("queue", QUEUES)
def test_accepting_the_prefilled_verdicts_gives_them_back(interop, queue, tmp_path):
    """An annotator who submits the pre-filled prediction unchanged re-creates the current verdict exactly."""
    config, tasks = exported(interop, queue)
    final = final_of(interop["verdicts"][queue])

    def accepted(task, task_id):
        verdict = final[task["meta"]["videokr_item_id"]]
        annotation = ls_annotation(verdict, task_id, task_id)
        annotation["result"] = [dict(r, origin="prediction") for r in task["predictions"][0]["result"]]
        return [annotation]

    full = ls_export(tasks, accepted)
    for path in (
        write_json(tmp_path / "full.json", full),
        write_json(tmp_path / "min.json", to_json_min(full, config)),
    ):
        got, _ = imported(path, interop, round=None)
        assert not got.problems
        want = {
            v.item_id: v.model_copy(update={"round": 1}) for v in final.values()
        }  # one annotator each: round 1
        assert_same(got.verdicts, list(want.values()))


def test_user_ids_map_to_reviewers_and_rounds_can_be_given(interop, tmp_path):
    _, tasks = exported(interop, "audit")
    want = interop["verdicts"]["audit"]
    path = write_json(tmp_path / "export.json", ls_export(tasks, with_verdicts(want, expand=False)))
    got, _ = imported(path, interop, reviewers=BY_ID)
    assert_same(got.verdicts, want)
    unnamed, _ = imported(path, interop, reviewers={})
    assert {v.reviewer for v in unnamed.verdicts} == {"label-studio:11", "label-studio:12"}
    second, _ = imported(path, interop, reviewers=BY_ID, round=2)
    assert {(v.reviewer, v.round) for v in second.verdicts} == {("alice", 2), ("bob", 2)}


# -- the sample files ------------------------------------------------------------------------------------------


def _sample_want() -> list[ReviewVerdict]:
    from datetime import datetime, timezone

    return [
        ReviewVerdict(
            queue="quality",
            item_id="ex-q1",
            reviewer="alice",
            round=1,
            payload={"non_visual_solvable": False, "reasoning_error": True, "answer_changing_error": False},
            note="the reasoning misreads the graph at [01:23]",
            updated_at=datetime(2026, 3, 4, 10, 12, 40, 511204, tzinfo=timezone.utc),
        ),
        ReviewVerdict(
            queue="quality",
            item_id="ex-q1",
            reviewer="bob",
            round=2,
            payload={"non_visual_solvable": False, "reasoning_error": True, "answer_changing_error": True},
            note=None,
            updated_at=datetime(2026, 3, 5, 8, 1, 2, 3000, tzinfo=timezone.utc),
        ),
        ReviewVerdict(
            queue="quality",
            item_id="ex-q2",
            reviewer="alice",
            round=1,
            payload={"non_visual_solvable": True, "reasoning_error": False, "answer_changing_error": False},
            note=None,
            updated_at=datetime(2026, 3, 4, 10, 15, 0, tzinfo=timezone.utc),
        ),
    ]


@pytest.mark.parametrize(
    "name, skipped", [("labelstudio-quality.json", 2), ("labelstudio-quality-min.json", 1)]
)
def test_real_shaped_sample_exports(interop, name, skipped):
    """One project exported both ways; JSON keeps the cancelled annotation (skipped), JSON_MIN drops it itself."""
    got, not_imported = imported(DATA / name, interop)
    assert [str(p) for p in got.problems] == []
    assert not_imported == skipped  # cancelled annotations and the task nobody annotated
    assert_same(got.verdicts, _sample_want())


# -- bad input ----------------------------------------------------------------------------------------------


def test_bad_tasks_are_named_and_the_good_ones_imported(interop, tmp_path):
    _, tasks = exported(interop, "quality")
    full = ls_export(tasks, with_verdicts(interop["verdicts"]["quality"]))
    unknown = deepcopy(full[0])
    unknown["id"], unknown["meta"]["videokr_item_id"], unknown["data"]["videokr_item_id"] = (
        555,
        "ex-404",
        "ex-404",
    )
    bad_choice = deepcopy(full[1])
    bad_choice["id"] = 556
    bad_choice["annotations"] = bad_choice["annotations"][:1]
    bad_choice["annotations"][0]["result"][0]["value"]["choices"] = ["maybe"]
    no_user = deepcopy(full[1])
    no_user["id"] = 557
    no_user["annotations"] = [dict(no_user["annotations"][0], completed_by=None)]
    cancelled = deepcopy(full[0])
    cancelled["id"] = 558
    cancelled["annotations"] = [dict(cancelled["annotations"][0], was_cancelled=True, result=[])]
    mismatched = deepcopy(full[0])
    mismatched["id"] = 559
    mismatched["data"]["videokr_item_id"] = "ex-q2"
    path = tmp_path / "export.json"
    text = json.dumps([full[0], unknown, bad_choice, no_user, cancelled, mismatched, "not a task"], indent=1)
    path.write_text(text, encoding="utf-8")
    got, skipped = imported(path, interop)
    messages = [str(p) for p in got.problems]
    assert messages == [
        f"{path}: task 2 (Label Studio id 555), annotation 1010: item 'ex-404' is not in the quality queue of "
        "this workspace",
        f"{path}: task 3 (Label Studio id 556), annotation 1020: alice: non_visual_solvable: 'maybe' is not one "
        "of yes, no",
        f"{path}: task 4 (Label Studio id 557), annotation 1020: no annotator (completed_by)",
        f"{path}: task 6 (Label Studio id 559), annotation 1010: meta names ('quality', 'ex-q1') but data names "
        "('quality', 'ex-q2'); fix one",
        f"{path}: task 7: expected a JSON object, got str",
    ]
    assert skipped == 1
    assert_same(got.verdicts, [interop["verdicts"]["quality"][0]])


def test_files_that_are_not_exports(tmp_path, interop):
    garbage = tmp_path / "notes.json"
    garbage.write_text('[{"hello": 1}]', encoding="utf-8")
    got, _ = imported(garbage, interop)
    assert [str(p) for p in got.problems] == [
        f"{garbage}: task 1: neither a Label Studio JSON task (no 'annotations') nor a JSON_MIN row (no 'annotator')"
    ]
    broken = tmp_path / "broken.json"
    broken.write_text('[{"annotations": [}', encoding="utf-8")
    got, _ = imported(broken, interop)
    assert len(got.problems) == 1 and str(got.problems[0]).startswith(f"{broken}: task 1: not valid JSON")
    ours = write_json(tmp_path / "quality.tasks.json", exported(interop, "quality")[1])
    got, _ = imported(ours, interop)
    assert {p.message for p in got.problems} == {
        "a task as `videokr review export` wrote it, without annotations: import Label Studio's export of the "
        "project (JSON or JSON_MIN)"
    }
