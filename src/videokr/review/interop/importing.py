"""From a tool's exported annotations to ReviewVerdicts: reviewers, rounds, checks, a problem per bad one.

The tool readers (labelstudio.py, argilla.py) turn their files into `ToolAnswer`s — who answered
which videokr item what, and where in the file — without judging them. This module does what is
the same for every tool:

- the tool's user (an email, a numeric id, a UUID) becomes the reviewer's name through the
  `reviewers` map the user passes (`--reviewers FILE`), or stays as the tool names it;
- several reviewers on one item become rounds in the order they first answered (1, then 2: the
  second-reviewer pass whose agreement the app measures), or all the given `round`; a third
  reviewer without a given round is a problem, since the schema has two rounds; one reviewer's
  later answer on the same item supersedes their earlier one, as saving in the app does;
- answers become the queue's payload (controls.py) and the verdict is validated by the schema;
- an item the queue does not hold now is a problem, not a verdict.

Every problem names the file and the task or record (its position and the tool's id); the good
answers are imported anyway.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from videokr.jsonlines import json_lines
from videokr.review.interop.controls import Answer, AnswerError, payload_from_answers
from videokr.review.schema import QUEUES, ROUNDS, ReviewVerdict


@dataclass(frozen=True)
class ToolAnswer:
    """One reviewer's answers on one task/record, as a tool exported them."""

    where: str  # "FILE: task 3 (Label Studio id 17)" — what messages name
    queue: str | None
    item_id: str | None
    user: str  # the tool's name for who answered
    answers: dict[str, Answer]
    order: tuple[Any, ...] = ()  # sorts a task's answers by when they were first made
    updated_at: datetime | None = None
    problem: str | None = None  # what the reader already found wrong


@dataclass(frozen=True)
class Problem:
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass
class Imported:
    """What an import produced: verdicts to save, problems to report, and what it left out on purpose."""

    verdicts: list[ReviewVerdict] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    superseded: int = 0  # a reviewer's earlier answers on an item their later one replaced
    skipped: int = 0  # answers the tool marks as skipped/cancelled, and tasks nobody answered


def answers_of_rows(path: Path, label: str, noun: str, tool_id: str,
                    read_row: Callable[[Mapping[str, Any], str], tuple[list[ToolAnswer], int]],
                    ) -> tuple[list[ToolAnswer], int]:
    """Each row of a tool's JSON Lines or JSON-array file through ``read_row`` (its answers, and how many
    it leaves out on purpose), every row named ``LABEL: NOUN N (TOOL_ID X)``; a row that is not a JSON
    object becomes a problem naming it, and the rows after it are read all the same."""
    answers: list[ToolAnswer] = []
    left_out = 0
    for line in json_lines(path, arrays=True):
        where = f"{label}: {noun} {line.number}"
        if line.value is None:
            answers.append(ToolAnswer(where, None, None, "", {}, problem=line.problem or "not a JSON object"))
            continue
        row = line.value
        if row.get("id") is not None:
            where = f"{where} ({tool_id} {row['id']})"
        found, skipped = read_row(row, where)
        answers.extend(found)
        left_out += skipped
    return answers, left_out


def reviewer_name(user: str, reviewers: Mapping[str, str], tool: str) -> str:
    """The reviewer's name for a tool user: the map's, else the tool's own (prefixed when it is a bare id)."""
    if user in reviewers:
        return reviewers[user]
    return user if "@" in user else f"{tool}:{user}"


