"""`videokr demo --endpoint URL --model NAME`: the corpus chain of the bundled sample, for real, through export,
every model step answered by one model of an OpenAI-compatible server (here the loopback one, in-process)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.cli_support import funnel, invoke
from tests.corpus.replies import CONSISTENCY, DEPENDENCY, GENERATION, REVIEW, ValidResponder
from videokr.config import PAPER_RECIPE
from videokr.demo_corpus import DEMO_MODEL, DEMO_MODERATION, DEMO_VERIFIER, FUNNEL_FILE
from videokr.records import Outcome
from videokr.steps.example_generation import ROUNDS
from videokr.store import Store
from videokr.testing import TestServer

pytest.importorskip("av")

SERVED = "tiny-vl"  # the name the endpoint serves its model under
KEY_ENV, KEY = "DEMO_ENDPOINT_KEY", "sk-demo-endpoint-0123456789abcdef"
LOCAL_VIDEOS = 4  # src/videokr/sample/local-videos.yaml
YOUTUBE_API_STEPS = {"youtube_search", "youtube_videos", "metadata_relevance", "download"}  # nothing without a key


@pytest.fixture
def server() -> Iterator[TestServer]:
    moderated: list[bytes] = []

    def safe(image: bytes) -> dict[str, float]:
        moderated.append(image)
        return {"violence": 0.01}

    with TestServer(responder=ValidResponder(), moderation_scorer=safe) as running:
        running.moderated = moderated  # type: ignore[attr-defined]
        yield running


def test_the_demo_runs_the_corpus_chain_through_export_on_one_endpoint(
        tmp_path: Path, server: TestServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    monkeypatch.delenv("YOUTUBE_API_KEY", raising=False)
    out = tmp_path / "demo-output"
    done = invoke("demo", "--out", out, "--endpoint", server.base_url, "--model", SERVED, "--api-key-env", KEY_ENV)
    assert done.exit_code == 0, done.output
    page = out / FUNNEL_FILE
    assert page.is_file() and f"{page.resolve()}: the corpus funnel by discipline and skill, beside the paper's " \
        "numbers" in done.text

    ws = out / "corpus"
    rows = funnel(ws)
    assert list(rows) == PAPER_RECIPE
    for step, row in rows.items():
        assert row["in"] == row["accepted"] + row["rejected"] + row["quarantined"] and row["quarantined"] == 0, row
        if step == "youtube_search":  # no YouTube key: every keyword waits, none was searched
            assert row["in"] == 0 and row["pending"] == rows["search_keywords"]["accepted"] > 0
        else:
            assert row["pending"] == 0, row
    examples = LOCAL_VIDEOS * ROUNDS
    assert {s: rows[s]["accepted"] for s in ("local_sources", "safety", "example_generation", "self_consistency",
                                             "video_dependency", "cot_validation", "decontam", "split")} == {
        "local_sources": LOCAL_VIDEOS, "safety": LOCAL_VIDEOS, "example_generation": examples,
        "self_consistency": examples, "video_dependency": examples, "cot_validation": examples,
        "decontam": LOCAL_VIDEOS, "split": examples}
    assert all(rows[s]["in"] == 0 for s in YOUTUBE_API_STEPS)

    # the exports hold every example, each in one set
    sft = (ws / "exports/sft-jsonl/videokr-sft.jsonl").read_text(encoding="utf-8").splitlines()
    rl = (ws / "exports/rl-jsonl/videokr-rl.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(sft) + len(rl) == examples and sft and rl
    assert (ws / "exports/sft-llamafactory/videokr_train.json").is_file()

    # one served model answered every model step; the verifier is that model under a second name
    responder = server.responder
    kinds = {kind for kind, _ in responder.asked}
    assert {model for _, model in responder.asked} == {SERVED}
    assert {"KnowledgePoints", "Scenarios", "SearchKeywords", "VisualAnswer", GENERATION, CONSISTENCY, DEPENDENCY,
            REVIEW} == kinds
    assert responder.asked[(GENERATION, SERVED)] == examples and responder.asked[(REVIEW, SERVED)] == examples
    assert len(server.moderated) == LOCAL_VIDEOS * 4 and server.moderation_errors == []  # 4 frames a video
    store = Store(ws / "videokr.sqlite")
    checks = list(store.live_outputs("cot_validation", "example_check"))
    assert len(checks) == examples and {tuple(c.models) for c in checks} == {(DEMO_VERIFIER,)}
    assert {c.generator_model for c in store.live_outputs("example_generation", "candidate_example")} == {DEMO_MODEL}

    # two disciplines of the bundled bank reach the exports; the page shows them by discipline and skill
    by = json.loads(invoke("-w", ws, "status", "--by", "discipline", "--json").stdout)
    split = next(r for r in by["steps"] if r["step"] == "split")["by_discipline"]
    assert {d for d, c in split.items() if c["accepted"]} == {"Natural Sciences", "Engineering"}
    text = page.read_text(encoding="utf-8")
    assert "Engineering" in text and "KnowVidR" in text and "63,745" in text

    # the key is read from the environment and written nowhere
    config = (ws / "videokr.yaml").read_text(encoding="utf-8")
    assert KEY_ENV in config and KEY not in config
    assert KEY not in done.output and KEY not in text
    assert KEY.encode() not in (ws / "videokr.sqlite").read_bytes()
    models = yaml.safe_load(config)["models"]
    assert set(models) == {DEMO_MODEL, DEMO_VERIFIER, DEMO_MODERATION}
    assert {m["base_url"] for m in models.values()} == {server.base_url}

    # a rerun sends nothing and changes nothing
    sent = server.stats.total_received
    again = invoke("demo", "--out", out, "--endpoint", server.base_url, "--model", SERVED, "--api-key-env", KEY_ENV)
    assert again.exit_code == 0, again.output
    assert server.stats.total_received == sent
    assert funnel(ws) == rows
    assert store.ledger_entries("cot_validation", Outcome.ACCEPTED) and "reused" in again.text


@pytest.mark.parametrize("args, message", [
    (["--endpoint", "http://127.0.0.1:9/v1"], "--endpoint needs --model NAME"),
    (["--endpoint", "localhost:8000", "--model", "m"], "--endpoint must be an http(s) URL"),
    (["--model", "m"], "--model and --api-key-env go with --endpoint URL"),
    (["--endpoint", "http://127.0.0.1:9/v1", "--model", "m", "--safety", "none"], "--safety must be one of"),
    (["--endpoint", "http://127.0.0.1:9/v1", "--model", "m", "--api-key-env", "DEMO_UNSET_KEY_ENV"],
     "--api-key-env DEMO_UNSET_KEY_ENV: that environment variable is not set"),
])
def test_wrong_endpoint_options_fail_before_anything_runs(tmp_path: Path, args: list[str], message: str) -> None:
    result = invoke("demo", "--out", tmp_path / "d", *args)
    assert result.exit_code == 1 and message in result.text, result.output
    assert not (tmp_path / "d").exists()
