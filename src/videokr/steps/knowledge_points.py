"""§3.1's last layer: each lecture of the knowledge bank → several knowledge points (term + definition).

An item is a lecture the `kb` step holds that is not a draft (a drafted syllabus feeds nothing
until an expert approves it). When the lecture carries knowledge points written by experts,
they are kept as they are (`origin="expert"`) and no model is asked. Otherwise one model drawn
from the pool (Table 8) is asked for `min_points`–`max_points` points, each a short term and
a paragraph-length definition; a reply that breaks those rules is shown back to the model
(`ask_structured`), and a repeated term within one reply is kept once.

Duplicate terms across lectures. Two lectures of one course often name the same concept. A
point's identity is (subject, course, normalised term) — `term_key` — but each lecture's item
writes its own record, `kp-<term key>-<lecture key>`: if both wrote one record, the second
lecture would be rejected whole as a lineage conflict, and which one "won" would depend on
the order items finished. The merge happens where the points are read: `merge_knowledge_points`
keeps, per term key, the expert point before a model's, then the first lecture in id order;
`live_knowledge_points` is the knowledge bank as later steps see it, and the `scenarios` step
rejects every other point with code `duplicate`, naming the one kept — so each duplicate is
accounted for in the funnel and only one point per course and term goes on.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BaseModel, Field, create_model, model_validator

from videokr.hashing import digest_json, digest_parts
from videokr.models.gateway import Gateway
from videokr.pipeline.recipe import register
from videokr.pipeline.step import Result
from videokr.prompts.step import PromptConfig, PromptedStep
from videokr.records import KnowledgePoint, Lecture
from videokr.store import Store

STEP = "knowledge_points"
# "several key knowledge points" per lecture (§3.1): how many a model is asked for
DEFAULT_MIN_POINTS = 3
DEFAULT_MAX_POINTS = 8
# "a term and a paragraph-length definition" (§3.1)
MIN_DEFINITION_WORDS = 30
MAX_TERM_WORDS = 12
MAX_TERM_CHARS = 120

_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201b": "'", "\u2032": "'", "`": "'",
                         "\u201c": '"', "\u201d": '"', "-": " ", "\u2010": " ", "\u2011": " ", "\u2012": " ",
                         "\u2013": " ", "\u2014": " ", "_": " "})
_ARTICLE = re.compile(r"^(the|a|an)\s+")
_EDGE_PUNCT = re.compile(r"^[\s\"'.,;:!?()\[\]]+|[\s\"'.,;:!?()\[\]]+$")


def normalise_term(term: str) -> str:
    """The form two spellings of one term share: case, quotes, dashes, spacing and a leading article ignored."""
    text = unicodedata.normalize("NFKC", term).translate(_QUOTES).casefold()
    text = " ".join(_EDGE_PUNCT.sub("", text).split())
    return _ARTICLE.sub("", text)


def term_key(subject: str, course: str, term: str) -> str:
    """A knowledge point's identity in the bank: (subject, course, normalised term)."""
    return digest_parts(subject, course, normalise_term(term), length=12)


def point_id(lecture_id: str, subject: str, course: str, term: str) -> str:
    """The record id of the point one lecture proposes: its term key, scoped by the lecture."""
    return f"kp-{term_key(subject, course, term)}-{digest_parts(lecture_id, length=8)}"


def merge_knowledge_points(points: Iterable[KnowledgePoint]) -> dict[str, str]:
    """Point id → the id of the point kept for its (subject, course, term): experts first, then lecture id order."""
    groups: dict[str, list[KnowledgePoint]] = {}
    for point in points:
        groups.setdefault(term_key(point.subject, point.course, point.term), []).append(point)
    kept: dict[str, str] = {}
    for group in groups.values():
        winner = min(group, key=lambda p: (p.origin != "expert", p.lecture_id or "", p.id))
        kept.update({p.id: winner.id for p in group})
    return kept


@dataclass(frozen=True)
class MergedPoint:
    point: KnowledgePoint
    merged: tuple[str, ...] = ()  # ids of the same term's points in other lectures, merged into this one


def live_knowledge_points(store: Store) -> list[MergedPoint]:
    """The knowledge bank as later steps see it: one point per course and term, in id order."""
    points = list(store.live_outputs(STEP, "knowledge_point"))
    kept = merge_knowledge_points(points)  # type: ignore[arg-type]
    merged: dict[str, list[str]] = {}
    for point_id_, winner in kept.items():
        if point_id_ != winner:
            merged.setdefault(winner, []).append(point_id_)
    return [MergedPoint(p, tuple(sorted(merged.get(p.id, ()))))  # type: ignore[arg-type]
            for p in points if kept[p.id] == p.id]


