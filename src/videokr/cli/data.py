"""Workspace and data verbs: init, status, import, split, export, stats."""

from __future__ import annotations

from pathlib import Path

import typer

from videokr.cli.common import fail, print_rejected, require, workspace
from videokr.progress import console
from videokr.workspace import Workspace, WorkspaceError  # noqa: F401


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("import")(import_)
    app.command("split")(split)
    app.command("export")(export)
    app.command("stats")(stats)
    app.command("demo")(demo)


def init(
    directory: Path = typer.Argument(Path("."), help="directory to make into a workspace"),
    video_root: str = typer.Option(None, help="where relative video paths are resolved"),
    recipe: str = typer.Option("paper", help="paper: §3 corpus collection then the main job; official: the main "
                               "job on official files only"),
) -> None:
    """Make DIR a workspace: a videokr.yaml config (with its recipe) and an empty store."""
    from videokr.config import RECIPES, Config

    if recipe not in RECIPES:
        fail(f"--recipe must be one of {', '.join(RECIPES)}, not {recipe!r}")
    try:
        ws = Workspace.init(directory, Config(video_root=video_root, recipe=list(RECIPES[recipe])))
    except WorkspaceError as exc:
        fail(str(exc))
    console.print(f"workspace ready: {ws.root} (store {ws.store.path.name})")


def import_(
    ctx: typer.Context,
    files: list[Path] = typer.Argument(..., help="official VideoKR JSONL or JSON-array files"),
    set_name: str = typer.Option(None, "--set", help="sft | rl | eval: which official file this is"),
    kind: str = typer.Option(None, "--kind", hidden=True, help="old spelling of --set"),
    video_root: Path = typer.Option(None, help="resolve relative video paths here (default: the workspace's)"),
    require_video: bool = typer.Option(
        None, "--require-video/--no-require-video", help="reject lines whose video file is missing"
    ),
    id_prefix: str = typer.Option("", "--id-prefix", help="prepend to every id of these files (keeps clashing ids apart)"),
    strict: bool = typer.Option(False, "--strict", help="exit 1 if any line was rejected"),
    show: int = typer.Option(20, help="how many rejected lines to print"),
) -> None:
    """Import official VideoKR data (the `import` step); bad lines are reported by file and line, good ones kept.

    Exits 1 when a file yields no example at all, when a line was quarantined, or (with --strict)
    when any line was rejected."""
    from videokr.cli.pipeline import run_one_step
    from videokr.steps.importing import import_items

    chosen = set_name or kind
    if chosen not in ("sft", "rl", "eval"):
        fail(f"--set must be sft, rl or eval, not {chosen!r}" if chosen else "give --set sft, rl or eval")
    ws = workspace(ctx)
    overrides: dict = {}
    if require_video is not None:
        overrides["require_video"] = require_video
    step = ws.step("import", **overrides)
    if video_root is not None:
        step.context.video_root = video_root
    if step.config.require_video and step.context.video_root is None:
        fail("--require-video needs a video root: pass --video-root or set video_root in videokr.yaml")
    failed = False
    for path in files:
        if not path.is_file():
            fail(f"{path}: no such file")
        try:
            items = list(import_items(path, chosen, root=ws.root, id_prefix=id_prefix))  # type: ignore[arg-type]
        except OSError as exc:
            fail(f"{path}: cannot read: {exc}")
        report = run_one_step(ws, step, items=items, label=f"import {path.name}")
        c = report.counts
        console.print(
            f"{path}: {report.seen} lines — {c['accepted']} accepted, {c['rejected']} rejected, "
            f"{c['quarantined']} quarantined, {report.skipped} already imported"
        )
        ids = {item.item_id for item in items}
        rejected = [e for e in ws.store.ledger_entries(step.name) if e.item_id in ids and e.outcome.value == "rejected"]
        print_rejected([e.reason or e.item_id for e in rejected], show)
        if any(e.code == "conflict" for e in rejected):
            console.print("  [yellow]hint[/] ids that another file already holds with other content are not "
                          "overwritten; import this file with --id-prefix (e.g. --id-prefix rl-) to keep both")
        live = sum(1 for e in ws.store.ledger_entries(step.name) if e.item_id in ids and e.outcome.value == "accepted")
        if live == 0 and report.seen:
            console.print(f"[bold red]error:[/] {path}: no line could be imported")
            failed = True
        if c["quarantined"] or (strict and rejected):
            failed = True
    if failed:
        raise typer.Exit(1)


