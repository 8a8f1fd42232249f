"""Argilla 2.x: a queue as the directory `rg.Dataset.from_disk` reads; one saved by `to_disk` read back.

The layout is Argilla 2.8's `to_disk` (argilla/datasets/_io/_disk.py): `.argilla/dataset.json`
(the dataset model: name, guidelines, task distribution), `.argilla/settings.json` (what
`Settings.to_json` writes: `fields`, `questions`, `metadata`, `vectors`, `guidelines`,
`allow_extra_metadata`, `distribution`, `mapping`; each property as its model dumps it, questions
and fields with their `type`) and `records.json` (what `DatasetRecords.to_json` writes: a list of
`{id, fields, metadata, suggestions: {question: {value, score, agent}}, responses: {question:
[{value, user_id}]}, vectors, status, _server_id}`).

The video is a markdown TextField holding an HTML `<video>` player with links to the cited
moments; the question, options and answer are TextFields; the rest of the item is a markdown
`context` field. Each control of the queue (controls.py) is a LabelQuestion (one choice) or a
TextQuestion (text, lines — one option per line — or a JSON object). Argilla has no conditional
questions, so the ones that only apply to one decision are optional and say so. The videokr
queue and item id ride in each record's metadata (hidden from annotators); the item's current
verdict comes as suggestions, which Argilla shows pre-filled.

Import reads `records.json` of a dataset saved with `to_disk` after annotation. Its responses
name users by id (a UUID) and carry neither a time nor a status (Argilla's `Record.to_dict`
keeps only `value` and `user_id`): a reviewer's name comes from the `--reviewers` map (user id →
name; `client.users` lists them), the verdict's time is the import's, and every response with a
value is taken as given. Records nobody answered are counted, not imported.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from videokr.review.interop.content import Media, context_html, field_text, shown_fields, video_html
from videokr.review.interop.controls import CONTROLS, Control, answers_from_payload, controls
from videokr.review.interop.importing import ToolAnswer, answers_of_rows
from videokr.review.schema import QueueName, ReviewItem, ReviewVerdict

TOOL = "argilla"
CONFIG_DIR = ".argilla"
DATASET_FILE = f"{CONFIG_DIR}/dataset.json"
SETTINGS_FILE = f"{CONFIG_DIR}/settings.json"
RECORDS_FILE = "records.json"
DATASET_PREFIX = "videokr-"
QUEUE_KEY, ITEM_KEY, GROUP_KEY = "videokr_queue", "videokr_item_id", "group"
VIDEO_FIELD, CONTEXT_FIELD = "video", "context"
MIN_VISIBLE_OPTIONS = 3  # Argilla's LabelQuestion shows options this many or more at once
_QUESTION_TYPE = {"choice": "label_selection", "text": "text", "lines": "text", "json": "text"}
_UNSET = {"id": None, "inserted_at": None, "updated_at": None}


def dataset_model(queue: QueueName) -> dict[str, Any]:
    """`.argilla/dataset.json`: Argilla's DatasetModel with no server ids (from_disk gives it a workspace)."""
    return {
        **_UNSET,
        "name": f"{DATASET_PREFIX}{queue}",
        "status": "draft",
        "guidelines": guidelines(queue),
        "allow_extra_metadata": False,
        "distribution": {"strategy": "overlap", "min_submitted": 1},
        "workspace_id": None,
        "last_activity_at": None,
    }


def guidelines(queue: QueueName) -> str:
    lines = [
        f"# videokr review queue: {queue}",
        "",
        "Answer the questions for each record. Questions that only apply to one decision say so; "
        "leave them empty otherwise.",
    ]
    for control in controls(queue):
        if control.help:
            lines.append(f"- **{control.title}**: {control.help}")
    return "\n".join(lines)


