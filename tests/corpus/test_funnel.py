"""The corpus funnel by discipline and skill (`videokr status --funnel --by … --html FILE`).

Counted on workspaces the real chain made over loopback stand-ins: the paper's recipe with one
planted rejection per validator (`Chain33World`), and the collection with a second discipline
whose knowledge point finds the same videos as a Physics one (a video serving two disciplines).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

pytest.importorskip("yt_dlp")

from tests.cli_support import funnel, invoke  # noqa: E402
from tests.collect.chain_world import (  # noqa: E402
    CATALYST_H, COOKING_C, INERTIA_A, SHARED_B, ChainWorld, knowledge_bank, make_media,
)
from tests.collect.text_sources import definition  # noqa: E402
from tests.corpus.chain33_world import SECONDS, Chain33World  # noqa: E402
from videokr.corpus.funnel import (  # noqa: E402
    DISCIPLINES, PAPER_SEEDS, PAPER_SET_THOUSANDS, PAPER_STAGES, PAPER_STEPS, SKILLS, UNATTRIBUTED, Lineage,
    corpus_funnel, stages,
)
from videokr.workspace import Workspace  # noqa: E402

NS, HC = "Natural Sciences", "Healthcare"


def test_the_papers_numbers_beside_the_funnel() -> None:
    assert {k: v for k, (v, _) in PAPER_STAGES.items()} == {
        "knowledge_points": 63_745, "videos": 146_567, "decontaminated": 315_537, "sft": 201_000, "rl": 114_000}
    assert PAPER_SEEDS == 1_800  # 150 per skill per discipline
    assert PAPER_STEPS["seeds"][0] == 1_800 and PAPER_STEPS["decontam"][0] == 131 + 877
    assert PAPER_SET_THOUSANDS == {"sft": 201, "rl": 114}
    assert DISCIPLINES == (NS, "Engineering", HC, "Humanities & Social Sciences")  # Table 6
    assert SKILLS == ("VidR", "KnowVid", "KnowVidR")


# -- the paper recipe, one planted rejection per validator ----------------------------------------------


@pytest.fixture(scope="module")
def chain33(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("funnel33")
    media = make_media(root / "media", seconds=SECONDS)
    saved = dict(os.environ)
    try:
        with Chain33World(media) as world:
            os.environ.update(world.env())
            ws = world.workspace(root / "ws")
            assert invoke("-w", ws, "run").exit_code == 0
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return ws


def by_skill(ws: Path) -> dict[str, dict[str, Any]]:
    shown = invoke("-w", ws, "status", "--by", "skill", "--json")
    assert shown.exit_code == 0, shown.output
    return {row["step"]: row["by_skill"] for row in json.loads(shown.stdout)["steps"]}


def test_each_validators_rejections_land_on_the_skill_they_were_planted_on(chain33: Path) -> None:
    skills = by_skill(chain33)
    # generation: 3 safe videos × 2 rounds per skill; each validator rejects both rounds of one skill
    assert {s: c["in"] for s, c in skills["example_generation"].items()} == {"VidR": 6, "KnowVid": 6, "KnowVidR": 6}
    planted = {"self_consistency": ("VidR", "inconsistent"), "video_dependency": ("KnowVid", "video_independent"),
               "cot_validation": ("KnowVidR", "unsupported_step")}
    for step, (skill, code) in planted.items():
        for name, counts in skills[step].items():
            expected = {code: 2} if name == skill else {}
            assert counts["rejected_by_reason"] == expected, (step, name)
            assert counts["in"] == counts["accepted"] + counts["rejected"] + counts["quarantined"]
    assert {s: c["accepted"] for s, c in skills["cot_validation"].items()} == {"VidR": 4, "KnowVid": 4, "KnowVidR": 4}
    assert skills["safety"] == {} and skills["scenarios"] == {}  # not example-level steps

    # the per-group counts add up to the step's own funnel row, step by step
    rows = funnel(chain33)
    for step, groups in skills.items():
        if groups:
            assert sum(c["in"] for c in groups.values()) == rows[step]["in"], step
            assert sum(c["rejected"] for c in groups.values()) == rows[step]["rejected"], step


def test_stages_follow_the_examples_from_generation_to_the_sets(chain33: Path) -> None:
    ws = Workspace.open(chain33)
    made = {s.key: s for s in stages(ws.store, Lineage(ws.store), ws.config.recipe)}
    totals = {k: s.total for k, s in made.items()}
    assert totals == {"knowledge_points": 5, "scenarios": 5, "keywords": 5, "candidates": 8, "videos": 3,
                      "generated": 18, "self_consistency": 16, "video_dependency": 14, "cot_validation": 12,
                      "decontaminated": 12, "sft": totals["sft"], "rl": totals["rl"]}
    assert totals["sft"] + totals["rl"] == 12 and totals["sft"] and totals["rl"]
    assert made["video_dependency"].by_skill == {"VidR": 4, "KnowVid": 4, "KnowVidR": 6}
    for stage in made.values():  # the bank is Physics and Chemistry: all of it Natural Sciences
        assert stage.by_discipline == {d: (stage.total if d == NS else 0) for d in DISCIPLINES}, stage.key
    assert made["videos"].paper == 146_567 and made["decontaminated"].paper == 315_537


def test_the_html_page_is_self_contained_with_the_papers_numbers(chain33: Path, tmp_path: Path) -> None:
    page = tmp_path / "out" / "funnel.html"
    shown = invoke("-w", chain33, "status", "--funnel", "--html", page)
    assert shown.exit_code == 0, shown.output
    assert str(page) in shown.text
    text = page.read_text(encoding="utf-8")
    assert "<script" not in text and not re.search(r"""(src|href)=["']""", text)  # nothing fetched
    for shown_number in ("63,745", "146,567", "315,537", "≈201K", "≈114K", "1,800", "1,008"):
        assert shown_number in text, shown_number
    for code in ("inconsistent", "video_independent", "unsupported_step", "irrelevant", "unsafe", "not_cc"):
        assert code in text, code
    for name in (*DISCIPLINES, *SKILLS):
        assert name.replace("&", "&amp;") in text
    # --json keeps its shape with --html
    as_json = invoke("-w", chain33, "status", "--funnel", "--json", "--html", tmp_path / "again.html")
    assert as_json.exit_code == 0 and json.loads(as_json.stdout)["steps"][0]["step"] == "kb"