class KnowledgePointsConfig(PromptConfig):
    PLACEHOLDERS: ClassVar[frozenset[str]] = frozenset({
        "discipline", "subject", "course", "lecture", "objectives", "min_points", "max_points",
        "min_definition_words", "max_term_words"})

    min_points: int = Field(default=DEFAULT_MIN_POINTS, ge=1,
                            description="knowledge points asked per lecture, at least")
    max_points: int = Field(default=DEFAULT_MAX_POINTS, ge=1, description="knowledge points asked per lecture, at most")
    min_definition_words: int = Field(default=MIN_DEFINITION_WORDS, ge=1, description="a definition is a paragraph")
    max_term_words: int = Field(default=MAX_TERM_WORDS, ge=1, description="a term is a short name")

    @model_validator(mode="after")
    def _range(self) -> "KnowledgePointsConfig":
        if self.min_points > self.max_points:
            raise ValueError(f"min_points ({self.min_points}) is above max_points ({self.max_points})")
        return self


@lru_cache(maxsize=16)
def reply_schema(min_points: int, max_points: int, min_definition_words: int, max_term_words: int) -> type[BaseModel]:
    """The reply a model must give: the JSON schema it is sent, and the rules a repair names."""

    def short_term(value: str) -> str:
        value = " ".join(value.split())
        if not value:
            raise ValueError("the term is empty")
        if len(value.split()) > max_term_words or len(value) > MAX_TERM_CHARS:
            raise ValueError(f"the term {value[:60]!r} is too long: name the concept in at most {max_term_words} words")
        return value

    def paragraph(value: str) -> str:
        value = value.strip()
        words = len(value.split())
        if words < min_definition_words:
            raise ValueError(f"the definition has {words} words; write a paragraph of at least {min_definition_words}")
        return value

    point = create_model(
        "KnowledgePointReply",
        term=(Annotated[str, AfterValidator(short_term)], Field(description=f"at most {max_term_words} words")),
        definition=(Annotated[str, AfterValidator(paragraph)],
                    Field(description=f"a paragraph of at least {min_definition_words} words")),
    )
    return create_model(
        "KnowledgePoints",
        knowledge_points=(list[point], Field(min_length=min_points, max_length=max_points)),  # type: ignore[valid-type]
    )


@register
class KnowledgePointsStep(PromptedStep[Lecture]):
    name = STEP
    version = "1"
    Config = KnowledgePointsConfig
    after = ("kb",)
    reads = "lecture"
    writes = ("knowledge_point",)

    # What of a lecture the step sees (not where it was imported from).
    SEEN: ClassVar[set[str]] = {"id", "discipline", "subject", "course", "lecture", "objectives", "knowledge_points"}

    def inputs(self, store: Store) -> Iterator[Lecture]:
        for lecture in store.live_outputs(self.after, "lecture"):
            if not lecture.draft:  # type: ignore[attr-defined]
                yield lecture  # type: ignore[misc]

    def item_fingerprint(self, item: Lecture) -> str:
        model = None if item.knowledge_points else self.draw_model(item.id)
        return digest_json({"lecture": item.model_dump(mode="json", include=self.SEEN), "model": model})

    @cached_property
    def schema(self) -> type[BaseModel]:
        c = self.config
        assert isinstance(c, KnowledgePointsConfig)
        return reply_schema(c.min_points, c.max_points, c.min_definition_words, c.max_term_words)

    def values(self, item: Lecture) -> dict[str, Any]:
        c = self.config
        assert isinstance(c, KnowledgePointsConfig)
        objectives = "\n".join(f"- {o}" for o in item.objectives) or "(none given)"
        return {"discipline": item.discipline.value, "subject": item.subject, "course": item.course,
                "lecture": item.lecture, "objectives": objectives, "min_points": c.min_points,
                "max_points": c.max_points, "min_definition_words": c.min_definition_words,
                "max_term_words": c.max_term_words}

    async def ask(self, item: Lecture, gateway: Gateway) -> Result:
        if item.knowledge_points:  # an expert's points are kept as they are: no model is asked
            terms = [(p.term.strip(), p.definition.strip()) for p in item.knowledge_points]
            return Result.accept(*self._points(item, terms, origin="expert", model=None), detail={"origin": "expert"})
        model = self.draw_model(item.id)
        reply = await self.ask_json(gateway, model, self.values(item), self.schema)
        terms = [(p.term, p.definition) for p in reply.knowledge_points]  # type: ignore[attr-defined]
        return Result.accept(*self._points(item, terms, origin="model", model=model), detail={"model": model})

    @staticmethod
    def _points(item: Lecture, terms: list[tuple[str, str]], *, origin: str, model: str | None) -> list[KnowledgePoint]:
        points: dict[str, KnowledgePoint] = {}
        for term, definition in terms:
            pid = point_id(item.id, item.subject, item.course, term)
            if pid not in points:  # the same term twice in one lecture: the first is kept
                points[pid] = KnowledgePoint(
                    id=pid, discipline=item.discipline, subject=item.subject, course=item.course,
                    lecture=item.lecture, term=term, definition=definition, lecture_id=item.id,
                    origin=origin, model=model)  # type: ignore[arg-type]
        return list(points.values())
