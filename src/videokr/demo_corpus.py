"""`videokr demo`'s corpus part: the §3.1–§3.3 chain on the bundled sample, without sending anything.

Why this shape: a model step's items exist only once the steps before it have answered, so an
offline demo cannot show the chain's later steps at work without inventing model replies — which
it must not do. Instead, in recipe order:

- a step that needs no model runs for real (`kb` on the bundled bank, `seeds`, `local_sources`
  on the bundled videos, the YouTube steps on whatever is live — nothing, offline);
- a model step takes the items it has *now*. Each item is first rendered with a dry-run gateway
  that records every request; an item that sent none (an expert's lecture: `knowledge_points`
  keeps expert points without a model) is then run for real and committed, so its outputs feed
  the next step. The recorded requests — real prompts, real frames where a step sends frames —
  are priced and written as Batch API JSON Lines, one file per step, under `requests/`;
- the steps whose items wait for a model's answer say so, with the item counts `videokr corpus
  plan`'s funnel predicts for this sample, and the plan at the paper's scale.

With a model endpoint (`run_corpus_demo(..., send=True)`), the same workspace runs the chain
for real with `videokr run`'s runner instead.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from videokr.config import Config
from videokr.models.client import CHAT_PATH
from videokr.models.gateway import Gateway, Reply
from videokr.progress import console
from videokr.workspace import CONFIG_NAME, Workspace

CORPUS_RECIPE = ["kb", "knowledge_points", "scenarios", "search_keywords", "youtube_search", "youtube_videos",
                 "local_sources", "metadata_relevance", "download", "visual_relevance", "safety",
                 "seeds", "example_generation", "self_consistency", "video_dependency", "cot_validation"]
BANK_FILE = "knowledge-bank.yaml"
SEEDS_FILE = "seeds.jsonl"
MANIFEST_FILE = "local-videos.yaml"
REQUESTS_DIR = "requests"


@dataclass
class Rendered:
    """What one model step would send now: Batch API lines, their dry-run price, items answered without a model."""

    step: str
    items: int = 0
    no_model: int = 0
    lines: list[dict[str, Any]] = field(default_factory=list)
    tokens_in: int = 0
    tokens_out: int = 0
    usd: float = 0.0
    file: Path | None = None


class RecordingGateway(Gateway):
    """A dry-run gateway that keeps each request it renders, keyed by its fingerprint (the Batch custom_id)."""

    def __init__(self, models: dict[str, Any]) -> None:
        super().__init__(models, None, dry_run=True)
        self.requests: dict[str, dict[str, Any]] = {}

    async def call(self, model: str, body: dict[str, Any], **kwargs: Any) -> Reply:
        reply = await super().call(model, body, **kwargs)
        url = "/v1" + str(kwargs.get("path") or CHAT_PATH)
        self.requests.setdefault(reply.fingerprint, {
            "custom_id": reply.fingerprint, "method": "POST", "url": url,
            "body": {**body, "model": self.config(model).model}})
        return reply


def corpus_config(sample: Path) -> Config:
    """The chain of docs/corpus.md on the bundled bank, seeds and videos (as local sources)."""
    return Config(
        recipe=list(CORPUS_RECIPE),
        video_root=str(sample.resolve()),
        steps={
            "kb": {"sources": [str((sample / BANK_FILE).resolve())]},
            "seeds": {"sources": [str((sample / SEEDS_FILE).resolve())]},
            "local_sources": {"manifest": str((sample / MANIFEST_FILE).resolve())},
        },
    )


def open_workspace(root: Path, sample: Path) -> Workspace:
    if (root / CONFIG_NAME).is_file():
        return Workspace.open(root)
    return Workspace.init(root, corpus_config(sample))


async def _render(ws: Workspace, step: Any, out: Path) -> Rendered:
    """Render and price `step`'s pending items; commit those that need no model (see the module docstring)."""
    from videokr.models.step import run_model_step
    from videokr.pipeline.runner import _plan  # the runner's own view of what is pending

    store = ws.store
    pending = [item for _, _, item in _plan(store, step, None, None, True, True, False).pending]
    rendered = Rendered(step.name, items=len(pending))
    recorder = RecordingGateway(ws.config.models)
    answered_free = []
    for item in pending:
        before = len(recorder.requests)
        await run_model_step(store, step, [item], recorder)
        if len(recorder.requests) == before:
            answered_free.append(item)
    if answered_free:
        # These items asked nothing in the dry run; a gateway with no models can send nothing either.
        async with Gateway({}, store) as nothing:
            await run_model_step(store, step, answered_free, nothing)
    rendered.no_model = len(answered_free)
    rendered.lines = list(recorder.requests.values())
    rendered.tokens_in, rendered.tokens_out = recorder.meter.tokens_in, recorder.meter.tokens_out
    rendered.usd = recorder.meter.cost_usd
    if rendered.lines:
        folder = out / REQUESTS_DIR
        folder.mkdir(parents=True, exist_ok=True)
        rendered.file = folder / f"{step.name}.jsonl"
        tmp = rendered.file.with_suffix(".jsonl.tmp")
        tmp.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in rendered.lines),
                       encoding="utf-8")
        tmp.replace(rendered.file)
    return rendered


