"""`videokr demo`'s corpus part: the §3.1–§3.3 chain on the bundled sample, then the main job to export.

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

With a model endpoint (`run_corpus_demo(..., endpoint=Endpoint(url, model))`), the same workspace
runs the whole recipe for real — through `split` and `export` — with that one model serving every
model step (written into the workspace's `models:`, `pool.overrides` and the step sections), so
a user with a local vLLM server sees every step at work. Either way the funnel, by discipline
and skill, is written as one HTML page (`funnel.html`).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from videokr.config import PAPER_RECIPE, Config, dump_config
from videokr.models.client import CHAT_PATH
from videokr.models.gateway import Gateway, Reply
from videokr.progress import console
from videokr.workspace import CONFIG_NAME, Workspace

CORPUS_RECIPE = list(PAPER_RECIPE)  # `videokr init`'s: §3.1–§3.3, then import → … → split → export
BANK_FILE = "knowledge-bank.yaml"
SEEDS_FILE = "seeds.jsonl"
MANIFEST_FILE = "local-videos.yaml"
REQUESTS_DIR = "requests"
FUNNEL_FILE = "funnel.html"
# The sample's sets are a few examples: JSON Lines and LLaMA-Factory need no optional package.
CORPUS_EXPORTS = {"sft": ["jsonl", "llamafactory"], "rl": ["jsonl"]}

# With an endpoint: the names its one model goes by in the demo workspace's `models:`.
DEMO_MODEL = "demo"
# The same model under a second name: CoT validation takes a model other than the generator (§3.3's
# "independent" verifier), which a one-model demo can only name, not have.
DEMO_VERIFIER = "demo-verifier"
DEMO_MODERATION = "demo-moderation"  # the `openai` safety backend's moderation model, at the same endpoint
SAFETY_BACKENDS = ("openai", "azure", "offline")
YOUTUBE_API_STEPS = ("youtube_search", "youtube_videos")  # need YOUTUBE_API_KEY; the sample's videos are local


@dataclass(frozen=True)
class Endpoint:
    """One OpenAI-compatible server and the model it serves, for every model step of the demo."""

    url: str
    model: str
    api_key_env: str | None = None  # None: a local server that wants no key
    safety: str = "openai"  # the safety step's backend: moderation at this endpoint, or azure / offline


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
            "export": {"targets": CORPUS_EXPORTS},
        },
    )


def endpoint_config(config: Config, endpoint: Endpoint) -> Config:
    """`config` with every model step on the endpoint's one model: `models:` holds only its entries,
    `pool.overrides` makes it the one eligible model of every pool step, and the steps that name
    their models (video dependency, the openai safety backend) name it."""
    from videokr.models.config import ModelConfig, PoolConfig
    from videokr.models.pool import STEPS_BY_NAME
    from videokr.safety.openai_moderation import MODERATION_MODEL

    if endpoint.safety not in SAFETY_BACKENDS:
        raise ValueError(f"the safety backend must be one of {', '.join(SAFETY_BACKENDS)}, not {endpoint.safety!r}")
    served = ModelConfig(base_url=endpoint.url, model=endpoint.model, api_key_env=endpoint.api_key_env,
                         display_name=f"{endpoint.model} (demo)")
    models: dict[str, Any] = {DEMO_MODEL: served, DEMO_VERIFIER: served.model_copy()}
    steps = {name: dict(section) for name, section in config.steps.items()}
    steps["video_dependency"] = {**steps.get("video_dependency", {}), "models": [DEMO_MODEL]}
    safety = {k: v for k, v in steps.get("safety", {}).items() if k not in ("backend", "model")}
    safety["backend"] = endpoint.safety
    if endpoint.safety == "openai":
        models[DEMO_MODERATION] = ModelConfig(base_url=endpoint.url, model=MODERATION_MODEL,
                                              api_key_env=endpoint.api_key_env, modalities=["vision"])
        safety["model"] = DEMO_MODERATION
    steps["safety"] = safety
    overrides = {name: [DEMO_MODEL] for name in STEPS_BY_NAME}
    overrides["cot_validation"] = [DEMO_VERIFIER]
    pool = PoolConfig.model_validate({**config.pool.model_dump(), "overrides": overrides})
    return config.model_copy(update={"models": models, "pool": pool, "steps": steps, "recipe": list(CORPUS_RECIPE)})


def open_workspace(root: Path, sample: Path, endpoint: Endpoint | None = None) -> Workspace:
    """The demo's corpus workspace (made once, reused); with an endpoint, its models are set to it first."""
    if not (root / CONFIG_NAME).is_file():
        ws = Workspace.init(root, corpus_config(sample))
    else:
        ws = Workspace.open(root)
    if endpoint is None:
        return ws
    config = endpoint_config(ws.config, endpoint)
    path = root / CONFIG_NAME
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(dump_config(config), encoding="utf-8")
    tmp.replace(path)
    return Workspace.open(root)


