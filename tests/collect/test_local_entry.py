"""Videos the user already has, entering the chain at the metadata judge (`local_sources` with `enter_at: metadata`).

A manifest's entries become `Video` + `VideoMetadata` + one `VideoLink` per scenario; the
real metadata judge asks the loopback OpenAI-compatible server about each link (title,
description, channel, probed duration, knowledge point, scenario); its relevant judgements
reach the visual judge and never `download`. Real MP4s made with PyAV, the real runner, and
at the end the whole chain through `videokr run` with a search's videos and a manifest's side
by side. `enter_at: visual` keeps its old behaviour: the declaration stands in for the judge.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

pytest.importorskip("yt_dlp")

from tests.cli_support import invoke
from tests.collect.chain_world import (  # noqa: E402
    BLUE, CHAIN, FILES, FPS, HEIGHT, SECONDS, WIDTH, ChainResponder, ChainWorld, make_media,
)
from tests.collect.text_sources import models_on  # noqa: E402
from videokr.config import CORPUS_COLLECTION  # noqa: E402
from videokr.hashing import digest_json  # noqa: E402
from videokr.pipeline.recipe import RecipeError, build_recipe, build_step  # noqa: E402
from videokr.pipeline.runner import StepReport, run_step  # noqa: E402
from videokr.pipeline.step import StepContext  # noqa: E402
from videokr.records import (  # noqa: E402
    KnowledgePoint, Outcome, Record, RelevanceJudgement, Scenario, SearchHit, Video, VideoLink, VideoMetadata,
    YouTubeVideo,
)
from videokr.steps.metadata_relevance import MetadataLink  # noqa: E402
from videokr.store import ItemOutcome, Store  # noqa: E402
from videokr.testing import TestServer  # noqa: E402
from videokr.video.synth import indexed_frame, write_video  # noqa: E402

KP = "kp-inertia"
SCENARIOS = {f"{KP}:s1": "passengers lurching forward as a bus brakes", f"{KP}:s2": "a tablecloth pulled from a table"}


def make_video(path: Path, *, tint: tuple[int, int, int] | None = None, offset: int = 0) -> Path:
    """A real H.264 MP4 of moving indexed frames (a blue one is what the loopback visual judge rejects)."""
    path.parent.mkdir(parents=True, exist_ok=True)

    def frames() -> Iterator[np.ndarray]:
        for i in range(int(SECONDS * FPS)):
            image = indexed_frame(i + offset, WIDTH, HEIGHT)
            if tint is not None:
                image[HEIGHT // 8:] = tint
            yield image

    return write_video(path, frames(), fps=FPS, gop=10)


def commit(store: Store, step: str, items: dict[str, list[Record]]) -> None:
    """Records as if `step` had produced them (what the upstream steps commit)."""
    store.commit_outcomes(step, "1", [ItemOutcome(item_id, f"seed-{item_id}", Outcome.ACCEPTED, tuple(records))
                                      for item_id, records in items.items()])


MANIFEST = """\
videos:
  - path: clips/bus.mp4
    licence: CC-BY-4.0
    title: Passengers lurch forward as the bus brakes
    description: Filmed from the back row of a city bus during an emergency stop.
    channel: Physics Lab
    knowledge_points: [{subject: Physics, term: Inertia}]
  - path: clips/pasta.mp4
    licence: CC-BY-4.0
    title: Cooking pasta at home
    knowledge_points: [kp-inertia]
  - path: clips/blue-screen.mp4
    licence: CC0-1.0
    knowledge_points: [kp-inertia]
"""


@pytest.fixture
def world(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A workspace with one knowledge point and its two scenarios, three local clips and a manifest."""
    root = tmp_path / "ws"
    make_video(root / "clips" / "bus.mp4")
    make_video(root / "clips" / "pasta.mp4", offset=5)
    make_video(root / "clips" / "blue-screen.mp4", tint=BLUE, offset=9)
    (root / "manifest.yaml").write_text(MANIFEST, encoding="utf-8")
    store = Store(root / "videokr.sqlite")
    point = KnowledgePoint(id=KP, discipline="Natural Sciences", subject="Physics", course="Mechanics",
                           lecture="Newton's laws", term="Inertia",
                           definition="The tendency of a body to keep its state of rest or of uniform motion.")
    commit(store, "knowledge_points", {"lecture-1": [point]})
    commit(store, "scenarios", {KP: [Scenario(id=sid, knowledge_point_id=KP, text=text)
                                     for sid, text in SCENARIOS.items()]})
    responder = ChainResponder()
    with TestServer(responder=responder) as server:
        yield {"root": root, "store": store, "server": server, "responder": responder}