def settings(queue: QueueName, items: list[ReviewItem]) -> dict[str, Any]:
    """`.argilla/settings.json`: what `Settings.to_json` writes for this queue's fields and questions."""
    fields = []
    if any(item.video for item in items):
        fields.append(_field(VIDEO_FIELD, "Video", markdown=True, required=False))
    fields.extend(
        _field(key, key.capitalize(), markdown=False, required=False) for key in shown_fields(items)
    )
    fields.append(_field(CONTEXT_FIELD, "Item", markdown=True, required=True))
    metadata = [
        _terms(GROUP_KEY, "Group", visible=True),
        _terms(QUEUE_KEY, "Queue", visible=False),
        _terms(ITEM_KEY, "Item id", visible=False),
    ]
    return {
        "guidelines": guidelines(queue),
        "questions": [_question(c) for c in controls(queue)],
        "fields": fields,
        "vectors": [],
        "metadata": metadata,
        "allow_extra_metadata": False,
        "distribution": {"strategy": "overlap", "min_submitted": 1},
        "mapping": None,
    }


def _field(name: str, title: str, *, markdown: bool, required: bool) -> dict[str, Any]:
    return {
        **_UNSET,
        "name": name,
        "settings": {"type": "text", "use_markdown": markdown},
        "title": title,
        "required": required,
        "description": None,
        "dataset_id": None,
        "type": "text",
    }


def _terms(name: str, title: str, *, visible: bool) -> dict[str, Any]:
    return {
        **_UNSET,
        "name": name,
        "settings": {"visible_for_annotators": visible, "type": "terms", "values": None},
        "title": title,
        "visible_for_annotators": visible,
        "dataset_id": None,
    }


def _question(control: Control) -> dict[str, Any]:
    type_ = _QUESTION_TYPE[control.kind]
    if type_ == "label_selection":
        options = [{"text": option, "value": option} for option in control.options]
        visible = len(options) if len(options) >= MIN_VISIBLE_OPTIONS else None
        question_settings: dict[str, Any] = {"type": type_, "options": options, "visible_options": visible}
    else:
        question_settings = {"type": type_, "use_markdown": False}
    description = (
        " ".join(
            part
            for part in (
                control.help,
                (
                    f"Only when {control.shown_when[0]} is {control.shown_when[1]}."
                    if control.shown_when
                    else ""
                ),
                "One per line." if control.kind == "lines" else "",
            )
            if part
        )
        or None
    )
    return {
        **_UNSET,
        "name": control.name,
        "settings": question_settings,
        "title": control.title,
        "description": description,
        "required": control.required,
        "dataset_id": None,
        "type": type_,
    }


def records(
    queue: QueueName, items: list[ReviewItem], verdicts: Mapping[str, ReviewVerdict], *, media: Media
) -> list[dict[str, Any]]:
    """`records.json`: one record per item, the current verdict as suggestions."""
    shown = shown_fields(items)
    return [_record(queue, item, verdicts.get(item.item_id), shown, media) for item in items]


def _record(
    queue: QueueName,
    item: ReviewItem,
    verdict: ReviewVerdict | None,
    shown: list[str],
    media: Media,
) -> dict[str, Any]:
    video = media.url(item.video)
    fields: dict[str, str] = {}
    if video is not None:
        fields[VIDEO_FIELD] = video_html(video, item.timestamps)
    for key in shown:
        text = field_text(item.fields.get(key))
        if text:
            fields[key] = text
    fields[CONTEXT_FIELD] = context_html(item, video, media)
    suggestions: dict[str, Any] = {}
    if verdict is not None:
        agent = f"videokr: {verdict.reviewer}, round {verdict.round}"
        for name, answer in answers_from_payload(queue, verdict.payload, verdict.note).items():
            value = "\n".join(answer) if isinstance(answer, list) else answer
            suggestions[name] = {"value": value, "score": None, "agent": agent}
    return {
        "id": item.item_id,
        "fields": fields,
        "metadata": {GROUP_KEY: item.group, QUEUE_KEY: queue, ITEM_KEY: item.item_id},
        "suggestions": suggestions,
        "responses": {},
        "vectors": {},
        "status": "pending",
        "_server_id": None,
    }


