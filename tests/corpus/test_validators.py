"""§3.3's three validators on real videos, the real runner and real HTTP with faults.

Candidates come from a source step named `example_generation` (the records the generator
commits), over real MP4s made with PyAV whose frames carry their index burnt in, so the
loopback "model" can check that every image it is sent is the frame its timestamp names. The
models are the loopback OpenAI-compatible server, which drops, delays and refuses requests at
random; it answers each validator's prompt from a per-question plan.
"""

from __future__ import annotations

import base64
import io
import json
import re
import threading
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.collect.text_sources import _Seed
from videokr.models.config import INTERNVL_38B, QWEN3_VL_32B, Limits, ModelConfig, self_hosted_models
from videokr.pipeline.recipe import RecipeError, build_step
from videokr.pipeline.runner import run_step
from videokr.pipeline.step import Step, StepContext
from videokr.records import CandidateExample, Example, ExampleCheck, Outcome
from videokr.sets import live_examples
from videokr.steps.cot_validation import NO_VALIDATOR, UNSUPPORTED_CODE, CotValidationStep
from videokr.steps.self_consistency import INCONSISTENT_CODE
from videokr.steps.validation import OPEN_ENDED_MIN_F1, CheckedCandidate, agreement
from videokr.steps.video_dependency import (
    DEPENDENCY_FRAMES,
    DEPENDENCY_MODELS,
    VIDEO_INDEPENDENT_CODE,
    dependency_seed,
)
from videokr.store import Store
from videokr.testing import FaultRates, TestServer
from videokr.timestamps import format_timestamp
from videokr.video.probe import probe
from videokr.video.sampling import times_random
from videokr.video.synth import indexed_frame, read_index, write_video

FPS = 4  # of the test videos: frame i is shown at i / 4 s
POOL = ("gpt-5.2", "gpt-5-mini", "claude-4.5-sonnet", "gemini-3-flash")  # cot_validation: gpt-5.2, claude, gemini
LIMITS = Limits(concurrency=8, timeout_s=2.0, backoff_base_s=0.01, backoff_max_s=0.05, max_attempts=10)


class Candidates(_Seed):
    name = "example_generation"
    kind = "candidate_example"
    writes = ("candidate_example",)


# -- the world: two videos, seven candidates, and what each model says about each --------------


