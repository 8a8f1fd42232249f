"""A small world for the whole §3.1–§3.2 chain: a knowledge bank, a YouTube catalogue of real MP4s,
and loopback stand-ins for every endpoint the chain talks to.

`ChainWorld` starts four loopback servers in threads of the test process — the OpenAI-compatible
server (the five model-bound steps), the YouTube Data API, the media server that yt-dlp fetches
the catalogue's files from, and Azure Content Safety — and writes workspaces whose recipe is
the chain, with `env()` giving the variables a `videokr run` (in-process or a subprocess) needs.

The models answer like models: `ChainResponder` reads each step's prompt and replies in that
step's schema; the visual judge and the moderator look at the frames they are sent (a blue
video is not relevant to anything, a red one is violent). What each video is planted to do:

| id          | found by                   | what happens                                        |
|-------------|----------------------------|-----------------------------------------------------|
| INERTIA_A   | inertia                    | kept                                                |
| SHARED_B    | inertia, newton's 2nd law  | kept, linked to two scenarios (one file, two links) |
| COOKING_C   | inertia                    | metadata_relevance: irrelevant (a cooking title)    |
| LONG_D      | catalyst                   | youtube_videos: too_long (31 minutes)               |
| NOT_CC_E    | equilibrium constant       | youtube_videos: not_cc (licence changed)            |
| RED_F       | le chatelier's principle   | safety: unsafe (Violence)                           |
| BLUE_G      | catalyst                   | visual_relevance: irrelevant (the frames)           |
| CATALYST_H  | catalyst                   | kept                                                |
"""

from __future__ import annotations

import base64
import io
import json
import re
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from tests.collect.text_sources import definition, models_on
from videokr.testing import TestServer
from videokr.testing.azure_safety_server import AzureSafetyServer
from videokr.testing.media_server import MediaServer
from videokr.testing.youtube_server import FakeVideo, YouTubeServer
from videokr.video.synth import indexed_frame, write_video

CHAIN = ["kb", "knowledge_points", "scenarios", "search_keywords", "youtube_search", "youtube_videos",
         "metadata_relevance", "download", "visual_relevance", "safety"]
MODEL_STEPS = ("knowledge_points", "scenarios", "search_keywords", "metadata_relevance", "visual_relevance")
YOUTUBE_KEY = "chain-youtube-key-0123456789"
AZURE_KEY = "chain-azure-key-0123456789abcdef"
WIDTH, HEIGHT, FPS, SECONDS = 160, 96, 10, 3.0

INERTIA_A, SHARED_B, COOKING_C, LONG_D = "inertiaAAAA", "sharedBBBBB", "cookingCCCC", "longDDDDDDD"
NOT_CC_E, RED_F, BLUE_G, CATALYST_H = "notCcEEEEEE", "redFFFFFFFF", "blueGGGGGGG", "catalystHHH"
RED, BLUE = (230, 20, 20), (20, 20, 230)

# Terms the model proposes for the lecture without expert points (3 = the step's minimum).
MODEL_TERMS = {"Chemical equilibrium": ["Le Chatelier's principle", "Catalyst", "Equilibrium constant"]}


def knowledge_bank() -> dict[str, Any]:
    """Two lectures: one with experts' points (no model asked), one whose points a model writes."""
    return {"subjects": [
        {"subject": "Physics", "discipline": "Natural Sciences", "courses": [
            {"course": "Classical Mechanics", "lectures": [
                {"lecture": "Newton's laws of motion", "objectives": ["State Newton's three laws"],
                 "knowledge_points": [{"term": term, "definition": definition(term)}
                                      for term in ("Inertia", "Newton's second law")]},
            ]}]},
        {"subject": "Chemistry", "discipline": "Natural Sciences", "courses": [
            {"course": "General Chemistry", "lectures": [
                {"lecture": "Chemical equilibrium", "objectives": ["Predict how an equilibrium shifts"]},
            ]}]},
    ]}