def write_dataset(
    out: Path,
    queue: QueueName,
    items: list[ReviewItem],
    verdicts: Mapping[str, ReviewVerdict],
    *,
    media: Media,
) -> list[Path]:
    """The dataset directory `rg.Dataset.from_disk(out)` loads; refuses a directory that already holds one."""
    paths = [out / DATASET_FILE, out / SETTINGS_FILE, out / RECORDS_FILE]
    for path in paths:
        if path.exists():
            raise FileExistsError(f"{path} exists: export into a new directory (it may hold responses)")
    contents = [
        dataset_model(queue),
        settings(queue, items),
        records(queue, items, verdicts, media=media),
    ]
    (out / CONFIG_DIR).mkdir(parents=True, exist_ok=True)
    for path, content in zip(paths, contents):
        path.write_text(json.dumps(content, ensure_ascii=False), encoding="utf-8")
    return paths


def is_dataset(path: Path) -> bool:
    return path.is_dir() and ((path / RECORDS_FILE).is_file() or (path / CONFIG_DIR).is_dir())


def read_answers(path: Path, label: str | None = None) -> tuple[list[ToolAnswer], int]:
    """Each user's answers on each record of a saved dataset, and how many records nobody answered."""
    records_path = path / RECORDS_FILE
    if not records_path.is_file():
        raise FileNotFoundError(f"{records_path}: no such file (save the dataset with Dataset.to_disk)")

    def read_record(record: Mapping[str, Any], where: str) -> tuple[list[ToolAnswer], int]:
        found = _record_answers(record, where)
        return found, int(not found)  # a record nobody answered

    return answers_of_rows(records_path, label or str(records_path), "record", "id", read_record)


def _record_answers(record: Mapping[str, Any], where: str) -> list[ToolAnswer]:
    metadata = record.get("metadata") if isinstance(record.get("metadata"), dict) else {}
    queue = str(metadata[QUEUE_KEY]) if metadata.get(QUEUE_KEY) else None
    item_id = str(metadata[ITEM_KEY]) if metadata.get(ITEM_KEY) else None
    responses = record.get("responses") or {}
    if not isinstance(responses, dict):
        return [ToolAnswer(where, queue, item_id, "", {}, problem="'responses' is not an object")]
    if responses and (queue is None or item_id is None):
        return [ToolAnswer(where, queue, item_id, "", {})]  # answered, but not a videokr record: reported
    by_user: dict[str, dict[str, Any]] = {}
    problem = None
    asked = {control.name for control in CONTROLS.get(queue, ())}  # type: ignore[call-overload]
    for question, given in responses.items():
        if question not in asked:
            continue  # a question the team added: not part of the verdict
        for response in given if isinstance(given, list) else [given]:
            if not isinstance(response, dict) or not response.get("user_id"):
                problem = problem or f"{question}: a response without a user_id"
                continue
            if response.get("value") is not None:
                by_user.setdefault(str(response["user_id"]), {})[question] = response["value"]
    if problem and not by_user:
        return [ToolAnswer(where, queue, item_id, "", {}, problem=problem)]
    found = []
    for position, (user, values) in enumerate(by_user.items()):
        answers, value_problem = _answers(values)
        found.append(
            ToolAnswer(
                f"{where}, user {user}",
                queue,
                item_id,
                user,
                answers,
                order=(position,),
                problem=problem or value_problem,
            )
        )
    return found


def _answers(values: Mapping[str, Any]) -> tuple[dict[str, Any], str | None]:
    """Response values as answers: labels and text are strings; a multi-label response would be a list."""
    answers: dict[str, Any] = {}
    for question, value in values.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, (str, list)):
            return {}, f"{question}: cannot read {value!r} as a label or text"
        answers[question] = value
    return answers, None
