"""The whole paper recipe end to end through `videokr run`: §3.1–§3.2's collection, §3.3's seeds,
generation and three validators, then import → videos → probe → decontam → split → export.

Against loopback stand-ins of every endpoint (`chain33_world`): real HTTP, real MP4s fetched by
real yt-dlp, the real runner and CLI. The model answers from what it is sent, and plants one
rejection per validator. The paper's contract is asserted on the requests the server received;
the surviving examples are followed into the SFT/RL exports. Then the same recipe killed with
SIGKILL at seeded random instants of generation and validation, resumed to the same end state.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("yt_dlp")

from tests.cli_support import assert_accounted, funnel, invoke
from tests.collect.chain_world import CATALYST_H, INERTIA_A, SHARED_B, make_media  # noqa: E402
from tests.corpus.chain33_world import (  # noqa: E402
    CONSISTENCY, DEPENDENCY, GENERATION, OFFSETS, REVIEW, SAFE, SECONDS, SEEDS_FILE, Chain33World, stamps_of,
)
from tests.collect.chain_world import FPS as VIDEO_FPS  # noqa: E402
from videokr.config import PAPER_RECIPE  # noqa: E402
from videokr.models.pool import PAPER_TABLE8  # noqa: E402
from videokr.records import CandidateExample, ExampleCheck, Outcome  # noqa: E402
from videokr.steps.example_generation import GENERATION_FPS, KNOWLEDGE_SKILLS, ROUNDS, SEEDS_PER_ROUND  # noqa: E402
from videokr.steps.video_dependency import DEPENDENCY_FRAMES, DEPENDENCY_MODELS  # noqa: E402
from videokr.store import Store  # noqa: E402
from videokr.testing import body_fingerprint  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
GENERATED = ("seeds", "example_generation", "self_consistency", "video_dependency", "cot_validation")
MODEL_STEPS_33 = ("example_generation", "self_consistency", "video_dependency", "cot_validation")
# §3.3 and the main job on the planted world: (in, accepted, rejected by reason).
FUNNEL = {
    "seeds": (19, 19, {}),
    "example_generation": (18, 18, {}),  # 3 safe videos × 6 rounds
    "self_consistency": (18, 16, {"inconsistent": 2}),
    "video_dependency": (16, 14, {"video_independent": 2}),
    "cot_validation": (14, 12, {"unsupported_step": 2}),
    "import": (0, 0, {}),
    "videos": (0, 0, {}),
    "probe": (5, 5, {}),  # every downloaded file
    "decontam": (3, 3, {}),  # the videos of live examples
    "split": (12, 12, {}),
    "export": (3, 3, {}),  # sft/jsonl, sft/llamafactory, rl/jsonl
}
REJECTED = {
    ("self_consistency", f"yt-{INERTIA_A}:r0"): "inconsistent", ("self_consistency", f"yt-{INERTIA_A}:r1"): "inconsistent",
    ("video_dependency", f"yt-{SHARED_B}:r2"): "video_independent",
    ("video_dependency", f"yt-{SHARED_B}:r3"): "video_independent",
    ("cot_validation", f"yt-{CATALYST_H}:r4"): "unsupported_step",
    ("cot_validation", f"yt-{CATALYST_H}:r5"): "unsupported_step",
}
PASSING = {f"yt-{v}:r{r}" for v in SAFE for r in range(ROUNDS)} - {item for _, item in REJECTED}
REQUESTS_33 = 18 + 18 + 16 * len(DEPENDENCY_MODELS) + 14
ELIGIBLE = {step: {m for m, mark in PAPER_TABLE8[step].items() if mark == "✓"}
            for step in ("example_generation", "cot_validation")}
# The knowledge point each video was collected for (SHARED_B was found for two: the first by id is used).
TERMS = {INERTIA_A: {"Inertia"}, SHARED_B: {"Inertia", "Newton's second law"}, CATALYST_H: {"Catalyst"}}


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_media(tmp_path_factory.mktemp("chain33-media"), seconds=SECONDS)


@pytest.fixture
def world(media: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Chain33World]:
    with Chain33World(media) as running:
        for name, value in running.env().items():
            monkeypatch.setenv(name, value)
        yield running








def seed_lines() -> dict[str, dict[str, Any]]:
    lines = [json.loads(line) for line in SEEDS_FILE.read_text(encoding="utf-8").splitlines() if line.strip()]
    return {line["problem_id"]: line for line in lines}


def exported(ws: Path) -> dict[str, dict[str, Any]]:
    """The SFT and RL JSONL exports' lines, by example id."""
    lines = {}
    for name in ("sft-jsonl/videokr-sft.jsonl", "rl-jsonl/videokr-rl.jsonl"):
        for line in (ws / "exports" / name).read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            lines[row["problem_id"]] = {**row, "file": name}
    return lines


