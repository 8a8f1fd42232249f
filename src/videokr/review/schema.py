"""What a human reviewer sees and what they decide: the shared contract of every review queue.

Human input is a source, like a file: the review app (and the Label Studio / Argilla round
trip) only ever writes `ReviewVerdict`s into one store table; the steps that turn verdicts
into records read that table. Keeping the item and verdict shapes here, in one module with no
store or web dependency, lets the app, the interop formats and the steps agree on them
without importing one another.

Each queue has one payload model: a verdict's payload is validated by it when the verdict is
built, so a malformed decision is stopped where it enters, never three steps later.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from videokr.records import utcnow

QueueName = Literal["audit", "seeds", "quality", "reannotation", "syllabus"]
QUEUES: tuple[QueueName, ...] = get_args(QueueName)

ROUNDS: tuple[int, ...] = (1, 2)
"""Round 1 is the first pass; round 2 a second reviewer's, against which agreement is measured."""


class ReviewItem(BaseModel):
    """One thing a reviewer looks at, as a queue provider builds it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    queue: QueueName
    item_id: str = Field(min_length=1)
    group: str
    title: str
    video: str | None = None
    timestamps: list[float] = []
    frames: list[dict] = []
    fields: dict[str, Any] = {}


class AuditPayload(BaseModel):
    """A label of one audited model output (A.4): fine, soft (content) or hard (compliance) error."""

    model_config = ConfigDict(extra="forbid")

    label: Literal["fine", "soft", "hard"]


class QualityPayload(BaseModel):
    """§3.4's three questions about one sampled example."""

    model_config = ConfigDict(extra="forbid")

    non_visual_solvable: bool
    reasoning_error: bool
    answer_changing_error: bool


class SeedPayload(BaseModel):
    """Keep or drop a seed; `edited` replaces the seed's fields that it names."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["keep", "drop"]
    edited: dict[str, Any] | None = None


class ReannotationPayload(BaseModel):
    """A re-annotated example for a video whose question a single frame could answer (§4).

    `example` carries question, options (list of strings, empty for open-ended), answer,
    question_type ("multiple-choice" or "open-ended") and optionally reasoning; it is checked
    against the records' rules where it becomes a record, and by the app before saving.
    """

    model_config = ConfigDict(extra="forbid")

    decision: Literal["new", "drop"]
    example: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _example_when_new(self) -> "ReannotationPayload":
        if self.decision == "new" and not self.example:
            raise ValueError("decision 'new' needs the new example")
        return self


class SyllabusPayload(BaseModel):
    """Approve or reject a drafted syllabus; `edited` replaces the draft's fields that it names."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "reject"]
    edited: dict[str, Any] | None = None


PAYLOADS: dict[QueueName, type[BaseModel]] = {
    "audit": AuditPayload,
    "seeds": SeedPayload,
    "quality": QualityPayload,
    "reannotation": ReannotationPayload,
    "syllabus": SyllabusPayload,
}


def _now() -> datetime:
    return datetime.fromisoformat(utcnow())


class ReviewVerdict(BaseModel):
    """One reviewer's decision on one item in one round; the payload is checked by its queue's model."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    queue: QueueName
    item_id: str = Field(min_length=1)
    reviewer: str
    round: int = 1
    payload: dict[str, Any]
    note: str | None = None
    updated_at: datetime = Field(default_factory=_now)

    @field_validator("reviewer")
    @classmethod
    def _named(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("a verdict needs the reviewer's name")
        return value

    @field_validator("round")
    @classmethod
    def _known_round(cls, value: int) -> int:
        if value not in ROUNDS:
            raise ValueError(f"round must be one of {', '.join(map(str, ROUNDS))}, not {value}")
        return value

    @field_validator("updated_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        # A naive time is taken as UTC (what the store writes); an aware one is converted.
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)

    @model_validator(mode="after")
    def _valid_payload(self) -> "ReviewVerdict":
        checked = PAYLOADS[self.queue].model_validate(self.payload)
        # The normal form (defaults filled in) so equal decisions compare equal.
        object.__setattr__(self, "payload", checked.model_dump(mode="json"))
        return self

    def typed_payload(self) -> BaseModel:
        """The payload as its queue's model."""
        return PAYLOADS[self.queue].model_validate(self.payload)