async def _render(ws: Workspace, step: Any, out: Path) -> Rendered:
    """Render and price `step`'s pending items; commit those that need no model (see the module docstring)."""
    from videokr.models.step import run_model_step
    from videokr.pipeline.runner import pending_items

    store = ws.store
    pending = pending_items(store, step)
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


def run_endpoint(ws: Workspace) -> dict[str, Any]:
    """The whole recipe for real, as `videokr run` runs it, against the workspace's (endpoint's) models.

    The YouTube Data API steps run only when `YOUTUBE_API_KEY` is set: the sample's videos come from
    its manifest, and without a key their keywords stay pending (the funnel shows them). A step that
    stops (`errors.Stop`: the endpoint down, a key refused) ends the run; what finished is kept."""
    import os

    from videokr.pipeline.runner import pending_count, run_step
    from videokr.youtube.client import API_KEY_ENV

    quarantined = 0
    skipped: list[str] = []
    for step in ws.recipe().steps:
        if step.name in YOUTUBE_API_STEPS and not os.environ.get(API_KEY_ENV):
            _, waiting = pending_count(ws.store, step)
            if waiting:
                skipped.append(step.name)
                console.print(f"[bold]{step.name}[/] {waiting} items wait: {API_KEY_ENV} is not set (the sample's "
                              f"videos come from {MANIFEST_FILE})", highlight=False)
                continue
        report = run_step(ws.store, step)
        quarantined += report.counts["quarantined"]
        console.print(f"[bold]{step.name}[/] {report.line().split(': ', 1)[1]}", highlight=False)
    return {"quarantined": quarantined, "skipped": skipped}


def write_funnel(ws: Workspace, out: Path) -> Path:
    """The corpus workspace's funnel by discipline and skill, beside the paper's numbers, as `out/funnel.html`."""
    from videokr.corpus.funnel import corpus_funnel, write_html
    from videokr.pipeline.recipe import funnel

    recipe = ws.recipe()
    pending = {row["step"]: row["pending"] for row in funnel(ws.store, recipe)}
    report = corpus_funnel(ws.store, recipe.names(), workspace=str(ws.root), pending=pending)
    return write_html(report, out / FUNNEL_FILE)


def print_endpoint_summary(ws: Workspace) -> None:
    from rich.table import Table

    from videokr.pipeline.recipe import funnel

    table = Table(title="Corpus funnel on the bundled sample (sent to the endpoint)", title_justify="left")
    for name in ("step", "in", "acc", "rej", "quar", "pending"):
        table.add_column(name, justify="left" if name == "step" else "right", no_wrap=True)
    rows = funnel(ws.store, ws.recipe())
    for row in rows:
        pending = "?" if row["pending"] is None else str(row["pending"])
        table.add_row(row["step"], str(row["in"]), str(row["accepted"]), str(row["rejected"]), str(row["quarantined"]),
                      pending)
    console.print(table)
    for row in rows:
        for reason, n in row["rejected_by_reason"].items():
            console.print(f"  {row['step']}: rejected {n} × {reason}", highlight=False)


def run_corpus_demo(out: Path, sample: Path, *, endpoint: Endpoint | None = None) -> dict[str, Any]:
    """The corpus part of the demo under `out/corpus` (workspace), `out/requests` (Batch API lines, offline)
    and `out/funnel.html`; with `endpoint`, every model step is answered by its model."""
    ws = open_workspace(out / "corpus", sample, endpoint)
    console.print(f"\n[bold]corpus workspace[/] {ws.root}")
    if endpoint is not None:
        summary = run_endpoint(ws)
        print_endpoint_summary(ws)
    else:
        rendered = run_offline(ws, out)
        summary = print_summary(ws, rendered, out)
    summary["workspace"] = ws.root
    summary["funnel"] = write_funnel(ws, out)
    return summary