def split(
    ctx: typer.Context,
    seed: int = typer.Option(None, help="random seed (default: the workspace's steps.split.seed)"),
    ratio: str = typer.Option(None, help="SFT:RL by examples, e.g. 201:114 (default: steps.split.ratio)"),
    stratify: bool = typer.Option(None, "--stratify/--no-stratify", help="stratify by discipline, subject, skill"),
) -> None:
    """Partition examples into SFT and RL sets, grouped by video (the `split` step; no video in both).

    Only examples whose video decontamination cleared take part when `decontam` is in the recipe."""
    from videokr.cli.pipeline import prepare_step, run_one_step
    from videokr.sets import set_sizes

    ws = workspace(ctx)
    overrides: dict = {}
    if ratio is not None:
        try:
            a, b = (int(x) for x in ratio.split(":"))
        except ValueError:
            fail(f"--ratio must look like 201:114, not {ratio!r}")
        overrides["ratio"] = (a, b)
    if seed is not None:
        overrides["seed"] = seed
    if stratify is not None:
        overrides["stratify"] = stratify
    step = prepare_step(ws, "split", **overrides)
    report = run_one_step(ws, step)
    sizes = set_sizes(ws.store)
    total = (sizes["sft"] + sizes["rl"]) or 1
    videos = {s: len({e.video_id for e in ws.store.live_outputs("split", "split_assignment") if e.set == s})  # type: ignore[attr-defined]
              for s in ("sft", "rl")}
    r = step.config.ratio
    console.print(
        f"split {sizes['sft'] + sizes['rl']} examples: SFT {sizes['sft']} ({sizes['sft'] / total:.1%}, "
        f"{videos['sft']} videos), RL {sizes['rl']} ({sizes['rl'] / total:.1%}, {videos['rl']} videos); "
        f"target {r[0]}:{r[1]} ({report.skipped} unchanged)"
    )
    if sizes["unassigned"]:
        console.print(f"{sizes['unassigned']} examples are in no set: their video was removed by decontamination "
                      "or could not be read (`videokr status --funnel` says which)")
    if report.seen == 0:
        fail("nothing to split: no imported example has a video that passed the steps before the split")