# -- the recipe through the command line -----------------------------------------------------------------


def test_the_paper_recipe_end_to_end_then_a_rerun_sends_nothing(tmp_path: Path, world: Chain33World) -> None:
    ws = world.workspace(tmp_path / "ws")
    done = invoke("-w", ws, "run")
    assert done.exit_code == 0, done.output

    rows = funnel(ws)
    assert_accounted(rows, PAPER_RECIPE)
    assert {s: (rows[s]["in"], rows[s]["accepted"], rows[s]["rejected_by_reason"]) for s in FUNNEL} == FUNNEL
    assert (rows["safety"]["in"], rows["safety"]["accepted"]) == (4, 3)  # the collection fed §3.3 its 3 safe videos

    # the planted rejections, one per validator, with what failed in the reason
    store = Store(ws / "videokr.sqlite")
    codes = {(s, e.item_id): e.code for s in GENERATED for e in store.ledger_entries(s, Outcome.REJECTED)}
    assert codes == REJECTED
    inconsistent = store.ledger_get("self_consistency", f"yt-{INERTIA_A}:r0")
    assert (inconsistent.detail["original"], inconsistent.detail["rederived"]) == ("B", "A")
    independent = store.ledger_get("video_dependency", f"yt-{SHARED_B}:r2")
    assert independent.detail["answers"] == {m: "B" for m in DEPENDENCY_MODELS}
    unsupported = store.ledger_get("cot_validation", f"yt-{CATALYST_H}:r4")
    assert unsupported.detail["failing_step"] == "The ball weighs 3 kg." and "3 kg" in unsupported.reason

    candidates = {c.id: c for c in store.live_outputs("example_generation", "candidate_example")}
    assert all(isinstance(c, CandidateExample) for c in candidates.values()) and len(candidates) == 18
    seeds = seed_lines()
    log = world.responder
    terms = {}  # video -> the term of its knowledge point: one per video, all six rounds agree
    for candidate in candidates.values():
        point = store.get("knowledge_point", candidate.knowledge_point_id)
        assert terms.setdefault(candidate.video_id.removeprefix("yt-"), point.term) == point.term
    assert all(term in TERMS[video] for video, term in terms.items()) and set(terms) == set(SAFE)

    # generation: six requests per video, frames at 0.2 fps each after its timestamp and each the frame of
    # that moment, three seeds of the video's discipline and the round's skill, the knowledge point exactly
    # for KnowVid and KnowVidR, a model eligible by Table 8
    generated = log.of(GENERATION)
    per_video: dict[str, int] = defaultdict(int)
    for sent in generated:
        per_video[sent["video"]] += 1
    assert per_video == {v: ROUNDS for v in SAFE}
    every = stamps_of([i / GENERATION_FPS for i in range(int(SECONDS * GENERATION_FPS) + 1)])
    assert every == ["[00:00]", "[00:05]", "[00:10]", "[00:15]"]
    assert len({c.question for c in candidates.values()}) == 18  # every round asked its own question
    for sent in generated:
        assert sent["stamps"] == every
        offset = next(o for o, v in OFFSETS.items() if v == sent["video"])
        assert [i - offset for i in sent["indices"]] == [round(i / GENERATION_FPS * VIDEO_FPS) for i in range(4)]
        assert sent["model"] in ELIGIBLE["example_generation"]
        shown = _seed_questions(sent["prompt"])
        assert len(shown) == SEEDS_PER_ROUND
        pool = {line["question"]: line for line in seeds.values()
                if line["skill"] == sent["skill"] and line["discipline"] == "Natural Sciences"}
        assert set(shown) <= set(pool), "a seed of another skill or discipline was shown"
        term = terms[sent["video"]]
        if sent["skill"] in {s.value for s in KNOWLEDGE_SKILLS}:
            assert f"Knowledge point: {term}\nDefinition: " in sent["prompt"]
        else:
            assert "Knowledge point:" not in sent["prompt"] and "Definition:" not in sent["prompt"]
    for candidate in candidates.values():
        assert candidate.frame_times_s == [0.0, 5.0, 10.0, 15.0]
        assert len(candidate.seed_ids) == SEEDS_PER_ROUND
        assert {(seeds[s]["skill"], seeds[s]["discipline"]) for s in candidate.seed_ids} == {
            (candidate.skill.value, "Natural Sciences")}
        assert candidate.knowledge_point == (terms[candidate.video_id.removeprefix("yt-")]
                                             if candidate.skill in KNOWLEDGE_SKILLS else None)
        assert candidate.generator_model in ELIGIBLE["example_generation"]

    # self-consistency: the generator itself, on the candidate's own frames
    asked = log.of(CONSISTENCY)
    assert len(asked) == 18
    for sent in asked:
        candidate = asked_about(sent, candidates)
        assert sent["model"] == candidate.generator_model and sent["stamps"] == stamps_of(candidate.frame_times_s)
        assert "Answer: B" not in sent["prompt"]  # never shown the answer

    # video dependency: exactly 4 different frames, each after its timestamp, and exactly the two named models, per candidate
    dependency: dict[str, set[str]] = defaultdict(set)
    for sent in log.of(DEPENDENCY):
        assert len(sent["stamps"]) == DEPENDENCY_FRAMES == len(set(sent["indices"]))  # four different frames
        dependency[asked_about(sent, candidates).id].add(sent["model"])
    assert len(dependency) == 16 and all(models == set(DEPENDENCY_MODELS) for models in dependency.values())

    # CoT validation: a model eligible for it other than the candidate's generator, shown the re-derived reasoning
    reviews = log.of(REVIEW)
    assert len(reviews) == 14
    for sent in reviews:
        candidate = asked_about(sent, candidates)
        assert sent["model"] in ELIGIBLE["cot_validation"] and sent["model"] != candidate.generator_model
        assert f"Re-derived for {sent['tag']}" in sent["prompt"] and "The generator's reasoning" not in sent["prompt"]

    # the surviving examples reach the exports with self-consistency's reasoning as their CoT
    lines = exported(ws)
    assert set(lines) == PASSING
    assert {row["split"] for row in lines.values()} == {"sft", "rl"}
    for example_id, row in lines.items():
        check = store.get("example_check", f"self_consistency:{example_id}")
        assert isinstance(check, ExampleCheck) and row["think"] == check.reasoning
        assert row["think"].startswith("Re-derived for ") and row["solution"] == "<answer>B</answer>"
        assert row["file"].startswith(row["split"])
        assert [v["step"] for v in row["provenance"]["verdicts"]] == list(MODEL_STEPS_33[1:])
    sharegpt = json.loads((ws / "exports/sft-llamafactory/videokr_train.json").read_text(encoding="utf-8"))
    sft = {i for i, row in lines.items() if row["split"] == "sft"}
    assert len(sharegpt) == len(sft)
    assert {m["messages"][1]["content"].split("</think>")[0].removeprefix("<think>") for m in sharegpt} == {
        lines[i]["think"] for i in sft}

    assert world.openai.stats.repeats_after_answer == []
    sent_before = world.requests()
    assert sent_before["openai"] == 24 + REQUESTS_33  # the collection's 24 model requests, then §3.3's

    again = invoke("-w", ws, "run")
    assert again.exit_code == 0, again.output
    assert "cot_validation 14 in — 0 accepted, 0 rejected, 0 quarantined, 14 already done" in again.text
    assert world.requests() == sent_before  # not one request to any endpoint
    assert_accounted(funnel(ws), PAPER_RECIPE)


