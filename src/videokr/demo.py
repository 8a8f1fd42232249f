"""`videokr demo`: the main job end to end on the bundled sample, offline.

import (SFT, RL, eval) → probe the sample videos → split → export in every format →
statistics, in a workspace under OUT. Rerunning reuses the workspace: every step skips what it already did.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from videokr.config import Config
from videokr.formats.exporters import ExportOptions, export
from videokr.formats.importer import import_file
from videokr.pipeline.split_step import apply_split
from videokr.progress import console
from videokr.stats.corpus import corpus_stats
from videokr.stats.report import write_report
from videokr.workspace import CONFIG_NAME, Workspace

SAMPLE_FILES = (
    ("videokr-sft-sample.jsonl", "sft"),
    ("videokr-rl-sample.json", "rl"),
    ("videokr-eval-sample.jsonl", "eval"),
)
EXPORTS = {
    "sft": ("llamafactory", "hf", "jsonl"),
    "rl": ("verl", "hf", "jsonl"),
    "eval": ("verl", "hf", "jsonl"),
}


def sample_dir() -> Path:
    return Path(str(resources.files("videokr") / "sample"))


def probe_videos(ws: Workspace) -> None:
    """The `videos probe` step, so the statistics have durations (needs the video extra)."""
    try:
        import av  # noqa: F401  (probe imports it lazily; ask up front)

        from videokr.video.probe_step import ProbeVideos
    except ImportError as exc:  # PyAV missing: the rest of the demo still runs
        console.print(f"[yellow]probe[/] skipped ({exc.name} not installed: pip install 'videokr[video]')")
        return
    from videokr.pipeline.step import run_step

    records = list(ws.store.iter_records("video"))
    report = run_step(ws.store, ProbeVideos(ws.video_root()), records)
    c = report.counts
    console.print(f"[bold]probe[/] {report.seen} videos: {c['accepted']} probed, {c['quarantined']} quarantined, "
                  f"{report.skipped} already done")


def run_demo(out: Path) -> dict[str, Path]:
    sample = sample_dir()
    root = out / "workspace"
    if (root / CONFIG_NAME).is_file():
        ws = Workspace.open(root)
        console.print(f"[bold]workspace[/] {ws.root} (reused: steps skip what is done)")
    else:
        ws = Workspace.init(root, Config(video_root=str(sample.resolve())))
        console.print(f"[bold]workspace[/] {ws.root}")
    store = ws.store

    for name, kind in SAMPLE_FILES:
        report = import_file(store, sample / name, kind, video_root=ws.video_root(), require_video=True)  # type: ignore[arg-type]
        c = report.step.counts
        console.print(f"[bold]import[/] {name}: {c['accepted']} accepted, {c['rejected']} rejected, "
                      f"{report.step.skipped} already imported")
        for reason in report.rejected:
            console.print(f"  [yellow]rejected[/] {reason}")

    probe_videos(ws)

    result = apply_split(store, ratio=ws.config.split.ratio, seed=ws.config.split.seed)
    counts = result.counts()
    console.print(f"[bold]split[/] SFT {counts['sft']} / RL {counts['rl']} examples, grouped by "
                  f"{len(result.video_sets)} videos")

    outputs: dict[str, Path] = {}
    options = ExportOptions(video_root=ws.video_root(), absolute_paths=True)
    for set_name, formats in EXPORTS.items():
        items = (list(store.iter_records("eval_item")) if set_name == "eval" else
                 list(store.iter_records("example", where="json_extract(data, '$.split') = ?", params=(set_name,))))
        for fmt in formats:
            target = out / "exports" / f"{set_name}-{fmt}"
            report = export(items, set_name, fmt, target, options)  # type: ignore[arg-type]
            outputs[f"{set_name}/{fmt}"] = target
            console.print(f"[bold]export[/] {set_name} → {fmt}: {report.written} items in {target}")

    html_path, json_path = write_report(corpus_stats(store), out / "report.html")
    outputs["report"] = html_path
    console.print(f"[bold]stats[/] {html_path} (+ {json_path.name})")
    console.print(f"\n[green]demo done.[/] Outputs are under {out.resolve()}")
    return outputs
