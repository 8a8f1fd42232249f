"""`videokr run` on a recipe with a model-bound step: --dry-run prices without sending, --only/--until/--limit."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.cli_support import invoke
from tests.pipeline.model_steps import keywords_reply
from videokr.store import Store
from videokr.testing import TestServer




def workspace(tmp_path: Path, server: TestServer) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    lines = [json.dumps({"problem_id": f"p{i}", "question": f"why does the bridge sway {i}?", "solution": "wind",
                         "think": "I watch.", "video_path": f"v{i}.mp4"}) for i in range(12)]
    (root / "data.jsonl").write_text("\n".join(lines) + "\n")
    config = {
        "recipe": ["import", "keywords", "split"],
        "models": {"loop": {"base_url": server.base_url, "model": "loop", "api_key_env": "VIDEOKR_TEST_KEY",
                            "price": {"input_per_mtok": 1.0, "output_per_mtok": 2.0}}},
        "steps": {"import": {"sources": [{"path": "data.jsonl", "kind": "sft"}]},
                  "keywords": {"uses": "tests.pipeline.model_steps:KeywordsStep"}},
    }
    (root / "videokr.yaml").write_text(yaml.safe_dump(config))
    return root


def test_dry_run_prices_a_model_step_and_sends_nothing(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("VIDEOKR_TEST_KEY", "sk-test-key-value")
    with TestServer(responder=keywords_reply) as server:
        ws = workspace(tmp_path, server)
        assert invoke("-w", ws, "run", "--only", "import").exit_code == 0
        dry = invoke("-w", ws, "run", "--dry-run")
        assert dry.exit_code == 0, dry.output
        assert "keywords: 12 in, 0 done, 12 would be processed; 12 model requests" in dry.text
        assert server.stats.total_received == 0 and "keywords" not in Store(ws / "videokr.sqlite").ledger_summary()
        part = invoke("-w", ws, "run", "--until", "keywords", "--limit", "5")
        assert part.exit_code == 0 and "keywords 12 in — 5 accepted" in part.text
        rest = invoke("-w", ws, "run")
        assert rest.exit_code == 0 and "keywords 12 in — 7 accepted" in rest.text and "split 12 in — 12 accepted" in rest.text
        assert server.stats.total_received == 12
        funnel = json.loads(invoke("-w", ws, "status", "--funnel", "--json").output)
        keywords = next(s for s in funnel["steps"] if s["step"] == "keywords")
        assert {k: keywords[k] for k in ("accepted", "rejected", "quarantined", "pending")} == \
            {"accepted": 12, "rejected": 0, "quarantined": 0, "pending": 0}


def test_a_step_that_stops_ends_the_run_cleanly_keeping_what_finished(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("VIDEOKR_TEST_KEY", "sk-test-key-value")
    with TestServer(responder=keywords_reply) as server:
        ws = workspace(tmp_path, server)
        config = yaml.safe_load((ws / "videokr.yaml").read_text())
        config["recipe"] = ["import", "stopper"]
        config["steps"].pop("keywords")
        config["steps"]["stopper"] = {"uses": "tests.pipeline.model_steps:StopAfterStep", "concurrency": 1}
        (ws / "videokr.yaml").write_text(yaml.safe_dump(config))
        stopped = invoke("-w", ws, "run")
        assert stopped.exit_code == 1
        assert "stopped: daily quota spent; it resets at 08:00 UTC" in stopped.text and "Traceback" not in stopped.output
        summary = Store(ws / "videokr.sqlite").ledger_summary()
        assert summary["stopper"]["accepted"] == 3  # what finished before the stop is kept
        again = invoke("-w", ws, "run")  # a new run goes on where the last one stopped
        assert again.exit_code == 1 and Store(ws / "videokr.sqlite").ledger_summary()["stopper"]["accepted"] == 6