def asked_about(sent: dict[str, Any], candidates: dict[str, CandidateExample]) -> CandidateExample:
    """The candidate a validator's request asked about, by the tag its question carries."""
    tag = f"[{sent['video']} {sent['skill']} {sent['tag']}]"
    (candidate,) = [c for c in candidates.values() if c.question.startswith(tag)]
    return candidate


def _seed_questions(prompt: str) -> list[str]:
    """The questions of the seed examples shown (the part after the generator's instructions)."""
    part = prompt.split("written by human experts", 1)[1].split("Requirements:", 1)[0]
    return [line.removeprefix("Question: ") for line in part.splitlines() if line.startswith("Question: ")]


# -- kill -9 at random instants of generation and validation --------------------------------------------------

KILLS = 6
SLOW_S = 0.15  # each §3.3 request answers after this: the four steps take about five seconds
KILL_SECTIONS = {step: {"concurrency": 2} for step in MODEL_STEPS_33}
WRITES = {"seeds": ("seed",), "example_generation": ("candidate_example",), "self_consistency": ("example_check",),
          "video_dependency": ("example_check",), "cot_validation": ("example_check", "example"),
          "split": ("split_assignment",)}


def slow_33(body: dict[str, Any], fingerprint: str, attempt: int) -> str | None:
    """A `TestServer` script: §3.3's requests answer after `slow_delay_s`, the collection's at once."""
    format_ = body.get("response_format")
    kind = format_["json_schema"]["name"] if format_ else DEPENDENCY
    return "slow" if kind in (GENERATION, CONSISTENCY, REVIEW, DEPENDENCY) else "ok"


