"""§3.2's visual relevance judge and safety moderation, on real videos, the real runner and real HTTP.

Upstream records (knowledge points, scenarios, downloaded and local videos, metadata
judgements) are committed as their steps would commit them; the videos are real MP4s made
with PyAV; the models are the loopback OpenAI-compatible server and a loopback Azure Content
Safety, both of which check the shape of every request; the offline backend runs the real
detector shipped in its wheel.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import re
import socket
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from videokr.errors import Verdict
from videokr.models.config import Limits, ModelConfig
from videokr.models.gateway import Gateway
from videokr.pipeline.recipe import RecipeError, build_step
from videokr.pipeline.runner import run_step
from videokr.pipeline.step import StepContext
from videokr.records import KnowledgePoint, Outcome, Record, RelevanceJudgement, SafetyCheck, Scenario, Video
from videokr.safety import azure as azure_backend
from videokr.safety.categories import (
    AZURE_CATEGORIES,
    AZURE_DEFAULT_SEVERITY,
    NUDENET_DEFAULT_THRESHOLD,
    NUDENET_UNSAFE_LABELS,
    OPENAI_CATEGORIES,
    OPENAI_DEFAULT_THRESHOLD,
    flagged_categories,
)
from videokr.safety.frames import SAFETY_FRAMES, safety_times
from videokr.steps.safety import DEFAULT_BACKEND, SafetyStep
from videokr.steps.visual_relevance import DEFAULT_FRAMES, DEFAULT_MAX_SIDE, VisualRelevanceStep, fit_within
from videokr.store import ItemOutcome, Store
from videokr.testing import TestServer
from videokr.testing.azure_safety_server import AzureSafetyServer
from videokr.video.synth import indexed_frame, write_video

AZURE_KEY = "azure-test-key-0123456789abcdef"
OPENAI_KEY = "sk-moderation-test-key-0123456789"
WIDTH, HEIGHT = 160, 96
FAST = Limits(timeout_s=5, backoff_base_s=0.01, backoff_max_s=0.05, max_attempts=4)


# -- real videos and upstream records ------------------------------------------------------------


def make_video(path: Path, *, tint: tuple[int, int, int] | None = None, seconds: float = 6.0,
               fps: int = 10) -> Path:
    """A real H.264 MP4: moving indexed frames, optionally tinted (the loopback moderators look at the tint)."""
    path.parent.mkdir(parents=True, exist_ok=True)

    def frames():
        for i in range(int(seconds * fps)):
            image = indexed_frame(i, WIDTH, HEIGHT)
            if tint is not None:
                image[HEIGHT // 8:] = tint
            yield image

    return write_video(path, frames(), fps=fps, gop=10)


def is_red(image: np.ndarray) -> bool:
    lower = image[image.shape[0] // 4:]
    return lower[..., 0].mean() > 150 and lower[..., 1].mean() < 80


def commit(store: Store, step: str, items: dict[str, list[Record]]) -> None:
    """Records as if `step` had produced them, one item each (what the upstream steps commit)."""
    store.commit_outcomes(step, "1", [ItemOutcome(item_id, f"seed-{item_id}", Outcome.ACCEPTED, tuple(records))
                                      for item_id, records in items.items()])


YT = {"a": "AAAAAAAAAAA", "b": "BBBBBBBBBBB", "red": "RRRRRRRRRRR"}


@pytest.fixture
def corpus(tmp_path: Path) -> dict[str, Any]:
    """A knowledge point, three scenarios, three downloaded videos (one red) and one local video."""
    root = tmp_path / "ws"
    videos = root / "videos"
    paths = {
        "a": make_video(videos / "youtube" / "AA" / "AAAAAAAAAAA.mp4"),
        "b": make_video(videos / "youtube" / "BB" / "BBBBBBBBBBB.mp4", seconds=4.0),
        "red": make_video(videos / "youtube" / "RR" / "RRRRRRRRRRR.mp4", tint=(230, 20, 20)),
        "local": make_video(videos / "local" / "lab.mp4", seconds=3.0),
    }
    store = Store(root / "videokr.sqlite")
    kp = KnowledgePoint(id="kp-newton", discipline="Natural Sciences", subject="Physics", course="Mechanics",
                        lecture="Dynamics", term="Newton's second law",
                        definition="The net force on a body equals its mass times its acceleration.")
    scenarios = [Scenario(id="kp-newton:s1", knowledge_point_id=kp.id, text="a rocket launching into the sky"),
                 Scenario(id="kp-newton:s2", knowledge_point_id=kp.id, text="a car braking hard"),
                 Scenario(id="kp-newton:s3", knowledge_point_id=kp.id, text="UNRELATED: a cat asleep")]
    commit(store, "knowledge_points", {"lecture-1": [kp]})
    commit(store, "scenarios", {kp.id: scenarios})
    downloaded = {key: Video(id=f"yt-{yt}", path=f"youtube/{yt[:2]}/{yt}.mp4", source="youtube", youtube_id=yt,
                             licence="creativeCommon", channel="Channel", title=f"video {key}")
                  for key, yt in YT.items()}
    commit(store, "download", {yt: [downloaded[key]] for key, yt in YT.items()})
    local = Video(id="local-0123456789abcdef", path="local/lab.mp4", source="local", licence="CC-BY-4.0")
    commit(store, "local_sources", {"local:lab": [local, RelevanceJudgement(
        id=f"metadata:{local.id}:kp-newton:s2", judge="metadata", video_id=local.id, knowledge_point_id=kp.id,
        scenario_id="kp-newton:s2", relevant=True, reason="declared by the user", model=None)]})

    def metadata(yt: str, sid: str) -> RelevanceJudgement:
        return RelevanceJudgement(id=f"metadata:{yt}:{sid}", judge="metadata", video_id=yt,
                                  knowledge_point_id=kp.id, scenario_id=sid, relevant=True,
                                  reason="the title says so", model="gpt-5.2")

    links = [(YT["a"], "kp-newton:s1"), (YT["a"], "kp-newton:s2"), (YT["b"], "kp-newton:s3"),
             (YT["red"], "kp-newton:s1"), ("ZZZZZZZZZZZ", "kp-newton:s1")]  # the last was never downloaded
    commit(store, "metadata_relevance", {f"{yt}:{sid}": [metadata(yt, sid)] for yt, sid in links})
    return {"root": root, "videos": videos, "store": store, "paths": paths, "kp": kp, "local": local}


def context(corpus: dict[str, Any], models: dict[str, ModelConfig] | None = None) -> StepContext:
    return StepContext(root=corpus["root"], video_root=corpus["videos"], settings={"models": models or {}},
                       store=corpus["store"])


# -- the visual relevance judge ------------------------------------------------------------------

TIMESTAMP = re.compile(r"^\[\d\d:\d\d\]$")


class JudgeLog:
    """The loopback judge: checks each request's frames and answers from the scenario in the prompt."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    def __call__(self, body: dict[str, Any], fingerprint: str) -> str:
        from PIL import Image

        (message,) = body["messages"]
        parts = message["content"]
        prompt = parts[-1]["text"]
        frames = parts[:-1]
        images = [p for p in frames if p["type"] == "image_url"]
        stamps = [p["text"] for p in frames if p["type"] == "text"]
        assert [p["type"] for p in frames] == ["text", "image_url"] * len(images)  # each image after its time
        assert all(TIMESTAMP.match(s) for s in stamps) and stamps == sorted(stamps)
        sizes = {Image.open(io.BytesIO(base64.b64decode(p["image_url"]["url"].split(",", 1)[1]))).size
                 for p in images}
        self.requests.append({"model": body["model"], "images": len(images), "stamps": stamps, "sizes": sizes,
                              "prompt": prompt})
        relevant = "UNRELATED" not in prompt
        verb = "shows" if relevant else "does not show"
        return json.dumps({"relevant": relevant, "reason": f"{verb} it at {stamps[0]}"})