def catalogue() -> list[FakeVideo]:
    """The YouTube catalogue; a video's `keywords` are the searches that find it (the terms, lower-cased)."""
    def video(youtube_id: str, title: str, keywords: tuple[str, ...], **kw: Any) -> FakeVideo:
        return FakeVideo(youtube_id, title=title, channel_title=f"Channel {youtube_id[:4]}",
                         channel_id=f"UC{youtube_id}{'0' * 11}", duration=kw.pop("duration", f"PT{SECONDS:g}S"),
                         keywords=keywords, description=f"About {title.lower()}", **kw)

    return [
        video(INERTIA_A, "Passengers lurch forward as the bus brakes", ("inertia",)),
        video(SHARED_B, "A rocket launch in slow motion", ("inertia", "newton's second law")),
        video(COOKING_C, "Cooking pasta at home", ("inertia",)),
        video(LONG_D, "A day in the refinery", ("catalyst",), duration="PT31M"),
        video(NOT_CC_E, "Equilibrium in a sealed flask", ("equilibrium constant",), license="youtube",
              search_license="creativeCommon"),
        video(RED_F, "Heating a cobalt chloride solution", ("le chatelier's principle",)),
        video(BLUE_G, "Catalytic converter explained", ("catalyst",)),
        video(CATALYST_H, "Hydrogen peroxide and yeast", ("catalyst",)),
    ]


FILES = {INERTIA_A: None, SHARED_B: None, RED_F: RED, BLUE_G: BLUE, CATALYST_H: None}  # id -> tint