def command(ws: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "videokr.cli.main", "-w", str(ws), *args]


def stored_requests(ws: Path, steps: tuple[str, ...] = MODEL_STEPS_33) -> set[str]:
    """Server-side fingerprints of the §3.3 requests whose replies the gateway's cache holds."""
    store = Store(ws / "videokr.sqlite")
    rows = store.execute("SELECT request FROM model_calls WHERE state='done' AND step IN (%s)"
                         % ",".join("?" * len(steps)), steps).fetchall()
    return {body_fingerprint(json.loads(request)) for (request,) in rows}


def live_state(ws: Path) -> dict[str, Any]:
    """Each §3.3 and split step's live records and ledger outcomes, and the export files' bytes."""
    store = Store(ws / "videokr.sqlite")
    state: dict[str, Any] = {}
    for step, kinds in WRITES.items():
        for kind in kinds:
            state[f"{step}/{kind}"] = sorted(r.to_json() for r in store.live_outputs(step, kind))
        state[f"{step}/ledger"] = sorted(f"{e.item_id} {e.outcome.value} {e.code}" for e in store.ledger_entries(step))
    for path in sorted((ws / "exports").rglob("*")):
        if path.is_file():
            state[str(path.relative_to(ws))] = path.read_bytes()
    return state


def test_kill_9_at_random_instants_of_generation_and_validation_then_the_same_end(
        tmp_path: Path, media: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with Chain33World(media) as reference_world:
        for name, value in reference_world.env().items():
            monkeypatch.setenv(name, value)
        reference = reference_world.workspace(tmp_path / "reference", **KILL_SECTIONS)
        assert invoke("-w", reference, "run").exit_code == 0
    expected = live_state(reference)
    assert len(expected["cot_validation/example"]) == len(PASSING)

    rng = random.Random(33)
    with Chain33World(media) as world:
        world.openai.script, world.openai.slow_delay_s = slow_33, SLOW_S
        for name, value in world.env().items():
            monkeypatch.setenv(name, value)
        ws = world.workspace(tmp_path / "killed", **KILL_SECTIONS)
        assert invoke("-w", ws, "run", "--until", "safety").exit_code == 0  # the collection, uninterrupted
        env = {**os.environ, **world.env(), "PYTHONPATH": str(REPO)}
        snapshots: list[tuple[int, set[str]]] = []
        kills = 0
        for attempt in range(KILLS):
            log = (tmp_path / f"run-{attempt}.log").open("wb")
            before = len(world.openai.stats.events)
            proc = subprocess.Popen(command(ws, "run"), env=env, start_new_session=True, stdout=log, stderr=log)
            deadline = time.monotonic() + 60
            while len(world.openai.stats.events) == before and proc.poll() is None:  # §3.3 has begun asking
                assert time.monotonic() < deadline, "the run never asked a model"
                time.sleep(0.01)
            time.sleep(rng.uniform(0.0, 1.0))  # then a random instant of generation or validation
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                kills += 1
            proc.wait()
            log.close()
            Store(ws / "videokr.sqlite").ledger_summary()  # the store opens after every kill
            snapshots.append((len(world.openai.stats.events), stored_requests(ws)))
            if proc.returncode == 0:
                break  # it finished before the kill
        done = subprocess.run(command(ws, "run"), env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        events = list(world.openai.stats.events)

        partial = [len(stored) for _, stored in snapshots if 0 < len(stored) < REQUESTS_33]
        assert kills >= 3 and len(partial) >= 3, [len(stored) for _, stored in snapshots]  # kills landed mid-§3.3
        resent = {e.fingerprint for start, stored in snapshots for e in events[start:] if e.fingerprint in stored}
        assert resent == set()  # no stored request sent again
        assert len(stored_requests(ws)) == REQUESTS_33

        sent = world.requests()
        again = subprocess.run(command(ws, "run"), env=env, capture_output=True, text=True, timeout=120)
        assert again.returncode == 0 and world.requests() == sent  # done is done

    assert_accounted(funnel(ws), PAPER_RECIPE)
    assert live_state(ws) == expected
