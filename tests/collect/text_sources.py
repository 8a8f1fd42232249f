"""What the text-step tests feed their steps: stand-ins for `kb`, `youtube_search` and `youtube_videos`
(source steps emitting the records those steps write), the models of Table 8 on a loopback server,
and a loopback responder that answers each text step's prompt the way a model would."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable
from typing import Any

from pydantic import Field

from videokr.errors import Verdict
from videokr.hashing import digest_json
from videokr.models.config import Limits, ModelConfig
from videokr.pipeline.step import Result, Step, StepConfig
from videokr.records import Lecture, SearchHit, YouTubeVideo, record_from_json
from videokr.testing import TestServer


class SeedConfig(StepConfig):
    records: list[dict[str, Any]] = Field(default_factory=list)
    reject: list[str] = Field(default_factory=list)  # ids rejected (as the real step rejects a long video)


class _Seed(Step[dict]):
    """A source step that emits the given records, one item each."""

    Config = SeedConfig
    source = True
    kind = ""

    def inputs(self, store: Any) -> Iterable[dict]:
        assert isinstance(self.config, SeedConfig)
        return self.config.records

    def item_id(self, item: dict) -> str:
        return str(item["id"])

    def item_fingerprint(self, item: dict) -> str:
        return digest_json(item)

    def process(self, item: dict) -> Result:
        assert isinstance(self.config, SeedConfig)
        if item["id"] in self.config.reject:
            raise Verdict("rejected by the test", code="seed_reject")
        return Result.accept(record_from_json(self.kind, json.dumps({"kind": self.kind, **item})))


class Lectures(_Seed):
    name = "kb"
    kind = "lecture"
    writes = ("lecture",)


class Hits(_Seed):
    name = "youtube_search"
    kind = "search_hit"
    writes = ("search_hit",)


class Videos(_Seed):
    name = "youtube_videos"
    kind = "youtube_video"
    writes = ("youtube_video",)


def lecture(course: str, title: str, *, subject: str = "Physics", expert: list[tuple[str, str]] | None = None,
            draft: bool = False, number: int = 1) -> dict[str, Any]:
    slug = lambda s: re.sub(r"[^a-z0-9]+", "-", s.lower()).strip("-")  # noqa: E731
    return Lecture(id=f"kb:{slug(subject)}/{slug(course)}/{number:02d}-{slug(title)}", discipline="Natural Sciences",
                   subject=subject, course=course, lecture=title, objectives=[f"understand {title.lower()}"],
                   knowledge_points=[{"term": t, "definition": d} for t, d in (expert or [])],
                   draft=draft).model_dump(mode="json", exclude={"kind"})


def hit(keyword_id: str, youtube_id: str, rank: int = 1) -> dict[str, Any]:
    scenario_id, _, _ = keyword_id.rpartition(":")
    return SearchHit(id=f"{keyword_id}:{youtube_id}", keyword_id=keyword_id, scenario_id=scenario_id,
                     knowledge_point_id=scenario_id.rpartition(":")[0], youtube_id=youtube_id, rank=rank,
                     query="q").model_dump(mode="json", exclude={"kind"})


def video(youtube_id: str, title: str, *, description: str = "", minutes: float = 3.0) -> dict[str, Any]:
    return YouTubeVideo(id=youtube_id, title=title, description=description, channel_title="Channel " + youtube_id[:3],
                        duration_s=minutes * 60, licence="creativeCommon",
                        url=f"https://www.youtube.com/watch?v={youtube_id}").model_dump(mode="json", exclude={"kind"})


# --- the models --------------------------------------------------------------------------

TEXT_MODELS = ("gpt-5.2", "gpt-5-mini", "claude-4.5-sonnet", "gemini-3-flash", "deepseek-v3.2")


def models_on(server: TestServer, names: Iterable[str] = TEXT_MODELS) -> dict[str, ModelConfig]:
    """Models named as in Table 8, all served by the loopback server (each under its own name)."""
    limits = Limits(concurrency=16, timeout_s=2.0, backoff_base_s=0.01, backoff_max_s=0.2, max_attempts=4)
    made = {}
    for name in names:
        modalities = ["text"] if name == "deepseek-v3.2" else ["vision"] if name.startswith(("qwen3-vl", "glm")) \
            else ["text", "vision"]
        made[name] = ModelConfig(base_url=server.base_url, model=name, modalities=modalities, limits=limits)
    return made


# --- the loopback "model" ----------------------------------------------------------------

# Terms the responder proposes per lecture title.
TERMS = {
    "Forces": ["Newton's second law", "Friction", "Inertia"],
    "Motion on slopes": ["friction", "Normal force", "Inclined plane"],  # `friction` again: merged with Forces'
    "Waves": ["Doppler effect", "Resonance", "Standing wave", "Doppler Effect"],  # a repeat within one reply
}
BROKEN = "Broken lecture"  # every reply to it breaks the schema (definitions too short)


def definition(term: str) -> str:
    return (f"{term} is a core idea of this course that describes how physical systems behave, explains what can "
            f"be measured about them, and is applied by engineers and scientists whenever they analyse real "
            f"situations in the laboratory and in everyday life.")


class Responder:
    """Answers each text step's prompt deterministically; keeps (model, schema, prompt) of every answer."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str]] = []
        self._lock = threading.Lock()

    def of(self, schema: str) -> list[tuple[str, str, str]]:
        return [s for s in self.seen if s[1] == schema]

    def __call__(self, body: dict[str, Any], fingerprint: str) -> str:
        schema = body["response_format"]["json_schema"]["name"]
        prompt = body["messages"][0]["content"]
        with self._lock:
            self.seen.append((body["model"], schema, prompt))
        field = lambda name: re.search(rf"^{name}: (.*)$", prompt, re.M).group(1)  # noqa: E731
        if schema == "KnowledgePoints":
            title = field("Lecture")
            if title == BROKEN:
                return json.dumps({"knowledge_points": [{"term": "x", "definition": "too short"}] * 3})
            return json.dumps({"knowledge_points": [{"term": t, "definition": definition(t)}
                                                    for t in TERMS.get(title, ["Energy", "Work", "Power"])]})
        if schema == "Scenarios":
            term = field("Term")
            term = term.lower()
            return json.dumps({"scenarios": [f"people watching {term} at work", f"a street scene with {term}"]})
        if schema == "SearchKeywords":
            words = field("Scenario").split()[-2:]
            return json.dumps({"keywords": [" ".join(words), " ".join(words).upper(), " ".join(words) + " video"]})
        if schema == "MetadataVerdict":
            title = field("Title")
            if "garbled" in title:
                return "{not json"
            relevant = "cooking" not in title
            reason = f"the title {'shows' if relevant else 'is not about'} it"
            return json.dumps({"relevant": relevant, "reason": reason})
        raise AssertionError(f"unexpected schema {schema}")
