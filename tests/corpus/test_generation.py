"""§3.3's example generation on real videos, the real runner and real HTTP.

The contract is asserted on what the loopback OpenAI-compatible server received: six requests
per video, frames at 0.2 fps each after its timestamp (and each frame the one shown at that
time: the videos burn their frame index into the picture), three seeds of the video's
discipline and the round's skill (the same on a rerun), the knowledge point exactly for
KnowVid and KnowVidR, a model's image limit met by uniform thinning, only Table 8's eligible
models. Upstream records are committed as their steps commit them; the seeds come from a
small source step named `seeds`.
"""

from __future__ import annotations

import base64
import io
import json
import math
import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.collect.text_sources import SeedConfig, _Seed
from videokr.models.config import Limits, ModelConfig
from videokr.models.pool import PAPER_TABLE8
from videokr.models.structured import DEFAULT_MAX_INVALID
from videokr.pipeline.runner import run_step
from videokr.pipeline.step import StepContext
from videokr.records import (
    CandidateExample,
    KnowledgePoint,
    Outcome,
    Record,
    RelevanceJudgement,
    SafetyCheck,
    Seed,
    Skill,
    Video,
)
from videokr.steps.example_generation import (
    GENERATION_FPS,
    INVALID_CODE,
    KNOWLEDGE_SKILLS,
    MISSING_SEEDS_CODE,
    ROUNDS,
    ROUNDS_PER_SKILL,
    SEEDS_PER_ROUND,
    SKILL_ORDER,
    ExampleGenerationStep,
    GenerationConfig,
    draw_seeds,
    round_id,
    skill_of_round,
)
from videokr.store import ItemOutcome, Store
from videokr.testing import TestServer
from videokr.timestamps import format_timestamp
from videokr.video.frame_cache import FrameCache
from videokr.video.probe import VideoError
from videokr.video.synth import indexed_frame, read_index, write_video

VIDEO_FPS = 2  # frames per second of the test videos: frame i is shown from i / 2 s
WIDTH, HEIGHT = 160, 96
FAST = Limits(timeout_s=5, backoff_base_s=0.01, backoff_max_s=0.05, max_attempts=4)
SMALL_BUDGET = 4  # claude-4.5-sonnet's image limit here: the long video is thinned to it
ELIGIBLE = {m for m, mark in PAPER_TABLE8["example_generation"].items() if mark == "✓"}


# -- the world: real videos, upstream records, seeds ----------------------------------------------


