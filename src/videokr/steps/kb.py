"""§3.1's domain knowledge bank as steps: `kb` (expert files → Lecture records) and `kb_draft`.

`kb` is a source step like `import`: its items are the lecture entries of knowledge-bank
files (`steps.kb.sources` in videokr.yaml, or the file given to `videokr kb import`), one
item per lecture with the stable id `kb:<subject>/<course>/<lecture>` (slugs), so importing
the file again skips every unchanged lecture and redoes exactly the changed ones. A bad
entry is rejected with its file, line and entry path; a lecture that was in a file and no
longer is, is retired with its record when that file is imported again.

`kb_draft` (model-bound, optional) proposes courses and syllabi for subjects no expert has
covered: its records carry `draft=True` and ids under `kb-draft:`, so they never reach
`knowledge_points` (which reads `kb`'s lectures) and never collide with an approved lecture.
Importing a file that brings lectures of a subject settles that subject's draft: the reviewed
file is the expert's answer, so the draft item is retired with its records.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from functools import cached_property
from pathlib import Path
from typing import ClassVar

from pydantic import Field

from videokr.errors import Verdict
from videokr.hashing import digest_json, digest_parts
from videokr.knowledge.bank import BankEntry, dedupe, read_bank
from videokr.knowledge.draft import (DRAFT_PLACEHOLDERS, DRAFT_POOL_STEP, DraftRequest, DraftSyllabus, draft_item_id,
                                     draft_lectures, draft_values)
from videokr.knowledge.subjects import SUBJECTS, find_subject, slug
from videokr.models.gateway import Gateway
from videokr.models.pool import ModelPool
from videokr.pipeline.recipe import register
from videokr.pipeline.step import Result, Step, StepConfig, StepContext
from videokr.prompts.step import NoModelForStep, PromptConfig, PromptedStep
from videokr.records import Lecture, Outcome
from videokr.steps.importing import FileImport, source_label
from videokr.store import Store

KB_STEP = "kb"
DRAFT_STEP = "kb_draft"


class KbConfig(StepConfig):
    # Each lecture's fingerprint is its content, so adding a file redoes nothing else.
    RUN_ONLY: ClassVar[frozenset[str]] = StepConfig.RUN_ONLY | {"sources"}

    sources: list[str] = Field(default_factory=list, description="knowledge-bank files (YAML or CSV), "
                               "relative to the workspace")


def bank_entries(path: Path, root: Path) -> list[BankEntry]:
    """A file's entries, named relative to the workspace when inside it."""
    return read_bank(path, label=source_label(path, root))


@register
class KbStep(Step[BankEntry]):
    name = KB_STEP
    version = "1"
    Config = KbConfig
    writes = ("lecture",)
    source = True

    def inputs(self, store: Store) -> Iterator[BankEntry]:
        assert isinstance(self.config, KbConfig)
        entries: list[BankEntry] = []
        for source in self.config.sources:
            path = Path(source)
            entries += bank_entries(path if path.is_absolute() else self.context.root / path, self.context.root)
        entries += approved_in_review(store)
        return iter(dedupe(entries))

    def item_id(self, item: BankEntry) -> str:
        return item.item_id

    def item_fingerprint(self, item: BankEntry) -> str:
        return digest_parts(item.lecture.to_json() if item.lecture else "", item.error or "", item.code or "")

    def process(self, item: BankEntry) -> Result:
        detail = {"file": item.file, "where": item.where, "position": list(item.position)}
        if item.lecture is None:
            return Result.reject(item.error or f"{item.where}: unusable entry", code=item.code, detail=detail)
        return Result.accept(item.lecture, detail=detail)


def approved_in_review(store: Store) -> list[BankEntry]:
    """The drafts approved in the review app's `syllabus` queue, as entries (see videokr.knowledge.review)."""
    from videokr.knowledge.review import SYLLABUS_QUEUE, syllabus_entries
    from videokr.review.verdicts import final_verdicts

    return syllabus_entries(final_verdicts(store, SYLLABUS_QUEUE), live_draft_lectures(store))


