"""§3.2's YouTube search as two steps: `youtube_search` (keyword → hits) and `youtube_videos` (id → metadata).

`youtube_search` takes each live `SearchKeyword` and keeps the top-10 Creative Commons
videos of its search as `SearchHit`s (`<keyword_id>:<youtube_id>`): the link keyword →
scenario → knowledge point → video. A keyword with no results is accepted with no hits.

`youtube_videos` takes one item per YouTube id among the live hits — a video several
keywords found is listed once, and stays linked to all their scenarios through its hits —
and asks `videos.list` about up to 50 of them per call. It keeps a `YouTubeVideo` or
rejects the id: `live` (a live or upcoming stream), `not_cc` (licence not Creative Commons),
`bad_duration` (unreadable duration), `too_long` (over 30 minutes), `not_found` (removed or
made private since the search) or `malformed` (the reply's entry lacks a field).

Both charge every call to the workspace's daily quota (`youtube.quota`, 100 units per
search page, 1 per videos.list call) before sending it. When the budget would be exceeded
or the API answers `quotaExceeded`, the step stops (`errors.Stop`): what finished is kept,
the rest stays pending, and the message says when the quota resets. A refused key stops
the step too; a 5xx or a timeout is retried with backoff and then quarantines the item.

The key (`YOUTUBE_API_KEY`) is read when the step starts work; it is in no fingerprint, no
record, no ledger row and no message. Both steps keep their quota in the store, so they
run in the driver (the local executor).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from videokr.errors import Stop
from videokr.hashing import digest_parts
from videokr.pipeline.recipe import register
from videokr.pipeline.step import ExecutorName, Result, Step, StepConfig
from videokr.records import _YOUTUBE_ID, SearchHit, SearchKeyword, YouTubeVideo
from videokr.store import Store
from videokr.youtube.client import (
    DEFAULT_BACKOFF_BASE_S,
    DEFAULT_BACKOFF_MAX_S,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_TIMEOUT_S,
    YouTubeClient,
    api_key_from_env,
    api_url_from_env,
)
from videokr.youtube.cache import ResponseCache
from videokr.youtube.durations import parse_duration
from videokr.youtube.quota import (
    DEFAULT_DAILY_QUOTA,
    VIDEOS_PER_CALL,
    VIDEOS_UNITS,
    QuotaLedger,
    QuotaMeter,
    utc_now,
)

TOP_K = 10  # §3.2: the top-10 candidate videos per keyword
MAX_DURATION_S = 30 * 60.0  # §3.2: videos over 30 minutes are excluded
CC_LICENCE = "creativeCommon"  # §3.2: Creative Commons only (status.license)
LIVE_STATES = frozenset({"live", "upcoming"})  # snippet.liveBroadcastContent of a stream
WATCH_URL = "https://www.youtube.com/watch?v={}"


class YouTubeConfig(StepConfig):
    """What both steps share: the daily budget and how hard to try; none of it changes an output."""

    RUN_ONLY: ClassVar[frozenset[str]] = StepConfig.RUN_ONLY | {
        "daily_quota", "timeout_s", "max_attempts", "backoff_base_s", "backoff_max_s"}

    executor: Literal["local"] | None = Field(default=None, description="local only: the quota is kept in the store")
    daily_quota: int = Field(default=DEFAULT_DAILY_QUOTA, ge=1, description="units a Pacific-time day may spend")
    timeout_s: float = Field(default=DEFAULT_TIMEOUT_S, gt=0, description="per request")
    max_attempts: int = Field(default=DEFAULT_MAX_ATTEMPTS, ge=1, description="sends per request on 5xx or timeout")
    backoff_base_s: float = Field(default=DEFAULT_BACKOFF_BASE_S, ge=0)
    backoff_max_s: float = Field(default=DEFAULT_BACKOFF_MAX_S, ge=0)


class SearchConfig(YouTubeConfig):
    top_k: int = Field(default=TOP_K, ge=1, le=50, description="videos kept per keyword")


class VideosConfig(YouTubeConfig):
    RUN_ONLY: ClassVar[frozenset[str]] = YouTubeConfig.RUN_ONLY | {"batch_size"}

    max_duration_s: float = Field(default=MAX_DURATION_S, gt=0, description="longer videos are rejected (too_long)")
    batch_size: int = Field(default=VIDEOS_PER_CALL, ge=1, le=VIDEOS_PER_CALL, description="ids per videos.list call")


class VideoCandidate(BaseModel):
    """One YouTube id some live search hit names: the item of `youtube_videos`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(description="the YouTube id")