def run(world: dict[str, Any], name: str, **section: Any) -> StepReport:
    context = StepContext(root=world["root"], video_root=world["root"], store=world["store"],
                          settings={"models": models_on(world["server"])})
    return run_step(world["store"], build_step(name, section, context))


def local_sources(world: dict[str, Any], enter_at: str) -> StepReport:
    return run(world, "local_sources", manifest="manifest.yaml", enter_at=enter_at, sleep_min_s=0, sleep_max_s=0)


def video_ids(store: Store) -> dict[str, str]:
    """The local videos by the file name they were made from."""
    return {Path(v.path).name: v.id for v in store.live_outputs("local_sources", "video")}  # type: ignore[attr-defined]


# -- enter_at: metadata --------------------------------------------------------------------------------------


def test_manifest_links_meet_the_metadata_judge_then_the_visual_judge_and_never_download(
        world: dict[str, Any]) -> None:
    store, server, responder = world["store"], world["server"], world["responder"]
    assert local_sources(world, "metadata").counts == {"accepted": 3, "rejected": 0, "quarantined": 0}
    ids = video_ids(store)
    bus, pasta, blue = ids["bus.mp4"], ids["pasta.mp4"], ids["blue-screen.mp4"]
    assert list(store.live_outputs("local_sources", "relevance")) == []  # no declaration stands in for the judge
    meta = {m.id: m for m in store.live_outputs("local_sources", "video_metadata")}
    assert isinstance(meta[bus], VideoMetadata)
    assert (meta[bus].title, meta[bus].channel, meta[bus].licence) == (
        "Passengers lurch forward as the bus brakes", "Physics Lab", "CC-BY-4.0")
    assert meta[bus].duration_s == pytest.approx(SECONDS, abs=0.2)  # from the probe, not the manifest
    assert meta[blue].title == "blue-screen.mp4" and meta[blue].description == ""  # no title: the file's name
    links = {link.id: link for link in store.live_outputs("local_sources", "video_link")}
    assert set(links) == {f"{v}:{s}" for v in (bus, pasta, blue) for s in SCENARIOS}
    assert isinstance(links[f"{bus}:{KP}:s1"], VideoLink)
    assert (links[f"{bus}:{KP}:s1"].origin, links[f"{bus}:{KP}:s1"].source) == ("manifest", "manifest.yaml:1")

    judged = run(world, "metadata_relevance")
    assert judged.counts == {"accepted": 4, "rejected": 2, "quarantined": 0}
    assert store.rejection_reasons("metadata_relevance") == {"irrelevant": 2}
    rejected = store.ledger_get("metadata_relevance", f"{pasta}:{KP}:s1")
    assert rejected.code == "irrelevant" and rejected.reason.startswith("manifest.yaml:2: the title is off topic")
    judgements = {j.id: j for j in store.live_outputs("metadata_relevance", "relevance")}
    assert set(judgements) == {f"metadata:{v}:{s}" for v in (bus, blue) for s in SCENARIOS}
    first = judgements[f"metadata:{bus}:{KP}:s1"]
    assert isinstance(first, RelevanceJudgement)
    assert (first.judge, first.video_id, first.knowledge_point_id, first.relevant) == ("metadata", bus, KP, True)
    assert first.model is not None  # a model decided, not the user
    assert responder.count("MetadataVerdict") == 6

    # download takes YouTube candidates only: a manifest's video is on disk already
    download = build_step("download", {"sleep_min_s": 0, "sleep_max_s": 0}, StepContext(root=world["root"]))
    assert list(download.inputs(store)) == []
    assert run(world, "download", sleep_min_s=0, sleep_max_s=0).seen == 0

    visual = run(world, "visual_relevance")
    assert visual.counts == {"accepted": 2, "rejected": 2, "quarantined": 0}  # the blue clip's frames show nothing
    kept = {j.id for j in store.live_outputs("visual_relevance", "relevance")}
    assert kept == {f"visual:{bus}:{s}" for s in SCENARIOS}
    assert {e.item_id for e in store.ledger_entries("visual_relevance", Outcome.REJECTED)} == {
        f"visual:{blue}:{s}" for s in SCENARIOS}

    sent = server.stats.total_received
    for name in ("metadata_relevance", "visual_relevance"):
        assert run(world, name).processed == 0  # a rerun decides nothing again
    assert local_sources(world, "metadata").processed == 0
    assert server.stats.total_received == sent