ORDER_META = "kb.order:"  # + file label: the lecture ids of the file in its order, as last imported


def approved_lectures(store: Store) -> list[Lecture]:
    """The live expert lectures, in the order of their files (what `knowledge_points` reads).

    The order is the one the file had when it was last imported (kept beside the ledger, since an
    unchanged lecture is not reprocessed when others are inserted before it)."""
    files = {e.item_id: str((e.detail or {}).get("file", "")) for e in store.ledger_entries(KB_STEP, Outcome.ACCEPTED)}
    index: dict[str, int] = {}
    for label in sorted(set(files.values())):
        index.update({id_: n for n, id_ in enumerate(json.loads(store.get_meta(ORDER_META + label) or "[]"))})
    lectures = [r for r in store.live_outputs(KB_STEP, "lecture") if isinstance(r, Lecture) and not r.draft]
    return sorted(lectures, key=lambda lec: (files.get(lec.id, ""), index.get(lec.id, len(index))))


def draft_lectures_pending(store: Store) -> list[Lecture]:
    """The live drafts no reviewer has decided on yet (an approval in the review app brings the subject
    into the bank through this step; a rejection retires it from consideration)."""
    from videokr.knowledge.draft import draft_item_id
    from videokr.knowledge.review import SYLLABUS_QUEUE
    from videokr.review.verdicts import final_verdicts

    decided = set(final_verdicts(store, SYLLABUS_QUEUE))
    return [lecture for lecture in live_draft_lectures(store) if draft_item_id(lecture.subject) not in decided]


def live_draft_lectures(store: Store) -> list[Lecture]:
    """The live drafts: subjects in Table 6's order, lectures in the order the model proposed them."""
    order: dict[str, int] = {}
    for entry in store.ledger_entries(DRAFT_STEP, Outcome.ACCEPTED):
        for n, lecture_id in enumerate((entry.detail or {}).get("lectures") or ()):
            order[lecture_id] = n
    lectures = [r for r in store.live_outputs(DRAFT_STEP, "lecture") if isinstance(r, Lecture)]
    table6 = {s.name: n for n, s in enumerate(SUBJECTS)}
    return sorted(lectures, key=lambda lec: (table6.get(lec.subject, len(table6)), order.get(lec.id, 0)))


