"""Label Studio: a queue as a labeling config and tasks; its JSON and JSON_MIN exports back as answers.

Export writes, per queue, `<queue>.label_config.xml` (paste it as the project's labeling
interface) and `<queue>.tasks.json` (import it as tasks). The interface shows the item's video
(`<Video>`) with the moments the item cites pre-marked on its timeline (`<TimelineLabels>`,
label `cited`), the item's title, question, options and answer (`<Text>`), everything else with
links that open the video at each cited moment (`<HyperText>`), and the queue's controls
(controls.py) as `<Choices>` and `<TextArea>`, shown only when they apply (`visibleWhen`).

Each task carries the videokr queue and item id twice: in `meta` (kept by Label Studio's JSON
export) and in `data` (the only part its JSON_MIN export keeps), so import finds the exact item
from either. An item's current verdict, and its cited moments, come as a `prediction`, which
Label Studio pre-fills for the annotator.

Import reads Label Studio's export of the project: JSON (a list of tasks, each with
`annotations[].result[]` items of `from_name`/`to_name`/`type`/`value` and `completed_by` — a user
id, or `{id, email, first_name, last_name}` when expanded) or JSON_MIN (one flat object per
annotation: the task's `data` keys, one key per control with the choice or text — a list or
`{"choices": [...]}`/`{"text": [...]}` when there are several — and `annotator`,
`annotation_id`, `created_at`, `updated_at`, `lead_time`). Skipped (cancelled) annotations and
tasks nobody annotated are counted, not imported; results of controls the queue does not have
(the `cited` timeline, controls a team added) are ignored.
"""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from videokr.review.interop.content import Media, context_html, field_text, shown_fields
from videokr.review.interop.controls import CONTROLS, Answer, Control, answers_from_payload, controls
from videokr.review.interop.importing import ToolAnswer, answers_of_rows, parse_time
from videokr.review.schema import QueueName, ReviewItem, ReviewVerdict

TOOL = "label-studio"
CONFIG_SUFFIX = ".label_config.xml"
TASKS_SUFFIX = ".tasks.json"
# Label Studio counts video time in frames of the <Video> tag's frameRate; the cited moments are
# placed on the timeline at this rate, and the tag says the same rate, so they land at their second.
FRAME_RATE = 24
CITED_LABEL = "cited"
VIDEO_TAG, CONTEXT_TAG, TIMELINE_TAG = "video", "context", "moments"
QUEUE_KEY, ITEM_KEY, GROUP_KEY = "videokr_queue", "videokr_item_id", "videokr_group"
FIELD_PREFIX, SHOWN_PREFIX = "field_", "show_"
_JSON_MIN_KEYS = frozenset({"annotator", "annotation_id"})
_RESULT_VALUE = {"choices": "choices", "textarea": "text"}


def labeling_config(queue: QueueName, items: list[ReviewItem]) -> str:
    """The project's labeling interface for `queue` (well-formed XML; every control names an object tag)."""
    view = ET.Element("View")
    ET.SubElement(view, "Header", value="$title")
    if any(item.video for item in items):
        ET.SubElement(view, "Video", name=VIDEO_TAG, value=f"${VIDEO_TAG}", frameRate=str(FRAME_RATE))
        timeline = ET.SubElement(view, "TimelineLabels", name=TIMELINE_TAG, toName=VIDEO_TAG)
        ET.SubElement(timeline, "Label", value=CITED_LABEL, background="#f59e0b")
    for key in shown_fields(items):
        ET.SubElement(view, "Header", value=key.capitalize(), size="5")
        ET.SubElement(view, "Text", name=f"{SHOWN_PREFIX}{key}", value=f"${FIELD_PREFIX}{key}")
    ET.SubElement(view, "HyperText", name=CONTEXT_TAG, value=f"${CONTEXT_TAG}")
    for control in controls(queue):
        _control_tag(view, control)
    ET.indent(view)
    return ET.tostring(view, encoding="unicode") + "\n"


def _control_tag(parent: ET.Element, control: Control) -> None:
    if control.shown_when is not None:
        tag, value = control.shown_when
        parent = ET.SubElement(
            parent, "View", visibleWhen="choice-selected", whenTagName=tag, whenChoiceValue=value
        )
    ET.SubElement(parent, "Header", value=control.title, size="5")
    if control.help:
        ET.SubElement(parent, "Header", value=control.help, size="6")
    common = {"name": control.name, "toName": CONTEXT_TAG}
    if control.required:
        common["required"] = "true"
    if control.kind == "choice":
        choices = ET.SubElement(parent, "Choices", choice="single-radio", showInline="true", **common)
        for option in control.options:
            ET.SubElement(choices, "Choice", value=option)
    elif control.kind == "lines":  # one submission per line: Label Studio keeps them as a list
        ET.SubElement(
            parent, "TextArea", editable="true", rows="1", placeholder="one per line, Enter adds", **common
        )
    else:
        ET.SubElement(
            parent,
            "TextArea",
            editable="true",
            maxSubmissions="1",
            rows="4" if control.kind == "json" else "2",
            **common,
        )