def test_bad_options_fail_with_a_message(chain33: Path, tmp_path: Path) -> None:
    wrong = invoke("-w", chain33, "status", "--by", "subject")
    assert wrong.exit_code == 1 and "--by must be discipline or skill, not 'subject'" in wrong.text
    (tmp_path / "taken").mkdir()
    unwritable = invoke("-w", chain33, "status", "--funnel", "--html", tmp_path / "taken")
    assert unwritable.exit_code == 1 and "cannot write the funnel report" in unwritable.text
    assert "Traceback" not in unwritable.output


# -- a second discipline finding the same videos -------------------------------------------------------------


def two_discipline_bank() -> dict[str, Any]:
    """The chain's bank, a Medicine lecture whose expert point (Inertia) finds the Physics videos, and an
    entry outside Table 6."""
    bank = knowledge_bank()
    bank["subjects"].append({"subject": "Medicine", "discipline": HC, "courses": [
        {"course": "Rehabilitation", "lectures": [
            {"lecture": "Falls in the elderly", "objectives": ["Explain why a sudden stop throws a patient forward"],
             "knowledge_points": [{"term": "Inertia", "definition": definition("Inertia")}]}]}]})
    bank["subjects"].append({"subject": "Phyiscs", "courses": [
        {"course": "Mechanics", "lectures": [{"lecture": "Motion", "objectives": ["Describe motion"]}]}]})
    return bank


def test_a_video_serving_two_disciplines_counts_once_in_each(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    media = make_media(tmp_path / "media")
    with ChainWorld(media) as world:
        for name, value in world.env().items():
            monkeypatch.setenv(name, value)
        ws = world.workspace(tmp_path / "ws")
        (ws / "knowledge-bank.yaml").write_text(yaml.safe_dump(two_discipline_bank(), sort_keys=False),
                                                encoding="utf-8")
        assert invoke("-w", ws, "run").exit_code == 0
        html = tmp_path / "funnel.html"
        shown = invoke("-w", ws, "status", "--by", "discipline", "--json", "--html", html)
    assert shown.exit_code == 0, shown.output
    steps = {row["step"]: row for row in json.loads(shown.stdout)["steps"]}
    store = Workspace.open(ws).store
    report = corpus_funnel(store, Workspace.open(ws).config.recipe)
    made = {s.key: s for s in report.stages}

    # the Medicine point's search finds INERTIA_A, SHARED_B and COOKING_C, as Inertia's Physics search does
    assert made["candidates"].total == 8
    assert made["candidates"].by_discipline[HC] == 3 and made["candidates"].by_discipline[NS] == 8
    # kept: INERTIA_A and SHARED_B serve both disciplines, CATALYST_H only Chemistry's: 3 videos, 2 + 3 by discipline
    assert made["videos"].total == 3 and made["videos"].by_discipline == {NS: 3, "Engineering": 0, HC: 2,
                                                                          "Humanities & Social Sciences": 0}
    safety = steps["safety"]["by_discipline"]
    assert (safety[NS]["in"], safety[NS]["rejected_by_reason"]) == (4, {"unsafe": 1})  # RED_F: Le Chatelier's
    assert (safety[HC]["in"], safety[HC]["accepted"]) == (2, 2)
    assert steps["safety"]["in"] == 4  # each video once in the step's own row

    # links have one knowledge point: the Medicine point's cooking link is Healthcare's irrelevant one
    judged = steps["metadata_relevance"]["by_discipline"]
    assert judged[HC]["rejected_by_reason"] == {"irrelevant": 1} and judged[HC]["accepted"] == 2
    assert sum(c["in"] for c in judged.values()) == steps["metadata_relevance"]["in"]
    lineage = Lineage(store)
    assert {v: lineage.video(f"yt-{v}", "visual") for v in (INERTIA_A, SHARED_B, CATALYST_H)} == {
        INERTIA_A: {NS, HC}, SHARED_B: {NS, HC}, CATALYST_H: {NS}}
    assert lineage.video(COOKING_C, "found") == {NS, HC}  # found by both searches, judged off topic for both

    # the entry outside Table 6 has no discipline: counted, under `unattributed`
    kb = steps["kb"]["by_discipline"]
    assert kb[UNATTRIBUTED]["rejected_by_reason"] == {"unknown_subject": 1}
    assert kb[HC]["accepted"] == 1 and kb[NS]["accepted"] == 2
    assert UNATTRIBUTED in report.disciplines
    assert UNATTRIBUTED in html.read_text(encoding="utf-8")
