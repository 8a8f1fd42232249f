"""Lecture records back into a knowledge-bank file (YAML or CSV), in the shape `bank.read_bank` reads.

What an expert reviews: `videokr kb export FILE` writes the approved bank, or with `--drafts`
the syllabi a model drafted; the expert edits the file and imports it. Reading what was
written gives the same lectures (names, objectives, knowledge points, extra), so a file
round-trips through the store without change.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from videokr.knowledge.bank import CSV_COLUMNS, OBJECTIVE_SEPARATOR, bank_format
from videokr.records import Lecture

class ExportError(ValueError):
    """Content that the chosen format cannot hold; the message names the lecture."""


def bank_document(lectures: Sequence[Lecture]) -> dict[str, Any]:
    """The YAML document: subjects → courses → lectures, grouped in the order they first come."""
    subjects: dict[str, dict[str, Any]] = {}
    for lec in lectures:
        subject = subjects.setdefault(lec.subject, {"subject": lec.subject, "discipline": lec.discipline.value,
                                                    "courses": {}})
        course = subject["courses"].setdefault(lec.course, {"course": lec.course, "lectures": []})
        entry: dict[str, Any] = {"lecture": lec.lecture}
        if lec.objectives:
            entry["objectives"] = list(lec.objectives)
        if lec.knowledge_points:
            entry["knowledge_points"] = [{"term": p.term, "definition": p.definition} for p in lec.knowledge_points]
        if lec.extra:
            entry["extra"] = dict(lec.extra)
        course["lectures"].append(entry)
    return {"subjects": [{**s, "courses": list(s["courses"].values())} for s in subjects.values()]}


def bank_yaml(lectures: Sequence[Lecture], header: str = "") -> str:
    comment = "".join(f"# {line}\n".replace("# \n", "#\n") for line in header.splitlines())
    body = yaml.safe_dump(bank_document(lectures), sort_keys=False, allow_unicode=True, width=100)
    return comment + body


def bank_csv(lectures: Sequence[Lecture]) -> str:
    """One row per lecture (its objectives joined by ` | `), then one row per knowledge point."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for lec in lectures:
        for objective in lec.objectives:
            if OBJECTIVE_SEPARATOR in objective:
                raise ExportError(f"{lec.id}: the objective {objective!r} contains {OBJECTIVE_SEPARATOR!r}, which "
                                  "separates objectives in CSV; export this lecture to YAML instead")
        names = {"discipline": lec.discipline.value, "subject": lec.subject, "course": lec.course,
                 "lecture": lec.lecture}
        extra = json.dumps(lec.extra, ensure_ascii=False, sort_keys=True) if lec.extra else ""
        rows = [{**names, "objectives": f" {OBJECTIVE_SEPARATOR} ".join(lec.objectives), "extra": extra}]
        rows += [{**names, "term": p.term, "definition": p.definition} for p in lec.knowledge_points]
        for row in rows:
            writer.writerow([row.get(c, "") for c in CSV_COLUMNS])
    return out.getvalue()


def write_bank(lectures: Sequence[Lecture], path: Path, *, header: str = "") -> None:
    """Write a bank file, YAML or CSV by the suffix of `path` (atomically: a reader never sees half)."""
    text = bank_yaml(lectures, header) if bank_format(path) == "yaml" else bank_csv(lectures)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
