"""Stored evaluation outputs are keyed on every setting that changes them, over a real HTTP endpoint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from videokr.cli.main import app
from videokr.evaluate.runner import LEGACY_PREFIX, ensure_schema, results
from videokr.store import Store

from .bench_fixtures import make_benchmarks


def _answer(body: dict) -> str:
    return "A"


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, dict[str, Path]]:
    paths = make_benchmarks(tmp_path)
    CliRunner().invoke(app, ["init", str(tmp_path / "ws")])
    return tmp_path / "ws", paths


def _eval(ws: Path, paths: dict[str, Path], base_url: str, *extra: str, label: str = "mine") -> object:
    # Video-MME: 2 readable items, 4 frames, 1 run -> 2 samples per settings
    return CliRunner().invoke(app, [
        "--workspace", str(ws), "eval", "run", "--backend", "openai", "--base-url", base_url, "--model", "served",
        "--label", label, "--family", "other", "-b", f"videomme={paths['videomme']}", "--frames", "4",
        "--runs", "1", *extra,
    ])


def _said(result: object) -> str:
    return " ".join(result.output.split())  # type: ignore[attr-defined]


@pytest.mark.parametrize("change", [
    ["--temperature", "0.7"],
    ["--family", "qwen-instruct"],
    ["--max-new-tokens", "64"],
    ["--top-p", "0.9"],
    "base-url",
    "model",
])
def test_a_changed_setting_generates_anew(setup, loopback, change) -> None:  # type: ignore[no-untyped-def]
    """Regression: after a setting changed, `eval run` printed '0 generated, N already stored'."""
    ws, paths = setup
    server = loopback(_answer)
    first = _eval(ws, paths, server.base_url)
    assert first.exit_code == 0, first.output
    assert "2 samples generated, 0 already stored" in _said(first) and len(server.requests) == 2
    same = _eval(ws, paths, server.base_url)
    assert "0 samples generated, 2 already stored" in _said(same) and len(server.requests) == 2

    other = loopback(_answer)
    if change == "base-url":
        changed = _eval(ws, paths, other.base_url)
    elif change == "model":
        changed = CliRunner().invoke(app, [
            "--workspace", str(ws), "eval", "run", "--backend", "openai", "--base-url", server.base_url,
            "--model", "another-served-name", "--label", "mine", "--family", "other",
            "-b", f"videomme={paths['videomme']}", "--frames", "4", "--runs", "1"])
    else:
        changed = _eval(ws, paths, server.base_url, *change)
    assert changed.exit_code == 0, changed.output
    assert "2 samples generated, 0 already stored" in _said(changed)
    assert len(server.requests) + len(other.requests) == 4  # asked again, not answered from a cache
    samples = results(Store(ws / "videokr.sqlite"))
    assert len(samples) == 4 and len({s["settings_fp"] for s in samples}) == 2
    assert {s["model"] for s in samples} == {"mine"}


def test_the_api_key_is_not_a_setting(setup, loopback, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    ws, paths = setup
    server = loopback(_answer)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-first-secret-key")
    assert _eval(ws, paths, server.base_url).exit_code == 0
    monkeypatch.setenv("OPENAI_API_KEY", "sk-second-secret-key")
    again = _eval(ws, paths, server.base_url)
    assert "0 samples generated, 2 already stored" in _said(again) and len(server.requests) == 2
    stored = " ".join(row[0] for row in Store(ws / "videokr.sqlite").execute(
        "SELECT data FROM items WHERE kind='eval_sample'"))
    assert "secret" not in stored and "served" in stored and server.base_url.rstrip("/") in stored


def test_credentials_in_the_url_are_not_a_setting() -> None:
    from videokr.evaluate.backends import public_url

    assert public_url("https://user:pw@api.example.com:8443/v1/?api-version=2&key=abc") == \
        "https://api.example.com:8443/v1?api-version=2"


def test_a_changed_prompt_generates_anew(setup, loopback, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import videokr.evaluate.runner as runner

    ws, paths = setup
    server = loopback(_answer)
    assert _eval(ws, paths, server.base_url).exit_code == 0
    build = runner.build_prompt
    monkeypatch.setattr(runner, "build_prompt", lambda *a: build(*a) + "\nBe brief.")
    changed = _eval(ws, paths, server.base_url)
    assert "2 samples generated, 0 already stored" in _said(changed) and len(server.requests) == 4
    assert all(r["messages"][0]["content"][-1]["text"].endswith("Be brief.") for r in server.requests[2:])
    assert len(results(Store(ws / "videokr.sqlite"))) == 2  # the outputs of the old prompt are replaced


def test_reports_never_pool_outputs_of_different_settings(setup, loopback, tmp_path) -> None:  # type: ignore[no-untyped-def]
    ws, paths = setup
    server = loopback(_answer)
    assert _eval(ws, paths, server.base_url).exit_code == 0
    assert _eval(ws, paths, server.base_url, "--temperature", "0.7").exit_code == 0
    fps = sorted({s["settings_fp"][:8] for s in results(Store(ws / "videokr.sqlite"))})
    listed = CliRunner().invoke(app, ["--workspace", str(ws), "eval", "results"])
    assert listed.exit_code == 0, listed.output
    assert all(fp in listed.output for fp in fps) and "holds outputs of 2 settings" in _said(listed)
    assert "temperature=0.7" in _said(listed)
    out = tmp_path / "report"
    rep = CliRunner().invoke(app, ["--workspace", str(ws), "eval", "report", "--out", str(out)])
    assert rep.exit_code == 0, rep.output
    md = (out / "report.md").read_text()
    assert all(f"| mine @{fp} | 4 |" in md for fp in fps) and "| mine | 4 |" not in md
    assert "## Settings" in md and "never pooled" in md


def test_outputs_stored_before_settings_were_keys_are_kept_but_not_done(setup, loopback) -> None:  # type: ignore[no-untyped-def]
    ws, paths = setup
    store = Store(ws / "videokr.sqlite")
    with store.transaction() as conn:  # the table as earlier versions wrote it
        conn.execute(
            "CREATE TABLE eval_outputs (model TEXT NOT NULL, benchmark TEXT NOT NULL, item_id TEXT NOT NULL, "
            "frames INTEGER NOT NULL, run INTEGER NOT NULL, prompt_sha TEXT NOT NULL, output TEXT, error TEXT, "
            "pred TEXT, correct INTEGER, scored_by TEXT, item TEXT NOT NULL, settings TEXT NOT NULL, "
            "created TEXT NOT NULL, PRIMARY KEY (model, benchmark, item_id, frames, run))")
        conn.execute("CREATE INDEX eval_outputs_by_model ON eval_outputs (model, benchmark, frames)")
        item = json.dumps({"id": "001-1", "question": "q", "options": ["a", "b"], "answer": "A",
                           "problem_type": "multiple choice", "category": "general"})
        old = json.dumps({"backend": "openai", "family": "other", "max_new_tokens": 8192, "temperature": 0.1,
                          "top_p": 0.001}, sort_keys=True)
        conn.execute("INSERT INTO eval_outputs VALUES ('mine','videomme','001-1',4,0,'x','A',NULL,'A',1,'rule',?,?,"
                     "'2025-01-01T00:00:00Z')", (item, old))
    ensure_schema(Store(ws / "videokr.sqlite"))
    (kept,) = results(Store(ws / "videokr.sqlite"))
    assert kept["settings_fp"].startswith(LEGACY_PREFIX) and kept["settings"]["temperature"] == 0.1
    assert kept["correct"] is True and kept["output"] == "A"
    server = loopback(_answer)
    run = _eval(ws, paths, server.base_url)
    assert "2 samples generated, 0 already stored" in _said(run) and len(server.requests) == 2
    assert len(results(Store(ws / "videokr.sqlite"))) == 3


def test_eval_run_fails_when_every_sample_failed(setup, loopback) -> None:  # type: ignore[no-untyped-def]
    ws, paths = setup
    for video in (paths["videomme"].parent / "data").glob("*.mp4"):
        video.write_bytes(video.read_bytes()[:2000])  # truncated: not decodable
    server = loopback(_answer)
    result = _eval(ws, paths, server.base_url)
    assert result.exit_code == 1
    assert "every sample failed (2); nothing was generated" in _said(result) and server.requests == []