def test_the_judge_is_shown_the_manifest_and_the_probe(world: dict[str, Any]) -> None:
    local_sources(world, "metadata")
    step = build_step("metadata_relevance", {"description_chars": 20},
                      StepContext(store=world["store"], settings={"models": models_on(world["server"])}))
    items = {item.id: item for item in step.inputs(world["store"])}
    bus = video_ids(world["store"])["bus.mp4"]
    item = items[f"{bus}:{KP}:s2"]
    assert (item.origin, item.source, item.channel) == ("manifest", "manifest.yaml:1", "Physics Lab")
    prompt = step.messages(step.values(item))[0]["content"]
    assert "Title: Passengers lurch forward as the bus brakes" in prompt
    assert "Channel: Physics Lab" in prompt and "Duration: 00:03" in prompt
    assert "Filmed from the back […]" in prompt  # cut at description_chars like a search's description
    assert "Knowledge point: Inertia" in prompt and f"Scenario: {SCENARIOS[f'{KP}:s2']}" in prompt
    pasta = items[f"{video_ids(world['store'])['pasta.mp4']}:{KP}:s1"]
    assert pasta.channel == "(unknown)" and step.values(pasta)["description"] == "(none)"


def test_a_search_link_keeps_its_fingerprint_and_the_origin_changes_nothing(world: dict[str, Any]) -> None:
    """Judgements users already paid for stay done: a search link fingerprints as it always has."""
    step = build_step("metadata_relevance", {}, StepContext(settings={"models": models_on(world["server"])}))
    shown = {"scenario_id": f"{KP}:s1", "knowledge_point_id": KP, "title": "t", "channel": "c", "duration_s": 75.5,
             "description": "d", "term": "Inertia", "definition": "def", "scenario": "a bus"}
    search = MetadataLink(video_id="yyyyyyyyyyy", **shown)
    before = digest_json({"link": {"youtube_id": "yyyyyyyyyyy", **shown}, "model": step.draw_model(search.id)})
    assert step.item_fingerprint(search) == before
    manifest = MetadataLink(video_id="yyyyyyyyyyy", origin="manifest", source="m.yaml:3", **shown)
    assert step.item_fingerprint(manifest) == before
    assert step.item_fingerprint(search.model_copy(update={"title": "t2"})) != before


def test_a_local_video_that_is_also_a_search_result_is_judged_once(world: dict[str, Any]) -> None:
    """Same video id from a search and a manifest, same scenario: one item (the search's)."""
    store = world["store"]
    (world["root"] / "manifest.yaml").write_text(textwrap.dedent("""\
        - {path: clips/bus.mp4, id: busBUSbusBU, licence: CC-BY-4.0, title: Bus, knowledge_points: [kp-inertia]}
    """), encoding="utf-8")
    local_sources(world, "metadata")
    commit(store, "youtube_search", {"k1": [_hit("busBUSbusBU", f"{KP}:s1")]})
    commit(store, "youtube_videos", {"busBUSbusBU": [_youtube("busBUSbusBU")]})
    context = StepContext(store=store, settings={"models": models_on(world["server"])})
    step = build_step("metadata_relevance", {}, context)
    items = list(step.inputs(store))
    assert sorted((i.id, i.origin) for i in items) == [(f"busBUSbusBU:{KP}:s1", "search"),
                                                       (f"busBUSbusBU:{KP}:s2", "manifest")]