def vision_models(server: TestServer, **overrides: Any) -> dict[str, ModelConfig]:
    """Four pool models on the loopback server: Table 8 lets only gpt-5.2 and gemini-3-flash judge visually."""
    def model(name: str) -> ModelConfig:
        return ModelConfig(base_url=server.base_url, model=f"loop-{name}", limits=FAST, **overrides)

    return {name: model(name) for name in ("gpt-5.2", "gpt-5-mini", "gemini-3-flash", "glm-4.6v")}


def test_paper_constants() -> None:
    assert SAFETY_FRAMES == 4  # "we randomly sample four frames from each video" (§3.2)
    assert DEFAULT_BACKEND == "azure"  # the paper's moderation API
    assert DEFAULT_FRAMES == 16 and DEFAULT_MAX_SIDE == 854
    assert AZURE_DEFAULT_SEVERITY == 4 and AZURE_CATEGORIES == ("Hate", "SelfHarm", "Sexual", "Violence")
    assert OPENAI_DEFAULT_THRESHOLD == 0.5 and NUDENET_DEFAULT_THRESHOLD == 0.5
    assert azure_backend.API_VERSION == "2024-09-01"
    assert (azure_backend.ENDPOINT_ENV, azure_backend.KEY_ENV) == ("AZURE_CONTENT_SAFETY_ENDPOINT",
                                                                   "AZURE_CONTENT_SAFETY_KEY")