class _YouTubeStep(Step[Any]):
    """Opening the client and the quota ledger, and the dry run, for both steps."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.clock = utc_now  # tests set another clock to cross a Pacific midnight
        self.meter = QuotaMeter()
        self._quota: QuotaLedger | None = None
        self._client: YouTubeClient | None = None

    @property
    def dry_run(self) -> bool:
        return bool(self.context.settings.get("dry_run"))

    def default_executor(self) -> ExecutorName:
        return "local"

    def setup(self) -> None:
        """Open the run's quota ledger and client; a missing key stops the step, naming YOUTUBE_API_KEY."""
        if self.dry_run:
            return
        if self.context.store is None:
            raise RuntimeError(f"step {self.name} keeps its YouTube quota in the store; run it in the driver")
        config = self.config
        assert isinstance(config, YouTubeConfig)
        self.close()
        self._quota = QuotaLedger(self.context.store, step=self.name, daily_quota=config.daily_quota,
                                  clock=lambda: self.clock())
        self._client = YouTubeClient(api_key_from_env(), base_url=api_url_from_env(), quota=self._quota,
                                     cache=ResponseCache(self.context.store),
                                     timeout_s=config.timeout_s, max_attempts=config.max_attempts,
                                     backoff_base_s=config.backoff_base_s, backoff_max_s=config.backoff_max_s)

    def client(self) -> YouTubeClient:
        """The run's client (opened by `setup`, once per run: one connection pool for every item)."""
        if self._client is None:
            self.setup()
        assert self._client is not None
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_client": None, "_quota": None}  # a client holds the key and sockets

    def stopped(self, exc: Stop) -> Stop:
        """The same stop, saying what happens to the rest of the step's items."""
        return type(exc)(f"{self.name} stopped: {exc}. Items not yet done stay pending; run again to continue.")

    def dry_run_cost(self, items: Sequence[Any]) -> dict[str, int]:
        """The calls and quota units a real run over `items` would spend (nothing is sent)."""
        meter = QuotaMeter()
        self.count(meter, items)
        return meter.as_dict()

    def count(self, meter: QuotaMeter, items: Sequence[Any]) -> None:
        raise NotImplementedError


@register
class YouTubeSearchStep(_YouTubeStep):
    name = "youtube_search"
    version = "1"
    Config = SearchConfig
    after = ("search_keywords",)
    reads = "search_keyword"
    writes = ("search_hit",)

    def item_fingerprint(self, item: SearchKeyword) -> str:
        # what the search sends and what its hits carry; not the model that wrote the keyword
        return digest_parts(item.text, item.scenario_id, item.knowledge_point_id)

    def count(self, meter: QuotaMeter, items: Sequence[Any]) -> None:
        meter.search_calls += len(items)  # one page of top_k results per keyword when the API fills it

    def process(self, item: SearchKeyword) -> Result:
        if self.dry_run:
            self.count(self.meter, [item])
            return Result.quarantine("dry run: nothing sent", code="dry_run")
        config = self.config
        assert isinstance(config, SearchConfig)
        client = self.client()
        calls, units = client.calls, client.units
        try:
            found = client.search(item.text, config.top_k)
        except Stop as exc:
            raise self.stopped(exc) from None
        hits: list[SearchHit] = []
        seen: set[str] = set()
        malformed = 0
        for entry in found:
            if entry.youtube_id is None or not _YOUTUBE_ID.match(entry.youtube_id):
                malformed += 1
                continue
            if entry.youtube_id in seen:
                continue
            seen.add(entry.youtube_id)
            hits.append(SearchHit(id=f"{item.id}:{entry.youtube_id}", keyword_id=item.id,
                                  scenario_id=item.scenario_id, knowledge_point_id=item.knowledge_point_id,
                                  youtube_id=entry.youtube_id, rank=entry.rank, query=item.text))
        detail = {"quota_units": client.units - units, "calls": client.calls - calls, "results": len(found),
                  "hits": len(hits)}
        if malformed:
            detail["malformed"] = malformed
        return Result.accept(*hits, detail=detail)