def _hit(youtube_id: str, scenario_id: str) -> Record:
    return SearchHit(id=f"{scenario_id}:k1:{youtube_id}", keyword_id=f"{scenario_id}:k1", scenario_id=scenario_id,
                     knowledge_point_id=KP, youtube_id=youtube_id, rank=1, query="bus braking")


def _youtube(youtube_id: str) -> Record:
    return YouTubeVideo(id=youtube_id, title="A bus braking", duration_s=60, licence="creativeCommon",
                        url=f"https://www.youtube.com/watch?v={youtube_id}")


def test_a_knowledge_point_without_scenarios_waits_for_them(world: dict[str, Any]) -> None:
    store = world["store"]
    point = KnowledgePoint(id="kp-mass", discipline="Natural Sciences", subject="Physics", course="Mechanics",
                           lecture="Newton's laws", term="Mass", definition="How much matter a body holds.")
    commit(store, "knowledge_points", {"lecture-2": [point]})
    (world["root"] / "manifest.yaml").write_text(
        "- {path: clips/bus.mp4, licence: CC-BY-4.0, knowledge_points: [kp-mass]}\n", encoding="utf-8")
    report = local_sources(world, "metadata")
    assert report.counts == {"accepted": 0, "rejected": 0, "quarantined": 1}
    (entry,) = store.ledger_entries("local_sources", Outcome.QUARANTINED)
    assert "manifest.yaml:1: knowledge point(s) kp-mass have no scenario yet" in entry.reason


# -- enter_at: visual, unchanged -------------------------------------------------------------------------


def test_enter_at_visual_skips_the_metadata_judge(world: dict[str, Any]) -> None:
    store, server = world["store"], world["server"]
    assert local_sources(world, "visual").counts["accepted"] == 3
    assert list(store.live_outputs("local_sources", "video_metadata")) == []
    assert list(store.live_outputs("local_sources", "video_link")) == []
    declared = list(store.live_outputs("local_sources", "relevance"))
    assert len(declared) == 6 and all(j.model is None and j.reason.startswith("declared by the user in manifest.yaml:")
                                      for j in declared)  # type: ignore[attr-defined]
    assert run(world, "metadata_relevance").seen == 0 and server.stats.total_received == 0
    assert run(world, "visual_relevance").counts == {"accepted": 4, "rejected": 2, "quarantined": 0}


# -- the recipe --------------------------------------------------------------------------------------------


def test_enter_at_metadata_needs_local_sources_before_the_judge() -> None:
    section = {"local_sources": {"manifest": "m.yaml", "enter_at": "metadata"}}
    assert CORPUS_COLLECTION.index("local_sources") < CORPUS_COLLECTION.index("metadata_relevance")
    build_recipe(CORPUS_COLLECTION, section, StepContext(recipe=tuple(CORPUS_COLLECTION)))  # the default order works
    late = [s for s in CORPUS_COLLECTION if s != "local_sources"]
    late.insert(late.index("download") + 1, "local_sources")
    with pytest.raises(RecipeError, match=r"steps\.local_sources\.enter_at: metadata: put local_sources before "
                                          r"metadata_relevance in the recipe"):
        build_recipe(late, section, StepContext(recipe=tuple(late)))
    without_judge = ["kb", "knowledge_points", "scenarios", "local_sources", "visual_relevance"]
    with pytest.raises(RecipeError, match="put local_sources before metadata_relevance"):
        build_recipe(without_judge, section, StepContext(recipe=tuple(without_judge)))
    build_recipe(late, {"local_sources": {"manifest": "m.yaml"}}, StepContext(recipe=tuple(late)))  # visual may follow
    early = chain_with_local_sources()
    assert [s.name for s in build_recipe(early, section, StepContext(recipe=tuple(early))).steps] == early


def chain_with_local_sources() -> list[str]:
    """The chain with local_sources right before the metadata judge."""
    at = CHAIN.index("metadata_relevance")
    return CHAIN[:at] + ["local_sources"] + CHAIN[at:]


