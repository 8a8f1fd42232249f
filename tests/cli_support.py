"""Running `videokr` in tests: one invocation helper and the funnel checks the chain tests share."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from videokr.cli.main import app


def invoke(*args: object) -> Any:
    """`videokr ARGS` in-process; `.text` is the output with rich's line wrapping undone."""
    result = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    result.text = " ".join(result.output.split())
    return result


def funnel(ws: Path) -> dict[str, dict[str, Any]]:
    """`videokr status --funnel --json` of a workspace, by step."""
    shown = invoke("-w", ws, "status", "--funnel", "--json")
    assert shown.exit_code == 0, shown.output
    return {row["step"]: row for row in json.loads(shown.stdout)["steps"]}


def assert_accounted(rows: dict[str, dict[str, Any]], recipe: list[str]) -> None:
    """Every item each step of `recipe` took in ended accepted, rejected or quarantined; none is pending."""
    assert list(rows) == recipe
    for row in rows.values():
        assert row["in"] == row["accepted"] + row["rejected"] + row["quarantined"], row
        assert row["quarantined"] == 0 and row["pending"] == 0, row
