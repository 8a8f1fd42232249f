"""§4.2's re-annotation: the queue of filtered examples, experts' lines and app verdicts, into VideoKR-Eval."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.benchmark.test_build import build_args
from tests.benchmark.world import Model, make_workspace, write_sources
from tests.cli_support import invoke
from videokr.benchmark.reannotation import ExampleError, new_candidate, reannotation_items
from videokr.evaluate.benchmarks import read_benchmark
from videokr.records import BenchmarkCandidate, Outcome
from videokr.review.schema import ReviewVerdict
from videokr.review.verdicts import save_verdict
from videokr.steps.benchmark import live_benchmark
from videokr.store import Store
from videokr.testing import TestServer

FILTERED = ["MMVU/m1", "MMVU/m3", "MMVU/m4", "SciVideoBench/s1"]  # what a single frame gave away, by PLAN


def mc(question: str, answer: str = "B", options: list[str] | None = None) -> dict[str, Any]:
    return {"question": question, "options": options or ["A. a ramp", "B. a pulley", "C. a lever", "D. a wedge"],
            "answer": answer, "question_type": "multiple-choice", "reasoning": "At 00:12 the rope turns the wheel."}


def line(item_id: str, decision: str | None, example: dict[str, Any] | None = None, reviewer: str | None = "ana"
         ) -> str:
    return json.dumps({"item_id": item_id, "decision": decision, "example": example, "reviewer": reviewer})


@pytest.fixture
def built(tmp_path: Path):  # noqa: ANN201
    sources = write_sources(tmp_path / "bench")
    chosen = {name: sources[name] for name in ("MMVU", "SciVideoBench")}
    with TestServer(responder=Model()) as server:
        ws = make_workspace(tmp_path, server)
        result = invoke(*build_args(ws, chosen))
        assert result.exit_code == 0, result.output
        yield ws, Store(ws / "videokr.sqlite")


def test_the_queue_lists_each_filtered_example_with_its_video(built, tmp_path: Path) -> None:
    ws, store = built
    items = reannotation_items(store)
    assert [i.item_id for i in items][:3] == FILTERED[:3] and FILTERED[3] in [i.item_id for i in items]
    first = items[0]
    assert first.queue == "reannotation" and first.group == "MMVU" and Path(first.video).is_file()
    assert first.fields["discarded_question"] == "MMVU q1 what slows the cart?"
    assert first.fields["solved_from_one_frame_by"] == ["claude-4.5-sonnet", "gpt-5.2", "qwen3-vl-235b-a22b"]
    queue = tmp_path / "queue.jsonl"
    result = invoke("-w", ws, "benchmark", "reannotate", "export", queue)
    assert result.exit_code == 0 and f"{len(items)} filtered example(s)" in result.text
    lines = [json.loads(x) for x in queue.read_text().splitlines()]
    assert [x["item_id"] for x in lines] == [i.item_id for i in items]
    assert all(x["decision"] is None and x["example"] is None and Path(x["video"]).is_file() for x in lines)


def test_experts_lines_and_app_verdicts_become_benchmark_items(built) -> None:
    ws, store = built
    retained = {i.id for i in live_benchmark(store)}
    # the app: a new open-ended example for s1, and one for m1 that the file will override
    save_verdict(store, ReviewVerdict(queue="reannotation", item_id="SciVideoBench/s1", reviewer="cy",
                                      payload={"decision": "new", "example": {
                                          "question": "How many drops are added?", "options": [], "answer": "3",
                                          "question_type": "open-ended"}}))
    save_verdict(store, ReviewVerdict(queue="reannotation", item_id="MMVU/m1", reviewer="cy",
                                      payload={"decision": "new", "example": mc("from the app")}))
    experts = ws / "experts.jsonl"  # inside the workspace: named relative to it
    experts.write_text("\n".join([
        line("MMVU/m1", "new", mc("What lifts the load at 00:12?")),                                     # 1 new
        line("MMVU/m3", "new", mc("Which part turns?", options=["the wheel", "the axle", "The Wheel "])),  # 2 twice
        line("MMVU/m4", "drop", reviewer="ben"),                                                         # 3 drop
        line("MMVU/m2", "new", mc("a retained example is not in the queue")),                             # 4 unknown
        line("MMVU/m1", "new", mc("a second line for m1")),                                               # 5 repeat
        "{oops",                                                                                          # 6 bad
        line("SciVideoBench/s1", None, None, None),                                                       # 7 unfilled
        line("MMVU/m9", "new", mc("an answer not offered", answer="E")),                                  # 8 unknown
    ]) + "\n")
    result = invoke("-w", ws, "benchmark", "reannotate", "import", experts)
    assert result.exit_code == 0, result.output
    assert "experts.jsonl: 7 decided — 1 new example(s), 1 dropped, 5 rejected" in result.text, result.text
    reasons = {e.code: [] for e in store.ledger_entries("reannotation", Outcome.REJECTED)}
    for e in store.ledger_entries("reannotation", Outcome.REJECTED):
        reasons[e.code].append(e.reason)
    assert reasons["invalid_example"] == ["experts.jsonl:2: example for 'MMVU/m3': option 'The Wheel' is offered "
                                          "twice, so the answer is not uniquely determined"]
    assert reasons["dropped"] == ["experts.jsonl:3: 'MMVU/m4' dropped by ben: no new example"]
    assert sorted(reasons["unknown_item"]) == [
        "experts.jsonl:4: 'MMVU/m2' is not in the re-annotation queue (no filtered example has this id)",
        "experts.jsonl:8: 'MMVU/m9' is not in the re-annotation queue (no filtered example has this id)"]
    assert reasons["duplicate_id"] == ["experts.jsonl:5: 'MMVU/m1' was decided already at experts.jsonl:1"]
    assert reasons["bad_line"][0].startswith("experts.jsonl:6: ")
    strict = invoke("-w", ws, "benchmark", "reannotate", "import", experts, "--strict")
    assert strict.exit_code == 1

    # the file's example for m1 overrides the app's; the app's s1 example stands
    items = {i.id: i for i in live_benchmark(store)}
    assert set(items) == retained | {"MMVU/m1/re", "SciVideoBench/s1/re"}
    new = items["MMVU/m1/re"]
    source = store.get("benchmark_candidate", "MMVU/m1")
    assert isinstance(source, BenchmarkCandidate)
    assert (new.question, new.answer, new.options) == ("What lifts the load at 00:12?", "B",
                                                       ["a ramp", "a pulley", "a lever", "a wedge"])
    assert (new.video_path, new.video_id, new.dataset) == (source.video_path, source.video_id, "MMVU")
    assert new.extra["origin"] == "reannotated" and new.extra["replaces"] == "MMVU/m1"
    assert new.extra["reviewer"] == "ana" and new.extra["reasoning"].startswith("At 00:12")
    oe = items["SciVideoBench/s1/re"]
    assert (oe.problem_type.value, oe.answer, oe.options, oe.extra["reviewer"]) == ("open-ended", "3", [], "cy")
    assert yaml.safe_load((ws / "videokr.yaml").read_text())["steps"]["reannotation"]["files"] == ["experts.jsonl"]

    # Table 9 counts them; the export carries them, readable by the official reader
    report = json.loads(invoke("-w", ws, "benchmark", "report", "--json").stdout)["table9"]
    rows = {r["benchmark"]: r for r in report["rows"]}
    assert rows["MMVU"]["reannotated"] == 1 and rows["SciVideoBench"]["reannotated"] == 1
    assert rows["MMVU"]["final"] == rows["MMVU"]["retained"] + 1
    read = read_benchmark("VideoKR-Eval", ws / "exports" / "videokr-eval" / "VideoKR_eval.jsonl")
    assert read.rejected == [] and {i.id for i in read.items} == set(items)
    back = {i.id: i for i in read.items}["MMVU/m1/re"]
    assert (back.question, back.answer, back.extra["origin"]) == (new.question, "B", "reannotated")

    # fixing a line redoes that line only
    experts.write_text(experts.read_text().replace('"The Wheel "', '"the spokes"'))
    fixed = invoke("-w", ws, "benchmark", "reannotate", "import", experts)
    assert "reannotation: 8 in — 1 accepted, 0 rejected, 0 quarantined, 7 already done" in fixed.text, fixed.text
    assert "MMVU/m3/re" in {i.id for i in live_benchmark(store)}


@pytest.mark.parametrize(("example", "message"), [
    ({"question": "q", "options": ["x", "y"], "answer": "x", "question_type": "open-ended"},
     "an open-ended example carries no options"),
    ({"question": "q", "options": ["x", "y"], "answer": "A", "question_type": "multiple-choice", "hint": "h"},
     "unknown field(s) hint"),
    ({"question": "q", "options": ["x", "y"], "answer": "A"}, "no question_type"),
    ({"question": "q", "options": "x", "answer": "A", "question_type": "multiple-choice"}, "options must be a list"),
    ({"question": "q", "options": ["x"], "answer": "A", "question_type": "multiple-choice"}, "needs 2–10 options"),
    ({"question": "q", "options": ["x", "y"], "answer": "A, B", "question_type": "multiple-choice"},
     "neither one of the letters A, B nor the text of an option"),
    ({"options": ["x", "y"], "answer": "A", "question_type": "multiple-choice"}, "no question"),
    ({"question": "q", "options": ["x", "y"], "answer": "A", "question_type": "essay"}, "unknown problem_type"),
])
def test_a_new_example_follows_the_records_rules(example: dict[str, Any], message: str) -> None:
    source = BenchmarkCandidate(id="MMVU/m1", dataset="MMVU", source_id="m1", problem_type="multiple choice",
                                question="q", options=["a", "b"], answer="A", video_id="MMVU/v.mp4",
                                video_path="v.mp4")
    with pytest.raises(ExampleError, match=message.replace("(", r"\(").replace(")", r"\)")):
        new_candidate(source, example, reviewer="ana", where="f.jsonl:1")
    good = new_candidate(source, {"question": "q?", "options": ["x", "y"], "answer": "y",
                                  "question_type": "multiple-choice"}, reviewer="ana", where="f.jsonl:1")
    assert (good.id, good.answer, good.origin, good.replaces) == ("MMVU/m1/re", "B", "reannotated", "MMVU/m1")