# -- the whole chain through `videokr run` -----------------------------------------------------------------




def test_the_chain_with_a_manifest_entering_at_the_metadata_judge(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    media = make_media(tmp_path / "media")
    make_video(media / "lab" / "sled.mp4", offset=40)  # served over HTTP: a URL entry of the manifest
    with ChainWorld(media) as world:
        for name, value in world.env().items():
            monkeypatch.setenv(name, value)
        local = {"manifest": "my-videos.yaml", "enter_at": "metadata", "sleep_min_s": 0, "sleep_max_s": 0}
        ws = world.workspace(tmp_path / "ws", local_sources=local)
        make_video(ws / "mine" / "bus.mp4", offset=20)
        make_video(ws / "mine" / "pasta.mp4", offset=30)
        (ws / "my-videos.yaml").write_text(yaml.safe_dump({"videos": [
            {"path": "mine/bus.mp4", "licence": "CC-BY-4.0", "title": "Passengers lurch forward as the bus brakes",
             "knowledge_points": [{"subject": "Physics", "term": "Inertia"}]},
            {"path": "mine/pasta.mp4", "licence": "CC-BY-4.0", "title": "Cooking pasta at home",
             "knowledge_points": [{"subject": "Physics", "term": "Inertia"}]},
            {"url": f"{world.files.base_url}/lab/sled.mp4", "licence": "CC-BY-SA-4.0", "title": "A rocket sled run",
             "channel": "Test Track", "knowledge_points": [{"subject": "Physics", "term": "Newton's second law"}]},
        ]}, sort_keys=False), encoding="utf-8")

        config = yaml.safe_load((ws / "videokr.yaml").read_text(encoding="utf-8"))
        late = [s for s in CORPUS_COLLECTION if s in CHAIN]
        config["recipe"] = late[:late.index("download") + 1] + ["local_sources"] + late[late.index("download") + 1:]
        (ws / "videokr.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        refused = invoke("-w", ws, "run")
        assert refused.exit_code != 0 and "Traceback" not in refused.output
        assert "put local_sources before metadata_relevance in the recipe" in refused.text
        assert world.requests()["openai"] == 0  # refused before anything is sent

        config["recipe"] = chain_with_local_sources()
        (ws / "videokr.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        done = invoke("-w", ws, "run")
        assert done.exit_code == 0, done.output

        store = Store(ws / "videokr.sqlite")
        ids = {v.title: v.id for v in store.live_outputs("local_sources", "video")}  # type: ignore[attr-defined]
        bus, pasta, sled = (ids["Passengers lurch forward as the bus brakes"], ids["Cooking pasta at home"],
                            ids["A rocket sled run"])
        # the judge took the search's 7 links and the manifest's 3; the cooking titles are off topic in both
        assert len(store.ledger_entries("metadata_relevance")) == 7 + 3
        assert store.rejection_reasons("metadata_relevance") == {"irrelevant": 2}
        judged = {j.video_id for j in store.live_outputs("metadata_relevance", "relevance")}  # type: ignore
        assert {bus, sled} <= judged and pasta not in judged
        # download fetched the search's videos only, exactly as without the manifest
        fetched = {e.item_id for e in store.ledger_entries("download")}
        assert fetched == set(FILES) and not {bus, sled, pasta} & fetched
        assert all(v.source == "youtube" for v in store.live_outputs("download", "video"))  # type: ignore[attr-defined]
        # the manifest's relevant videos went on to the visual judge and safety
        seen_visually = {e.item_id.split(":")[1] for e in store.ledger_entries("visual_relevance")}
        assert {bus, sled} <= seen_visually and pasta not in seen_visually
        safe = {c.id for c in store.live_outputs("safety", "safety_check")}
        assert {bus, sled} <= safe
        sled_video = store.get("video", sled)
        assert isinstance(sled_video, Video) and (sled_video.source, sled_video.channel) == ("url", "Test Track")

        sent = world.requests()
        again = invoke("-w", ws, "run")
        assert again.exit_code == 0, again.output
        assert world.requests() == sent  # nothing is asked or fetched twice
