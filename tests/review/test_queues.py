"""Each queue's provider on a real workspace, and the steps that read the verdicts back."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.cli_support import invoke
from tests.review.world import private_copy
from videokr.review.queues import queue_items, split_audit_id
from videokr.review.schema import ReviewVerdict
from videokr.review.verdicts import save_verdict
from videokr.steps.kb import approved_lectures
from videokr.steps.seeds import DROPPED_CODE, live_seeds
from videokr.timestamps import parse_timestamps
from videokr.workspace import Workspace


@pytest.fixture
def ws(world: Path, tmp_path: Path) -> Workspace:
    """A private copy of the shared workspace (these tests write verdicts and run steps)."""
    return Workspace.open(private_copy(world, tmp_path / "copy"))


def test_providers(ws: Workspace):
    audit = queue_items(ws.store, "audit", ws)
    assert len(audit) == 3 and split_audit_id(audit[0].item_id)[:2] == ("knowledge_points", "loop")
    seeds = queue_items(ws.store, "seeds", ws)
    assert len(seeds) == 19 and {s.group.split("/")[1] for s in seeds} == {"VidR", "KnowVid", "KnowVidR"}
    assert seeds[0].video and Path(seeds[0].video).is_file() and 2.0 in seeds[0].timestamps
    quality = queue_items(ws.store, "quality", ws)
    assert quality and all(q.video and Path(q.video).is_file() and q.timestamps == [4.0] for q in quality)
    assert queue_items(ws.store, "reannotation", ws) == [] or all(
        i.queue == "reannotation" for i in queue_items(ws.store, "reannotation", ws))
    syllabus = queue_items(ws.store, "syllabus", ws)
    assert [s.item_id for s in syllabus] == ["draft:biology", "draft:geography"]
    assert len(syllabus[0].fields["syllabus"]["courses"]) == 4


def test_seed_verdicts_drop_and_edit(ws: Workspace):
    seeds = queue_items(ws.store, "seeds", ws)
    dropped, edited = seeds[0].item_id, seeds[1].item_id
    save_verdict(ws.store, ReviewVerdict(queue="seeds", item_id=dropped, reviewer="ana", payload={"decision": "drop"}))
    save_verdict(ws.store, ReviewVerdict(queue="seeds", item_id=edited, reviewer="ana",
                                         payload={"decision": "keep", "edited": {"question": "Edited question?"}}))
    again = invoke("-w", ws.root, "seeds", "import", ws.root / "seeds.jsonl")
    assert again.exit_code == 0, again.output
    live = {s.id: s for s in live_seeds(ws.store)}
    dropped_id, edited_id = dropped.split("#")[1], edited.split("#")[1]
    assert dropped_id not in live and live[edited_id].question == "Edited question?"
    entry = ws.store.ledger_get("seeds", dropped)
    assert entry.code == DROPPED_CODE and "ana" in entry.reason
    # a changed verdict redoes exactly that seed
    save_verdict(ws.store, ReviewVerdict(queue="seeds", item_id=dropped, reviewer="ana", payload={"decision": "keep"}))
    third = invoke("-w", ws.root, "seeds", "import", ws.root / "seeds.jsonl")
    assert third.exit_code == 0 and dropped_id in {s.id for s in live_seeds(ws.store)}
    assert "18 already done" in third.text or "1 accepted" in third.text


def test_quality_verdicts_feed_the_step(ws: Workspace):
    from videokr.corpus.quality import live_verdicts

    item = queue_items(ws.store, "quality", ws)[0]
    save_verdict(ws.store, ReviewVerdict(queue="quality", item_id=item.item_id, reviewer="ana", note="weak",
                                         payload={"non_visual_solvable": True, "reasoning_error": False,
                                                  "answer_changing_error": False}))
    # the recipe names the step (after split); a run brings the app's verdicts in
    config = yaml.safe_load((ws.root / "videokr.yaml").read_text())
    config["recipe"] = [*config["recipe"], "quality_review"]
    (ws.root / "videokr.yaml").write_text(yaml.safe_dump(config))
    ran = invoke("-w", ws.root, "run", "--only", "quality_review")
    assert ran.exit_code == 0, ran.output
    [verdict] = [v for v in live_verdicts(ws.store) if v.example_id == item.item_id]
    assert verdict.non_visual_solvable and verdict.reviewer == "ana" and verdict.note == "weak"


def test_syllabus_approval_reaches_the_bank(ws: Workspace):
    before = {lec.id for lec in approved_lectures(ws.store)}
    edited = {"subject": "Geography", "courses": [{"course": "Maps", "lectures": [
        {"lecture": "Projections", "objectives": ["Compare map projections"]}]}]}
    save_verdict(ws.store, ReviewVerdict(queue="syllabus", item_id="draft:biology", reviewer="ana",
                                         payload={"decision": "approve"}))
    save_verdict(ws.store, ReviewVerdict(queue="syllabus", item_id="draft:geography", reviewer="ana",
                                         payload={"decision": "approve", "edited": edited}))
    ran = invoke("-w", ws.root, "run", "--only", "kb")
    assert ran.exit_code == 0, ran.output
    new = {lec.id: lec for lec in approved_lectures(ws.store) if lec.id not in before}
    assert "kb:geography/maps/projections" in new and new["kb:geography/maps/projections"].source_file == \
        "review:syllabus"
    assert sum(1 for i in new if i.startswith("kb:biology/")) == 8
    assert not any(lec.draft for lec in new.values())
    # decided drafts are no longer pending (kb status, kb draft), yet stay in the queue for a second reviewer
    from videokr.steps.kb import draft_lectures_pending

    assert not {lec.subject for lec in draft_lectures_pending(ws.store)} & {"Biology", "Geography"}
    assert {"draft:biology", "draft:geography"} <= {i.item_id for i in queue_items(ws.store, "syllabus", ws)}


def test_parse_timestamps():
    assert parse_timestamps("At [00:03] it falls; at 01:23 and 1:02:03, again 00:03") == [3.0, 83.0, 3723.0]
    assert parse_timestamps("ratio 16:9, score 3:2, 12:75, 00:05.5") == [5.5]
    assert parse_timestamps("") == []