@register
class YouTubeVideosStep(_YouTubeStep):
    name = "youtube_videos"
    version = "1"
    Config = VideosConfig
    after = ("youtube_search",)
    reads = "search_hit"
    writes = ("youtube_video",)

    def inputs(self, store: Store) -> Iterator[VideoCandidate]:
        ids = sorted({hit.youtube_id for hit in store.live_outputs(self.after, "search_hit")})  # type: ignore[attr-defined]
        return (VideoCandidate(id=youtube_id) for youtube_id in ids)

    def item_fingerprint(self, item: VideoCandidate) -> str:
        return digest_parts(item.id)

    def count(self, meter: QuotaMeter, items: Sequence[Any]) -> None:
        meter.video_ids += len(items)
        assert isinstance(self.config, VideosConfig)
        meter.videos_per_call = self.config.batch_size

    def process(self, item: VideoCandidate) -> Result:
        return self.process_batch([item])[0]

    def process_batch(self, items: Sequence[VideoCandidate]) -> Sequence[Result]:
        if self.dry_run:
            self.count(self.meter, items)
            return [Result.quarantine("dry run: nothing sent", code="dry_run") for _ in items]
        try:
            entries = self.client().videos([item.id for item in items])
        except Stop as exc:
            raise self.stopped(exc) from None
        wanted = {item.id for item in items}
        by_id: dict[str, Any] = {}
        anonymous = 0
        for entry in entries:
            youtube_id = entry.get("id") if isinstance(entry, dict) else None
            if not isinstance(youtube_id, str):
                anonymous += 1
            elif youtube_id in wanted:
                by_id.setdefault(youtube_id, entry)
        detail = {"quota_units": VIDEOS_UNITS, "shared_by": len(items)}
        results = []
        for item in items:
            entry = by_id.get(item.id)
            if entry is not None:
                results.append(self.judge(item.id, entry, detail))
            elif anonymous:
                results.append(Result.reject(
                    f"video {item.id}: not in the videos.list reply, which held {anonymous} entr"
                    f"{'y' if anonymous == 1 else 'ies'} without an id", code="malformed", detail=detail))
            else:
                results.append(Result.reject(f"video {item.id}: not found by videos.list (removed or made private "
                                             "since the search)", code="not_found", detail=detail))
        return results

    def judge(self, youtube_id: str, entry: dict[str, Any], detail: dict[str, Any]) -> Result:
        """One videos.list entry → the YouTubeVideo, or the reason it leaves the corpus."""
        config = self.config
        assert isinstance(config, VideosConfig)
        snippet, details, status = (entry.get(k) for k in ("snippet", "contentDetails", "status"))
        for name, part in (("snippet", snippet), ("contentDetails", details), ("status", status)):
            if not isinstance(part, dict):
                return Result.reject(f"video {youtube_id}: the videos.list entry has no {name}", code="malformed",
                                     detail=detail)
        live = str(snippet.get("liveBroadcastContent") or "none")
        if live in LIVE_STATES:
            return Result.reject(f"video {youtube_id}: a {live} stream, not a recorded video", code="live",
                                 detail=detail)
        licence = status.get("license")
        if licence != CC_LICENCE:
            return Result.reject(f"video {youtube_id}: licence {licence!r} is not Creative Commons", code="not_cc",
                                 detail=detail)
        try:
            duration_s = parse_duration(details.get("duration"))  # type: ignore[arg-type]
        except ValueError as exc:
            return Result.reject(f"video {youtube_id}: {exc}", code="bad_duration", detail=detail)
        if duration_s > config.max_duration_s:
            return Result.reject(f"video {youtube_id}: {duration_s / 60:.1f} min is over the "
                                 f"{config.max_duration_s / 60:g}-minute limit", code="too_long", detail=detail)
        title = snippet.get("title")
        if not isinstance(title, str):
            return Result.reject(f"video {youtube_id}: the videos.list entry has no title", code="malformed",
                                 detail=detail)
        video = YouTubeVideo(
            id=youtube_id, title=title, description=_text(snippet.get("description")),
            channel_id=_text(snippet.get("channelId")) or None, channel_title=_text(snippet.get("channelTitle")) or None,
            duration_s=duration_s, licence=licence, live_status=live,
            published_at=_text(snippet.get("publishedAt")) or None, url=WATCH_URL.format(youtube_id),
        )
        return Result.accept(video, detail=detail)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""

