"""§3.2's YouTube search: durations, quota, the client's answers and both steps on the real runner.

Every test talks real HTTP to the loopback stand-in of the YouTube Data API
(`videokr.testing.youtube_server`); the steps run through `run_step` on a real store.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from videokr.errors import Stop
from videokr.pipeline.runner import pending_count, run_step
from videokr.pipeline.step import Result, Step, StepContext
from videokr.records import Outcome, SearchKeyword
from videokr.steps.youtube_search import (
    CC_LICENCE,
    MAX_DURATION_S,
    TOP_K,
    SearchConfig,
    VideosConfig,
    YouTubeSearchStep,
    YouTubeVideosStep,
)
from videokr.store import Store
from videokr.testing.youtube_server import FakeVideo, YouTubeServer
from videokr.youtube import client as yt_client
from videokr.youtube import quota as yt_quota
from videokr.youtube.client import BadKey
from videokr.youtube.durations import parse_duration
from videokr.youtube.quota import QuotaExhausted, QuotaLedger, describe_reset, next_reset, quota_day

UTC = timezone.utc
KEY = "test-youtube-key-0123456789"
FAST = {"backoff_base_s": 0.001, "backoff_max_s": 0.005, "timeout_s": 2.0}


class SeedKeywords(Step[SearchKeyword]):
    """A source standing in for the `search_keywords` step: the keywords it is given become its outputs."""

    name = "search_keywords"
    source = True
    writes = ("search_keyword",)

    def process(self, item: SearchKeyword) -> Result:
        return Result.accept(item)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def yid(n: int, prefix: str = "v") -> str:
    """An 11-character YouTube-shaped id."""
    return f"{prefix}{n:010d}"[:11]


def keyword(n: int, text: str) -> SearchKeyword:
    return SearchKeyword(id=f"kp{n}:s1:k1", scenario_id=f"kp{n}:s1", knowledge_point_id=f"kp{n}", text=text)


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2025, 6, 1, 12, 0, tzinfo=UTC))


def make_server(videos: list[FakeVideo], **kwargs: object) -> YouTubeServer:
    return YouTubeServer(videos, api_key=KEY, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    monkeypatch.setenv("YOUTUBE_API_KEY", KEY)
    yield monkeypatch


def point(env: pytest.MonkeyPatch, server: YouTubeServer) -> None:
    env.setenv("VIDEOKR_YOUTUBE_API_URL", server.url)


def search_step(store: Store, clock: Clock, **config: object) -> YouTubeSearchStep:
    step = YouTubeSearchStep(SearchConfig(**{**FAST, **config}), StepContext(store=store))
    step.clock = clock
    return step


def videos_step(store: Store, clock: Clock, **config: object) -> YouTubeVideosStep:
    step = YouTubeVideosStep(VideosConfig(**{**FAST, **config}), StepContext(store=store))
    step.clock = clock
    return step


def seed(store: Store, keywords: list[SearchKeyword]) -> None:
    run_step(store, SeedKeywords(), items=keywords)


# -- the paper's parameters and the API's constants ------------------------------------


def test_named_constants() -> None:
    assert TOP_K == 10
    assert MAX_DURATION_S == 1800.0
    assert CC_LICENCE == "creativeCommon"
    assert yt_quota.SEARCH_UNITS == 100
    assert yt_quota.VIDEOS_UNITS == 1
    assert yt_quota.VIDEOS_PER_CALL == 50
    assert yt_quota.DEFAULT_DAILY_QUOTA == 10_000
    assert yt_quota.QUOTA_TIMEZONE == "America/Los_Angeles"
    assert yt_client.DEFAULT_API_URL == "https://www.googleapis.com/youtube/v3"
    assert yt_client.API_KEY_ENV == "YOUTUBE_API_KEY"
    assert yt_client.API_URL_ENV == "VIDEOKR_YOUTUBE_API_URL"
    assert SearchConfig().top_k == TOP_K and SearchConfig().daily_quota == 10_000
    assert VideosConfig().max_duration_s == MAX_DURATION_S and VideosConfig().batch_size == 50


# -- ISO 8601 durations ------------------------------------------------------------------


@pytest.mark.parametrize(("text", "seconds"), [
    ("PT1H2M3S", 3723.0), ("PT45S", 45.0), ("P1DT2H", 93_600.0), ("PT0S", 0.0), ("P0D", 0.0),
    ("PT1.5S", 1.5), ("PT2M0,25S", 120.25), ("PT30M", 1800.0), ("PT10H", 36_000.0), ("P1W", 604_800.0),
    ("PT1H30S", 3630.0), ("PT59M59.999S", 3599.999),
])
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "P", "PT", "P1DT", "PT1H2X", "1H", "PT-5S", "PT1.S", "PTS", "PT1M1H",
                                  "P1Y", "P2M", "PT5", "1 hour", "P1.5D"])
def test_unreadable_duration_raises(text: str) -> None:
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_duration(text)


# -- the Pacific-time day ---------------------------------------------------------------


def test_quota_day_and_reset_follow_pacific_time() -> None:
    # 07:30 UTC on 9 March 2025 is 23:30 PST on the 8th; midnight PST is 08:00 UTC
    before = datetime(2025, 3, 9, 7, 30, tzinfo=UTC)
    assert quota_day(before) == date(2025, 3, 8)
    assert next_reset(before) == datetime(2025, 3, 9, 8, 0, tzinfo=UTC)
    assert describe_reset(before) == "2025-03-09 08:00 UTC, in 30 min"
    # after the switch to daylight saving time, midnight PDT is 07:00 UTC
    after = datetime(2025, 3, 9, 12, 0, tzinfo=UTC)
    assert quota_day(after) == date(2025, 3, 9)
    assert next_reset(after) == datetime(2025, 3, 10, 7, 0, tzinfo=UTC)
    assert describe_reset(after) == "2025-03-10 07:00 UTC, in 19 h 0 min"
    assert quota_day(datetime(2025, 6, 1, 6, 59)) == date(2025, 5, 31)  # naive datetimes are UTC


def test_quota_ledger_counts_per_day_and_refuses_past_budget(store: Store) -> None:
    clock = Clock(datetime(2025, 6, 1, 18, 0, tzinfo=UTC))
    ledger = QuotaLedger(store, step="youtube_search", daily_quota=250, clock=clock)
    ledger.charge(100)
    ledger.charge(100)
    QuotaLedger(store, step="youtube_videos", daily_quota=250, clock=clock).charge(1)
    assert ledger.spent() == 201
    assert ledger.spent_by_step() == {"youtube_search": 200, "youtube_videos": 1}
    with pytest.raises(QuotaExhausted, match=r"201 of 250 units.*resets at midnight Pacific time: 2025-06-02 07:00 UTC"):
        ledger.charge(100)
    assert ledger.spent() == 201  # a refused call is not counted
    clock.now = datetime(2025, 6, 2, 7, 0, tzinfo=UTC)  # midnight PDT: a new day
    ledger.charge(100)
    assert ledger.spent() == 100 and ledger.spent(date(2025, 6, 1)) == 201
    # kept in the store file: another process sees it
    again = QuotaLedger(Store(store.path), step="youtube_search", daily_quota=250, clock=clock)
    assert again.spent() == 100


# -- both steps over a catalogue ----------------------------------------------------------


def catalogue() -> list[FakeVideo]:
    kw1, kw2 = ("photosynthesis",), ("leaf stomata",)
    return [
        FakeVideo(yid(1), title="Photosynthesis explained", channel_title="Bio Channel", duration="PT5M3S",
                  keywords=kw1, description="light and dark reactions"),
        FakeVideo(yid(2), duration="PT31M", keywords=kw1),  # too long
        FakeVideo(yid(3), duration="PT30M", keywords=kw1),  # exactly 30 minutes: kept
        FakeVideo(yid(4), license="youtube", search_license="creativeCommon", keywords=kw1),  # licence changed
        FakeVideo(yid(5), live="live", duration="P0D", keywords=kw1),
        FakeVideo(yid(6), live="upcoming", duration="P0D", keywords=kw1),
        FakeVideo(yid(7), removed=True, keywords=kw1),  # gone between search and list
        FakeVideo(yid(8), fault="bad_duration", keywords=kw1),
        FakeVideo(yid(9), title="Stomata and photosynthesis", duration="PT12M", keywords=kw1 + kw2),
        FakeVideo(yid(10), duration="PT1H", license="youtube", keywords=kw1),  # not CC: search never shows it
        FakeVideo(yid(11), duration="PT2M", keywords=kw2),
    ]


def test_search_and_videos_through_the_runner(store: Store, env: pytest.MonkeyPatch, clock: Clock) -> None:
    keywords = [keyword(1, "photosynthesis"), keyword(2, "leaf stomata"), keyword(3, "nothing matches this")]
    seed(store, keywords)
    with make_server(catalogue()) as server:
        point(env, server)
        search = search_step(store, clock)
        report = run_step(store, search)
        assert report.counts["accepted"] == 3 and report.written == 9 + 2

        hits = {h.id: h for h in store.live_outputs("youtube_search", "search_hit")}
        k1 = keywords[0].id
        assert {h.youtube_id for h in hits.values() if h.keyword_id == k1} == {yid(i) for i in range(1, 10)}
        first = hits[f"{k1}:{yid(1)}"]
        assert (first.rank, first.query, first.scenario_id, first.knowledge_point_id) == (
            1, "photosynthesis", "kp1:s1", "kp1")
        assert sorted(h.rank for h in hits.values() if h.keyword_id == k1) == list(range(1, 10))
        # the empty search is a fact: accepted, no hits
        empty = store.ledger_get("youtube_search", keywords[2].id)
        assert empty is not None and empty.outcome is Outcome.ACCEPTED and empty.detail["hits"] == 0
        assert empty.detail["quota_units"] == 100

        for call in server.calls("/search"):
            assert call.params["part"] == "snippet" and call.params["type"] == "video"
            assert call.params["videoLicense"] == "creativeCommon" and call.params["maxResults"] == "10"
            assert call.key_given

        videos = videos_step(store, clock)
        report = run_step(store, videos)
        assert report.seen == 10  # 9 + 2 hits, one video found by both keywords
        assert len(server.calls("/videos")) == 1
        listed = server.calls("/videos")[0].params
        assert listed["part"] == "snippet,contentDetails,status" and len(listed["id"].split(",")) == 10

        assert store.rejection_reasons("youtube_videos") == {
            "too_long": 1, "not_cc": 1, "live": 2, "not_found": 1, "bad_duration": 1}
        kept = {v.id: v for v in store.live_outputs("youtube_videos", "youtube_video")}
        assert set(kept) == {yid(1), yid(3), yid(9), yid(11)}
        v1 = kept[yid(1)]
        assert (v1.title, v1.channel_title, v1.duration_s, v1.licence, v1.live_status, v1.description) == (
            "Photosynthesis explained", "Bio Channel", 303.0, "creativeCommon", "none", "light and dark reactions")
        assert v1.url == f"https://www.youtube.com/watch?v={yid(1)}"
        assert kept[yid(3)].duration_s == 1800.0
        # one video, linked to both keywords' scenarios through its hits
        shared = [h for h in hits.values() if h.youtube_id == yid(9)]
        assert sorted(h.scenario_id for h in shared) == ["kp1:s1", "kp2:s1"]
        assert store.ledger_get("youtube_videos", yid(2)).reason.endswith("over the 30-minute limit")

        ledger = QuotaLedger(store, step="youtube_search", clock=clock)
        assert ledger.spent_by_step() == {"youtube_search": 300, "youtube_videos": 1}
        assert server.units_spent == 301

        # a rerun sends nothing
        sent = len(server.requests)
        again = run_step(store, search_step(store, clock)), run_step(store, videos_step(store, clock))
        assert [r.skipped for r in again] == [3, 10] and len(server.requests) == sent
    assert KEY.encode() not in Path(store.path).read_bytes()


def test_top_ten_per_keyword_and_videos_in_batches_of_fifty(store: Store, env: pytest.MonkeyPatch, clock: Clock) -> None:
    # 12 keywords of 12 videos each: each keeps its top 10, one page each; 120 ids → 3 videos.list calls
    videos = [FakeVideo(yid(k * 100 + i), keywords=(f"topic {k}",)) for k in range(12) for i in range(12)]
    seed(store, [keyword(k, f"topic {k}") for k in range(12)])
    with make_server(videos) as server:
        point(env, server)
        run_step(store, search_step(store, clock))
        assert len(server.calls("/search")) == 12
        assert store.count("search_hit") == 120
        assert max(h.rank for h in store.live_outputs("youtube_search", "search_hit")) == 10
        report = run_step(store, videos_step(store, clock))
        assert report.counts["accepted"] == 120
        sizes = [len(c.params["id"].split(",")) for c in server.calls("/videos")]
        assert sizes == [50, 50, 20]
        assert QuotaLedger(store, step="x", clock=clock).spent() == 12 * 100 + 3


def test_pagination_follows_next_page_token_only_as_far_as_needed(
    store: Store, env: pytest.MonkeyPatch, clock: Clock
) -> None:
    videos = ([FakeVideo(yid(i), keywords=("many",)) for i in range(13)]
              + [FakeVideo(yid(i, "s"), keywords=("seven",)) for i in range(7)]
              + [FakeVideo(yid(i, "f"), keywords=("five",)) for i in range(5)])
    seed(store, [keyword(1, "many"), keyword(2, "seven"), keyword(3, "five")])
    with make_server(videos, page_size=5) as server:
        point(env, server)
        run_step(store, search_step(store, clock))
        by_query: dict[str, list[dict[str, str]]] = {}
        for call in server.calls("/search"):
            by_query.setdefault(call.params["q"], []).append(call.params)
        assert [p.get("pageToken") for p in by_query["many"]] == [None, "p5"]  # 10 found, p10 never asked
        assert [p.get("pageToken") for p in by_query["seven"]] == [None, "p5"]  # 7: the last page is short
        assert [p.get("pageToken") for p in by_query["five"]] == [None]  # no nextPageToken
        hits = list(store.live_outputs("youtube_search", "search_hit"))
        many = sorted((h.rank, h.youtube_id) for h in hits if h.query == "many")
        assert many == [(i + 1, yid(i)) for i in range(10)]
        assert sum(h.query == "seven" for h in hits) == 7
        assert store.ledger_get("youtube_search", keyword(1, "many").id).detail["quota_units"] == 200


def test_malformed_entries_cost_only_their_video(store: Store, env: pytest.MonkeyPatch, clock: Clock) -> None:
    videos = [
        FakeVideo(yid(1), keywords=("k",)),
        FakeVideo(yid(2), fault="search_no_id", keywords=("k",)),
        FakeVideo(yid(3), keywords=("k",)),
        FakeVideo(yid(4), fault="no_duration", keywords=("k",)),
        FakeVideo(yid(5), fault="no_status", keywords=("k",)),
    ]
    seed(store, [keyword(1, "k")])
    with make_server(videos) as server:
        point(env, server)
        run_step(store, search_step(store, clock))
        entry = store.ledger_get("youtube_search", keyword(1, "k").id)
        assert entry.outcome is Outcome.ACCEPTED and entry.detail["malformed"] == 1
        assert {h.youtube_id for h in store.live_outputs("youtube_search", "search_hit")} == {
            yid(1), yid(3), yid(4), yid(5)}
        run_step(store, videos_step(store, clock))
        assert store.rejection_reasons("youtube_videos") == {"bad_duration": 1, "malformed": 1}
        assert {v.id for v in store.live_outputs("youtube_videos", "youtube_video")} == {yid(1), yid(3)}


def test_videos_entry_without_id_rejects_the_unmatched_video_only(
    store: Store, env: pytest.MonkeyPatch, clock: Clock
) -> None:
    videos = [FakeVideo(yid(1), keywords=("k",)), FakeVideo(yid(2), fault="videos_no_id", keywords=("k",))]
    seed(store, [keyword(1, "k")])
    with make_server(videos) as server:
        point(env, server)
        run_step(store, search_step(store, clock))
        run_step(store, videos_step(store, clock))
    assert store.ledger_get("youtube_videos", yid(1)).outcome is Outcome.ACCEPTED
    rejected = store.ledger_get("youtube_videos", yid(2))
    assert rejected.code == "malformed" and "without an id" in rejected.reason


# -- quota ------------------------------------------------------------------------------------


def test_quota_exceeded_stops_keeps_the_rest_pending_and_resumes_after_reset(
    store: Store, env: pytest.MonkeyPatch, clock: Clock
) -> None:
    videos = [FakeVideo(yid(i), keywords=(f"q{i}",)) for i in range(4)]
    keywords = [keyword(i, f"q{i}") for i in range(4)]
    seed(store, keywords)
    clock.now = datetime(2025, 6, 1, 20, 15, tzinfo=UTC)  # 13:15 PDT
    with make_server(videos, quota_limit=250) as server:  # room for two searches
        point(env, server)
        with pytest.raises(QuotaExhausted) as stopped:
            run_step(store, search_step(store, clock))
        message = str(stopped.value)
        assert "quotaExceeded" in message and "2025-06-02 07:00 UTC, in 10 h 45 min" in message
        assert "pending" in message and KEY not in message
        assert isinstance(stopped.value, Stop)
        done = store.ledger_index("youtube_search")
        assert len(done) == 2 and all(o is Outcome.ACCEPTED for _, o in done.values())
        assert pending_count(store, search_step(store, clock)) == (4, 2)

        # the same day: nothing is sent, the step stops at once
        sent = len(server.requests)
        with pytest.raises(QuotaExhausted, match="resets at midnight Pacific time"):
            run_step(store, search_step(store, clock))
        assert len(server.requests) == sent

        # after midnight Pacific time the rerun searches only the keywords left, from a reopened store
        clock.now = datetime(2025, 6, 2, 7, 1, tzinfo=UTC)
        server.reset_quota()
        reopened = Store(store.path)
        report = run_step(reopened, search_step(reopened, clock))
        assert report.counts["accepted"] == 2 and report.skipped == 2
        queries = [c.params["q"] for c in server.calls("/search") if c.status == 200]
        assert sorted(queries) == ["q0", "q1", "q2", "q3"]  # each keyword searched once
        assert reopened.count("search_hit") == 4


def test_daily_budget_stops_before_sending_and_counts_per_pacific_day(
    store: Store, env: pytest.MonkeyPatch
) -> None:
    clock = Clock(datetime(2025, 3, 9, 7, 30, tzinfo=UTC))  # 23:30 PST on 8 March
    videos = [FakeVideo(yid(i), keywords=(f"q{i}",)) for i in range(5)]
    seed(store, [keyword(i, f"q{i}") for i in range(5)])
    with make_server(videos) as server:
        point(env, server)
        with pytest.raises(QuotaExhausted) as stopped:
            run_step(store, search_step(store, clock, daily_quota=300))
        assert "300 of 300 units used" in str(stopped.value)
        assert "2025-03-09 08:00 UTC, in 30 min" in str(stopped.value)
        assert len(server.calls("/search")) == 3  # the fourth call was never sent

        clock.now = datetime(2025, 3, 9, 8, 0, 30, tzinfo=UTC)  # 00:00:30 PST on 9 March: a new budget
        report = run_step(store, search_step(store, clock, daily_quota=300))
        assert report.counts["accepted"] == 2 and len(server.calls("/search")) == 5
    ledger = QuotaLedger(store, step="youtube_search", clock=clock)
    assert ledger.spent(date(2025, 3, 8)) == 300 and ledger.spent(date(2025, 3, 9)) == 200


# -- errors ------------------------------------------------------------------------------------


def test_refused_key_stops_with_a_message_naming_the_variable_not_the_key(
    store: Store, env: pytest.MonkeyPatch, clock: Clock
) -> None:
    wrong = "AIzaSyWRONGwrongWRONGwrong0123456789abc"
    seed(store, [keyword(1, "k"), keyword(2, "j")])
    with make_server([FakeVideo(yid(1), keywords=("k",))]) as server:
        point(env, server)
        env.setenv("YOUTUBE_API_KEY", wrong)
        with pytest.raises(BadKey) as stopped:
            run_step(store, search_step(store, clock))
        message = str(stopped.value)
        assert "YOUTUBE_API_KEY" in message and "keyInvalid" in message and wrong not in message
        assert store.ledger_index("youtube_search") == {}  # nothing rejected: all pending

        env.setenv("YOUTUBE_API_KEY", KEY)
        server.forbid_key()
        with pytest.raises(BadKey, match=r"YOUTUBE_API_KEY \(HTTP 403 forbidden"):
            run_step(store, search_step(store, clock))

        env.delenv("YOUTUBE_API_KEY")
        sent = len(server.requests)
        with pytest.raises(BadKey, match="set YOUTUBE_API_KEY"):
            run_step(store, search_step(store, clock))
        assert len(server.requests) == sent
    assert wrong.encode() not in Path(store.path).read_bytes()


def test_key_is_in_no_fingerprint(env: pytest.MonkeyPatch, store: Store, clock: Clock) -> None:
    item = keyword(1, "k")
    before = search_step(store, clock).fingerprint(item)
    env.setenv("YOUTUBE_API_KEY", "another-key-entirely-987654321")
    assert search_step(store, clock).fingerprint(item) == before
    # how hard to try and the budget change no output; the number of results does
    assert search_step(store, clock, daily_quota=5, max_attempts=9).fingerprint(item) == before
    assert search_step(store, clock, top_k=5).fingerprint(item) != before
    relabelled = item.model_copy(update={"model": "another-model"})
    assert search_step(store, clock).fingerprint(relabelled) == before  # the same search


def test_5xx_and_timeouts_are_retried_then_quarantined_and_retried_next_run(
    store: Store, env: pytest.MonkeyPatch, clock: Clock
) -> None:
    videos = [FakeVideo(yid(i), keywords=(f"q{i}",)) for i in range(3)]
    keywords = [keyword(i, f"q{i}") for i in range(3)]
    seed(store, keywords)
    with make_server(videos) as server:
        point(env, server)
        server.fail_next(1, 500)  # q0: the retry succeeds
        step = search_step(store, clock, max_attempts=2)
        report = run_step(store, step, items=[keywords[0]])
        assert report.counts["accepted"] == 1

        server.fail_next(2, 503)  # q1: both attempts fail → quarantined
        report = run_step(store, step, items=[keywords[1]])
        entry = store.ledger_get("youtube_search", keywords[1].id)
        assert entry.outcome is Outcome.QUARANTINED and entry.code == "transient"
        assert "gave up after 2 attempts" in entry.reason and "503" in entry.reason

        report = run_step(store, step)  # the next run retries it (and does q2)
        assert report.counts["accepted"] == 2 and report.skipped == 1
        assert store.ledger_get("youtube_search", keywords[1].id).outcome is Outcome.ACCEPTED

        # a batch of videos.list that keeps failing quarantines the batch; the next run lists it
        server.fail_next(2, 502)
        report = run_step(store, videos_step(store, clock, max_attempts=2))
        assert report.counts["quarantined"] == 3
        report = run_step(store, videos_step(store, clock, max_attempts=2))
        assert report.counts["accepted"] == 3
    # every request sent was charged, failed ones too
    assert QuotaLedger(store, step="x", clock=clock).spent() == 100 * (2 + 2 + 2) + (2 + 1)


def test_timeout_is_retried(store: Store, env: pytest.MonkeyPatch, clock: Clock) -> None:
    seed(store, [keyword(1, "k")])
    with make_server([FakeVideo(yid(1), keywords=("k",))]) as server:
        point(env, server)
        server.delay_next(1, 1.0)
        report = run_step(store, search_step(store, clock, max_attempts=2, timeout_s=0.25))
        assert report.counts["accepted"] == 1
        assert store.ledger_get("youtube_search", keyword(1, "k").id).detail["calls"] == 2


# -- dry run ------------------------------------------------------------------------------------


def test_dry_run_counts_calls_and_units_and_sends_nothing(store: Store, env: pytest.MonkeyPatch, clock: Clock) -> None:
    keywords = [keyword(i, f"q{i}") for i in range(3)]
    seed(store, keywords)
    with make_server([FakeVideo(yid(1), keywords=("q0",))]) as server:
        point(env, server)
        search = search_step(store, clock)
        report = run_step(store, search, dry_run=True)
        assert report.left == 3 and server.requests == []
        assert search.dry_run_cost(keywords) == {"requests": 3, "quota_units": 300, "search_calls": 3,
                                                 "videos_calls": 0}
        videos = videos_step(store, clock)
        from videokr.steps.youtube_search import VideoCandidate

        ids = [VideoCandidate(id=yid(i)) for i in range(120)]
        assert videos.dry_run_cost(ids) == {"requests": 3, "quota_units": 3, "search_calls": 0, "videos_calls": 3}

        # with the dry-run setting the step itself counts and sends nothing
        search.context.settings = {"dry_run": True}
        results = [search.process(k) for k in keywords]
        assert {r.code for r in results} == {"dry_run"} and search.meter.units == 300
        assert server.requests == [] and store.ledger_index("youtube_search") == {}


def test_an_answered_search_is_never_paid_twice(store: Store, env: pytest.MonkeyPatch, clock: Clock) -> None:
    # a process killed between a search and its commit, or a step whose ledger was dropped, redoes the item:
    # the page the API already answered is taken from the store, not bought again
    seed(store, [keyword(1, "k"), keyword(2, "j")])
    videos = [FakeVideo(yid(1), keywords=("k",)), FakeVideo(yid(2), keywords=("j", "k"))]
    with make_server(videos) as server:
        point(env, server)
        run_step(store, search_step(store, clock))
        hits = sorted(h.id for h in store.live_outputs("youtube_search", "search_hit"))
        sent = len(server.requests)
        store.forget_step("youtube_search")
        assert store.count("search_hit") == 0
        report = run_step(store, search_step(store, clock))
        assert report.counts["accepted"] == 2 and len(server.requests) == sent
        assert sorted(h.id for h in store.live_outputs("youtube_search", "search_hit")) == hits
        assert QuotaLedger(store, step="x", clock=clock).spent() == 200


def test_the_steps_run_in_the_driver_only() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="executor"):
        SearchConfig(executor="process")  # type: ignore[arg-type]
    assert YouTubeSearchStep().default_executor() == "local"
    assert YouTubeVideosStep().is_batched and YouTubeVideosStep().batch_size == 50