def tasks(
    queue: QueueName, items: list[ReviewItem], verdicts: Mapping[str, ReviewVerdict], *, media: Media
) -> list[dict[str, Any]]:
    """One Label Studio task per item, with the item's current verdict (and cited moments) as a prediction."""
    shown = shown_fields(items)
    with_video = any(item.video for item in items)  # the config then has a <Video>: every task names one
    return [_task(queue, item, verdicts.get(item.item_id), shown, with_video, media) for item in items]


def _task(
    queue: QueueName,
    item: ReviewItem,
    verdict: ReviewVerdict | None,
    shown: list[str],
    with_video: bool,
    media: Media,
) -> dict[str, Any]:
    video = media.url(item.video)
    data: dict[str, Any] = {
        QUEUE_KEY: queue,
        ITEM_KEY: item.item_id,
        "title": item.title,
        CONTEXT_TAG: context_html(item, video, media),
    }
    if with_video:
        data[VIDEO_TAG] = video or ""
    for key in shown:
        data[f"{FIELD_PREFIX}{key}"] = field_text(item.fields.get(key))
    task: dict[str, Any] = {
        "data": data,
        "meta": {QUEUE_KEY: queue, ITEM_KEY: item.item_id, GROUP_KEY: item.group},
    }
    moments = _moments(item) if video is not None else []
    if verdict is not None:
        result = _results(queue, answers_from_payload(queue, verdict.payload, verdict.note)) + moments
        task["predictions"] = [
            {
                "model_version": f"videokr: {verdict.reviewer}, round {verdict.round}",
                "score": 1.0,
                "result": result,
            }
        ]
    elif moments:
        task["predictions"] = [{"model_version": "videokr: cited moments", "result": moments}]
    return task


def _results(queue: QueueName, answers: dict[str, Answer]) -> list[dict[str, Any]]:
    kinds = {control.name: control.kind for control in controls(queue)}
    results = []
    for name, answer in answers.items():
        if kinds[name] == "choice":
            value, type_ = {"choices": [answer]}, "choices"
        else:
            value, type_ = {"text": list(answer) if isinstance(answer, list) else [answer]}, "textarea"
        results.append(
            {
                "id": f"videokr-{name}",
                "from_name": name,
                "to_name": CONTEXT_TAG,
                "type": type_,
                "value": value,
            }
        )
    return results


def _moments(item: ReviewItem) -> list[dict[str, Any]]:
    results = []
    for index, seconds in enumerate(item.timestamps):
        frame = math.floor(max(0.0, seconds) * FRAME_RATE) + 1  # Label Studio numbers frames from 1
        results.append(
            {
                "id": f"cited-{index}",
                "from_name": TIMELINE_TAG,
                "to_name": VIDEO_TAG,
                "type": "timelinelabels",
                "value": {"ranges": [{"start": frame, "end": frame}], "timelinelabels": [CITED_LABEL]},
            }
        )
    return results


def write_project(
    out: Path,
    queue: QueueName,
    items: list[ReviewItem],
    verdicts: Mapping[str, ReviewVerdict],
    *,
    media: Media,
) -> list[Path]:
    """`<queue>.label_config.xml` and `<queue>.tasks.json` in `out`; never replaces files already there."""
    config_path, tasks_path = out / f"{queue}{CONFIG_SUFFIX}", out / f"{queue}{TASKS_SUFFIX}"
    for path in (config_path, tasks_path):
        if path.exists():
            raise FileExistsError(f"{path} exists: export into a new directory (it may hold annotations)")
    config = labeling_config(queue, items)
    payload = json.dumps(tasks(queue, items, verdicts, media=media), ensure_ascii=False, indent=1)
    out.mkdir(parents=True, exist_ok=True)
    config_path.write_text(config, encoding="utf-8")
    tasks_path.write_text(payload + "\n", encoding="utf-8")
    return [config_path, tasks_path]


def is_export(path: Path) -> bool:
    """Whether `path` looks like a Label Studio export (a JSON file, not an Argilla dataset directory)."""
    return path.is_file() and path.suffix.lower() == ".json"


def read_answers(path: Path, label: str | None = None) -> tuple[list[ToolAnswer], int]:
    """The answers of a JSON or JSON_MIN export (tasks told apart one by one), and how many were skipped."""
    def read_task(row: Mapping[str, Any], where: str) -> tuple[list[ToolAnswer], int]:
        if "annotations" in row or "completions" in row:
            return _task_answers(row, where)
        if _JSON_MIN_KEYS & set(row):
            return _min_answers(row, where)
        return [ToolAnswer(where, None, None, "", {}, problem=_not_an_export(row))], 0

    return answers_of_rows(path, label or str(path), "task", "Label Studio id", read_task)


def _not_an_export(row: Mapping[str, Any]) -> str:
    if "data" in row and "id" not in row:
        return (
            "a task as `videokr review export` wrote it, without annotations: import Label Studio's "
            "export of the project (JSON or JSON_MIN)"
        )
    return "neither a Label Studio JSON task (no 'annotations') nor a JSON_MIN row (no 'annotator')"


