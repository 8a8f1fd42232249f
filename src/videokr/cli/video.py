"""Video verbs: frames, probe, videos probe, decontam, decontam-restore."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from videokr.cli.common import fail, workspace
from videokr.progress import console, progress_bar

videos_app = typer.Typer(help="Work on the workspace's video records.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command("frames")(frames)
    app.command("probe")(probe_cmd)
    app.command("decontam")(decontam)
    app.command("decontam-restore")(decontam_restore)
    videos_app.command("probe")(videos_probe)
    app.add_typer(videos_app, name="videos")


def _print(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")


def frames(
    video: Path = typer.Argument(..., help="video file"),
    fps: float = typer.Option(None, "--fps", help="frames per second, e.g. 0.2"),
    n: int = typer.Option(None, "--n", help="this many frames, uniform over the video"),
    k: int = typer.Option(None, "--k", help="this many random frames (seeded)"),
    at: list[float] = typer.Option(None, "--at", help="seconds; repeat for several"),
    mode: str = typer.Option("exact", "--mode", help="exact | keyframe"),
    seed: int = typer.Option(0, "--seed"),
    width: int = typer.Option(None, "--width", help="resize (with --height)"),
    height: int = typer.Option(None, "--height"),
    out: Path = typer.Option(None, "--out", help="write frames as JPEG here"),
    quality: int = typer.Option(90, "--quality"),
) -> None:
    """Print one JSON line per frame: index, pts_seconds, timestamp (and path with --out)."""
    from videokr.video.probe import VideoError
    from videokr.video.sampling import format_timestamp, sample_frames, to_jpeg_bytes

    if (width is None) != (height is None):
        fail("give both --width and --height, or neither")
    try:
        picked = sample_frames(
            video, fps=fps, n=n, k=k, times=at or None, mode=mode, seed=seed,  # type: ignore[arg-type]
            size=(width, height) if width else None,
        )
    except (VideoError, ValueError) as exc:
        fail(str(exc))
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(picked):
        line = {"index": frame.index, "pts_seconds": round(frame.pts_seconds, 6), "timestamp": format_timestamp(frame.pts_seconds)}
        if out is not None:
            path = out / f"{video.stem}_{i:04d}_{frame.index:06d}.jpg"
            path.write_bytes(to_jpeg_bytes(frame, quality))
            line["path"] = str(path)
        _print(line)


def probe_cmd(video: Path = typer.Argument(..., help="video file")) -> None:
    """Print what a video file holds as JSON (codec, size, rotation, duration, keyframes)."""
    from videokr.video.probe import VideoError, probe, sha256_file

    try:
        info = probe(video)
        _print({**info.as_dict(), "sha256": sha256_file(video)})
    except VideoError as exc:
        fail(str(exc))


def videos_probe(
    ctx: typer.Context,
    retry_quarantined: bool = typer.Option(True, help="retry videos that failed before"),
) -> None:
    """Probe every video record: fill duration_s, fps, width, height, sha256; unreadable files
    are quarantined with their error (resumable; a rerun skips what is done)."""
    from videokr.video.probe_step import ProbeVideos

    ws = workspace(ctx)
    step = ProbeVideos(ws.video_root())
    from videokr.pipeline.step import run_step

    records = list(ws.store.iter_records("video"))
    with progress_bar("probe videos", len(records)) as advance:
        report = run_step(ws.store, step, records, batch_size=50, retry_quarantined=retry_quarantined, on_progress=advance)
    c = report.counts
    console.print(
        f"{report.seen} videos — {c['accepted']} probed, {c['quarantined']} quarantined, "
        f"{report.skipped} already done"
    )
    for entry in ws.store.ledger_entries(step.name):
        if entry.outcome.value == "quarantined":
            console.print(f"  [yellow]quarantined[/] {entry.item_id}: {entry.reason}")


def _refs(spec: Path, side: str, ws_root_hint: Path | None):
    """DIR of videos | a manifest JSONL | a workspace (directory with videokr.yaml)."""
    from videokr.decontam.run import refs_from_store, videos_in_dir, videos_in_manifest
    from videokr.workspace import CONFIG_NAME, Workspace

    if spec.is_dir() and (spec / CONFIG_NAME).is_file():
        ws = Workspace.open(spec)
        return refs_from_store(ws.store, ws.video_root(), side=side), ws
    if spec.is_dir():
        return videos_in_dir(spec), None
    if spec.is_file() and spec.suffix in (".jsonl", ".json"):
        return videos_in_manifest(spec), None
    raise ValueError(f"{spec}: expected a directory of videos, a workspace or a JSONL manifest")


def decontam(
    train: Path = typer.Option(..., "--train", help="training videos: a DIR, a workspace, or a JSONL manifest"),
    bench: Path = typer.Option(..., "--bench", help="benchmark videos: a DIR or a JSONL manifest (path, id, youtube_id)"),
    out: Path = typer.Option(..., "--out", help="report, one JSON line per flagged training video"),
    settings_name: str = typer.Option("paper", "--settings", help="paper (default) | calibrated"),
    cache: Path = typer.Option(None, "--cache", help="hash cache store (default: the training workspace's store)"),
    workers: int = typer.Option(2, "--workers", help="decoding processes"),
) -> None:
    """Appendix A.5: YouTube-ID filter, then near-duplicate windows by 1 fps pHash; flagged
    training videos leave a workspace's training side (see `decontam-restore`)."""
    from videokr.decontam.cache import HashCache
    from videokr.decontam.run import decontaminate, record_in_store, write_report
    from videokr.decontam.settings import SETTINGS
    from videokr.store import Store

    if settings_name not in SETTINGS:
        fail(f"--settings must be one of {', '.join(SETTINGS)}, not {settings_name!r}")
    settings = SETTINGS[settings_name]
    try:
        train_refs, train_ws = _refs(train, "train", None)
        bench_refs, _ = _refs(bench, "bench", None)
    except ValueError as exc:
        fail(str(exc))
    store = Store(cache) if cache else (train_ws.store if train_ws else None)
    total = len(train_refs) + len(bench_refs)
    with progress_bar("hash videos", total) as advance:
        result = decontaminate(
            train_refs, bench_refs, settings=settings, cache=HashCache(store), workers=workers, on_progress=advance
        )
    write_report(result, out)
    console.print(
        f"{len(result.flagged)} of {len(train_refs)} training videos flagged against {len(bench_refs)} benchmark "
        f"videos ({result.cached} hashed before); report: {out}"
    )
    for side, key, error in result.errors:
        console.print(f"  [yellow]unreadable {side} video[/] {key}: {error}")
    if train_ws is not None:
        counts = record_in_store(train_ws.store, result, train_refs, bench_refs, settings)
        console.print(f"ledger step decontam: {counts}")


def decontam_restore(
    ctx: typer.Context,
    video_ids: list[str] = typer.Argument(..., help="training video ids to put back"),
    note: str = typer.Option("restored by user", "--note"),
) -> None:
    """Undo a decontamination flag; the old verdict is kept in the ledger detail."""
    from videokr.decontam.run import restore

    ws = workspace(ctx)
    for vid in video_ids:
        try:
            restore(ws.store, vid, note)
        except KeyError as exc:
            fail(str(exc.args[0]))
        console.print(f"restored {vid}")