def test_visual_judge_sees_timestamped_frames_of_eligible_models_and_reruns_free(corpus: dict[str, Any]) -> None:
    store = corpus["store"]
    judge = JudgeLog()
    with TestServer(responder=judge) as server:
        step = VisualRelevanceStep(VisualRelevanceStep.Config(), context(corpus, vision_models(server)))
        report = run_step(store, step)
        # a, a, b (unrelated scenario), red, and the local video; the undownloaded one is not an item
        assert report.seen == 5 and report.counts["accepted"] == 4 and report.counts["rejected"] == 1
        assert {r["model"] for r in judge.requests} <= {"loop-gpt-5.2", "loop-gemini-3-flash"}
        assert all(r["images"] == DEFAULT_FRAMES and r["sizes"] == {(WIDTH, HEIGHT)} for r in judge.requests)
        assert all("Newton's second law" in r["prompt"] for r in judge.requests)
        received = server.stats.total_received

        judgements = {j.id: j for j in store.live_outputs("visual_relevance", "relevance")}
        assert set(judgements) == {f"visual:{YT['a']}:kp-newton:s1", f"visual:{YT['a']}:kp-newton:s2",
                                   f"visual:{YT['red']}:kp-newton:s1",
                                   f"visual:{corpus['local'].id}:kp-newton:s2"}
        one = judgements[f"visual:{YT['a']}:kp-newton:s1"]
        assert one.judge == "visual" and one.video_id == f"yt-{YT['a']}" and one.relevant
        assert one.model in ("gpt-5.2", "gemini-3-flash") and one.reason.startswith("shows it at [00:00]")
        times = one.frame_times_s
        assert len(times) == DEFAULT_FRAMES and times == sorted(times) and times[0] == 0.0 and times[-1] > 5.8
        rejected = store.ledger_get("visual_relevance", f"visual:{YT['b']}:kp-newton:s3")
        assert rejected.outcome is Outcome.REJECTED and rejected.code == "irrelevant"
        assert "does not show it" in rejected.reason and len(rejected.detail["frame_times_s"]) == DEFAULT_FRAMES

        rerun = VisualRelevanceStep(VisualRelevanceStep.Config(), context(corpus, vision_models(server)))
        again = run_step(store, rerun)
        assert again.skipped == 5 and again.processed == 0 and server.stats.total_received == received
        assert server.stats.repeats_after_answer == []


def test_visual_judge_respects_the_image_budget_and_frame_size(corpus: dict[str, Any]) -> None:
    judge = JudgeLog()
    with TestServer(responder=judge) as server:
        models = vision_models(server, max_images=5)
        step = VisualRelevanceStep(VisualRelevanceStep.Config(max_side=80), context(corpus, models))
        assert run_step(corpus["store"], step).counts["accepted"] == 4
    assert {r["images"] for r in judge.requests} == {5}
    assert {size for r in judge.requests for size in r["sizes"]} == {(80, 48)}
    assert fit_within(1920, 1080, 854) == (854, 480) and fit_within(640, 360, 854) is None
    assert all(len(j.frame_times_s) == 5 for j in corpus["store"].live_outputs("visual_relevance", "relevance"))


