"""Where each review queue's items come from: one provider per queue, reading the workspace.

A provider only reads: the audited model outputs (`model_audits`), the seed files the `seeds`
step reads, §3.4's seeded sample of the live SFT set, the benchmark's re-annotation queue and
the pending syllabus drafts. What reviewers decide goes to `review_verdicts`, never here; the
steps read it back (see videokr.review.verdicts).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from videokr.records import Example, Lecture, Seed
from videokr.review.schema import QueueName, ReviewItem
from videokr.store import Store
from videokr.timestamps import parse_timestamps
from videokr.workspace import Workspace

TITLE_CHARS = 120
AUDIT_ID_SEPARATOR = "|"


def _title(text: str) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1] + "…"


def _cited(*texts: str | None) -> list[float]:
    seen: list[float] = []
    for text in texts:
        for t in parse_timestamps(text or ""):
            if t not in seen:
                seen.append(t)
    return seen


def _video(path: str, workspace: Workspace) -> str | None:
    """A local video the app can serve (None when the file is not there), or an http(s) URL as given."""
    from videokr.formats.official import resolve_video

    if not path:
        return None
    if path.startswith(("http://", "https://")):
        return path
    found = resolve_video(path, workspace.video_root())
    if not found.is_absolute():
        found = workspace.root / found
    return str(found) if found.is_file() else None


# -- audit ---------------------------------------------------------------------------------------


def audit_item_id(step: str, model: str, audit_id: str) -> str:
    return AUDIT_ID_SEPARATOR.join((step, model, audit_id))


def split_audit_id(item_id: str) -> tuple[str, str, str]:
    """(step, model, audit id) of an `audit` queue item; ValueError when it is not one."""
    parts = item_id.split(AUDIT_ID_SEPARATOR, 2)
    if len(parts) != 3 or not all(parts):
        raise ValueError(f"{item_id!r} is not an audit item (STEP|MODEL|AUDIT_ID)")
    return parts[0], parts[1], parts[2]


def audit_items(store: Store, workspace: Workspace) -> list[ReviewItem]:
    """One item per sampled audit row (`videokr models audit sample`), grouped by step and model."""
    from videokr.models.audit import ensure_audit_schema

    ensure_audit_schema(store)
    rows = store.execute(
        "SELECT step, model, audit_id, input, output, label, note FROM model_audits ORDER BY step, model, audit_id"
    ).fetchall()
    items = []
    for step, model, audit_id, text, output, label, note in rows:
        items.append(ReviewItem(
            queue="audit", item_id=audit_item_id(step, model, audit_id), group=f"{step}/{model}",
            title=_title(text.splitlines()[-1] if text else audit_id), timestamps=_cited(text, output),
            fields={"step": step, "model": model, "audit_id": audit_id, "input": text, "output": output,
                    "label": label, "note": note}))
    return items


# -- seeds ---------------------------------------------------------------------------------------


def _seed_fields(seed: Seed) -> dict[str, Any]:
    return {"question": seed.question, "options": seed.lettered_options(), "answer": seed.answer,
            "answer_text": seed.answer_text(), "problem_type": seed.problem_type.value, "reasoning": seed.cot,
            "skill": seed.skill.value, "discipline": seed.discipline.value, "subject": seed.subject,
            "knowledge_point": seed.knowledge_point, "source": f"{seed.source_file}:{seed.source_line}",
            "editable": {"question": seed.question, "options": list(seed.options), "answer": seed.answer,
                         "cot": seed.cot or ""}}


def seed_items(store: Store, workspace: Workspace) -> list[ReviewItem]:
    """One item per good line of the seed files: those `steps.seeds.sources` names and those imported.

    Lines are read as written (a reviewer's edit is shown beside, not applied), so a dropped or
    edited seed stays in the queue and its verdict can be changed."""
    from videokr.formats.official import LineError
    from videokr.steps.seeds import SEEDS_STEP, parse_seed, seed_lines

    files: list[Path] = []
    for source in workspace.config.step_section(SEEDS_STEP).get("sources") or []:
        path = Path(source)
        files.append(path if path.is_absolute() else workspace.root / path)
    for entry in store.ledger_entries(SEEDS_STEP):
        label = (entry.detail or {}).get("file")
        if label:
            path = Path(label)
            files.append(path if path.is_absolute() else workspace.root / path)
    items: dict[str, ReviewItem] = {}
    for path in dict.fromkeys(p.resolve() for p in files):
        if not path.is_file():
            continue
        for line in seed_lines(path, workspace.root):
            if line.line.data is None or line.duplicate_of is not None or line.item_id in items:
                continue
            try:
                seed = parse_seed(line.line.data, source=line.label, line_no=line.line.line_no)
            except LineError:
                continue  # the `seeds` step rejects it with FILE:LINE; there is nothing to curate
            items[line.item_id] = ReviewItem(
                queue="seeds", item_id=line.item_id, group=f"{seed.discipline.value}/{seed.skill.value}",
                title=_title(seed.question), video=_video(seed.video_path, workspace),
                timestamps=_cited(seed.question, seed.cot), fields=_seed_fields(seed))
    return list(items.values())


# -- quality -------------------------------------------------------------------------------------


def _example_fields(example: Example) -> dict[str, Any]:
    return {"question": example.question, "options": example.lettered_options(), "answer": example.answer,
            "answer_text": example.answer_text(), "problem_type": example.problem_type.value,
            "reasoning": example.cot, "skill": example.skill.value if example.skill else None,
            "discipline": example.discipline.value if example.discipline else None, "subject": example.subject,
            "knowledge_point": example.knowledge_point, "video_path": example.video_path}


def quality_items(store: Store, workspace: Workspace) -> list[ReviewItem]:
    """§3.4's seeded sample of the live SFT set (800 examples, `corpus.quality.draw_sample`), in draw order."""
    from videokr.corpus.quality import draw_sample
    from videokr.sets import live_set

    examples = live_set(store, "sft")
    if not examples:
        return []
    items = []
    for example in draw_sample(examples):  # type: ignore[arg-type]
        group = f"{example.discipline.value if example.discipline else 'unknown'}/" \
                f"{example.skill.value if example.skill else 'unknown'}"
        items.append(ReviewItem(
            queue="quality", item_id=example.id, group=group, title=_title(example.question),
            video=_video(example.video_path, workspace), timestamps=_cited(example.question, example.cot),
            fields=_example_fields(example)))
    return items


# -- reannotation --------------------------------------------------------------------------------


def reannotation_items(store: Store, workspace: Workspace) -> list[ReviewItem]:
    """The benchmark's filtered examples whose videos need a new question (§4); empty before it is built."""
    try:
        from videokr.benchmark.reannotation import reannotation_items as provider
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("videokr.benchmark"):
            return []
        raise
    return list(provider(store))


# -- syllabus ------------------------------------------------------------------------------------


def syllabus_items(store: Store, workspace: Workspace) -> list[ReviewItem]:
    """One item per subject with a live draft (`videokr kb draft`): its courses, lectures, objectives — decided
    ones included, so a second reviewer can look and a verdict can be revised."""
    from videokr.knowledge.draft import draft_item_id
    from videokr.knowledge.review import draft_syllabus
    from videokr.steps.kb import live_draft_lectures

    by_subject: dict[str, list[Lecture]] = {}
    for lecture in live_draft_lectures(store):
        by_subject.setdefault(lecture.subject, []).append(lecture)
    items = []
    for subject, lectures in by_subject.items():
        syllabus = draft_syllabus(lectures)
        items.append(ReviewItem(
            queue="syllabus", item_id=draft_item_id(subject), group=lectures[0].discipline.value,
            title=f"{subject}: {len(syllabus['courses'])} courses, {len(lectures)} lectures",
            fields={"subject": subject, "discipline": lectures[0].discipline.value, "syllabus": syllabus,
                    "drafted_by": lectures[0].extra.get("drafted_by")}))
    return items


PROVIDERS: dict[QueueName, Callable[[Store, Workspace], list[ReviewItem]]] = {
    "audit": audit_items,
    "seeds": seed_items,
    "quality": quality_items,
    "reannotation": reannotation_items,
    "syllabus": syllabus_items,
}


def queue_items(store: Store, queue: QueueName, workspace: Workspace) -> list[ReviewItem]:
    """The items of one queue as the workspace holds them now."""
    return PROVIDERS[queue](store, workspace)