def _identity(task: Mapping[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(queue, item id, problem) from the task's meta, else its data (JSON_MIN keeps only data)."""
    data = task.get("data") if isinstance(task.get("data"), dict) else task
    meta = task.get("meta") if isinstance(task.get("meta"), dict) else {}
    pairs = [(source.get(QUEUE_KEY), source.get(ITEM_KEY)) for source in (meta, data) if source.get(ITEM_KEY)]
    if not pairs:
        return None, None, None
    if len(set(pairs)) > 1:
        return None, None, f"meta names {pairs[0]} but data names {pairs[1]}; fix one"
    queue, item_id = pairs[0]
    return (str(queue) if queue else None), str(item_id), None


def _task_answers(task: Mapping[str, Any], where: str) -> tuple[list[ToolAnswer], int]:
    queue, item_id, problem = _identity(task)
    annotations = task.get("annotations", task.get("completions"))
    if not isinstance(annotations, list):
        return [ToolAnswer(where, queue, item_id, "", {}, problem="'annotations' is not a list")], 0
    done = [
        a for a in annotations if not (isinstance(a, dict) and (a.get("was_cancelled") or a.get("skipped")))
    ]
    if not done:
        return [], 1
    found = []
    for position, annotation in enumerate(done, start=1):
        number = annotation.get("id", position) if isinstance(annotation, dict) else position
        here = f"{where}, annotation {number}"
        if not isinstance(annotation, dict):
            found.append(
                ToolAnswer(here, queue, item_id, "", {}, problem="an annotation is not a JSON object")
            )
            continue
        user = _user(annotation.get("completed_by"))
        answers, answer_problem = _result_answers(annotation.get("result"), queue)
        found.append(
            ToolAnswer(
                here,
                queue,
                item_id,
                user or "",
                answers,
                order=(parse_time(annotation.get("created_at")), annotation.get("id")),
                updated_at=parse_time(annotation.get("updated_at"))
                or parse_time(annotation.get("created_at")),
                problem=problem or answer_problem or (None if user else "no annotator (completed_by)"),
            )
        )
    return found, len(annotations) - len(done)


def _user(completed_by: Any) -> str | None:
    """Who made an annotation: the email of an expanded user, else the user id as text."""
    if isinstance(completed_by, dict):
        value = completed_by.get("email") or completed_by.get("id")
        return str(value) if value not in (None, "") else None
    if completed_by in (None, "") or isinstance(completed_by, bool):
        return None
    return str(completed_by)


def _result_answers(result: Any, queue: str | None) -> tuple[dict[str, Answer], str | None]:
    if not isinstance(result, list):
        return {}, "'result' is not a list"
    names = _control_names(queue)
    answers: dict[str, Answer] = {}
    for entry in result:
        if not isinstance(entry, dict) or entry.get("from_name") not in names:
            continue
        name, type_ = entry["from_name"], str(entry.get("type", "")).lower()
        value = entry.get("value") if isinstance(entry.get("value"), dict) else {}
        key = _RESULT_VALUE.get(type_)
        if key is None or not isinstance(value.get(key), list):
            return {}, f"{name}: expected a choices or textarea result, got type {entry.get('type')!r}"
        previous = answers.get(name, [])
        answers[name] = (previous if isinstance(previous, list) else [previous]) + list(value[key])
    return answers, None


def _min_answers(row: Mapping[str, Any], where: str) -> tuple[list[ToolAnswer], int]:
    queue, item_id, problem = _identity(row)
    if row.get("annotation_id") is None and row.get("annotator") is None:
        return [], 1  # JSON_MIN's row for a task nobody annotated
    if row.get("annotation_id") is not None:
        where = f"{where}, annotation {row['annotation_id']}"
    answers: dict[str, Answer] = {}
    for name in _control_names(queue):
        if name in row and row[name] is not None:
            value = _min_value(row[name])
            if value is None:
                problem = problem or f"{name}: cannot read {row[name]!r} as a choice or text"
            else:
                answers[name] = value
    user = _user(row.get("annotator"))
    return [
        ToolAnswer(
            where,
            queue,
            item_id,
            user or "",
            answers,
            order=(parse_time(row.get("created_at")), row.get("annotation_id")),
            updated_at=parse_time(row.get("updated_at")) or parse_time(row.get("created_at")),
            problem=problem or (None if user else "no annotator"),
        )
    ], 0


def _min_value(value: Any) -> Answer | None:
    """A JSON_MIN value: a string (one choice/text), {"choices"|"text": [...]} (several), a list (regions)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        inner = value.get("choices", value.get("text"))
        return [str(v) for v in inner] if isinstance(inner, list) else None
    if isinstance(value, list):
        parts: list[str] = []
        for element in value:
            inner = _min_value(element)
            if inner is None:
                return None
            parts.extend([inner] if isinstance(inner, str) else inner)
        return parts
    return None


def _control_names(queue: str | None) -> set[str]:
    return {control.name for control in CONTROLS.get(queue, ())}  # type: ignore[call-overload]