def import_file(
    store: Store,
    path: Path,
    *,
    root: Path | None = None,
    step: KbStep | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> FileImport:
    """Run the `kb` step over one file (what `videokr kb import` does), then tidy what the file no longer says.

    After the run, lectures an earlier import of this file brought and that it no longer holds
    are retired, and the drafts of the subjects it brings are settled (retired with their
    records). Both happen after the run's commit, so a process killed in between loses
    nothing: importing again redoes the tidying."""
    from videokr.pipeline.runner import run_step

    root = root or Path.cwd()
    step = step or KbStep(KbConfig(), StepContext(root=root))
    entries = bank_entries(path, root)
    report = run_step(store, step, items=entries, on_progress=on_progress)
    label = source_label(path, root)
    ids = {e.item_id for e in entries}
    mine = [e for e in store.ledger_entries(step.name) if (e.detail or {}).get("file") == label]
    gone = [e.item_id for e in mine if e.item_id not in ids]
    removed = store.retire(step.name, gone) if gone else 0
    live = [e for e in mine if e.item_id in ids and e.outcome is Outcome.ACCEPTED]
    rejected = [e.reason or e.item_id for e in mine if e.item_id in ids and e.outcome is Outcome.REJECTED]
    subjects = sorted({entry.lecture.subject for entry in entries if entry.lecture is not None
                       and entry.item_id in {e.item_id for e in live}})
    store.set_meta(ORDER_META + label, json.dumps([e.item_id for e in entries if e.lecture is not None]))
    settled = settle_drafts(store, subjects)
    return FileImport(path, report, rejected, label=label, accepted=len(live), removed=removed,
                      settled=settled)


def settle_drafts(store: Store, subjects: list[str]) -> list[str]:
    """Retire the draft of each subject an expert file now covers (the file is the reviewed answer)."""
    drafted = {e.item_id for e in store.ledger_entries(DRAFT_STEP)}
    settle = [s for s in subjects if draft_item_id(s) in drafted]
    if settle:
        store.retire(DRAFT_STEP, [draft_item_id(s) for s in settle])
    return settle


# -- drafting -------------------------------------------------------------------------


class KbDraftConfig(PromptConfig):
    PLACEHOLDERS: ClassVar[frozenset[str]] = DRAFT_PLACEHOLDERS
    # Which subjects to draft is a choice of what to run, not of what a draft says.
    RUN_ONLY: ClassVar[frozenset[str]] = PromptConfig.RUN_ONLY | {"subjects"}

    subjects: list[str] = Field(default_factory=list, description="Table 6 subjects to draft (default: every "
                                "subject without an approved lecture)")


@register
class KbDraftStep(PromptedStep[DraftRequest]):
    """One subject → draft courses with syllabi, by a model drawn from the `knowledge_points` pool
    (or the section's `models:`)."""

    name = DRAFT_STEP
    version = "1"
    Config = KbDraftConfig
    writes = ("lecture",)

    def inputs(self, store: Store) -> Iterator[DraftRequest]:
        assert isinstance(self.config, KbDraftConfig)
        courses: dict[str, list[str]] = {}
        for lecture in approved_lectures(store):
            names = courses.setdefault(lecture.subject, [])
            if lecture.course not in names:
                names.append(lecture.course)
        chosen = ([find_subject(s) for s in self.config.subjects] if self.config.subjects
                  else [s for s in SUBJECTS if s.name not in courses])
        for subject in chosen:
            yield DraftRequest(subject=subject.name, discipline=subject.discipline,
                               existing_courses=tuple(courses.get(subject.name, ())))

    def item_fingerprint(self, item: DraftRequest) -> str:
        return digest_json({"request": item.model_dump(mode="json"), "model": self.draw_model(item.id)})

    @cached_property
    def pool(self) -> ModelPool:
        """The pool of Table 8's `knowledge_points` row (text models); `models:` overrides it for drafting."""
        pool = PromptedStep.pool.func(self)  # type: ignore[attr-defined]
        assert isinstance(self.config, KbDraftConfig)
        if self.config.models is not None:
            overrides = {**pool.config.overrides, DRAFT_POOL_STEP: list(self.config.models)}
            pool.config = pool.config.model_copy(update={"overrides": overrides})
        return pool

    def draw_model(self, instance_id: str) -> str:
        try:
            return self.pool.draw(DRAFT_POOL_STEP, instance_id)
        except RuntimeError as exc:  # no eligible model: a configuration problem, said as one
            raise NoModelForStep(str(exc)) from None

    async def ask(self, item: DraftRequest, gateway: Gateway) -> Result:
        _, room = item.course_range()
        if room < 1:
            raise Verdict(f"{item.subject} already has {len(item.existing_courses)} courses (the most §3.1 asks "
                          "for); nothing to draft", code="full")
        model = self.draw_model(item.id)
        reply = await self.ask_json(gateway, model, draft_values(item), DraftSyllabus)
        assert isinstance(reply, DraftSyllabus)
        lectures = draft_lectures(item, reply, model)
        if not lectures:
            raise Verdict(f"{model} proposed no course that the bank does not already hold for {item.subject}",
                          code="empty_draft")
        return Result.accept(*lectures, detail={"model": model, "lectures": [lec.id for lec in lectures],
                                                "courses": len({slug(lec.course) for lec in lectures})})
