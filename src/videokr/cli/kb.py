"""`videokr kb`: the domain knowledge bank of §3.1 — import expert syllabi, see coverage, export, draft.

`kb import FILE` runs the `kb` step over one file (YAML or CSV) on the one runner; `kb status`
counts the bank against Table 6 and the 4–8 courses per subject; `kb export FILE` writes the
approved bank (or, with `--drafts`, the model drafts) as a file an expert edits and imports
again; `kb draft` asks a text model to propose courses and syllabi for uncovered subjects.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from videokr.cli.common import fail, workspace
from videokr.progress import console

kb_app = typer.Typer(help="The domain knowledge bank (§3.1): Table 6's 82 subjects, expert syllabi, drafts.",
                     no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(kb_app, name="kb")


def _subjects(names: list[str] | None) -> list[str]:
    """Table 6 spellings of the names given on the command line; an unknown one stops with a suggestion."""
    from videokr.knowledge.subjects import UnknownName, find_subject

    try:
        return [find_subject(name).name for name in names or []]
    except UnknownName as exc:
        fail(str(exc))


@kb_app.command("import")
def import_(
    ctx: typer.Context,
    files: list[Path] = typer.Argument(..., help="knowledge-bank files: .yaml/.yml or .csv"),
    strict: bool = typer.Option(False, "--strict", help="exit 1 if any entry was rejected"),
    show: int = typer.Option(20, help="how many rejected entries to print"),
) -> None:
    """Import expert syllabi (the `kb` step): one item per lecture; bad entries are reported by file and entry.

    Importing a file again redoes only the lectures that changed and retires those it no longer
    holds; importing lectures of a subject approves them and settles that subject's draft.
    Exits 1 when a file yields no lecture, or (with --strict) when any entry was rejected."""
    from videokr.cli.pipeline import import_files
    from videokr.steps.kb import import_file

    def settled(result: Any) -> None:
        if result.settled:
            console.print(f"  approved: the drafts of {', '.join(result.settled)} are settled by this file")

    import_files(workspace(ctx), "kb", files, import_file, unit="entries", what="lecture", strict=strict, show=show,
                 after_file=settled)


@kb_app.command("status")
def status(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="print JSON (every subject and course) instead of tables"),
    subject: list[str] = typer.Option(None, "--subject", help="only this subject (repeat for several)"),
    courses: bool = typer.Option(True, "--courses/--no-courses", help="a row per course under each subject"),
) -> None:
    """Coverage of the 82 subjects of Table 6: courses per subject against 4–8, lectures, knowledge points, drafts."""
    from videokr.knowledge.coverage import coverage, coverage_dict
    from videokr.steps.kb import approved_lectures, draft_lectures_pending

    ws = workspace(ctx)
    chosen = set(_subjects(subject))
    points = list(ws.store.iter_records("knowledge_point"))
    disciplines = coverage(approved_lectures(ws.store), draft_lectures_pending(ws.store), points)  # type: ignore[arg-type]
    if chosen:
        for d in disciplines:
            d.subjects = [s for s in d.subjects if s.subject in chosen]
        disciplines = [d for d in disciplines if d.subjects]
    if as_json:
        sys.stdout.write(json.dumps(coverage_dict(disciplines), indent=2, ensure_ascii=False) + "\n")
        return
    for d in disciplines:
        _print_discipline(d, courses)
    summary = coverage_dict(disciplines)
    low, high = summary["target_courses_per_subject"]
    console.print(f"{summary['covered']}/{summary['subjects']} subjects have approved courses, {summary['on_target']} "
                  f"have {low}–{high}; {summary['courses']} courses, {summary['lectures']} lectures, "
                  f"{summary['knowledge_points']} knowledge points, {summary['draft_lectures']} draft lectures "
                  "waiting for review")


def _print_discipline(d: Any, courses: bool) -> None:
    from videokr.knowledge.subjects import MAX_COURSES_PER_SUBJECT, MIN_COURSES_PER_SUBJECT

    target = f"{MIN_COURSES_PER_SUBJECT}–{MAX_COURSES_PER_SUBJECT}"
    table = Table(title=f"{d.discipline.value}: {d.covered}/{len(d.subjects)} subjects covered, "
                        f"{d.on_target} with {target} courses")
    for column in ("subject / course", f"courses ({target})", "lectures", "knowledge points", "drafts"):
        table.add_column(column, justify="left" if column.startswith("subject") else "right")
    marks = {"uncovered": "[dim]—[/]", "below": "[yellow]{n}[/]", "met": "[green]{n}[/]", "above": "[yellow]{n}[/]"}
    for s in d.subjects:
        n = s.approved_courses
        drafts = s.total("draft_lectures")
        table.add_row(s.subject, marks[s.target].format(n=n), str(s.total("lectures")),
                      str(s.total("knowledge_points")),
                      f"{drafts} lectures" + (f" ({s.draft_courses} new courses)" if s.draft_courses else "")
                      if drafts else "")
        if courses:
            for c in s.courses:
                name = f"  · {c.course}" + (" [dim](draft)[/]" if c.draft_only else "")
                points = str(c.knowledge_points) + (f" ({c.expert_points} expert)" if c.expert_points else "")
                table.add_row(name, "", str(c.lectures), points, str(c.draft_lectures or ""))
    console.print(table)


@kb_app.command("export")
def export(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="where to write: .yaml/.yml or .csv"),
    drafts: bool = typer.Option(False, "--drafts", help="the model drafts waiting for review, not the approved bank"),
    subject: list[str] = typer.Option(None, "--subject", help="only this subject (repeat for several)"),
) -> None:
    """Write the knowledge bank as a file an expert edits and imports again (`videokr kb import FILE`)."""
    from videokr.knowledge.bank import bank_format
    from videokr.knowledge.export import ExportError, write_bank
    from videokr.steps.kb import approved_lectures, draft_lectures_pending

    ws = workspace(ctx)
    try:
        bank_format(file)
    except ValueError as exc:
        fail(str(exc))
    chosen = set(_subjects(subject))
    lectures = draft_lectures_pending(ws.store) if drafts else approved_lectures(ws.store)
    if chosen:
        lectures = [lec for lec in lectures if lec.subject in chosen]
    what = "draft lectures" if drafts else "approved lectures"
    if not lectures:
        fail(f"no {what} to export" + (f" for {', '.join(sorted(chosen))}" if chosen else "")
             + ("; `videokr kb draft` makes drafts" if drafts else "; `videokr kb import FILE` brings them"))
    header = (DRAFT_HEADER if drafts else BANK_HEADER).format(n=len(lectures))
    try:
        write_bank(lectures, file, header=header)
    except ExportError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"{file}: cannot write: {exc}")
    subjects = len({lec.subject for lec in lectures})
    courses = len({(lec.subject, lec.course) for lec in lectures})
    console.print(f"{file}: {len(lectures)} {what} in {courses} courses of {subjects} subjects")
    if drafts:
        console.print("review it, then `videokr kb import` it: importing approves what the file holds")


DRAFT_HEADER = """\
Knowledge-bank DRAFT: {n} lectures a model proposed (`videokr kb draft`), for expert review.
Correct it: rename, add or delete courses, lectures and objectives; add knowledge points if you wish.
Then import it with `videokr kb import FILE`. Importing approves every lecture in the file and
settles the draft of each subject in it: what you deleted is dropped."""

BANK_HEADER = """\
Knowledge bank: {n} approved lectures. Edit and import again with `videokr kb import FILE`:
only the lectures you change are redone."""


@kb_app.command("draft")
def draft(
    ctx: typer.Context,
    subject: list[str] = typer.Option(None, "--subject", help="draft this subject (repeat for several; default: "
                                      "every subject without an approved lecture)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="price the requests; send and change nothing"),
) -> None:
    """Ask a text model to propose courses and syllabi for subjects no expert has covered (the `kb_draft` step).

    Drafts are kept apart (`draft: true`) and feed no later step; review them with
    `videokr kb export FILE --drafts`, then `videokr kb import FILE`. Exits 1 when a subject was
    quarantined (run again to retry it)."""
    from videokr.cli.pipeline import run_one_step
    from videokr.pipeline.runner import run_step
    from videokr.prompts.step import NoModelForStep
    from videokr.steps.kb import draft_lectures_pending

    ws = workspace(ctx)
    overrides = {"subjects": _subjects(subject)} if subject else {}
    try:
        step = ws.step("kb_draft", **overrides)
        step.context.settings = {**step.context.settings, "pool": ws.config.pool}
        items = list(step.inputs(ws.store))
        if dry_run:
            report = run_step(ws.store, step, items=items, dry_run=True)
        else:
            report = run_one_step(ws, step, items=items, label="kb draft")
    except (NoModelForStep, ValueError) as exc:
        fail(str(exc))
    if not items:
        console.print("every subject of Table 6 has approved lectures; name one with --subject to draft more courses")
        return
    if dry_run:
        line = f"kb_draft: {report.seen} subjects, {report.skipped} drafted before, {report.left} would be drafted"
        if report.cost:
            line += (f"; {report.cost['requests']} model requests, {report.cost['tokens_in']:,} tokens in, "
                     f"≈${report.cost['usd']:.2f} (outputs not counted)")
        console.print(line)
        return
    console.print(report.line())
    pending = draft_lectures_pending(ws.store)
    if pending:
        console.print(f"{len(pending)} draft lectures in {len({p.subject for p in pending})} subjects wait for "
                      "review: `videokr kb export drafts.yaml --drafts`, edit, then `videokr kb import drafts.yaml`")
    for entry in ws.store.ledger_entries(step.name):
        if entry.item_id in {i.id for i in items} and entry.outcome.value != "accepted":
            console.print(f"  [yellow]{entry.outcome.value}[/] {entry.item_id}: {entry.reason}")
    if report.counts["quarantined"]:
        raise typer.Exit(1)
