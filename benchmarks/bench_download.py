"""The download step's throughput over loopback, against a plain parallel copy of the same URLs.

    python benchmarks/bench_download.py                                # three cases, 8 in flight, 3 runs each
    python benchmarks/bench_download.py FILES MB [WORKERS] [RUNS]      # one case

The cases: 32 files of ~3 MB and 16 of ~12 MB (where per-file costs dominate) and 8 of ~50 MB
(where the cost per byte does). Both sides fetch the same real MP4 files from the loopback
media server, `WORKERS` at a time, `RUNS` times each, alternating; medians are printed:

- step: `run_step` of the `download` step (yt-dlp per file: its probe GET and the download,
  then sha256, a PyAV probe, fsync and the atomic rename; ledger, lineage and Video records),
  into a fresh workspace each run, so building its yt-dlp downloaders (one per worker) is timed;
- baseline: `urllib` + `shutil.copyfileobj` into files in `WORKERS` threads — what the
  loopback link and the disk allow when nothing else is done with the bytes.

The issue's target: N parallel downloads saturate the disk or the loopback link, not Python —
a ratio near 1. The ratio printed is step MB/s ÷ baseline MB/s (of the medians).
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import shutil
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

from videokr.collect.download import WATCH_URL_ENV, FetchSettings, fetch
from videokr.pipeline.runner import run_step
from videokr.pipeline.step import Result, Step, StepContext
from videokr.records import Record, RelevanceJudgement, YouTubeVideo
from videokr.steps.download import DownloadConfig, DownloadStep
from videokr.store import Store
from videokr.testing.media_server import MediaServer
from videokr.video.synth import write_video


class _Seed(Step[Record]):
    source = True

    def item_fingerprint(self, item: Record) -> str:
        return item.to_json()

    def process(self, item: Record) -> Result:
        return Result.accept(item)


class SeedVideos(_Seed):
    name = "youtube_videos"


class SeedJudgements(_Seed):
    name = "metadata_relevance"


def make_media(folder: Path, files: int, mb: float) -> tuple[list[str], int]:
    """`files` copies of one noisy MP4 of about `mb` megabytes, under YouTube-shaped ids."""
    rng = np.random.default_rng(0)
    frames = max(10, int(mb * 1e6 / 60_000))  # noise at 320x240 costs ~60 kB a frame
    source = folder / "source.mp4"
    write_video(source, (rng.integers(0, 255, (240, 320, 3), dtype=np.uint8) for _ in range(frames)), fps=25,
                options={"movflags": "faststart", "crf": "18"})
    (folder / "yt").mkdir()
    ids = [f"vid{i:08d}" for i in range(files)]
    for youtube_id in ids:
        shutil.copyfile(source, folder / "yt" / f"{youtube_id}.mp4")
    return ids, source.stat().st_size


def baseline(urls: list[str], out: Path, workers: int) -> float:
    out.mkdir()

    def copy(index_url: tuple[int, str]) -> None:
        index, url = index_url
        with urllib.request.urlopen(url, timeout=60) as response, (out / f"{index}.mp4").open("wb") as handle:
            shutil.copyfileobj(response, handle, 1 << 20)

    started = time.perf_counter()
    with cf.ThreadPoolExecutor(workers) as pool:
        list(pool.map(copy, enumerate(urls)))
    return time.perf_counter() - started


def step_run(ids: list[str], workspace: Path, workers: int, duration_s: float) -> tuple[float, int]:
    """Seconds the download step took on a fresh workspace, and how many yt-dlp downloaders it built."""
    store = Store(workspace / "videokr.sqlite")
    run_step(store, SeedVideos(), items=[
        YouTubeVideo(id=i, title=i, channel_title="bench", duration_s=duration_s, licence="creativeCommon",
                     url=f"https://www.youtube.com/watch?v={i}") for i in ids])
    run_step(store, SeedJudgements(), items=[
        RelevanceJudgement(id=f"metadata:{i}:s", judge="metadata", video_id=i, knowledge_point_id="kp",
                           scenario_id="s", relevant=True) for i in ids])
    step = DownloadStep(DownloadConfig(workers=workers, sleep_min_s=0, sleep_max_s=0), StepContext(root=workspace))
    downloaders = step.downloaders  # the run uses (and at its end closes) this pool
    started = time.perf_counter()
    report = run_step(store, step)
    took = time.perf_counter() - started
    if report.counts["accepted"] != len(ids):
        raise SystemExit(f"the step accepted {report.counts['accepted']} of {len(ids)}: {report.line()}")
    return took, downloaders.built


def case(files: int, mb: float, workers: int, runs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "media").mkdir()
        ids, size = make_media(root / "media", files, mb)
        from videokr.video.probe import probe

        duration = probe(root / "media" / "source.mp4").duration_s
        total_mb = size * files / 1e6
        print(f"{files} files of {size / 1e6:.2f} MB ({total_mb:.0f} MB), {workers} in flight, loopback, "
              f"{os.cpu_count()} cores, median of {runs} runs")
        base_times: list[float] = []
        step_times: list[float] = []
        built = 0
        with MediaServer(root / "media") as server:
            os.environ[WATCH_URL_ENV] = f"{server.base_url}/yt/{{id}}.mp4"
            urls = [server.url(f"yt/{i}.mp4") for i in ids]
            started = time.perf_counter()  # yt-dlp compiles every extractor's URL pattern once per process
            fetch(server.url("source.mp4"), root / "warm" / "source.mp4", FetchSettings())
            warm_s = time.perf_counter() - started
            for run in range(runs):
                base_times.append(baseline(urls, root / f"baseline{run}", workers))
                shutil.rmtree(root / f"baseline{run}")
                took, built = step_run(ids, root / f"workspace{run}", workers, duration)
                step_times.append(took)
                shutil.rmtree(root / f"workspace{run}")
            server.settle()
            gets = sum(server.count(f"yt/{i}.mp4") for i in ids) / runs - len(ids)  # less the baseline's one a file
        base_s, step_s = statistics.median(base_times), statistics.median(step_times)
        base_rate, step_rate = total_mb / base_s, total_mb / step_s
        print(f"  baseline (urllib + copyfileobj, {workers} threads):   {base_s:6.2f} s  {base_rate:7.1f} MB/s  "
              f"(best {total_mb / min(base_times):.1f})")
        print(f"  download step (yt-dlp, sha256, probe, fsync, store): {step_s:6.2f} s  {step_rate:7.1f} MB/s  "
              f"(best {total_mb / min(step_times):.1f})  {files / step_s:5.1f} videos/s")
        print(f"  ratio step/baseline: {step_rate / base_rate:.2f}  (step GETs per file: {gets / files:.1f}; yt-dlp "
              f"downloaders built per run: {built}; yt-dlp's one-time start in the process, not timed: {warm_s:.2f} s)")


CASES = ((32, 3.0), (16, 12.0), (8, 50.0))


def main(argv: list[str]) -> None:
    workers = int(argv[2]) if len(argv) > 2 else 8
    runs = int(argv[3]) if len(argv) > 3 else 3
    cases = [(int(argv[0]), float(argv[1]) if len(argv) > 1 else 3.0)] if argv else list(CASES)
    for files, mb in cases:
        case(files, mb, workers, runs)


if __name__ == "__main__":
    main(sys.argv[1:])
