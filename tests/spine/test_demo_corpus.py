"""The demo's corpus part: real no-model steps, real rendered requests as Batch API lines, nothing sent."""

from __future__ import annotations

import json
from pathlib import Path

from videokr.demo import sample_dir
from videokr.demo_corpus import CORPUS_RECIPE, REQUESTS_DIR, run_corpus_demo
from videokr.models.runner import read_requests
from videokr.workspace import Workspace


def test_corpus_demo_renders_model_steps_and_runs_the_rest(tmp_path: Path) -> None:
    summary = run_corpus_demo(tmp_path, sample_dir())
    ws = Workspace.open(tmp_path / "corpus")
    assert list(ws.config.recipe) == CORPUS_RECIPE
    store = ws.store
    lectures = list(store.live_outputs("kb", "lecture"))
    assert len(lectures) == 12
    expert = [lec for lec in lectures if lec.knowledge_points]  # type: ignore[attr-defined]
    points = list(store.live_outputs("knowledge_points", "knowledge_point"))
    # Only the experts' points exist: nothing was invented for the lectures that need a model.
    assert points and all(p.origin == "expert" for p in points)  # type: ignore[attr-defined]
    assert len(points) == sum(len(lec.knowledge_points) for lec in expert)  # type: ignore[attr-defined]
    assert not list(store.live_outputs("scenarios", "scenario"))
    assert len(list(store.live_outputs("seeds", "seed"))) == 19

    files = {p.stem: p for p in (tmp_path / REQUESTS_DIR).glob("*.jsonl")}
    assert set(files) == {"knowledge_points", "scenarios"}
    kp_lines = read_requests(files["knowledge_points"])
    assert len(kp_lines) == len(lectures) - len(expert)  # one request per lecture without expert points
    scenario_lines = read_requests(files["scenarios"])
    assert len(scenario_lines) == len(points)
    for line in kp_lines + scenario_lines:
        assert line.method == "POST" and line.url == "/v1/chat/completions"
        assert line.body["model"] and line.body["messages"]
    texts = json.dumps([line.body for line in scenario_lines])
    for point in points:
        assert json.dumps(point.term)[1:-1] in texts  # type: ignore[attr-defined]  # the real upstream output
    assert summary["rendered_usd"] > 0 and summary["paper_usd"] and summary["paper_usd"] > summary["sample_usd"]

    # The local videos wait for scenarios (a model's answer): quarantined, not accepted on invented links.
    ledger = store.ledger_summary()["local_sources"]
    assert ledger["quarantined"] == 4 and ledger["accepted"] == 0


def test_corpus_demo_rerun_commits_nothing_twice(tmp_path: Path) -> None:
    run_corpus_demo(tmp_path, sample_dir())
    first = Workspace.open(tmp_path / "corpus").store.ledger_summary()
    lines = (tmp_path / REQUESTS_DIR / "scenarios.jsonl").read_text()
    run_corpus_demo(tmp_path, sample_dir())
    second = Workspace.open(tmp_path / "corpus").store.ledger_summary()
    assert {k: v["accepted"] for k, v in first.items()} == {k: v["accepted"] for k, v in second.items()}
    assert (tmp_path / REQUESTS_DIR / "scenarios.jsonl").read_text() == lines  # same requests, same custom ids


def test_bundled_manifest_names_expert_points_and_licences() -> None:
    import yaml

    manifest = yaml.safe_load((sample_dir() / "local-videos.yaml").read_text())["videos"]
    assert manifest
    for entry in manifest:
        assert (sample_dir() / entry["path"]).is_file()
        assert entry["licence"]
        assert entry["knowledge_points"]
