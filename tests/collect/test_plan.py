"""`videokr corpus plan`: the paper's funnel (§3.1–§3.3), the arithmetic, the inversion, measured ratios after a
pilot, the CLI."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.collect.text_sources import Lectures, Responder, SeedConfig, lecture, models_on
from videokr.cli.main import app
from videokr.config import Config
from videokr.corpus import plan as plan_module
from videokr.corpus.estimate import workspace_stages
from videokr.corpus.plan import ModelCost, PlanError, Stage, paper_stages, plan
from videokr.models.config import Price
from videokr.pipeline.runner import run_step
from videokr.testing import TestServer
from videokr.workspace import Workspace

WIDE = {"COLUMNS": "200"}


def test_paper_constants() -> None:
    assert plan_module.PAPER_KNOWLEDGE_POINTS == 63_745  # §3.1
    assert plan_module.PAPER_VIDEOS == 146_567  # §3.2
    assert plan_module.PAPER_TOP_K == 10 and plan_module.PAPER_SAFETY_FRAMES == 4
    assert plan_module.ASSUMED_SCENARIOS_PER_POINT == 2.0  # the middle of §3.2's 1–3
    assert plan_module.MIN_MEASURED_ITEMS == 20
    assert 0 < plan_module.CALIBRATED_METADATA_PASS_RATE < 1
    # §3.3–§3.5
    assert plan_module.PAPER_EXAMPLES == 315_537
    assert plan_module.PAPER_ROUNDS_PER_VIDEO == 6 and plan_module.PAPER_GENERATION_FPS == 0.2
    assert plan_module.PAPER_DEPENDENCY_FRAMES == 4 and plan_module.PAPER_DEPENDENCY_MODELS == 2
    assert plan_module.PAPER_MEAN_DURATION_S == 344.1  # Table 1
    assert plan_module.PAPER_DECONTAM_REMOVED_VIDEOS == 131 + 877  # §3.4
    assert plan_module.ASSUMED_GENERATION_PASS_RATE == 0.95
    assert plan_module.ASSUMED_SELF_CONSISTENCY_PASS_RATE == 0.75
    assert plan_module.ASSUMED_COT_VALIDATION_PASS_RATE == 0.85
    assert 0 < plan_module.CALIBRATED_DEPENDENCY_PASS_RATE < 1


def test_the_paper_funnel_reproduces_the_paper_counts() -> None:
    result = plan(paper_stages(), knowledge_points=plan_module.PAPER_KNOWLEDGE_POINTS)
    assert round(result.videos) == plan_module.PAPER_VIDEOS
    assert round(result.rows[0].items_out) == 63_745
    search = result.rows[3]
    assert search.step == "youtube_search" and search.quota_units == search.requests * 100
    assert round(search.items_out) == 10 * round(search.items_in)  # top-10 per keyword
    rows = {r.step: r for r in result.rows}
    assert rows["safety"].requests == math.ceil(rows["safety"].items_in * 4)  # four frames per video
    assert round(rows["safety"].items_out) == plan_module.PAPER_VIDEOS


def test_the_paper_funnel_reproduces_the_paper_examples() -> None:
    result = plan(paper_stages(), knowledge_points=plan_module.PAPER_KNOWLEDGE_POINTS)
    assert result.examples is not None and round(result.examples) == plan_module.PAPER_EXAMPLES
    rows = {r.step: r for r in result.rows}
    assert [r.step for r in result.rows][-5:] == ["example_generation", "self_consistency", "video_dependency",
                                                  "cot_validation", "decontam"]
    # six rounds per video, one request each; two models per video dependency check; decontam sends nothing
    assert round(rows["example_generation"].items_in) == 6 * plan_module.PAPER_VIDEOS
    assert rows["video_dependency"].requests == math.ceil(rows["video_dependency"].items_in * 2)
    assert rows["decontam"].requests == 0 and rows["decontam"].usd == 0
    # after decontamination (145,559 videos, Table 1's 145K) the paper's count comes out
    assert rows["decontam"].items_in * (146_567 - 1_008) / 146_567 == pytest.approx(315_537)
    assert rows["video_dependency"].sources["yield"] == "calibrated"
    # examples invert to knowledge points as videos do
    assert plan(paper_stages(), examples=315_537).knowledge_points == pytest.approx(63_745, rel=1e-5)


def _small_stages(price: Price | None) -> list[Stage]:
    model = (ModelCost("m", 1000, 100, price),)
    return [
        Stage("knowledge_points", "lectures", "points", 1, 4, 1, "model", model),
        Stage("youtube_search", "keywords", "hits", 2, 10, 1, "search", quota_units_per_request=100),
        Stage("youtube_videos", "videos", "kept", 0.5, 0.5, 1 / 50, "videos", quota_units_per_request=1),
    ]


def test_arithmetic_by_hand() -> None:
    price = Price(input_per_mtok=2.0, output_per_mtok=10.0, batch_discount=0.5)
    result = plan(_small_stages(price), knowledge_points=100, daily_quota=10_000)
    kp, search, videos = result.rows
    # 100 points at 4 per lecture: 25 lectures, 25 requests of 1000 in / 100 out tokens
    assert (kp.items_in, kp.requests, kp.tokens_in, kp.tokens_out) == (25, 25, 25_000, 2_500)
    assert kp.usd == pytest.approx(25 * (1000 * 2 + 100 * 10) / 1e6)  # 0.075
    assert kp.usd_batch == pytest.approx(0.0375)
    # 2 keywords per point: 200 searches of 100 units; 2,000 hits
    assert (search.items_in, search.items_out, search.quota_units) == (200, 2000, 20_000)
    assert search.days == 2.0
    # half the hits are distinct ids: 1,000 ids, 20 videos.list calls, 500 kept
    assert (videos.items_in, videos.requests, videos.quota_units, videos.items_out) == (1000, 20, 20, 500)
    assert result.quota_units == 20_020 and result.days == pytest.approx(2.002) and result.videos == 500
    assert result.usd == pytest.approx(0.075) and result.unpriced == []


def test_unpriced_models_are_said_so() -> None:
    result = plan(_small_stages(None), knowledge_points=100)
    assert result.rows[0].usd is None and result.unpriced == ["knowledge_points"]
    assert result.rows[0].tokens_in == 25_000  # tokens are still counted


def test_videos_inverts_knowledge_points() -> None:
    stages = paper_stages()
    forward = plan(stages, knowledge_points=63_745)
    back = plan(stages, videos=forward.videos)
    assert back.knowledge_points == pytest.approx(63_745)
    assert plan(stages, videos=146_567).knowledge_points == pytest.approx(63_745, rel=1e-5)
    assert [r.requests for r in back.rows] == [r.requests for r in forward.rows]


def test_bad_scales() -> None:
    with pytest.raises(PlanError, match="not both"):
        plan(paper_stages(), knowledge_points=1, videos=1)
    with pytest.raises(PlanError, match="not both"):
        plan(paper_stages())
    zero = [plan_module.with_ratios(s, yield_=0.0) if s.name == "safety" else s for s in paper_stages()]
    with pytest.raises(PlanError, match="no video comes out"):
        plan(zero, videos=10)
    with pytest.raises(PlanError, match="no example comes out"):
        plan(zero, examples=10)
    with pytest.raises(PlanError, match="stops at the videos"):
        plan(paper_stages()[:9], examples=10)


# -- workspaces ----------------------------------------------------------------------------


def test_a_fresh_workspace_plans_from_the_paper_with_its_prices(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    stages, quota = workspace_stages(ws.config, ws.root, ws.store)
    result = plan(stages, knowledge_points=63_745, daily_quota=quota)
    assert quota == 10_000 and round(result.videos) == 146_567
    rows = {r.step: r for r in result.rows}
    assert set(rows["metadata_relevance"].models) == {"gpt-5.2", "claude-4.5-sonnet"}  # Table 8's ✓
    assert rows["visual_relevance"].usd is not None and rows["visual_relevance"].usd > 0
    # frames count as image tokens: 16 frames at 765 tokens each per request, at least
    assert rows["visual_relevance"].tokens_in / rows["visual_relevance"].requests > 16 * 765
    assert rows["safety"].usd is None  # Azure moderation: no price configured
    assert all(r.sources.get("yield") != "measured" for r in result.rows)
    assert round(result.examples or 0) == 315_537
    # §3.3: Table 8's generators and validators; self-consistency asks the generator's models
    assert set(rows["example_generation"].models) == {"gpt-5.2", "claude-4.5-sonnet", "gemini-3-flash"}
    assert rows["self_consistency"].models == rows["example_generation"].models
    assert set(rows["cot_validation"].models) == set(rows["example_generation"].models)
    # frames at 0.2 fps of the paper's mean video (344.1 s: 69 frames), capped by the image limit (64 by default)
    per_request = rows["example_generation"].tokens_in / rows["example_generation"].requests
    assert 64 * 765 < per_request < 69 * 765
    # video dependency: two self-hosted models, four frames each, without a configured price
    dependency = rows["video_dependency"]
    assert len(dependency.models) == 2 and dependency.usd is None and "no price configured" in dependency.note
    assert dependency.requests == math.ceil(2 * dependency.items_in)
    assert 4 * 765 < dependency.tokens_in / dependency.requests < 5 * 765
    assert set(result.unpriced) == {"safety", "video_dependency"}


def test_image_limits_cap_the_frames(tmp_path: Path) -> None:
    from videokr.corpus.estimate import request_images
    from videokr.models.config import ModelConfig
    from videokr.steps.video_dependency import VideoDependencyConfig

    small = ModelConfig(base_url="http://127.0.0.1:1/v1", model="m", max_images=16)
    assert request_images("example_generation", None, small) == 16
    assert request_images("cot_validation", None, small.model_copy(update={"max_images": 100})) == 69
    assert request_images("self_consistency", None, small.model_copy(update={"max_images": 100}), fps=0.1) == 35
    assert request_images("video_dependency", VideoDependencyConfig(), small) == 4
    assert request_images("scenarios", None, small) == 0


@pytest.fixture
def server() -> Iterator[TestServer]:
    with TestServer(responder=Responder()) as running:
        yield running


def _pilot_workspace(root: Path, server: TestServer, lectures: int) -> Workspace:
    """A workspace whose models are on the loopback server, with a pilot of the first three steps run for real."""
    ws = Workspace.init(root, Config(models=models_on(server)))
    records = [lecture(f"Course {i}", f"Lecture {i}", number=1) for i in range(lectures)]
    assert run_step(ws.store, Lectures(SeedConfig(records=records))).counts["accepted"] == lectures
    for name in ("knowledge_points", "scenarios", "search_keywords"):
        report = run_step(ws.store, ws.step(name))
        assert report.counts["quarantined"] == 0
    return ws


def test_measured_ratios_replace_the_paper_ones_after_a_pilot(tmp_path: Path, server: TestServer) -> None:
    ws = _pilot_workspace(tmp_path / "ws", server, lectures=8)  # 8 lectures → 24 points → 48 scenarios
    stages, _ = workspace_stages(ws.config, ws.root, ws.store, min_items=5)
    by = {s.name: s for s in stages}
    # the loopback model answers 3 points per lecture, 2 scenarios per point, 2 distinct keywords per scenario
    assert by["knowledge_points"].yield_ == 3.0 and by["knowledge_points"].sources["yield"] == "measured"
    assert by["scenarios"].yield_ == 2.0 and by["scenarios"].sources["feed"] == "measured"
    assert by["search_keywords"].yield_ == 2.0 and by["search_keywords"].sources["requests"] == "measured"
    # identical keyword requests (same term and scenario in other courses) are answered once from the cache
    assert 0 < by["search_keywords"].requests_per_item < 1 and by["knowledge_points"].requests_per_item == 1.0
    assert by["search_keywords"].sources["tokens"] == "measured"
    assert by["youtube_search"].sources == {"feed": "measured", "yield": "assumption"}  # offered, not yet run
    assert by["metadata_relevance"].sources["yield"] == "calibrated"
    result = plan(stages, knowledge_points=24)
    rows = {r.step: r for r in result.rows}
    assert (rows["knowledge_points"].items_in, rows["scenarios"].items_out, rows["youtube_search"].items_in) == \
        (8, 48, 96)
    assert rows["scenarios"].usd is None  # models on the loopback server carry no price
    # below the minimum, the defaults stay
    few, _ = workspace_stages(ws.config, ws.root, ws.store)  # MIN_MEASURED_ITEMS = 20 > 8 lectures
    assert {s.name: s for s in few}["knowledge_points"].sources["yield"] == "assumption"
    assert {s.name: s for s in few}["scenarios"].sources["yield"] == "measured"  # 24 points finished


def test_cli_table_and_json(tmp_path: Path) -> None:
    runner = CliRunner()
    ws = tmp_path / "ws"
    assert runner.invoke(app, ["init", str(ws)]).exit_code == 0
    out = runner.invoke(app, ["-w", str(ws), "corpus", "plan"], env=WIDE)
    assert out.exit_code == 0, out.output
    assert "63,745 knowledge points → 146,567 videos → 315,537 examples" in out.output
    assert "cot_validation" in out.output and "1,253,148" in out.output  # video dependency: two requests each
    assert "youtube_search" in out.output and "25,498,000" in out.output and "unpriced" in out.output
    data = json.loads(runner.invoke(app, ["-w", str(ws), "corpus", "plan", "--videos", "1000", "--json"]).output)
    assert data["videos"] == 1000 and [s for s in data["steps"] if s["step"] == "safety"][0]["items_out"] == 1000
    assert data["examples"] == data["steps"][-1]["items_out"] > 1000
    assert data["total"]["unpriced"] == ["safety", "video_dependency"] and data["total"]["usd"] > 0
    assert data["total"]["usd_batch"] == pytest.approx(data["total"]["usd"] / 2, abs=0.02)
    assert data["total"]["quota_units"] == sum(s["quota_units"] for s in data["steps"])
    small = json.loads(runner.invoke(app, ["-w", str(ws), "corpus", "plan", "--knowledge-points", "100",
                                           "--json"]).output)
    assert small["knowledge_points"] == 100 and small["steps"][1]["items_in"] == 100
    by_examples = json.loads(runner.invoke(app, ["-w", str(ws), "corpus", "plan", "--examples", "315537",
                                                 "--json"]).output)
    assert by_examples["videos"] == 146_567 and by_examples["knowledge_points"] == 63_745


def test_cli_errors_without_traceback(tmp_path: Path) -> None:
    runner = CliRunner()
    both = runner.invoke(app, ["corpus", "plan", "--knowledge-points", "10", "--videos", "5"])
    assert both.exit_code == 1 and "not both" in both.output and "Traceback" not in both.output
    three = runner.invoke(app, ["corpus", "plan", "--videos", "10", "--examples", "5"])
    assert three.exit_code == 1 and "not both" in three.output
    missing = runner.invoke(app, ["-w", str(tmp_path / "nowhere"), "corpus", "plan"])
    assert missing.exit_code == 1 and "not a videokr workspace" in missing.output
    assert "Traceback" not in missing.output
    negative = runner.invoke(app, ["corpus", "plan", "--videos", "-3"])
    assert negative.exit_code == 2 and "Traceback" not in negative.output