def run_offline(ws: Workspace, out: Path) -> list[Rendered]:
    """Each step in recipe order: the no-model ones for real, the model ones rendered and priced."""
    from videokr.pipeline.runner import run_step

    rendered: list[Rendered] = []
    for step in ws.recipe().steps:
        if step.resources.kind == "model" and step.scope == "item":
            result = asyncio.run(_render(ws, step, out))
            rendered.append(result)
            if result.items:
                where = f" → {result.file}" if result.file else ""
                console.print(f"[bold]{step.name}[/] {result.items} items: {result.no_model} answered without a model, "
                              f"{len(result.lines)} requests rendered, ${result.usd:.4f} if sent{where}",
                              highlight=False)
            continue
        report = run_step(ws.store, step)
        console.print(f"[bold]{step.name}[/] {report.line().split(': ', 1)[1]}", highlight=False)
    return rendered


def sample_plan(ws: Workspace) -> tuple[Any, Any]:
    """`videokr corpus plan` for this sample's lectures and at the paper's scale (same stages, same prices)."""
    from videokr.corpus.estimate import workspace_stages
    from videokr.corpus.plan import PAPER_KNOWLEDGE_POINTS, plan

    stages, quota = workspace_stages(ws.config, ws.root, ws.store)
    lectures = sum(1 for _ in ws.store.live_outputs("kb", "lecture"))
    per_lecture = next(s.yield_ for s in stages if s.name == "knowledge_points")
    sample = plan(stages, knowledge_points=lectures * per_lecture, daily_quota=quota)
    paper = plan(stages, knowledge_points=PAPER_KNOWLEDGE_POINTS, daily_quota=quota)
    return sample, paper


def print_summary(ws: Workspace, rendered: list[Rendered], out: Path) -> dict[str, Any]:
    from rich.table import Table

    from videokr.pipeline.recipe import funnel

    rows = funnel(ws.store, ws.recipe())
    try:
        sample, paper = sample_plan(ws)
    except Exception as exc:  # the plan is a summary: its failure must not hide the funnel (shown, not raised)
        sample = paper = None
        console.print(f"[yellow]corpus plan unavailable: {type(exc).__name__}: {exc}[/]", highlight=False)
    expected = {row.step: row for row in sample.rows} if sample is not None else {}
    by_step = {r.step: r for r in rendered}
    table = Table(title="Corpus funnel on the bundled sample (nothing sent)", title_justify="left")
    # in / accepted / rejected / quarantined; model requests rendered and their price; the plan's items in
    for name in ("step", "in", "acc", "rej", "quar", "req", "USD", "plan: in"):
        table.add_column(name, justify="left" if name in ("step", "plan: in") else "right", no_wrap=True)
    for row in rows:
        r = by_step.get(row["step"])
        plan_row = expected.get(row["step"])
        waiting = ""
        if r is not None and not r.items and plan_row is not None:
            waiting = f"~{round(plan_row.items_in)}"
        elif r is not None and not r.items:
            waiting = "waits"
        table.add_row(row["step"], str(row["in"]), str(row["accepted"]), str(row["rejected"]), str(row["quarantined"]),
                      str(len(r.lines)) if r and r.items else "-", f"${r.usd:.4f}" if r and r.items else "-", waiting)
    console.print(table)
    for row in rows:
        for reason, n in row["rejected_by_reason"].items():
            console.print(f"  {row['step']}: rejected {n} × {reason}", highlight=False)
    rendered_usd = sum(r.usd for r in rendered)
    console.print(f"[bold]this sample[/]: {sum(len(r.lines) for r in rendered)} requests rendered now, "
                  f"${rendered_usd:.4f} if sent", highlight=False)
    files = [r.file for r in rendered if r.file is not None]
    result = {"rendered_usd": rendered_usd, "sample_usd": None, "paper_usd": None, "files": files}
    if sample is None or paper is None:
        return result
    result.update(sample_usd=sample.usd, paper_usd=paper.usd)
    console.print(f"[bold]the whole chain on this sample[/] ({round(sample.knowledge_points)} knowledge points "
                  f"at the plan's ratios): {sample.requests:,} requests, ${sample.usd:,.2f} "
                  f"(${sample.usd_batch:,.2f} through the Batch API)", highlight=False)
    console.print(f"[bold]paper scale[/] ({round(paper.knowledge_points):,} knowledge points → "
                  f"{round(paper.videos):,} videos): {paper.requests:,} requests, ${paper.usd:,.2f} "
                  f"(${paper.usd_batch:,.2f} batch), {paper.quota_units:,} YouTube quota units "
                  f"({paper.days:,.1f} days); details: `videokr -w {ws.root} corpus plan`", highlight=False)
    if paper.unpriced:
        console.print(f"  unpriced at paper scale: {', '.join(paper.unpriced)}", highlight=False)
    return result


def run_send(ws: Workspace) -> None:
    """The chain for real, as `videokr run` does it (the workspace's models must be reachable)."""
    from videokr.pipeline.recipe import funnel, run_recipe

    run_recipe(ws.store, ws.recipe(), on_report=lambda r: console.print(f"[bold]{r.step}[/] {r.line().split(': ', 1)[1]}",
                                                                        highlight=False))
    for row in funnel(ws.store, ws.recipe()):
        console.print(f"  {row['step']}: in {row['in']}, accepted {row['accepted']}, rejected {row['rejected']}, "
                      f"quarantined {row['quarantined']}", highlight=False)


def run_corpus_demo(out: Path, sample: Path, *, send: bool = False) -> dict[str, Any]:
    """The corpus part of the demo under `out/corpus` (workspace) and `out/requests` (Batch API lines)."""
    ws = open_workspace(out / "corpus", sample)
    console.print(f"\n[bold]corpus workspace[/] {ws.root}")
    if send:
        run_send(ws)
        return {"workspace": ws.root}
    rendered = run_offline(ws, out)
    summary = print_summary(ws, rendered, out)
    summary["workspace"] = ws.root
    return summary