def make_media(folder: Path, *, seconds: float = SECONDS) -> Path:
    """A real H.264 MP4 per downloadable video (index first, as streaming sites serve them)."""
    for n, (youtube_id, tint) in enumerate(FILES.items()):
        def frames(offset: int = n * 7, tint: tuple[int, int, int] | None = tint) -> Iterator[np.ndarray]:
            for i in range(int(seconds * FPS)):
                image = indexed_frame(i + offset, WIDTH, HEIGHT)
                if tint is not None:
                    image[HEIGHT // 8:] = tint
                yield image

        path = folder / "yt" / f"{youtube_id}.mp4"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_video(path, frames(), fps=FPS, gop=10, options={"movflags": "faststart"})
    return folder


def tinted(image: np.ndarray, colour: tuple[int, int, int]) -> bool:
    lower = image[image.shape[0] // 4:].reshape(-1, 3).mean(axis=0)
    return bool(np.all(np.abs(lower - np.array(colour)) < 40))


# -- the loopback models ----------------------------------------------------------------------------------


class ChainResponder:
    """Answers every model-bound step of the chain as a model would, from its prompt (and frames)."""

    def __init__(self) -> None:
        self.asked: list[str] = []  # schema names, one per request answered
        self._lock = threading.Lock()

    def count(self, schema: str) -> int:
        with self._lock:
            return self.asked.count(schema)

    def __call__(self, body: dict[str, Any], fingerprint: str) -> str:
        schema = body["response_format"]["json_schema"]["name"]
        with self._lock:
            self.asked.append(schema)
        content = body["messages"][-1]["content"]
        prompt = content if isinstance(content, str) else content[-1]["text"]
        field = lambda name: re.search(rf"^{name}: (.*)$", prompt, re.M).group(1)  # noqa: E731
        if schema == "KnowledgePoints":
            terms = MODEL_TERMS[field("Lecture")]
            return json.dumps({"knowledge_points": [{"term": t, "definition": definition(t)} for t in terms]})
        if schema == "Scenarios":
            return json.dumps({"scenarios": [f"a real scene in which {field('Term')} is at work"]})
        if schema == "SearchKeywords":
            term = re.search(r"^Knowledge point: (.*) \(", prompt, re.M).group(1)
            return json.dumps({"keywords": [term.lower()]})
        if schema == "MetadataVerdict":
            relevant = "cooking" not in field("Title").lower()
            reason = "the title " + ("shows it" if relevant else "is off topic")
            return json.dumps({"relevant": relevant, "reason": reason})
        if schema == "VisualAnswer":
            from PIL import Image

            images = [np.asarray(Image.open(io.BytesIO(base64.b64decode(p["image_url"]["url"].split(",", 1)[1])))
                                 .convert("RGB")) for p in content if p["type"] == "image_url"]
            relevant = bool(images) and not any(tinted(i, BLUE) for i in images)
            return json.dumps({"relevant": relevant, "reason": f"{len(images)} frames; "
                               + ("the scene is shown" if relevant else "only a blue screen")})
        raise AssertionError(f"unexpected schema {schema}")


def slow_visual_judge(body: dict[str, Any], fingerprint: str, attempt: int) -> str | None:
    """A `TestServer` script: the visual judge's requests answer after `slow_delay_s`, the others at once."""
    return "slow" if body["response_format"]["json_schema"]["name"] == "VisualAnswer" else "ok"


def red_is_violent(image: np.ndarray) -> dict[str, int]:
    """The loopback Azure moderator's scores: a red frame is violent (severity 4 flags by default)."""
    return {"Violence": 4} if tinted(image, RED) else {"Violence": 0}


# -- the world ------------------------------------------------------------------------------------------------


class ChainWorld:
    """The four loopback servers and the workspaces that use them: `with ChainWorld(media) as world:`."""

    def __init__(self, media: Path, *, slow_visual_s: float | None = None, media_rate: float | None = None) -> None:
        self.media = media
        self.responder = ChainResponder()
        script = slow_visual_judge if slow_visual_s else None
        self.openai = TestServer(responder=self.responder, script=script, slow_delay_s=slow_visual_s or 0.0)
        self.youtube = YouTubeServer(catalogue(), api_key=YOUTUBE_KEY)
        self.files = MediaServer(media, rate=media_rate)
        self.azure = AzureSafetyServer(key=AZURE_KEY, scorer=red_is_violent, expected_size=(WIDTH, HEIGHT))
        self._stack = ExitStack()

    def __enter__(self) -> "ChainWorld":
        for server in (self.openai, self.youtube, self.files, self.azure):
            self._stack.enter_context(server)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def env(self) -> dict[str, str]:
        """The variables a run needs: keys and where each service is (all loopback)."""
        return {"YOUTUBE_API_KEY": YOUTUBE_KEY, "VIDEOKR_YOUTUBE_API_URL": self.youtube.url,
                "VIDEOKR_YOUTUBE_WATCH_URL": f"{self.files.base_url}/yt/{{id}}.mp4",
                "AZURE_CONTENT_SAFETY_ENDPOINT": self.azure.endpoint, "AZURE_CONTENT_SAFETY_KEY": AZURE_KEY}

    def requests(self) -> dict[str, int]:
        """Requests each server has received so far."""
        return {"openai": self.openai.stats.total_received, "youtube": len(self.youtube.calls()),
                "media": len(self.files.requests), "azure": self.azure.stats.received}

    def workspace(self, root: Path, **sections: dict[str, Any]) -> Path:
        """A workspace whose recipe is the chain, every model on the loopback server (priced, for dry runs);
        `sections` add settings to steps' sections of videokr.yaml."""
        root.mkdir(parents=True)
        (root / "knowledge-bank.yaml").write_text(yaml.safe_dump(knowledge_bank(), sort_keys=False), encoding="utf-8")
        models = {}
        for name, model in models_on(self.openai).items():
            models[name] = {**json.loads(model.model_dump_json()),
                            "price": {"input_per_mtok": 1.25, "output_per_mtok": 10.0}}
        config = {
            "recipe": CHAIN,
            "video_root": "videos",
            "models": models,
            "steps": {
                "kb": {"sources": ["knowledge-bank.yaml"]},
                "youtube_search": {"backoff_base_s": 0.01, "backoff_max_s": 0.05},
                "youtube_videos": {"backoff_base_s": 0.01, "backoff_max_s": 0.05},
                "download": {"sleep_min_s": 0, "sleep_max_s": 0, "backoff_s": 0.05},
                "safety": {"backend": "azure"},
            },
        }
        for step, settings in sections.items():
            config["steps"][step] = {**config["steps"].get(step, {}), **settings}
        (root / "videokr.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        return root