def make_video(path: Path, seconds: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = (indexed_frame(i, WIDTH, HEIGHT) for i in range(int(seconds * VIDEO_FPS)))
    return write_video(path, frames, fps=VIDEO_FPS, gop=10)


def commit(store: Store, step: str, items: dict[str, list[Record]]) -> None:
    """Records as if `step` had produced them, one item each."""
    store.commit_outcomes(step, "1", [ItemOutcome(item_id, f"fp-{item_id}", Outcome.ACCEPTED, tuple(records))
                                      for item_id, records in items.items()])


class Seeds(_Seed):
    """The `seeds` step as the generator sees it: a source of `Seed` records."""

    name = "seeds"
    kind = "seed"
    writes = ("seed",)


def seed(discipline: str, skill: Skill, i: int) -> dict[str, Any]:
    sid = f"seed-{discipline[:3].lower()}-{skill.value}-{i}"
    return Seed(id=sid, problem_type="multiple choice", question=f"[{sid}] Which object moves first?",
                options=["the cart", "the ball", "the rope"], answer="B", video_id=f"v-{sid}",
                video_path=f"seeds/{sid}.mp4", skill=skill, discipline=discipline,
                cot=f"At [00:05] the ball starts rolling before the cart ({sid}).",
                knowledge_point=f"seed point {i}").model_dump(mode="json", exclude={"kind"})


SEED_COUNTS = {("Natural Sciences", Skill.VIDR): 5, ("Natural Sciences", Skill.KNOWVID): 4,
               ("Natural Sciences", Skill.KNOWVIDR): 3,
               ("Engineering", Skill.VIDR): 3, ("Engineering", Skill.KNOWVID): 3,
               ("Engineering", Skill.KNOWVIDR): 2}  # too few: the engineering video's rounds 4–5 wait


def seed_records(counts: dict[tuple[str, Skill], int] = SEED_COUNTS) -> list[dict[str, Any]]:
    return [seed(d, s, i) for (d, s), n in counts.items() for i in range(n)]


NEWTON = KnowledgePoint(id="kp-a-newton", discipline="Natural Sciences", subject="Physics", course="Mechanics",
                        lecture="Dynamics", term="Newton's second law",
                        definition="The net force on a body equals its mass times its acceleration.")
FRICTION = KnowledgePoint(id="kp-b-friction", discipline="Natural Sciences", subject="Physics", course="Mechanics",
                          lecture="Forces", term="Kinetic friction",
                          definition="A force that opposes the sliding of two surfaces against each other.")
BEAM = KnowledgePoint(id="kp-c-beam", discipline="Engineering", subject="Civil Engineering",
                      course="Structural Analysis", lecture="Beams", term="Cantilever beam",
                      definition="A beam anchored at only one end that carries loads to that support.")
# video id -> (seconds, knowledge points it was judged relevant to)
VIDEOS = {"yt-longAAAAAAA": (60.0, [FRICTION, NEWTON]),  # two points: generated for the first by id (Newton)
          "yt-shortBBBBBB": (22.0, [FRICTION]),
          "local-beam": (12.0, [BEAM])}
UNSAFE = "yt-unsafeCCCCC"  # relevant, but no safety check (rejected by `safety`): no rounds


@pytest.fixture
def world(tmp_path: Path) -> dict[str, Any]:
    root = tmp_path / "ws"
    videos = root / "videos"
    store = Store(root / "videokr.sqlite")
    commit(store, "knowledge_points", {p.id: [p] for p in (NEWTON, FRICTION, BEAM)})
    records: dict[str, Video] = {}
    for vid, (seconds, _) in {**VIDEOS, UNSAFE: (10.0, [NEWTON])}.items():
        make_video(videos / f"{vid}.mp4", seconds)
        youtube_id = vid[3:] if vid.startswith("yt-") else None
        records[vid] = Video(id=vid, path=f"{vid}.mp4", source="youtube" if youtube_id else "local",
                             youtube_id=youtube_id, licence="creativeCommon")
    commit(store, "download", {vid: [v] for vid, v in records.items() if v.youtube_id})
    commit(store, "local_sources", {"local:beam": [records["local-beam"]]})
    judgements = {f"visual:{vid}:{p.id}:s1": [RelevanceJudgement(
        id=f"visual:{vid}:{p.id}:s1", judge="visual", video_id=vid, knowledge_point_id=p.id,
        scenario_id=f"{p.id}:s1", relevant=True, reason="shows it", model="gpt-5.2")]
        for vid, (_, points) in {**VIDEOS, UNSAFE: (10.0, [NEWTON])}.items() for p in points}
    commit(store, "visual_relevance", judgements)
    commit(store, "safety", {vid: [SafetyCheck(id=vid, backend="offline", frame_times_s=[0.0], scores=[{}],
                                               safe=True)] for vid in VIDEOS})
    return {"root": root, "videos": videos, "store": store}


def import_seeds(world: dict[str, Any], counts: dict[tuple[str, Skill], int] = SEED_COUNTS) -> None:
    run_step(world["store"], Seeds(SeedConfig(records=seed_records(counts))))


def generation_models(server: TestServer) -> dict[str, ModelConfig]:
    """Five pool models on the loopback server; claude-4.5-sonnet takes only SMALL_BUDGET images."""
    return {name: ModelConfig(base_url=server.base_url, model=f"loop-{name}", limits=FAST,
                              max_images=SMALL_BUDGET if name == "claude-4.5-sonnet" else 64)
            for name in ("gpt-5.2", "gpt-5-mini", "claude-4.5-sonnet", "gemini-3-flash", "glm-4.6v")}


def make_step(world: dict[str, Any], server: TestServer, **config: Any) -> ExampleGenerationStep:
    context = StepContext(root=world["root"], video_root=world["videos"],
                          settings={"models": generation_models(server)}, store=world["store"])
    step = ExampleGenerationStep(GenerationConfig(**config), context)
    step.frame_cache = FrameCache()  # this test's own: its decode counts are the step's alone
    return step


# -- the loopback generator ------------------------------------------------------------------------

STAMP = re.compile(r"^\[\d\d:\d\d\]$")
SEED_ID = re.compile(r"\[(seed-[A-Za-z-]+-\d+)\] Which object")


class Generator:
    """Checks each request's frames and records what it was shown; answers like a generator would.

    `break_skill`: rounds of this skill always reply with an answer letter no option has;
    `repair_skill`: rounds of this skill do so only until shown the error once."""

    def __init__(self, break_skill: str | None = None, repair_skill: str | None = None) -> None:
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.break_skill, self.repair_skill = break_skill, repair_skill

    def __call__(self, body: dict[str, Any], fingerprint: str) -> str:
        from PIL import Image

        first, *later = body["messages"]
        parts = first["content"]
        prompt = parts[-1]["text"]
        frames = parts[:-1]
        images = [p for p in frames if p["type"] == "image_url"]
        stamps = [p["text"] for p in frames if p["type"] == "text"]
        assert [p["type"] for p in frames] == ["text", "image_url"] * len(images)  # each image after its time
        assert all(STAMP.match(s) for s in stamps) and stamps == sorted(stamps)
        shown = [read_index(np.asarray(Image.open(io.BytesIO(base64.b64decode(p["image_url"]["url"].split(",")[1])))))
                 for p in images]
        skill = re.search(r"^Skill: (\w+)$", prompt, re.MULTILINE).group(1)  # type: ignore[union-attr]
        with self.lock:
            self.requests.append({"model": body["model"], "stamps": stamps, "indices": shown, "prompt": prompt,
                                  "skill": skill, "seeds": SEED_ID.findall(prompt), "repair": bool(later)})
        broken = skill == self.break_skill or (skill == self.repair_skill and not later)
        return json.dumps({"problem_type": "multiple choice",
                           "question": f"What happens right after {stamps[-1]}?",
                           "options": ["it stops", "it speeds up", "it turns"],
                           "answer": "E" if broken else "B",
                           "reasoning": f"At {stamps[0]} it moves; by {stamps[-1]} it is faster, so B."})


def first_requests(gen: Generator) -> list[dict[str, Any]]:
    return [r for r in gen.requests if not r["repair"]]


# -- the paper's numbers -------------------------------------------------------------------------------


def test_paper_constants() -> None:
    assert GENERATION_FPS == 0.2  # "video frames uniformly sampled at 0.2 fps with timestamps"
    assert SEEDS_PER_ROUND == 3  # "three randomly sampled human-curated examples"
    assert ROUNDS_PER_SKILL == 2 and ROUNDS == 6  # "two examples per skill ... six independent rounds"
    assert SKILL_ORDER == (Skill.VIDR, Skill.KNOWVID, Skill.KNOWVIDR)
    assert KNOWLEDGE_SKILLS == {Skill.KNOWVID, Skill.KNOWVIDR}
    assert [skill_of_round(r) for r in range(6)] == ["VidR", "VidR", "KnowVid", "KnowVid", "KnowVidR", "KnowVidR"]
    assert ELIGIBLE == {"gpt-5.2", "claude-4.5-sonnet", "gemini-3-flash"}  # Table 8, Example Generation
    with pytest.raises(ValueError):
        skill_of_round(6)


# -- the contract ----------------------------------------------------------------------------------


def test_six_rounds_per_video_with_frames_seeds_knowledge_and_eligible_models(world: dict[str, Any]) -> None:
    store = world["store"]
    import_seeds(world)
    gen = Generator()
    with TestServer(responder=gen) as server:
        step = make_step(world, server)
        report = run_step(store, step)
        # 3 safe videos × 6 rounds; the engineering video's KnowVidR rounds have 2 seeds of 3
        assert report.seen == 18 and report.counts["accepted"] == 16 and report.counts["quarantined"] == 2
        waiting = store.ledger_entries("example_generation", Outcome.QUARANTINED)
        assert {e.item_id for e in waiting} == {"local-beam:r4", "local-beam:r5"}
        assert all(e.code == MISSING_SEEDS_CODE and "2 seed example(s) for Engineering × KnowVidR" in e.reason
                   for e in waiting)

        # decoded once per video, shared by its rounds
        assert sorted(step.frame_cache.decodes.values()) == [1, 1, 1]
        assert {Path(p).name for p in step.frame_cache.decodes} == {f"{v}.mp4" for v in VIDEOS}

        candidates = {c.id: c for c in store.live_outputs("example_generation", "candidate_example")}
        assert set(candidates) == {round_id(v, r) for v in VIDEOS for r in range(6)} - {"local-beam:r4",
                                                                                           "local-beam:r5"}
        assert len(gen.requests) == 16  # one request per round: six for each video with its seeds
        seeds = {s.id: s for s in store.live_outputs("seeds", "seed")}
        point_of = {"yt-longAAAAAAA": NEWTON, "yt-shortBBBBBB": FRICTION, "local-beam": BEAM}
        for cid, c in candidates.items():
            assert isinstance(c, CandidateExample)
            video, round_ = cid.rsplit(":r", 1)
            point = point_of[video]
            assert c.round == int(round_) and c.skill == skill_of_round(c.round) and c.video_id == video
            assert c.knowledge_point_id == point.id and c.discipline == point.discipline
            assert c.knowledge_point == (point.term if c.skill in KNOWLEDGE_SKILLS else None)
            assert c.generator_model in ELIGIBLE and c.answer == "B" and c.cot.startswith("At [")
            # three seeds, distinct, of the video's discipline and the round's skill: the (video, round) draw
            assert len(set(c.seed_ids)) == SEEDS_PER_ROUND
            assert all(seeds[s].discipline == point.discipline and seeds[s].skill == c.skill for s in c.seed_ids)
            pool = [s for s in seeds.values() if s.discipline == point.discipline and s.skill == c.skill]
            assert c.seed_ids == [s.id for s in draw_seeds(pool, video, c.round)]

        # what the server received, request by request, matched to its candidate by frames and seeds
        matched: set[str] = set()
        for request in gen.requests:
            # two rounds may send the same request (the three seeds of a pool of three, drawn in the same order)
            same = [c for c in candidates.values() if c.seed_ids == request["seeds"]
                    and [format_timestamp(t) for t in c.frame_times_s] == request["stamps"]
                    and request["model"] == f"loop-{c.generator_model}"]
            assert same
            matched |= {c.id for c in same}
            for c in same:
                seconds = VIDEOS[c.video_id][0]
                every = [i / GENERATION_FPS for i in range(math.ceil(seconds * GENERATION_FPS))]  # 0, 5, 10, … s
                assert request["skill"] == c.skill.value
                if c.generator_model == "claude-4.5-sonnet" and len(every) > SMALL_BUDGET:
                    assert len(c.frame_times_s) == SMALL_BUDGET  # thinned uniformly, first and last kept
                    n = len(every)
                    assert c.frame_times_s == [every[round(i * (n - 1) / (SMALL_BUDGET - 1))]
                                               for i in range(SMALL_BUDGET)]
                else:
                    assert c.frame_times_s == every
                assert request["indices"] == [round(t * VIDEO_FPS) for t in c.frame_times_s]  # the frame at that time
                assert f"{len(c.frame_times_s)} frames" in request["prompt"]
                point = point_of[c.video_id]
                knows = c.skill in KNOWLEDGE_SKILLS
                for text in (point.term, point.definition, f"› {point.subject} ›"):
                    assert (text in request["prompt"]) == knows, (c.id, text)
                if c.video_id == "yt-longAAAAAAA":
                    assert FRICTION.term not in request["prompt"]  # the video's other point: not its context
        assert matched == set(candidates)
        assert {r["model"] for r in gen.requests} <= {f"loop-{m}" for m in ELIGIBLE}
        assert len({c.generator_model for c in candidates.values()}) > 1  # drawn per instance
        assert any(c.generator_model == "claude-4.5-sonnet" and c.video_id == "yt-longAAAAAAA"
                   for c in candidates.values())  # the image limit was exercised
        assert not any(UNSAFE in c.id for c in candidates.values())

        # a rerun sends nothing, decodes nothing, and draws the same seeds
        received = server.stats.total_received
        again = make_step(world, server)
        report = run_step(store, again)
        assert server.stats.total_received == received and sum(again.frame_cache.decodes.values()) == 0
        assert report.counts.get("accepted", 0) == 0
        assert {c.id: c.seed_ids for c in store.live_outputs("example_generation", "candidate_example")} == \
            {cid: c.seed_ids for cid, c in candidates.items()}


def test_missing_seeds_wait_for_an_import(world: dict[str, Any]) -> None:
    store = world["store"]
    import_seeds(world)
    gen = Generator()
    with TestServer(responder=gen) as server:
        run_step(store, make_step(world, server))
        assert len(gen.requests) == 16
        import_seeds(world, {**SEED_COUNTS, ("Engineering", Skill.KNOWVIDR): 4})  # the expert adds seeds
        report = run_step(store, make_step(world, server))
        assert report.counts["accepted"] == 2 and len(gen.requests) == 18  # only the two waiting rounds
    assert store.ledger_entries("example_generation", Outcome.QUARANTINED) == []
    done = store.get("candidate_example", "local-beam:r5")
    assert isinstance(done, CandidateExample) and done.knowledge_point == BEAM.term


def test_a_reply_breaking_the_rules_is_repaired_or_rejected(world: dict[str, Any]) -> None:
    store = world["store"]
    import_seeds(world, {k: 3 for k in SEED_COUNTS})
    gen = Generator(break_skill="KnowVidR", repair_skill="KnowVid")
    with TestServer(responder=gen) as server:
        reports = [run_step(store, make_step(world, server)) for _ in range(DEFAULT_MAX_INVALID)]
    # KnowVid: shown its error once, the model fixes it in the same run
    repaired = [r for r in gen.requests if r["skill"] == "KnowVid" and r["repair"]]
    assert len(repaired) == 3 * ROUNDS_PER_SKILL
    assert reports[0].counts["accepted"] == 3 * 4
    # KnowVidR: quarantined after its repairs in each run, rejected at the last
    assert reports[0].counts["quarantined"] == reports[1].counts["quarantined"] == 3 * ROUNDS_PER_SKILL
    assert reports[-1].counts["rejected"] == 3 * ROUNDS_PER_SKILL
    rejected = store.ledger_entries("example_generation", Outcome.REJECTED)
    assert {e.item_id for e in rejected} == {round_id(v, r) for v in VIDEOS for r in (4, 5)}
    assert all(e.code == INVALID_CODE and "'E' is not one of the offered letters A, B, C" in e.reason
               for e in rejected)
    assert not any(c.skill == Skill.KNOWVIDR for c in store.live_outputs("example_generation", "candidate_example"))


def test_a_changed_skill_part_redoes_that_skills_rounds_only(world: dict[str, Any]) -> None:
    from videokr.prompts import load_prompt

    store = world["store"]
    import_seeds(world, {k: 3 for k in SEED_COUNTS})
    with TestServer(responder=Generator()) as server:
        before = make_step(world, server)
        text = load_prompt("example_generation")
        edited = text.replace("without relying on external domain knowledge.",
                              "without relying on external domain knowledge (edited).")
        assert edited != text
        after = make_step(world, server, prompt=edited)
        same = make_step(world, server, prompt=text)
        changed = {i.id for i in before.inputs(store) if before.fingerprint(i) != after.fingerprint(i)}
        assert changed == {round_id(v, r) for v in VIDEOS for r in (0, 1)}  # VidR only
        assert all(before.fingerprint(i) == same.fingerprint(i) for i in before.inputs(store))


def test_a_prompt_without_its_parts_is_refused_naming_them() -> None:
    with pytest.raises(ValueError, match=r"<!-- skill: KnowVidR -->"):
        GenerationConfig(prompt="Frames: {frame_count}\n<!-- knowledge -->\n{term}\n<!-- skill: VidR -->\nA\n"
                                "<!-- skill: KnowVid -->\nB\n")
    with pytest.raises(ValueError, match=r"\{scenario\}"):
        GenerationConfig(prompt="{scenario}\n<!-- knowledge -->\nK\n<!-- skill: VidR -->\nA\n"
                                "<!-- skill: KnowVid -->\nB\n<!-- skill: KnowVidR -->\nC\n")


# -- the frame cache -------------------------------------------------------------------------------


def test_frame_cache_decodes_once_under_concurrency_and_again_when_the_file_changes(tmp_path: Path) -> None:
    path = make_video(tmp_path / "v.mp4", 12.0)
    cache = FrameCache()
    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lambda _: cache.frames(path, fps=GENERATION_FPS, max_side=854), range(6)))
    assert cache.decodes[str(path.resolve())] == 1 and all(r is results[0] for r in results)
    assert results[0].times_s == (0.0, 5.0, 10.0) and (results[0].width, results[0].height) == (WIDTH, HEIGHT)
    small = cache.frames(path, fps=GENERATION_FPS, max_side=80)  # another size: another sampling
    assert (small.width, small.height) == (80, 48) and cache.decodes[str(path.resolve())] == 2
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000))  # the file changed: decoded afresh
    cache.frames(path, fps=GENERATION_FPS, max_side=854)
    assert cache.decodes[str(path.resolve())] == 3


