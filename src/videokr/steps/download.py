"""§3.2 download: each candidate video the metadata judge kept becomes a file and a `Video` record.

Item: one YouTube id with at least one live accepted `metadata_relevance` judgement, joined
with its live `YouTubeVideo` metadata (title, channel, licence, URL, duration). The file is
fetched by yt-dlp (`videokr.collect.download`) into the sharded layout
`<out>/youtube/<first two characters>/<id>.mp4` under the workspace, verified (sha256 and a
probe) before it takes its final name, and described by `Video(id="yt-<youtube_id>")` with
the licence, channel and source URL that CC-BY attribution needs.

Outcomes: accepted with the Video; rejected `private`, `removed`, `unavailable` (yt-dlp's
messages), `unreadable` (what arrived is no video); quarantined for anything transient. A
bot check, HTTP 403 or HTTP 429 quarantines the item and backs every later download off
(`videokr.collect.backoff`); after `max_blocks` in a row the step stops cleanly.

Why the async executor with threads: a download is waiting on the network, and yt-dlp is
blocking code, so `workers` downloads run in threads (`asyncio.to_thread`) under one event
loop. The backoff is then one object every download sees, which a process pool could not
share; hashing and probing in those threads release the GIL for the bulk of their work.
The threads lease yt-dlp downloaders from one pool per run (`Downloaders`), built once per
worker rather than once per video, and allowing only the extractors a watch URL needs.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from videokr.collect.backoff import DEFAULT_BACKOFF_MAX_S, DEFAULT_BACKOFF_S, DEFAULT_MAX_BLOCKS, Backoff
from videokr.collect.download import (
    DEFAULT_FORMAT, DEFAULT_RETRIES, DEFAULT_SOCKET_TIMEOUT_S, YOUTUBE_EXTRACTORS, Downloaders, DownloadFailure,
    Fetched, FetchSettings, fetch, video_file, watch_url,
)
from videokr.errors import Verdict
from videokr.hashing import digest_json
from videokr.pipeline.recipe import register
from videokr.pipeline.step import Resources, Result, Step, StepConfig, StepContext
from videokr.records import Video
from videokr.store import Store

STEP = "download"
JUDGE_STEP = "metadata_relevance"  # whose live judgements make a video a candidate
METADATA_STEP = "youtube_videos"  # whose live YouTubeVideo records describe it
DEFAULT_WORKERS = 4  # downloads in flight: enough to fill a home link, few enough not to look like a crawler
DEFAULT_OUT = "videos"  # under the workspace
DEFAULT_SLEEP_MIN_S = 1.0  # a random pause in [min, max] before each download, as a person clicking would
DEFAULT_SLEEP_MAX_S = 5.0


class FetchConfig(StepConfig):
    """Settings every step that downloads shares (download, local_sources' URLs)."""

    RUN_ONLY: ClassVar[frozenset[str]] = StepConfig.RUN_ONLY | {
        "retries", "sleep_min_s", "sleep_max_s", "rate_limit", "cookies", "socket_timeout_s",
        "backoff_s", "backoff_max_s", "max_blocks",
    }

    workers: int = Field(default=DEFAULT_WORKERS, ge=1, description="downloads in flight")  # type: ignore[assignment]
    format: str = Field(default=DEFAULT_FORMAT, description="yt-dlp format selector")
    out: str = Field(default=DEFAULT_OUT, description="folder of downloaded videos, relative to the workspace")
    retries: int = Field(default=DEFAULT_RETRIES, ge=0, description="yt-dlp's retries of one download")
    sleep_min_s: float = Field(default=DEFAULT_SLEEP_MIN_S, ge=0)
    sleep_max_s: float = Field(default=DEFAULT_SLEEP_MAX_S, ge=0)
    rate_limit: int | None = Field(default=None, ge=1, description="bytes per second per download")
    cookies: str | None = Field(default=None, description="a Netscape cookies file (relative to the workspace)")
    socket_timeout_s: float = Field(default=DEFAULT_SOCKET_TIMEOUT_S, gt=0)
    backoff_s: float = Field(default=DEFAULT_BACKOFF_S, ge=0, description="first wait after a bot check, 403 or 429")
    backoff_max_s: float = Field(default=DEFAULT_BACKOFF_MAX_S, ge=0)
    max_blocks: int = Field(default=DEFAULT_MAX_BLOCKS, ge=1, description="refusals in a row that stop the step")

    @model_validator(mode="after")
    def _parallel_downloads(self) -> "FetchConfig":
        """`workers` is the number of downloads in flight, whichever executor runs them."""
        self.concurrency = self.workers
        return self

    def settings(self, root: Path) -> FetchSettings:
        cookies = None
        if self.cookies:
            path = Path(self.cookies)
            cookies = str(path if path.is_absolute() else root / path)
        return FetchSettings(format=self.format, retries=self.retries, sleep_min_s=self.sleep_min_s,
                             sleep_max_s=self.sleep_max_s, rate_limit=self.rate_limit, cookies=cookies,
                             socket_timeout_s=self.socket_timeout_s)

    def out_dir(self, root: Path) -> Path:
        out = Path(self.out)
        return out if out.is_absolute() else root / out


class DownloadItem(BaseModel):
    """What the download of one YouTube video depends on: its id and the metadata its Video carries."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(description="the YouTube id")
    title: str
    channel: str | None = None
    licence: str
    duration_s: float
    url: str = Field(description="the video's page, for attribution")


def stored_path(path: Path, context: StepContext) -> str:
    """A file's path as a Video keeps it: relative to the video root when under it, else absolute."""
    if context.video_root is not None:
        try:
            return path.resolve().relative_to(context.video_root.resolve()).as_posix()
        except ValueError:
            pass
    return path.resolve().as_posix()


class FetchingStep(Step[Any]):
    """What download and local_sources share: one backoff per run, cancellation, threads for yt-dlp,
    and yt-dlp downloaders reused across downloads (building one costs more than a small download)."""

    extractors: ClassVar[tuple[str, ...] | None] = None  # yt-dlp extractors the URLs need; None: all

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._backoff: Backoff | None = None
        self._cancel = threading.Event()
        self._downloaders: Downloaders | None = None
        self._downloaders_lock = threading.Lock()

    @property
    def fetch_config(self) -> FetchConfig:
        assert isinstance(self.config, FetchConfig)
        return self.config

    @property
    def backoff(self) -> Backoff:
        if self._backoff is None:
            c = self.fetch_config
            self._backoff = Backoff(c.backoff_s, c.backoff_max_s, c.max_blocks)
        return self._backoff

    @property
    def downloaders(self) -> Downloaders:
        with self._downloaders_lock:  # the first downloads of a run ask for it from several threads at once
            if self._downloaders is None:
                settings = self.fetch_config.settings(self.context.root)
                self._downloaders = Downloaders(dataclasses.replace(settings, extractors=self.extractors))
            return self._downloaders

    def close_downloaders(self) -> None:
        with self._downloaders_lock:
            downloaders, self._downloaders = self._downloaders, None
        if downloaders is not None:
            downloaders.close()

    def setup(self) -> None:
        self._cancel.clear()

    async def asetup(self) -> None:
        self._cancel.clear()

    async def ateardown(self) -> None:
        self._cancel.set()  # downloads still running in threads (a Stop, an interrupt) give up at their next chunk
        self.close_downloaders()  # their connections; one still leased closes when its download ends

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_backoff"], state["_cancel"] = None, None
        state["_downloaders"], state["_downloaders_lock"] = None, None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._cancel = threading.Event()
        self._downloaders_lock = threading.Lock()

    def fetch_to(self, url: str, target: Path, expected_duration_s: float | None) -> Fetched:
        """Blocking: the backoff's turn, then the download; a refusal counts against the shared backoff."""
        self.backoff.wait()
        return self._fetch(url, target, expected_duration_s)

    async def afetch_to(self, url: str, target: Path, expected_duration_s: float | None) -> Fetched:
        await self.backoff.await_turn()
        return await asyncio.to_thread(self._fetch, url, target, expected_duration_s)

    def _fetch(self, url: str, target: Path, expected_duration_s: float | None) -> Fetched:
        try:
            fetched = fetch(url, target, expected_duration_s=expected_duration_s, cancel=self._cancel,
                            downloaders=self.downloaders)
        except DownloadFailure as exc:
            if exc.kind == "blocked":
                pause = self.backoff.blocked(f"{exc.code}: {exc}")  # raises Stop after max_blocks in a row
                raise BlockedDownload(f"{exc} (every download now waits {pause:g}s)", exc.code) from None
            if exc.kind == "rejected":
                raise Verdict(str(exc), code=exc.code) from None
            raise
        self.backoff.succeeded()
        return fetched


class BlockedDownload(Exception):
    """The source refused this download (bot check, 403, 429): quarantined with its code."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


def failure(exc: Exception) -> Result:
    """A download's failure as an outcome (a Verdict and Stop are raised on to the executor)."""
    if isinstance(exc, BlockedDownload):
        return Result.quarantine(str(exc), code=exc.code)
    if isinstance(exc, DownloadFailure):
        return Result.quarantine(str(exc), code=exc.code)
    raise exc


class DownloadConfig(FetchConfig):
    """The download step's section of videokr.yaml (see FetchConfig)."""


@register
class DownloadStep(FetchingStep):
    name = STEP
    version = "1"
    Config = DownloadConfig
    after = (JUDGE_STEP,)
    reads = "relevance"
    writes = ("video",)
    resources = Resources(kind="cpu")
    extractors = YOUTUBE_EXTRACTORS  # every URL is a YouTube watch URL

    def inputs(self, store: Store) -> list[DownloadItem]:
        wanted = {
            j.video_id for j in store.live_outputs(JUDGE_STEP, "relevance")  # type: ignore[attr-defined]
            if j.judge == "metadata" and j.relevant  # type: ignore[attr-defined]
        }
        items = []
        for meta in store.live_outputs(METADATA_STEP, "youtube_video"):
            if meta.id in wanted:
                items.append(DownloadItem(id=meta.id, title=meta.title,  # type: ignore[attr-defined]
                                          channel=meta.channel_title, licence=meta.licence,  # type: ignore[attr-defined]
                                          duration_s=meta.duration_s, url=meta.url))  # type: ignore[attr-defined]
        return items

    def item_fingerprint(self, item: DownloadItem) -> str:
        return digest_json(item.model_dump(mode="json"))

    def target(self, item: DownloadItem) -> Path:
        return video_file(self.fetch_config.out_dir(self.context.root), "youtube", item.id)

    def video(self, item: DownloadItem, fetched: Fetched) -> Video:
        return Video(id=f"yt-{item.id}", path=stored_path(fetched.path, self.context), source="youtube",
                     licence=item.licence, youtube_id=item.id, channel=item.channel, source_url=item.url,
                     title=item.title, duration_s=fetched.duration_s, sha256=fetched.sha256, width=fetched.width,
                     height=fetched.height, fps=fetched.fps)

    def process(self, item: DownloadItem) -> Result:
        try:
            fetched = self.fetch_to(watch_url(item.id), self.target(item), item.duration_s)
        except (BlockedDownload, DownloadFailure) as exc:
            return failure(exc)
        return Result.accept(self.video(item, fetched), detail={"adopted": fetched.adopted})

    async def aprocess(self, item: DownloadItem) -> Result:
        try:
            fetched = await self.afetch_to(watch_url(item.id), self.target(item), item.duration_s)
        except (BlockedDownload, DownloadFailure) as exc:
            return failure(exc)
        return Result.accept(self.video(item, fetched), detail={"adopted": fetched.adopted})