def verdicts_from(
    answers: Iterable[ToolAnswer],
    *,
    tool: str,
    known_items: Callable[[str], set[str]],
    reviewers: Mapping[str, str] | None = None,
    round: int | None = None,
    now: datetime | None = None,
    check: Callable[[ReviewVerdict], ReviewVerdict] | None = None,
) -> Imported:
    """The verdicts `answers` give, with a `Problem` for each one that cannot be imported.

    `check` may return the verdict as it should be saved, or raise ValueError saying why it cannot be
    (the CLI passes the app's own rules, checks.app_checked)."""
    if round is not None and round not in ROUNDS:
        raise ValueError(f"round must be one of {ROUNDS}, not {round}")
    reviewers = reviewers or {}
    now = now or datetime.now(timezone.utc)
    result = Imported()
    by_item: dict[tuple[str, str], list[ToolAnswer]] = {}
    known: dict[str, set[str]] = {}
    answers = list(answers)
    for answer in answers:
        problem = answer.problem or _identity_problem(answer, known, known_items)
        if problem:
            result.problems.append(Problem(answer.where, problem))
            continue
        assert answer.queue is not None and answer.item_id is not None
        by_item.setdefault((answer.queue, answer.item_id), []).append(answer)
    for (queue, item_id), given in by_item.items():
        latest: dict[str, ToolAnswer] = {}
        first_seen: list[str] = []
        for answer in sorted(given, key=lambda a: _sort_key(a.order)):
            name = reviewer_name(answer.user, reviewers, tool)
            if name in latest:
                result.superseded += 1
            else:
                first_seen.append(name)
            latest[name] = answer
        for position, name in enumerate(first_seen):
            answer = latest[name]
            if round is None and position >= len(ROUNDS):
                result.problems.append(
                    Problem(
                        answer.where,
                        (
                            f"{name} is reviewer {position + 1} of item {item_id!r}; the review schema has "
                            f"rounds {ROUNDS[0]} and {ROUNDS[-1]}: import with --round to give every "
                            "reviewer one round"
                        ),
                    )
                )
                continue
            verdict = _verdict(answer, queue, item_id, name, round or ROUNDS[position], now, result)
            if verdict is not None and check is not None:
                try:
                    verdict = check(verdict)
                except ValueError as exc:
                    result.problems.append(Problem(answer.where, f"{name}: {exc}"))
                    continue
            if verdict is not None:
                result.verdicts.append(verdict)
    place = {answer.where: index for index, answer in enumerate(answers)}
    result.problems.sort(key=lambda problem: place.get(problem.where, len(place)))  # in the file's order
    return result


def _identity_problem(
    answer: ToolAnswer, known: dict[str, set[str]], known_items: Callable[[str], set[str]]
) -> str | None:
    if not answer.queue or not answer.item_id:
        return "no videokr queue and item id (was the task exported by `videokr review export`?)"
    if answer.queue not in QUEUES:
        return f"{answer.queue!r} is not a review queue (queues: {', '.join(QUEUES)})"
    if answer.queue not in known:
        known[answer.queue] = known_items(answer.queue)
    if answer.item_id not in known[answer.queue]:
        return f"item {answer.item_id!r} is not in the {answer.queue} queue of this workspace"
    return None


def _sort_key(order: tuple[Any, ...]) -> tuple[Any, ...]:
    """Missing parts sort last, and parts of different types never meet in a comparison."""
    return tuple(
        (value is None, str(type(value).__name__), value if value is not None else 0) for value in order
    )


def _verdict(
    answer: ToolAnswer, queue: str, item_id: str, reviewer: str, round_: int, now: datetime, result: Imported
) -> ReviewVerdict | None:
    try:
        payload, note = payload_from_answers(queue, answer.answers)  # type: ignore[arg-type]
        return ReviewVerdict(
            queue=queue,
            item_id=item_id,
            reviewer=reviewer,
            round=round_,
            payload=payload,
            note=note,
            updated_at=answer.updated_at or now,
        )
    except AnswerError as exc:
        result.problems.append(Problem(answer.where, f"{reviewer}: {exc}"))
    except ValidationError as exc:
        detail = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'verdict'}: {err['msg']}" for err in exc.errors()
        )
        result.problems.append(Problem(answer.where, f"{reviewer}: {detail}"))
    return None


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 time as the tools write it ('…Z' or an offset), in UTC (no zone: UTC)."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)