def test_frame_cache_drops_the_least_recently_used_and_keeps_no_failure(tmp_path: Path) -> None:
    paths = [make_video(tmp_path / f"v{i}.mp4", 6.0) for i in range(3)]
    one = FrameCache().frames(paths[0], fps=GENERATION_FPS).nbytes
    cache = FrameCache(max_bytes=int(one * 2.5))
    for p in (paths[0], paths[1], paths[0], paths[2]):  # v1 is the least recently used when v2 arrives
        cache.frames(p, fps=GENERATION_FPS)
    assert len(cache) == 2 and cache.nbytes <= cache.max_bytes
    cache.frames(paths[0], fps=GENERATION_FPS)
    cache.frames(paths[1], fps=GENERATION_FPS)
    assert [cache.decodes[str(p.resolve())] for p in paths] == [1, 2, 1]
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all")
    for _ in range(2):
        with pytest.raises(VideoError, match="broken.mp4"):
            cache.frames(broken, fps=GENERATION_FPS)
    assert len(cache) == 2
    with pytest.raises(ValueError, match="exactly one"):
        cache.frames(paths[0], fps=GENERATION_FPS, n=4)


def test_a_dry_run_renders_and_prices_every_round_and_sends_nothing(world: dict[str, Any]) -> None:
    store = world["store"]
    import_seeds(world, {k: 3 for k in SEED_COUNTS})
    with TestServer(responder=Generator()) as server:
        step = make_step(world, server)
        report = run_step(store, step, dry_run=True)
        assert server.stats.total_received == 0 and report.cost is not None
    assert report.cost["requests"] == 3 * ROUNDS and report.cost["tokens_in"] > 0
    assert sorted(step.frame_cache.decodes.values()) == [1, 1, 1]
    assert store.ledger_entries("example_generation") == []
