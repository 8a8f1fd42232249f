"""Video verbs: `video frames|probe FILE` for one file; `probe` and `decontam` steps of the workspace.

Old spellings stay as hidden aliases: `frames`, `probe FILE`, `videos probe`, `decontam-restore`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from videokr.cli.common import fail, workspace
from videokr.progress import console, progress_bar

videos_app = typer.Typer(help="Work on the workspace's video records.", no_args_is_help=True)
video_app = typer.Typer(help="Look into one video file: its frames with timestamps, what it holds.",
                        no_args_is_help=True)


def register(app: typer.Typer) -> None:
    video_app.command("frames")(frames)
    video_app.command("probe")(probe_cmd)
    app.add_typer(video_app, name="video")
    app.command("probe")(probe_step)
    app.command("decontam")(decontam)
    app.command("frames", hidden=True)(frames)
    app.command("decontam-restore", hidden=True)(decontam_restore)
    videos_app.command("probe")(videos_probe)
    app.add_typer(videos_app, name="videos", hidden=True)


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


def probe_step(
    ctx: typer.Context,
    file: Path = typer.Argument(None, help="(old spelling of `video probe FILE`) one video file"),
    retry_quarantined: bool = typer.Option(True, help="retry videos that failed before"),
) -> None:
    """Probe every video of the workspace (the `probe` step): duration, frame rate, size, sha256.

    Unreadable or truncated files are rejected with the reason; a rerun skips what is done.
    Exits 1 when a video was rejected or quarantined."""
    if file is not None:
        probe_cmd(file)
        return
    videos_probe(ctx, retry_quarantined)


def videos_probe(
    ctx: typer.Context,
    retry_quarantined: bool = typer.Option(True, help="retry videos that failed before"),
) -> None:
    """Probe every video record (hidden alias of `videokr probe`)."""
    from videokr.cli.pipeline import prepare_step, run_one_step

    ws = workspace(ctx)
    step = prepare_step(ws, "probe")
    report = run_one_step(ws, step, label="probe videos", retry_quarantined=retry_quarantined)
    c = report.counts
    console.print(
        f"{report.seen} videos — {c['accepted']} probed, {c['rejected']} rejected, {c['quarantined']} quarantined, "
        f"{report.skipped} already done"
    )
    bad = [e for e in ws.store.ledger_entries(step.name) if e.outcome.value != "accepted"]
    for entry in bad:
        console.print(f"  [yellow]{entry.outcome.value}[/] {entry.item_id}: {entry.reason}")
    if bad:
        raise typer.Exit(1)


def _refs(spec: Path):  # noqa: ANN202
    """A directory of videos or a JSONL manifest."""
    from videokr.decontam.run import videos_in_dir, videos_in_manifest

    if spec.is_dir():
        return videos_in_dir(spec)
    if spec.is_file() and spec.suffix in (".jsonl", ".json"):
        return videos_in_manifest(spec)
    raise ValueError(f"{spec}: expected a directory of videos, a workspace or a JSONL manifest")


def decontam(
    ctx: typer.Context,
    train: Path = typer.Option(None, "--train", help="training videos: a DIR, a JSONL manifest, or a workspace (default: this workspace)"),
    bench: list[Path] = typer.Option(None, "--bench", help="benchmark videos: a DIR or a JSONL manifest (path, id, youtube_id); repeat for several"),
    out: Path = typer.Option(None, "--out", help="report, one JSON line per flagged training video"),
    settings_name: str = typer.Option(None, "--settings", help="calibrated (default) | paper (Appendix A.5 as written)"),
    cache: Path = typer.Option(None, "--cache", help="hash cache store for DIR/manifest runs"),
    workers: int = typer.Option(2, "--workers", help="decoding processes"),
    restore: list[str] = typer.Option(None, "--restore", help="overrule the flag on this training video (repeat)"),
    note: str = typer.Option("restored by user", "--note", help="why, kept with the restore"),
) -> None:
    """Appendix A.5: YouTube-ID filter, then near-duplicate windows by 1 fps pHash.

    In a workspace this is the `decontam` step: the benchmark side is every video of the
    imported benchmark items plus --bench; flagged training videos leave the split and every
    export. Exits 1 when the check is incomplete (a video could not be read)."""
    from videokr.decontam.settings import DEFAULT_SETTINGS, SETTINGS
    from videokr.workspace import CONFIG_NAME

    if settings_name is not None and settings_name not in SETTINGS:
        fail(f"--settings must be one of {', '.join(SETTINGS)}, not {settings_name!r}")
    if train is not None and not (train.is_dir() and (train / CONFIG_NAME).is_file()):
        if not bench:
            fail("--bench is needed when --train is a directory or manifest")
        if out is None:
            fail("--out is needed when --train is a directory or manifest")
        _decontam_files(train, bench, out, SETTINGS[settings_name or DEFAULT_SETTINGS], cache, workers)
        return
    if train is not None:
        ctx.find_root().obj = {**(ctx.find_root().obj or {}), "workspace": train}
    ws = workspace(ctx)
    if restore:
        _restore(ws, restore, note)
        return
    overrides: dict = {"workers": workers}
    if bench:
        overrides["bench"] = [*ws.config.step_section("decontam").get("bench", []), *(str(b.resolve()) for b in bench)]
    if settings_name:
        overrides["settings"] = settings_name
    from videokr.cli.pipeline import prepare_step
    from videokr.pipeline.runner import run_step

    step = prepare_step(ws, "decontam", **overrides)
    with progress_bar("decontaminate", None):
        report = run_step(ws.store, step)
    entries = ws.store.ledger_entries(step.name)
    flagged = [e for e in entries if e.outcome.value == "rejected"]
    console.print(f"{report.seen} training videos — {len(flagged)} flagged, "
                  f"{sum(e.outcome.value == 'accepted' for e in entries)} cleared, "
                  f"{sum(e.outcome.value == 'quarantined' for e in entries)} not checked "
                  f"({report.skipped} unchanged since the last check)")
    for entry in flagged[:20]:
        console.print(f"  [yellow]flagged[/] {entry.item_id}: {entry.reason}")
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w", encoding="utf-8") as handle:
            for entry in flagged:
                handle.write(json.dumps({"train_video": entry.item_id, "code": entry.code, "reason": entry.reason,
                                         **(entry.detail or {})}, ensure_ascii=False, sort_keys=True) + "\n")
        console.print(f"report: {out}")
    quarantined = [e for e in entries if e.outcome.value == "quarantined"]
    if quarantined:
        fail(f"the check is incomplete: {quarantined[0].reason}")



def _decontam_files(train: Path, bench: list[Path], out: Path, settings, cache: Path | None, workers: int) -> None:  # noqa: ANN001
    """Directories or manifests on both sides, no workspace: report only."""
    from videokr.decontam.cache import HashCache
    from videokr.decontam.run import decontaminate, write_report
    from videokr.store import Store

    try:
        train_refs = _refs(train)
        bench_refs = [ref for spec in bench for ref in _refs(spec)]
    except ValueError as exc:
        fail(str(exc))
    total = len(train_refs) + len(bench_refs)
    with progress_bar("hash videos", total) as advance:
        result = decontaminate(train_refs, bench_refs, settings=settings, cache=HashCache(Store(cache) if cache else None),
                               workers=workers, on_progress=advance)
    write_report(result, out)
    console.print(f"{len(result.flagged)} of {len(train_refs)} training videos flagged against {len(bench_refs)} "
                  f"benchmark videos ({result.cached} hashed before); report: {out}")
    for side, key, error in result.errors:
        console.print(f"  [yellow]unreadable {side} video[/] {key}: {error}")
    if result.errors:
        fail(f"the check is incomplete: {len(result.errors)} video(s) could not be read")


def _restore(ws, video_ids: list[str], note: str) -> None:  # noqa: ANN001
    from videokr.steps.decontam import restore

    for vid in video_ids:
        try:
            restore(ws.store, vid, note)
        except KeyError as exc:
            fail(str(exc.args[0]))
        console.print(f"restored {vid}: the next decontam run against the same benchmark videos clears it")


def decontam_restore(
    ctx: typer.Context,
    video_ids: list[str] = typer.Argument(..., help="training video ids to put back"),
    note: str = typer.Option("restored by user", "--note"),
) -> None:
    """Undo a decontamination flag (hidden alias of `decontam --restore ID`)."""
    decontam(ctx, train=None, bench=None, out=None, settings_name=None, cache=None, workers=2, restore=video_ids,
             note=note)