def make_video(path: Path, seconds: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_video(path, (indexed_frame(i, 160, 96) for i in range(int(seconds * FPS))), fps=FPS, gop=8)


def candidate(cid: str, question: str, answer: str, generator: str, *, options: list[str] | None = None,
              video: str = "v1") -> dict[str, Any]:
    times = {"v1": [0.0, 5.0, 10.0, 15.0], "v2": [0.0, 5.0, 10.0]}[video]
    record = CandidateExample(
        id=cid, problem_type="multiple choice" if options else "open-ended", question=question,
        options=options or [], answer=answer, video_id=video, video_path=f"{video}.mp4", subject="Physics",
        skill="VidR", round=int(cid[-1]), cot="the generator's reasoning", discipline="Natural Sciences",
        generator_model=generator, seed_ids=["s1", "s2", "s3"], frame_times_s=times)
    return record.model_dump(mode="json", exclude={"kind"})


GOOD_STEPS = [{"step": "At [00:05] the cart moves faster.", "supported": True, "critical": True,
               "evidence": "frames [00:05] and [00:10] show it"}]
BAD_STEPS = GOOD_STEPS + [{"step": "The cart weighs 3 kg.", "supported": False, "critical": True,
                           "evidence": "no frame shows its mass"}]
OPTIONS = ["rolling friction", "the cart's colour", "air pressure", "the time of day"]

# question -> what self-consistency re-derives, each dependency model's reply, the reviewer's steps
PLAN: dict[str, dict[str, Any]] = {
    "Q1 what slows the cart?": {"sc": "The answer is (A).", "deps": {INTERNVL_38B: "Answer: A", QWEN3_VL_32B: "Answer: C"},
                                "cot": GOOD_STEPS},
    "Q2 which force acts?": {"sc": "A", "deps": {}, "cot": GOOD_STEPS},  # inconsistent: the candidate says C
    "Q3 what is g?": {"sc": "9.81 N", "deps": {INTERNVL_38B: "Answer: 12 N",
                                                         QWEN3_VL_32B: "I cannot tell"}, "cot": GOOD_STEPS},
    "Q4 why does it speed up?": {"sc": "the cart speeds up since the net force on it grows",
                                 "deps": {INTERNVL_38B: "Answer: the cart speeds up because the net force on it grows",
                                          QWEN3_VL_32B: "Answer: the cart speeds up because the net force grows"},
                                 "cot": GOOD_STEPS},  # both right: video independent
    "Q5 what stops the block?": {"sc": "gravity pulls the ball down the ramp", "deps": {}, "cot": GOOD_STEPS},
    "Q6 what slows the wheel?": {"sc": "rolling friction", "deps": {INTERNVL_38B: "Answer: A",
                                                                   QWEN3_VL_32B: "no idea"}, "cot": BAD_STEPS},
    "Q7 what is shown?": {"sc": "Answer: B", "deps": {INTERNVL_38B: "Answer: C", QWEN3_VL_32B: "Answer: B"},
                          "cot": GOOD_STEPS},
}
CANDIDATES = [
    candidate("v1:r0", "Q1 what slows the cart?", "A", "gpt-5.2", options=OPTIONS),
    candidate("v1:r1", "Q2 which force acts?", "C", "claude-4.5-sonnet", options=OPTIONS),
    candidate("v1:r2", "Q3 what is g?", "9.8 N", "gemini-3-flash"),
    candidate("v1:r3", "Q4 why does it speed up?", "the cart speeds up because the net force on it grows", "gpt-5.2"),
    candidate("v2:r0", "Q5 what stops the block?", "friction between the block and the floor", "gpt-5.2", video="v2"),
    candidate("v2:r1", "Q6 what slows the wheel?", "A", "claude-4.5-sonnet", options=OPTIONS, video="v2"),
    candidate("v2:r2", "Q7 what is shown?", "B", "gemini-3-flash", options=OPTIONS, video="v2"),
]
PASSING = {"v1:r0", "v1:r2", "v2:r2"}


class Model:
    """The loopback model: checks every request's frames, answers from PLAN, logs what it was asked."""

    def __init__(self) -> None:
        self.log: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def of(self, step: str) -> list[dict[str, Any]]:
        return [r for r in self.log if r["step"] == step]

    def __call__(self, body: dict[str, Any], fingerprint: str) -> str:
        from PIL import Image

        (message,) = body["messages"]
        parts = message["content"]
        prompt = parts[-1]["text"]
        stamps, indices = [], []
        for stamp, image in zip(parts[:-1:2], parts[1:-1:2], strict=True):
            assert stamp["type"] == "text" and image["type"] == "image_url"
            picture = np.asarray(Image.open(io.BytesIO(base64.b64decode(image["image_url"]["url"].split(",")[1]))))
            stamps.append(stamp["text"])
            indices.append(read_index(picture))
        # every image is the frame its timestamp names (frame i at i / FPS seconds)
        assert [format_timestamp(i / FPS) for i in indices] == stamps
        question = re.search(r"^Question: (.*)$", prompt, re.M).group(1)
        plan = PLAN[question]
        step = ("self_consistency" if "Solve the question" in prompt else
                "cot_validation" if "Check the reasoning" in prompt else "video_dependency")
        with self.lock:
            self.log.append({"step": step, "model": body["model"], "question": question, "stamps": stamps,
                             "indices": indices, "prompt": prompt, "fingerprint": fingerprint})
        if step == "self_consistency":
            return json.dumps({"reasoning": f"At [00:05] the frames show it; so {plan['sc']}", "answer": plan["sc"]})
        if step == "cot_validation":
            return json.dumps({"steps": plan["cot"], "rules_out_alternatives": True})
        return plan["deps"].get(body["model"], "Answer: nothing")


def models_on(server: TestServer, names: tuple[str, ...] = POOL + DEPENDENCY_MODELS) -> dict[str, ModelConfig]:
    return {name: ModelConfig(base_url=server.base_url, model=name, limits=LIMITS,
                              modalities=["vision"] if "/" in name else ["text", "vision"]) for name in names}


@pytest.fixture
def world(tmp_path: Path) -> dict[str, Any]:
    root = tmp_path / "ws"
    paths = {"v1": make_video(root / "videos" / "v1.mp4", 17.0), "v2": make_video(root / "videos" / "v2.mp4", 12.0)}
    return {"root": root, "store": Store(root / "videokr.sqlite"), "paths": paths}


def context(world: dict[str, Any], models: dict[str, ModelConfig]) -> StepContext:
    return StepContext(root=world["root"], video_root=world["root"] / "videos", settings={"models": models},
                       store=world["store"])


def validators(world: dict[str, Any], models: dict[str, ModelConfig], **sections: dict[str, Any]) -> list[Step]:
    ctx = context(world, models)
    return [build_step(name, sections.get(name, {}), ctx)
            for name in ("self_consistency", "video_dependency", "cot_validation")]


def generate(world: dict[str, Any], records: list[dict[str, Any]] = CANDIDATES, reject: tuple[str, ...] = ()) -> None:
    """Commit the candidates as the generator would; `reject`: rounds the generator now rejects."""
    run_step(world["store"], Candidates(Candidates.Config(records=records, reject=list(reject))))


# -- the paper's parameters and the model table -----------------------------------------------


def test_paper_constants_and_the_self_hosted_models() -> None:
    assert DEPENDENCY_FRAMES == 4  # "four randomly sampled video frames" (§3.3)
    assert DEPENDENCY_MODELS == ("OpenGVLab/InternVL3_5-38B", "Qwen/Qwen3-VL-32B-Instruct")
    assert OPEN_ENDED_MIN_F1 == 0.5
    table = self_hosted_models()
    assert list(table) == list(DEPENDENCY_MODELS)
    for name, config in table.items():
        assert config.model == name and config.api_key_env is None and config.modalities == ["vision"]
        assert config.price.input_per_mtok == config.price.output_per_mtok == 0.0
    assert [c.display_name for c in table.values()] == ["InternVL3.5-38B", "Qwen3-VL-32B-Instruct"]


def test_agreement_by_letter_rule_and_rouge() -> None:
    mc = CandidateExample.model_validate({**CANDIDATES[0], "kind": "candidate_example"})
    assert agreement(mc, "The answer is (A).").agrees and agreement(mc, "rolling friction").read == "A"
    assert not agreement(mc, "B").agrees and not agreement(mc, "I cannot tell").agrees
    assert agreement(mc, "I cannot tell").read == ""
    oe = CandidateExample.model_validate({**CANDIDATES[2], "kind": "candidate_example"})  # 9.8 N
    assert agreement(oe, "9.81 N").how == "rule" and agreement(oe, "9.81 N").agrees
    assert not agreement(oe, "12 N").agrees
    words = CandidateExample.model_validate({**CANDIDATES[3], "kind": "candidate_example"})
    close = agreement(words, "the cart speeds up since the net force on it grows")
    assert close.how == "rouge" and close.agrees
    assert not agreement(words, "gravity pulls the ball down").agrees
    assert not agreement(words, "").agrees


# -- the chain ----------------------------------------------------------------------------------


def test_the_three_validators_keep_reject_and_write_the_final_examples(world: dict[str, Any]) -> None:
    store, paths = world["store"], world["paths"]
    generate(world)
    model = Model()
    faults = FaultRates(p429=0.15, p500=0.1, pdisconnect=0.05)
    with TestServer(responder=model, rates=faults, seed=11) as server:
        models = models_on(server)
        consistency, dependency, validation = validators(world, models)

        # self-consistency: the generator itself, the candidate's own frames, answers compared
        report = run_step(store, consistency)
        assert (report.counts["accepted"], report.counts["rejected"]) == (5, 2), report.counts
        asked = {r["question"]: r for r in model.of("self_consistency")}
        for record in CANDIDATES:
            sent = asked[record["question"]]
            assert sent["model"] == record["generator_model"]
            assert sent["stamps"] == [format_timestamp(t) for t in record["frame_times_s"]]
            assert "Options:\nA. rolling friction" in sent["prompt"] if record["options"] else "Options" not in sent["prompt"]
        rejected = {e.item_id: e for e in store.ledger_entries("self_consistency", Outcome.REJECTED)}
        assert set(rejected) == {"v1:r1", "v2:r0"} and {e.code for e in rejected.values()} == {INCONSISTENT_CODE}
        assert rejected["v1:r1"].detail["original"] == "C" and rejected["v1:r1"].detail["rederived"] == "A"
        assert "'A'" in rejected["v1:r1"].reason and "'C'" in rejected["v1:r1"].reason
        assert rejected["v2:r0"].detail["rederived"] == "gravity pulls the ball down the ramp"
        kept = store.get("example_check", "self_consistency:v1:r2")
        assert isinstance(kept, ExampleCheck) and kept.passed and kept.models == ["gemini-3-flash"]
        assert kept.answers == {"gemini-3-flash": "9.81 N"} and kept.reasoning.startswith("At [00:05]")

        # video dependency: exactly the two models, exactly 4 random frames, dropped iff both right
        report = run_step(store, dependency)
        assert (report.counts["accepted"], report.counts["rejected"]) == (4, 1), report.counts
        by_question: dict[str, set[str]] = defaultdict(set)
        for r in model.of("video_dependency"):
            by_question[r["question"]].add(r["model"])
            assert len(r["stamps"]) == DEPENDENCY_FRAMES and len(set(r["stamps"])) == DEPENDENCY_FRAMES
        assert set(by_question) == {c["question"] for c in CANDIDATES if c["id"] not in {"v1:r1", "v2:r0"}}
        assert all(asked_models == set(DEPENDENCY_MODELS) for asked_models in by_question.values())
        independent = store.ledger_get("video_dependency", "v1:r3")
        assert independent.outcome is Outcome.REJECTED and independent.code == VIDEO_INDEPENDENT_CODE
        assert set(independent.detail["answers"]) == set(DEPENDENCY_MODELS)
        drawn = {}
        for cid in ("v1:r0", "v1:r2", "v2:r1", "v2:r2"):
            check = store.get("example_check", f"video_dependency:{cid}")
            assert check.passed and check.models == list(DEPENDENCY_MODELS) and set(check.answers) == set(DEPENDENCY_MODELS)
            video = paths[cid.split(":")[0]]
            assert check.frame_times_s == pytest.approx(times_random(probe(video), 4, dependency_seed(cid)))
            drawn[cid] = tuple(check.frame_times_s)
        assert drawn["v1:r0"] != drawn["v1:r2"]  # drawn per candidate, not per video
        assert store.get("example_check", "video_dependency:v1:r0").answers == {INTERNVL_38B: "A", QWEN3_VL_32B: "C"}
        assert store.get("example_check", "video_dependency:v2:r1").answers == {INTERNVL_38B: "A", QWEN3_VL_32B: ""}

        # CoT validation: never the generator; a critical unsupported step drops the example
        report = run_step(store, validation)
        assert (report.counts["accepted"], report.counts["rejected"]) == (3, 1), report.counts
        generators = {c["question"]: c["generator_model"] for c in CANDIDATES}
        reviews = model.of("cot_validation")
        assert reviews and all(r["model"] != generators[r["question"]] for r in reviews)
        assert all("Reasoning:\nAt [00:05] the frames show it" in r["prompt"] for r in reviews)
        failed = store.ledger_get("cot_validation", "v2:r1")
        assert failed.code == UNSUPPORTED_CODE and failed.detail["failing_step"] == "The cart weighs 3 kg."
        assert "The cart weighs 3 kg." in failed.reason

        # the final examples: what the live sets read
        examples = {e.id: e for e in live_examples(store)}
        assert set(examples) == PASSING
        one = examples["v1:r0"]
        rederived = store.get("example_check", "self_consistency:v1:r0").reasoning
        assert isinstance(one, Example) and one.cot == rederived and one.cot != "the generator's reasoning"
        assert (one.question, one.options, one.answer, one.video_path) == ("Q1 what slows the cart?", OPTIONS, "A",
                                                                          "v1.mp4")
        assert one.provenance.generator_model == "gpt-5.2"
        steps = [(v.step, v.verdict) for v in one.provenance.verdicts]
        assert steps == [("self_consistency", "consistent"), ("video_dependency", "video_dependent"),
                         ("cot_validation", "supported")]
        verdict_models = [v.model for v in one.provenance.verdicts]
        assert verdict_models[0] == "gpt-5.2" and verdict_models[1] == ", ".join(DEPENDENCY_MODELS)
        assert verdict_models[2] in {"claude-4.5-sonnet", "gemini-3-flash"}  # eligible, and not the generator
        assert store.get("example_check", "cot_validation:v1:r0").models == [verdict_models[2]]

        # a rerun sends nothing and redoes nothing
        received = server.stats.total_received
        for step in validators(world, models):
            again = run_step(store, step)
            assert again.processed == 0 and again.skipped > 0
        assert server.stats.total_received == received
        assert server.stats.repeats_after_answer == []
        assert server.stats.faults  # the faults did happen


def test_dependency_frames_are_the_same_on_a_rerun(world: dict[str, Any]) -> None:
    store = world["store"]
    generate(world)
    model = Model()
    with TestServer(responder=model) as server:
        models = models_on(server)
        consistency, dependency, _ = validators(world, models)
        run_step(store, consistency)
        run_step(store, dependency)
        first = sorted((r["question"], r["model"], tuple(r["indices"])) for r in model.of("video_dependency"))
        bodies = {r["fingerprint"] for r in model.of("video_dependency")}
        store.forget_step("video_dependency")
        store.execute("DELETE FROM model_calls")  # ask the models again
        model.log.clear()
        run_step(store, validators(world, models)[1])
        again = sorted((r["question"], r["model"], tuple(r["indices"])) for r in model.of("video_dependency"))
        assert again == first and {r["fingerprint"] for r in model.of("video_dependency")} == bodies


def test_upstream_changes_retire_and_redo_exactly_what_they_touch(world: dict[str, Any]) -> None:
    store = world["store"]
    generate(world)
    with TestServer(responder=Model()) as server:
        models = models_on(server)
        for step in validators(world, models):
            run_step(store, step)
        assert {e.id for e in live_examples(store)} == PASSING
        # the generator's candidate v1:r0 goes away: its checks and its example retire with it
        generate(world, reject=("v1:r0",))
        for step in validators(world, models):
            run_step(store, step)
        assert {e.id for e in live_examples(store)} == PASSING - {"v1:r0"}
        assert store.get("example", "v1:r0") is None and store.get("example_check", "self_consistency:v1:r0") is None
        # a rewritten video file redoes the checks of its candidates, and only those; its frames are the
        # same pixels, so the requests are the same and the cached replies serve them: nothing is sent
        sent = server.stats.total_received
        make_video(world["paths"]["v2"], 12.0)
        reports = [run_step(store, step) for step in validators(world, models)]
        assert [r.processed for r in reports] == [3, 2, 2]  # v2's candidates that reach each check
        assert server.stats.total_received == sent


def test_a_missing_video_is_rejected_without_a_call(world: dict[str, Any]) -> None:
    store = world["store"]
    generate(world)
    world["paths"]["v2"].unlink()
    model = Model()
    with TestServer(responder=model) as server:
        report = run_step(store, validators(world, models_on(server))[0])
        assert report.counts["rejected"] == 3 + 1  # v2's three, and v1:r1's inconsistency
        codes = {e.item_id: e.code for e in store.ledger_entries("self_consistency", Outcome.REJECTED)}
        assert codes == {"v2:r0": "file_missing", "v2:r1": "file_missing", "v2:r2": "file_missing",
                         "v1:r1": INCONSISTENT_CODE}
        assert {r["question"] for r in model.of("self_consistency")} == {c["question"] for c in CANDIDATES[:4]}


def test_the_verifier_is_never_the_generator_and_its_absence_quarantines(world: dict[str, Any]) -> None:
    with TestServer(responder=Model()) as server:
        step = validators(world, models_on(server))[2]
        assert isinstance(step, CotValidationStep)
        drawn: dict[str, set[str]] = defaultdict(set)
        for i in range(200):
            for generator in ("gpt-5.2", "claude-4.5-sonnet", "gemini-3-flash"):
                record = CandidateExample.model_validate({**CANDIDATES[0], "id": f"v{i}:r0",
                                                          "generator_model": generator, "kind": "candidate_example"})
                verifier = step.verifier(CheckedCandidate(candidate=record))
                assert verifier != generator
                drawn[generator].add(verifier)
        assert drawn == {"gpt-5.2": {"claude-4.5-sonnet", "gemini-3-flash"},
                         "claude-4.5-sonnet": {"gpt-5.2", "gemini-3-flash"},
                         "gemini-3-flash": {"gpt-5.2", "claude-4.5-sonnet"}}

        # a pool of one model cannot check that model's own examples: quarantined, retried once fixed
        store = world["store"]
        generate(world, [c for c in CANDIDATES if c["id"] == "v1:r0"])  # generated by gpt-5.2
        only = validators(world, models_on(server), cot_validation={"models": ["gpt-5.2"]})
        for step in only:
            run_step(store, step)
        entry = store.ledger_get("cot_validation", "v1:r0")
        assert entry.outcome is Outcome.QUARANTINED and entry.code == NO_VALIDATOR
        assert "other than its generator 'gpt-5.2'" in entry.reason
        fixed = validators(world, models_on(server), cot_validation={"models": ["gpt-5.2", "claude-4.5-sonnet"]})[2]
        assert run_step(store, fixed).counts["accepted"] == 1
        assert [e.id for e in live_examples(store)] == ["v1:r0"]


def test_bad_settings_are_errors_that_name_the_field(world: dict[str, Any]) -> None:
    ctx = context(world, {})
    with pytest.raises(RecipeError, match="placeholder"):
        build_step("cot_validation", {"prompt": "Check {nonsense}"}, ctx)
    with pytest.raises(RecipeError, match="generator"):
        build_step("self_consistency", {"models": ["gpt-5.2"]}, ctx)
    with pytest.raises(RecipeError, match="twice"):
        build_step("video_dependency", {"models": [INTERNVL_38B, INTERNVL_38B]}, ctx)
    assert build_step("cot_validation", {"prompt": "{reasoning} for {question} {options}"}, ctx)
