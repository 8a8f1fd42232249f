"""Valid model replies for every model step of the paper's recipe, built from what each request asks.

Shared by the chain tests (`chain33_world.Chain33Responder` plants its rejections on top of these
replies) and the demo's endpoint test (`ValidResponder` answers every step so that everything
passes). A reply is valid for its step's schema; nothing here knows a workspace's ids.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections import Counter
from typing import Any

from tests.collect.text_sources import definition

OPTIONS = ["the cart stops", "the ball starts rolling", "the rope goes slack", "the light turns on"]
ANSWER = "B"
GOOD_STEPS = [{"step": "At [00:05] the ball starts rolling.", "supported": True, "critical": True,
               "evidence": "the frame at [00:05] shows it"}]
BAD_STEPS = GOOD_STEPS + [{"step": "The ball weighs 3 kg.", "supported": False, "critical": True,
                           "evidence": "no frame shows its mass"}]
# Schema names of §3.3's structured replies (the video dependency filter asks in plain text).
GENERATION, CONSISTENCY, REVIEW, DEPENDENCY = "GeneratedExample", "Rederived", "Review", "video_dependency"
TAG = re.compile(r"^Question: \[(\w+) (\w+) (\w+)\]", re.M)


def request_kind(body: dict[str, Any]) -> str:
    """The schema a chat request asks for (`DEPENDENCY` for the plain-text video dependency question)."""
    format_ = body.get("response_format")
    return format_["json_schema"]["name"] if format_ else DEPENDENCY


def prompt_of(body: dict[str, Any]) -> str:
    """The text of a request's last message (after any frames)."""
    content = body["messages"][-1]["content"]
    return content if isinstance(content, str) else content[-1]["text"]


def generated(video: str, skill: str, tag: str) -> str:
    """The generator's reply: a multiple-choice question tagged `[<video> <skill> <tag>]`, answer `ANSWER`."""
    return json.dumps({"problem_type": "multiple choice", "options": OPTIONS, "answer": ANSWER,
                       "question": f"[{video} {skill} {tag}] Which happens first after [00:05]?",
                       "reasoning": f"The generator's reasoning about {video}: at [00:05] the ball rolls."})


def rederived(tag: str, said: str = ANSWER) -> str:
    """Self-consistency's re-derivation, ending in `said`."""
    return json.dumps({"reasoning": f"Re-derived for {tag}: at [00:05] the ball starts rolling, so {said}.",
                       "answer": said})


def dependency_answer(right: bool) -> str:
    """A video dependency model's plain-text answer, right (`ANSWER`) or not."""
    return f"From the frames I guess.\nAnswer: {ANSWER if right else 'C'}"


def review(supported: bool) -> str:
    """CoT validation's review: every key step supported, or a critical unsupported one among them."""
    return json.dumps({"steps": GOOD_STEPS if supported else BAD_STEPS, "rules_out_alternatives": True})


def field(prompt: str, name: str) -> str:
    return re.search(rf"^{name}: (.*)$", prompt, re.M).group(1)


class ValidResponder:
    """A `TestServer` responder under which every item of every model step passes: three knowledge
    points per lecture, one scenario per point, one keyword per scenario, every link relevant, one
    question per round that its generator re-derives, that the frames are needed for, and whose
    reasoning is supported. Counts (schema, model) of every request answered."""

    def __init__(self) -> None:
        self.asked: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()

    def __call__(self, body: dict[str, Any], fingerprint: str) -> str:
        kind = request_kind(body)
        with self._lock:
            self.asked[(kind, body["model"])] += 1
        prompt = prompt_of(body)
        if kind == "KnowledgePoints":
            lecture = field(prompt, "Lecture")
            terms = [f"{lecture} idea {n}" for n in (1, 2, 3)]
            return json.dumps({"knowledge_points": [{"term": t, "definition": definition(t)} for t in terms]})
        if kind == "Scenarios":
            return json.dumps({"scenarios": [f"a real scene in which {field(prompt, 'Term')} is at work"]})
        if kind == "SearchKeywords":
            term = re.search(r"^Knowledge point: (.*) \(", prompt, re.M).group(1)
            return json.dumps({"keywords": [term.lower()]})
        if kind in ("MetadataVerdict", "VisualAnswer"):
            return json.dumps({"relevant": True, "reason": "the scene is shown"})
        if kind == GENERATION:
            skill = field(prompt, "Skill")
            tag = hashlib.sha256(prompt.encode()).hexdigest()[:8]
            return generated("clip", skill, tag)
        if kind == CONSISTENCY:
            return rederived(TAG.search(prompt).group(3))
        if kind == DEPENDENCY:
            return dependency_answer(right=False)
        if kind == REVIEW:
            return review(supported=True)
        raise AssertionError(f"unexpected request kind {kind}")