def test_visual_judge_prompt_edit_redoes_and_bad_files_are_rejected_without_a_call(corpus: dict[str, Any]) -> None:
    store, paths = corpus["store"], corpus["paths"]
    judge = JudgeLog()
    with TestServer(responder=judge) as server:
        models = vision_models(server)
        run_step(store, VisualRelevanceStep(VisualRelevanceStep.Config(), context(corpus, models)))
        sent = server.stats.total_received
        paths["a"].unlink()  # a downloaded file gone
        paths["red"].write_bytes(b"\x00\x00\x00\x18ftypmp42 this is not a video")  # a file that does not decode
        report = run_step(store, VisualRelevanceStep(VisualRelevanceStep.Config(), context(corpus, models)))
        assert report.processed == 3 and server.stats.total_received == sent  # a's two links and red's: no request
        codes = {e.item_id: e.code for e in store.ledger_entries("visual_relevance", Outcome.REJECTED)}
        assert codes[f"visual:{YT['a']}:kp-newton:s1"] == codes[f"visual:{YT['a']}:kp-newton:s2"] == "file_missing"
        assert codes[f"visual:{YT['red']}:kp-newton:s1"] == "unreadable"

        prompt = "Does this video show {term} in this situation: {scenario}? Answer in JSON."
        edited = VisualRelevanceStep(VisualRelevanceStep.Config(prompt=prompt), context(corpus, models))
        report = run_step(store, edited)
        assert report.skipped == 0 and server.stats.total_received == sent + 2  # the two readable links, asked anew
        assert judge.requests[-1]["prompt"].startswith("Does this video show Newton's second law")
    with pytest.raises(RecipeError, match="placeholder"):
        build_step("visual_relevance", {"prompt": "Is {nonsense} shown?"}, context(corpus))


# -- safety: the frames ----------------------------------------------------------------------------


def test_safety_frames_are_drawn_at_random_and_the_same_on_every_run(corpus: dict[str, Any]) -> None:
    path = corpus["paths"]["a"]
    first = safety_times(path, "yt-AAAAAAAAAAA")
    assert len(first) == SAFETY_FRAMES and first == sorted(first) and len(set(first)) == SAFETY_FRAMES
    assert safety_times(path, "yt-AAAAAAAAAAA") == first  # same video id, same moments
    others = {tuple(safety_times(path, f"yt-{i:011d}")) for i in range(8)}
    assert len(others) > 1 and first != [0.0, 0.1, 0.2, 0.3]  # drawn, not the first frames


def test_thresholds_decide_per_category() -> None:
    scores = [{"Hate": 0.0, "Violence": 2.0}, {"Hate": 4.0, "Violence": 0.0}]
    assert flagged_categories(scores, {"Hate": 4.0, "Violence": 4.0}) == ["Hate"]
    assert flagged_categories(scores, {"Hate": None, "Violence": 2.0}) == ["Violence"]
    assert flagged_categories([{"New": 6.0}], {"Hate": 4.0}) == ["New"]  # a category the table lacks still flags


def test_unknown_threshold_category_is_an_error_naming_it(corpus: dict[str, Any]) -> None:
    with pytest.raises(RecipeError, match="Violense"):
        build_step("safety", {"backend": "azure", "thresholds": {"Violense": 2}}, context(corpus))
    with pytest.raises(RecipeError, match="above 0"):
        build_step("safety", {"backend": "openai", "thresholds": {"violence": 0}}, context(corpus))


# -- safety: Azure Content Safety -------------------------------------------------------------------


def judged_visually(corpus: dict[str, Any]) -> None:
    """Visual judgements as the visual judge commits them: a, red and the local video relevant."""
    store, kp = corpus["store"], corpus["kp"]
    videos = {f"yt-{YT['a']}": YT["a"], f"yt-{YT['red']}": YT["red"], corpus["local"].id: corpus["local"].id}
    commit(store, "visual_relevance", {
        f"visual:{key}:kp-newton:s1": [RelevanceJudgement(
            id=f"visual:{key}:kp-newton:s1", judge="visual", video_id=vid, knowledge_point_id=kp.id,
            scenario_id="kp-newton:s1", relevant=True, reason="seen", model="gpt-5.2", frame_times_s=[0.0])]
        for vid, key in videos.items()})


def red_is_violent(image: np.ndarray) -> dict[str, int]:
    return {"Violence": 4, "Hate": 2} if is_red(image) else {"Hate": 2}