def export(
    ctx: typer.Context,
    set_name: str = typer.Option(..., "--set", help="sft | rl | eval"),
    fmt: str = typer.Option(..., "--format", help="llamafactory | verl | hf | jsonl"),
    out: Path = typer.Option(..., "--out", help="output directory"),
    absolute_paths: bool = typer.Option(False, help="write absolute video paths, resolved against the video root"),
    video_prefix: str = typer.Option("", help="prefix added to relative video paths (e.g. 'videos')"),
    video_preset: str = typer.Option("paper-qwen2.5-vl", help="verl frame/pixel settings: paper-qwen2.5-vl | paper-qwen3-vl | release"),
    val_size: int = typer.Option(500, help="verl: RL examples held out as test.parquet (as the official converter)"),
    val_seed: int = typer.Option(42, help="verl: seed of the held-out draw"),
) -> None:
    """Write a live set in a training tool's format (the `export` step for one target).

    Decontaminated videos' examples are in no set, so in no export."""
    from videokr.formats.exporters import FORMATS, VIDEO_PRESETS

    if set_name not in ("sft", "rl", "eval"):
        fail(f"--set must be sft, rl or eval, not {set_name!r}")
    if fmt not in FORMATS:
        fail(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if video_preset not in VIDEO_PRESETS:
        fail(f"--video-preset must be one of {', '.join(VIDEO_PRESETS)}, not {video_preset!r}")
    if fmt in ("verl", "hf"):
        require("pyarrow", "export")
    ws = workspace(ctx)
    step = ws.step("export", out=str(out.resolve()), targets={set_name: [fmt]}, absolute_paths=absolute_paths,
                   video_prefix=video_prefix, video_preset=video_preset, val_size=val_size, val_seed=val_seed,
                   flat=True)
    from videokr.pipeline.runner import run_step

    target = next(iter(step.inputs(ws.store)))
    if not target.items:
        fail(f"the {set_name} set is empty; import data (and run `videokr split`) first")
    run_step(ws.store, step, items=[target])
    entry = ws.store.ledger_get(step.name, target.id)
    assert entry is not None
    if entry.outcome.value != "accepted":
        fail(entry.reason or "export failed")
    detail = entry.detail or {}
    console.print(f"{fmt}: wrote {detail.get('written', 0)} {set_name} items to {out}")
    for reason in detail.get("skipped", [])[:10]:
        console.print(f"  [yellow]skipped[/] {reason}")
    if detail.get("skipped_count", 0) > 10:
        console.print(f"  … and {detail['skipped_count'] - 10} more skipped")


def stats(
    ctx: typer.Context,
    out: Path = typer.Option(Path("report.html"), "--out", help="HTML report; the numbers go beside it as .json"),
) -> None:
    """Corpus statistics (the paper's Figure 2) as an HTML page with plots, plus JSON."""
    from videokr.stats.corpus import corpus_stats
    from videokr.stats.report import write_report

    require("matplotlib", "report")
    ws = workspace(ctx)
    numbers = corpus_stats(ws.store)
    html_path, json_path = write_report(numbers, out)
    console.print(f"statistics: {html_path} and {json_path} ({numbers['examples']} examples, {numbers['videos']} videos)")


def demo(
    out: Path = typer.Option(Path("demo-output"), "--out", help="where the demo workspace and outputs go"),
    endpoint: str = typer.Option(None, "--endpoint", help="an OpenAI-compatible base URL (e.g. a vLLM server's "
                                 "http://localhost:8000/v1): the corpus chain runs for real through export, its one "
                                 "model serving every model step"),
    model: str = typer.Option(None, "--model", help="with --endpoint: the model name the endpoint serves"),
    api_key_env: str = typer.Option(None, "--api-key-env", help="with --endpoint: the environment variable holding "
                                    "its key (leave out for a local server without one)"),
    safety: str = typer.Option("openai", "--safety", help="with --endpoint: the safety step's backend — openai "
                               "(moderation at the endpoint), azure (AZURE_CONTENT_SAFETY_*), offline (videokr[safety])"),
) -> None:
    """Run the main job end to end on the bundled sample, and the corpus chain: rendered and priced
    (offline), or for real against --endpoint. Ends with the corpus funnel as demo-output/funnel.html.

    Exits 1 when the endpoint stops the chain or an item was quarantined (run again to retry)."""
    import os

    from videokr.demo import run_demo
    from videokr.demo_corpus import SAFETY_BACKENDS, Endpoint
    from videokr.errors import Stop

    chosen = None
    if endpoint is None:
        if model is not None or api_key_env is not None:
            fail("--model and --api-key-env go with --endpoint URL")
    else:
        if not endpoint.startswith(("http://", "https://")):
            fail(f"--endpoint must be an http(s) URL such as http://localhost:8000/v1, not {endpoint!r}")
        if not model:
            fail("--endpoint needs --model NAME: the model name the endpoint serves (vLLM: its --served-model-name, "
                 "or the path it loaded)")
        if safety not in SAFETY_BACKENDS:
            fail(f"--safety must be one of {', '.join(SAFETY_BACKENDS)}, not {safety!r}")
        if api_key_env is not None and not os.environ.get(api_key_env):
            fail(f"--api-key-env {api_key_env}: that environment variable is not set")
        chosen = Endpoint(url=endpoint.rstrip("/"), model=model, api_key_env=api_key_env, safety=safety)
    try:
        outputs = run_demo(out, endpoint=chosen)
    except Stop as exc:
        fail(f"the corpus chain stopped: {exc}. What finished is kept; run the demo again to go on.")
    if chosen is not None:
        from videokr.workspace import Workspace

        summary = Workspace.open(outputs["corpus"]).store.ledger_summary()
        quarantined = sum(row["quarantined"] for row in summary.values())
        if quarantined:
            fail(f"{quarantined} item(s) of the corpus chain quarantined; "
                 f"`videokr -w {outputs['corpus']} status --funnel` lists them — run the demo again to retry")
