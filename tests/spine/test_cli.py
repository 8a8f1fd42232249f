"""The `videokr` command: workspace discovery, --help on every verb, the data verbs and the demo."""

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from videokr.cli.main import app

runner = CliRunner()


def invoke(*args, cwd=None):
    import os

    old = os.getcwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        result = runner.invoke(app, [str(a) for a in args], catch_exceptions=False)
        result.text = " ".join(result.output.split())  # rich wraps at the terminal width
        return result
    finally:
        os.chdir(old)


def all_commands(group, prefix=()):
    import typer.main

    click_group = typer.main.get_command(group)

    def walk(cmd, path):
        yield path
        for name, sub in getattr(cmd, "commands", {}).items():
            yield from walk(sub, path + (name,))

    yield from walk(click_group, prefix)


def test_help_on_every_verb():
    for path in all_commands(app):
        result = invoke(*path, "--help")
        assert result.exit_code == 0, path
        assert "Usage" in result.output


def test_workspace_found_upward_and_by_option(tmp_path, sample):
    assert invoke("init", tmp_path / "ws").exit_code == 0
    deep = tmp_path / "ws" / "a" / "b"
    deep.mkdir(parents=True)
    result = invoke("import", sample / "videokr-eval-sample.jsonl", "--kind", "eval", cwd=deep)
    assert result.exit_code == 0 and "12 accepted" in result.text
    result = invoke("-w", tmp_path / "ws", "status")
    assert "import" in result.text and "12" in result.text
    result = invoke("status", cwd=tmp_path)
    assert result.exit_code == 1 and "no videokr workspace" in result.text
    assert "already exists" in invoke("init", tmp_path / "ws").text


def test_config_typos_are_named(tmp_path):
    invoke("init", tmp_path)
    (tmp_path / "videokr.yaml").write_text("split:\n  ratoi: [1, 1]\n")
    result = invoke("-w", tmp_path, "status")
    assert result.exit_code == 1 and "split.ratoi" in result.text


def test_import_split_export_stats(tmp_path, sample):
    ws = tmp_path / "ws"
    invoke("init", ws, "--video-root", sample)
    result = invoke("-w", ws, "import", sample / "videokr-sft-sample.jsonl", "--kind", "sft", "--require-video")
    assert "48 accepted, 3 rejected" in result.text
    assert "videokr-sft-sample.jsonl:21: not valid JSON" in result.text
    invoke("-w", ws, "import", sample / "videokr-rl-sample.json", "--set", "rl")
    result = invoke("-w", ws, "split", "--ratio", "201:114", "--seed", "1")
    # the split brings the steps before it up to date first (videos, probe, decontamination)
    assert result.exit_code == 0 and "split 72 examples" in result.text and "decontam 12 in" in result.text
    assert "--ratio must look like" in invoke("-w", ws, "split", "--ratio", "2-1").text
    for fmt in ("llamafactory", "verl", "hf", "jsonl"):
        result = invoke("-w", ws, "export", "--set", "sft", "--format", fmt, "--out", tmp_path / fmt, "--val-size", 3)
        assert result.exit_code == 0, result.output
    # a verl export that would hold out every row says so and writes nothing
    result = invoke("-w", ws, "export", "--set", "sft", "--format", "verl", "--out", tmp_path / "v500")
    assert result.exit_code == 1 and "not more than the 500 held out" in result.text
    assert not (tmp_path / "v500" / "train.parquet").exists()
    assert "--format must be one of" in invoke("-w", ws, "export", "--set", "sft", "--format", "x",
                                               "--out", tmp_path).text
    assert "the eval set is empty" in invoke("-w", ws, "export", "--set", "eval", "--format", "jsonl",
                                             "--out", tmp_path / "e").text
    result = invoke("-w", ws, "stats", "--out", tmp_path / "r" / "report.html")
    numbers = json.loads((tmp_path / "r" / "report.json").read_text())
    assert numbers["examples"] == 72 and numbers["videos"] == 12
    assert set(numbers["per_skill"]) == {"VidR", "KnowVid", "KnowVidR"}
    assert len(numbers["per_discipline"]) == 4
    html = (tmp_path / "r" / "report.html").read_text()
    assert html.count("<svg") >= 8 and "examples per discipline" in html


def test_demo_end_to_end(tmp_path):
    result = subprocess.run([sys.executable, "-m", "videokr.cli.main", "demo", "--out", str(tmp_path / "d")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "demo done" in result.stderr
    for sub in ("sft-llamafactory/videokr_train.json", "rl-verl/train.parquet", "eval-hf/data",
                "sft-jsonl/videokr-sft.jsonl"):
        assert (tmp_path / "d" / "exports" / sub).exists(), sub
    assert (tmp_path / "d" / "report.html").is_file()
    again = subprocess.run([sys.executable, "-m", "videokr.cli.main", "demo", "--out", str(tmp_path / "d")],
                           capture_output=True, text=True, timeout=300)
    text = " ".join(again.stderr.split())
    assert "reused" in text and "0 accepted, 0 rejected, 0 quarantined, 87 already done" in text


def test_error_messages_are_text_not_markup(tmp_path):
    """`videokr[video]` in an install hint must print as written (rich once ate the brackets)."""
    from videokr.cli.common import fail

    import typer
    from videokr.progress import console

    with console.capture() as captured:
        with pytest.raises(typer.Exit):
            fail("needs pip install 'videokr[video]' and [bold]x[/bold]")
    assert "pip install 'videokr[video]' and [bold]x[/bold]" in captured.get()


def test_init_writes_the_paper_recipe_and_a_fresh_workspace_runs_empty(tmp_path) -> None:
    from typer.testing import CliRunner

    from videokr.cli.main import app
    from videokr.config import (BENCHMARK_CONSTRUCTION, CORPUS_COLLECTION, CORPUS_GENERATION, DEFAULT_RECIPE,
                                PAPER_RECIPE, QUALITY_ASSESSMENT)
    from videokr.workspace import Workspace

    assert PAPER_RECIPE == (CORPUS_COLLECTION + CORPUS_GENERATION + BENCHMARK_CONSTRUCTION
                            + ["import", "videos", "probe", "decontam", "split"] + QUALITY_ASSESSMENT + ["export"])
    assert CORPUS_COLLECTION[-1] == "safety" and DEFAULT_RECIPE == ["import", "videos", "probe", "decontam", "split",
                                                                   "export"]
    assert CORPUS_GENERATION == ["seeds", "example_generation", "self_consistency", "video_dependency", "cot_validation"]
    runner = CliRunner()
    assert runner.invoke(app, ["init", str(tmp_path / "ws")]).exit_code == 0
    assert Workspace.open(tmp_path / "ws").config.recipe == PAPER_RECIPE
    dry = runner.invoke(app, ["-w", str(tmp_path / "ws"), "run", "--until", "safety", "--dry-run"])
    assert dry.exit_code == 0 and "safety: 0 in" in dry.output
    assert runner.invoke(app, ["init", str(tmp_path / "official"), "--recipe", "official"]).exit_code == 0
    assert Workspace.open(tmp_path / "official").config.recipe == DEFAULT_RECIPE
    bad = runner.invoke(app, ["init", str(tmp_path / "x"), "--recipe", "nope"])
    assert bad.exit_code == 1 and "--recipe must be one of paper, official" in bad.output