@pytest.fixture
def azure_env(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(azure_backend, "DEFAULT_BACKOFF_BASE_S", 0.01)
    monkeypatch.setattr(azure_backend, "DEFAULT_BACKOFF_MAX_S", 0.05)
    with AzureSafetyServer(key=AZURE_KEY, scorer=red_is_violent, expected_size=(WIDTH, HEIGHT)) as server:
        monkeypatch.setenv("AZURE_CONTENT_SAFETY_ENDPOINT", server.endpoint)
        monkeypatch.setenv("AZURE_CONTENT_SAFETY_KEY", AZURE_KEY)
        yield server


def safety(corpus: dict[str, Any], **config: Any) -> SafetyStep:
    models = config.pop("models", None)
    return build_step("safety", config, context(corpus, models))  # type: ignore[return-value]


def test_azure_moderation_rejects_unsafe_and_a_new_threshold_redecides_without_a_call(
        corpus: dict[str, Any], azure_env: AzureSafetyServer) -> None:
    store, server = corpus["store"], azure_env
    judged_visually(corpus)
    report = run_step(store, safety(corpus))
    assert (report.seen, report.counts["accepted"], report.counts["rejected"]) == (3, 2, 1)
    assert server.violations == [] and server.stats.received == 3 * SAFETY_FRAMES
    assert {(r.size, r.format) for r in server.stats.requests} == {((WIDTH, HEIGHT), "JPEG")}

    check = store.get("safety_check", f"yt-{YT['a']}")
    assert isinstance(check, SafetyCheck) and check.safe and check.flagged == []
    assert check.backend == "azure:content-safety-2024-09-01"
    assert check.frame_times_s == pytest.approx(safety_times(corpus["paths"]["a"], f"yt-{YT['a']}"))
    assert check.scores == [{"Hate": 2.0, "SelfHarm": 0.0, "Sexual": 0.0, "Violence": 0.0}] * SAFETY_FRAMES
    unsafe = store.ledger_get("safety", f"yt-{YT['red']}")
    assert unsafe.outcome is Outcome.REJECTED and unsafe.code == "unsafe" and "Violence" in unsafe.reason
    assert unsafe.detail["flagged"] == ["Violence"] and len(unsafe.detail["scores"]) == SAFETY_FRAMES

    server.reset_stats()
    lenient = run_step(store, safety(corpus, thresholds={"Violence": 6}))
    assert lenient.counts["accepted"] == 3 and server.stats.received == 0  # re-decided from stored replies
    strict = run_step(store, safety(corpus, thresholds={"Hate": 2}))
    assert strict.counts["rejected"] == 3 and server.stats.received == 0
    flagged = {e.reason.split("(")[1].split(")")[0] for e in store.ledger_entries("safety")}
    assert flagged == {"Hate", "Hate, Violence"}
    assert AZURE_KEY.encode() not in (corpus["root"] / "videokr.sqlite").read_bytes()


def test_azure_retries_429_and_5xx_then_quarantines_and_refusals_are_verdicts(
        corpus: dict[str, Any], azure_env: AzureSafetyServer) -> None:
    store, server = corpus["store"], azure_env
    judged_visually(corpus)
    server.queue_faults(["429", "503", "500"])
    assert run_step(store, safety(corpus)).counts["accepted"] == 2  # retried with backoff, then answered
    assert server.stats.faults == {"429": 1, "503": 1, "500": 1}

    store.forget_step("safety")
    store.execute("DELETE FROM model_calls")  # ask the service again
    server.queue_faults(["500"] * (azure_backend.DEFAULT_MAX_ATTEMPTS * 12))
    report = run_step(store, safety(corpus))
    assert report.counts["quarantined"] == 3
    entry = store.ledger_get("safety", f"yt-{YT['a']}")
    assert "gave up after 6 attempt(s)" in entry.reason and "HTTP 500" in entry.reason
    server.clear_faults()
    assert run_step(store, safety(corpus)).counts["accepted"] == 2  # the next run retries what was quarantined

    store.forget_step("safety")
    store.execute("DELETE FROM model_calls")
    server.queue_faults(["400"])
    run_step(store, safety(corpus))
    assert "refused" in {e.code for e in store.ledger_entries("safety", Outcome.REJECTED)}


def test_missing_endpoint_or_key_is_a_clear_error_naming_the_variable(
        corpus: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from videokr.cli.main import app

    judged_visually(corpus)
    root = corpus["root"]
    (root / "videokr.yaml").write_text(yaml.safe_dump({"video_root": "videos", "recipe": ["safety"], "models": {}}))
    monkeypatch.delenv("AZURE_CONTENT_SAFETY_ENDPOINT", raising=False)
    monkeypatch.setenv("AZURE_CONTENT_SAFETY_KEY", AZURE_KEY)

    def run() -> Any:
        return CliRunner().invoke(app, ["-w", str(root), "run", "--only", "safety"])

    result = run()
    assert result.exit_code == 1 and "AZURE_CONTENT_SAFETY_ENDPOINT" in result.output
    assert "Traceback" not in result.output and AZURE_KEY not in result.output
    monkeypatch.setenv("AZURE_CONTENT_SAFETY_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.delenv("AZURE_CONTENT_SAFETY_KEY")
    result = run()
    assert result.exit_code == 1 and "AZURE_CONTENT_SAFETY_KEY" in result.output and "Traceback" not in result.output

    (root / "videokr.yaml").write_text(yaml.safe_dump({"video_root": "videos", "recipe": ["safety"], "models": {},
                                                       "steps": {"safety": {"backend": "openai"}}}))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    result = run()
    assert result.exit_code == 1 and "OPENAI_API_KEY" in result.output and "Traceback" not in result.output


def test_a_wrong_azure_key_quarantines_and_never_reaches_the_store(
        corpus: dict[str, Any], azure_env: AzureSafetyServer, monkeypatch: pytest.MonkeyPatch) -> None:
    wrong = "wrong-azure-key-9876543210fedcba"
    monkeypatch.setenv("AZURE_CONTENT_SAFETY_KEY", wrong)
    judged_visually(corpus)
    report = run_step(corpus["store"], safety(corpus))
    assert report.counts["quarantined"] == 3 and azure_env.stats.auth_failures == 3  # the first 401 ends the video
    entry = corpus["store"].ledger_get("safety", f"yt-{YT['a']}")
    assert "AZURE_CONTENT_SAFETY_KEY" in entry.reason and "HTTP 401" in entry.reason and wrong not in entry.reason
    assert wrong.encode() not in (corpus["root"] / "videokr.sqlite").read_bytes()


# -- safety: OpenAI omni-moderation through the model door ------------------------------------------


def red_is_violent_openai(image: bytes) -> dict[str, float]:
    from PIL import Image

    picture = np.asarray(Image.open(io.BytesIO(image)).convert("RGB"))
    return {"violence": 0.9, "violence/graphic": 0.4} if is_red(picture) else {"sexual": 0.01}


def moderation_models(server: TestServer) -> dict[str, ModelConfig]:
    return {"omni-moderation": ModelConfig(base_url=server.base_url, model="omni-moderation-latest",
                                           api_key_env="VIDEOKR_TEST_OPENAI_KEY", limits=FAST)}


def test_openai_moderation_through_the_gateway_stores_category_scores(
        corpus: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIDEOKR_TEST_OPENAI_KEY", OPENAI_KEY)
    store = corpus["store"]
    judged_visually(corpus)
    with TestServer(moderation_scorer=red_is_violent_openai, api_key=OPENAI_KEY) as server:
        server.queue_faults(["429"])  # the gateway's retries serve moderation too
        report = run_step(store, safety(corpus, backend="openai", models=moderation_models(server)))
        assert (report.counts["accepted"], report.counts["rejected"]) == (2, 1)
        assert server.moderation_errors == [] and server.stats.total_received == 3 * SAFETY_FRAMES + 1
        check = store.get("safety_check", f"yt-{YT['a']}")
        assert check.backend == "openai:omni-moderation-latest"
        assert set(check.scores[0]) == set(OPENAI_CATEGORIES) and check.scores[0]["sexual"] == 0.01
        unsafe = store.ledger_get("safety", f"yt-{YT['red']}")
        assert unsafe.code == "unsafe" and unsafe.detail["flagged"] == ["violence"]

        received = server.stats.total_received
        report = run_step(store, safety(corpus, backend="openai", models=moderation_models(server),
                                        thresholds={"violence": 0.95, "violence/graphic": 0.3}))
        assert server.stats.total_received == received  # the gateway's cache answered every frame
        assert store.ledger_get("safety", f"yt-{YT['red']}").detail["flagged"] == ["violence/graphic"]
    assert OPENAI_KEY.encode() not in (corpus["root"] / "videokr.sqlite").read_bytes()


def test_gateway_moderate_is_exactly_once_and_the_loopback_checks_the_shape(store: Store) -> None:
    from videokr.dataurl import jpeg_data_url

    async def scenario(server: TestServer) -> None:
        models = {"mod": ModelConfig(base_url=server.base_url, model="omni-moderation-latest", limits=FAST)}
        image = {"type": "image_url", "image_url": {"url": jpeg_data_url(indexed_frame(1, 64, 64))}}
        async with Gateway(models, store) as gateway:
            first = await gateway.moderate("mod", [image], step="safety")
            again = await gateway.moderate("mod", [image], step="safety")
            assert first.ok and again.cached and again.body == first.body
            assert first.body["results"][0]["category_scores"]["violence"] == 0.25
            broken = {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,AAAA"}}
            bad = await gateway.moderate("mod", [broken])
            with pytest.raises(Verdict, match="not a decodable image"):
                bad.raise_for_failure()
        async with Gateway(models, store, dry_run=True) as dry:
            other = {"type": "image_url", "image_url": {"url": jpeg_data_url(indexed_frame(2, 64, 64))}}
            assert (await dry.moderate("mod", [other])).dry_run

    with TestServer(moderation_scorer=lambda image: {"violence": 0.25}) as server:
        asyncio.run(scenario(server))
        assert server.stats.total_received == 1 and len(server.moderation_errors) == 1


# -- safety: the offline detector shipped in its wheel --------------------------------------------------


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch):
    """Any attempt to reach another host fails the test (local socket pairs of the event loop stay allowed)."""
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"the offline backend tried to open a connection: {args[:2]}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def test_offline_weights_are_inside_the_installed_wheel() -> None:
    from importlib import metadata

    from videokr.safety.offline import WEIGHTS_FILE, packaged_weights

    pytest.importorskip("nudenet")
    files = {str(f): f for f in metadata.files("nudenet") or []}
    entry = files[f"nudenet/{WEIGHTS_FILE}"]
    assert entry.hash is not None and entry.size > 10_000_000  # listed, with its hash, in the wheel's RECORD
    assert Path(entry.locate()).resolve() == packaged_weights().resolve()


def test_offline_backend_on_real_frames_without_network(corpus: dict[str, Any], no_network: None) -> None:
    pytest.importorskip("nudenet")
    matplotlib = pytest.importorskip("matplotlib")
    from PIL import Image

    store = corpus["store"]
    portrait = np.asarray(Image.open(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg")
                          .convert("RGB").resize((256, 320)))
    write_video(corpus["videos"] / "local" / "lab.mp4", (portrait for _ in range(20)), fps=10, gop=10)
    judged_visually(corpus)

    report = run_step(store, safety(corpus, backend="offline"))
    assert report.counts["accepted"] == 3  # rendered videos and a portrait are safe by default
    synthetic = store.get("safety_check", f"yt-{YT['a']}")
    assert synthetic.backend.startswith("offline:nudenet-3.") and synthetic.scores == [{}] * SAFETY_FRAMES
    face = store.get("safety_check", corpus["local"].id)
    assert all(frame["FACE_FEMALE"] > 0.5 for frame in face.scores)  # the real detector ran on the frames
    assert not set(NUDENET_UNSAFE_LABELS) & {k for frame in face.scores for k in frame}

    calls = store.execute("SELECT count(*) FROM model_calls WHERE model LIKE 'offline:%'").fetchone()[0]
    strict = run_step(store, safety(corpus, backend="offline", thresholds={"FACE_FEMALE": 0.5}))
    assert strict.counts["accepted"] == 2 and strict.counts["rejected"] == 1
    assert store.ledger_get("safety", corpus["local"].id).detail["flagged"] == ["FACE_FEMALE"]
    assert store.execute("SELECT count(*), sum(sends) FROM model_calls WHERE model LIKE 'offline:%'").fetchone() \
        == (calls, calls)  # re-decided from the stored detections: the detector did not run again
