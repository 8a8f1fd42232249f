"""The model pool (§3.4, A.4): Table 8, audits, eligibility, the seeded draw, and refusal."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from videokr.cli.main import app
from videokr.config import Config, dump_config
from videokr.models.config import Limits, ModelConfig, PoolConfig, paper_models
from videokr.models.pool import PAPER_TABLE8, POOL_STEPS, AuditSummary, ModelPool, NoEligibleModelError
from videokr.testing import TestServer


def test_table8_as_published() -> None:
    assert [s.name for s in POOL_STEPS] == ["knowledge_points", "scenarios", "search_keywords", "metadata_relevance",
                                            "visual_relevance", "example_generation", "cot_validation"]
    assert [s.modality for s in POOL_STEPS] == ["text"] * 4 + ["vision"] * 3
    pool = ModelPool(paper_models(), PoolConfig())
    assert pool.eligible("knowledge_points") == ["gpt-5.2", "gpt-5-mini", "claude-4.5-sonnet", "gemini-3-flash",
                                                 "deepseek-v3.2"]
    assert pool.eligible("scenarios") == ["gpt-5.2", "gpt-5-mini", "claude-4.5-sonnet", "gemini-3-flash"]
    assert pool.eligible("metadata_relevance") == ["gpt-5.2", "claude-4.5-sonnet"]
    assert pool.eligible("visual_relevance") == ["gpt-5.2", "gemini-3-flash"]
    assert pool.eligible("example_generation") == ["gpt-5.2", "claude-4.5-sonnet", "gemini-3-flash"]
    assert pool.eligible("cot_validation") == pool.eligible("example_generation")
    # every "-" of Table 8 is a modality mismatch in the default model config
    for step in POOL_STEPS:
        for model, mark in PAPER_TABLE8[step.name].items():
            assert pool.verdict(step.name, model).mark == mark


def test_audit_overrides_published_verdict_at_the_threshold() -> None:
    models = paper_models()
    exactly_3 = {("scenarios", "deepseek-v3.2"): AuditSummary(100, 1, 2)}
    assert "deepseek-v3.2" in ModelPool(models, PoolConfig(), exactly_3).eligible("scenarios")
    four = {("scenarios", "gpt-5.2"): AuditSummary(100, 2, 2)}
    assert "gpt-5.2" not in ModelPool(models, PoolConfig(), four).eligible("scenarios")
    stricter = PoolConfig(max_error_rate=0.01)
    assert "deepseek-v3.2" not in ModelPool(models, stricter, exactly_3).eligible("scenarios")
    incomplete = {("scenarios", "deepseek-v3.2"): AuditSummary(50, 0, 0)}
    assert "deepseek-v3.2" not in ModelPool(models, PoolConfig(), incomplete).eligible("scenarios")


def test_draw_is_seeded_per_instance_and_spreads() -> None:
    pool = ModelPool(paper_models(), PoolConfig(seed=3))
    draws = [pool.draw("example_generation", f"video-{i}") for i in range(300)]
    assert draws == [pool.draw("example_generation", f"video-{i}") for i in range(300)]
    counts = Counter(draws)
    assert set(counts) == {"gpt-5.2", "claude-4.5-sonnet", "gemini-3-flash"}
    assert min(counts.values()) > 60
    other = ModelPool(paper_models(), PoolConfig(seed=4))
    assert draws != [other.draw("example_generation", f"video-{i}") for i in range(300)]


def test_a_step_without_eligible_model_refuses_and_says_why() -> None:
    pool = ModelPool(paper_models(), PoolConfig(verdicts="audited"),
                     {("scenarios", "gpt-5.2"): AuditSummary(100, 3, 5)})
    with pytest.raises(NoEligibleModelError) as caught:
        pool.draw("scenarios", "kp-1")
    message = str(caught.value)
    assert "gpt-5.2: audited error rate 8.0% > 3%" in message
    assert "gpt-5-mini: not audited (0/100 labelled)" in message
    assert "qwen3-vl-235b-a22b: does not take text" in message


def test_overrides_name_models_by_hand() -> None:
    pool = ModelPool(paper_models(), PoolConfig(overrides={"scenarios": ["deepseek-v3.2"]}))
    assert pool.eligible("scenarios") == ["deepseek-v3.2"]


def _workspace(tmp_path: Path, server: TestServer) -> Path:
    local = ModelConfig(base_url=server.base_url, model="local-vlm", display_name="Local",
                        limits=Limits(timeout_s=2, backoff_base_s=0.01))
    config = Config(models={**paper_models(), "local": local}, pool=PoolConfig(audit_size=10, verdicts="audited"))
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "videokr.yaml").write_text(dump_config(config), encoding="utf-8")
    return tmp_path


def test_audit_sample_import_and_status_through_the_cli(tmp_path: Path) -> None:
    with TestServer(responder=lambda body, fp: json.dumps({"scenario": body["messages"][-1]["content"]})) as server:
        ws = _workspace(tmp_path / "ws", server)
        requests = tmp_path / "scenarios.jsonl"
        with requests.open("w") as handle:
            for i in range(30):
                handle.write(json.dumps({"custom_id": f"kp-{i}", "method": "POST", "url": "/v1/chat/completions",
                                         "body": {"messages": [{"role": "user", "content": f"knowledge point {i}"}]}})
                             + "\n")
        runner = CliRunner()
        base = ["--workspace", str(ws)]
        refused = runner.invoke(app, [*base, "models", "status"], env={"COLUMNS": "250"})
        assert refused.exit_code == 0 and "not audited" in refused.output
        sheet = tmp_path / "sheet.csv"
        sampled = runner.invoke(app, [*base, "models", "audit", "sample", "--step", "scenarios", "--model", "local",
                                      "--n", "10", "--inputs", str(requests), "--sheet", str(sheet)])
        assert sampled.exit_code == 0, sampled.output
        assert server.stats.total_received == 10
    rows = list(csv.DictReader(sheet.open()))
    assert len(rows) == 10 and all(r["label"] == "" and "scenario" in r["output"] for r in rows)
    assert all(r["input"].startswith("user: knowledge point") for r in rows)
    for i, row in enumerate(rows):
        row["label"] = "fine"
    with sheet.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    imported = runner.invoke(app, [*base, "models", "audit", "import", str(sheet)], env={"COLUMNS": "250"})
    assert imported.exit_code == 0, imported.output
    assert "0.0%" in imported.output and "✓" in imported.output
    status = runner.invoke(app, [*base, "models", "status"], env={"COLUMNS": "250"})
    assert "✓ 0% (audit)" in status.output

    rows[0]["label"] = "broken"
    with sheet.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    bad = runner.invoke(app, [*base, "models", "audit", "import", str(sheet)], env={"COLUMNS": "250"})
    assert bad.exit_code == 1 and "sheet.csv:2: label 'broken' is not one of" in bad.output
