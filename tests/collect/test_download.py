"""The download and local_sources steps: real yt-dlp fetching real MP4s from the loopback media server.

Inputs are seeded by tiny source steps standing in for `youtube_videos`, `metadata_relevance`,
`knowledge_points` and `scenarios`, so the real runner drives the real steps."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("yt_dlp")

from videokr.collect import backoff as backoff_module  # noqa: E402
from videokr.collect import download as dl  # noqa: E402
from videokr.collect.backoff import Backoff  # noqa: E402
from videokr.errors import Stop, Transient  # noqa: E402
from videokr.hashing import digest_json  # noqa: E402
from videokr.pipeline.runner import run_step  # noqa: E402
from videokr.pipeline.step import Result, Step, StepContext  # noqa: E402
from videokr.records import (  # noqa: E402
    Discipline, KnowledgePoint, Outcome, Record, RelevanceJudgement, Scenario, YouTubeVideo,
)
from videokr.steps import download as download_step  # noqa: E402
from videokr.steps.download import DownloadConfig, DownloadStep  # noqa: E402
from videokr.steps.local_sources import LocalSourcesConfig, LocalSourcesStep  # noqa: E402
from videokr.store import Store  # noqa: E402
from videokr.testing.media_server import Fault, MediaServer  # noqa: E402
from videokr.video.synth import write_indexed_video  # noqa: E402

IDS = ["aaaaaaaaaaa", "bbbbbbbbbbb", "ccccccccccc", "ddddddddddd", "eeeeeeeeeee", "-_xyzXYZ012"]
FRAMES, FPS, WIDTH, HEIGHT = 40, 20, 160, 96


# -- seed steps: what the steps before download would have written -----------------------------


class _Seed(Step[Record]):
    source = True

    def item_fingerprint(self, item: Record) -> str:
        return digest_json(item.model_dump(mode="json"))

    def process(self, item: Record) -> Result:
        return Result.accept(item)


class SeedVideos(_Seed):
    name = "youtube_videos"


class SeedJudgements(_Seed):
    name = "metadata_relevance"


class SeedPoints(_Seed):
    name = "knowledge_points"


class SeedScenarios(_Seed):
    name = "scenarios"


def metadata(youtube_id: str) -> YouTubeVideo:
    return YouTubeVideo(id=youtube_id, title=f"Video {youtube_id}", channel_title=f"Channel of {youtube_id}",
                        duration_s=FRAMES / FPS, licence="creativeCommon",
                        url=f"https://www.youtube.com/watch?v={youtube_id}")


def judgement(youtube_id: str, scenario: str = "kp1:s1", relevant: bool = True) -> RelevanceJudgement:
    return RelevanceJudgement(id=f"metadata:{youtube_id}:{scenario}", judge="metadata", video_id=youtube_id,
                              knowledge_point_id="kp1", scenario_id=scenario, relevant=relevant)


def seed(store: Store, judged: list[str], described: list[str] | None = None) -> None:
    run_step(store, SeedVideos(), items=[metadata(i) for i in (described or judged)])
    run_step(store, SeedJudgements(), items=[judgement(i) for i in judged])


# -- fixtures ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real small MP4s, one per YouTube id, index first (as streaming sites serve them)."""
    root = tmp_path_factory.mktemp("media")
    (root / "yt").mkdir()
    for n, youtube_id in enumerate(IDS):
        write_indexed_video(root / "yt" / f"{youtube_id}.mp4", FRAMES + n, width=WIDTH, height=HEIGHT, fps=FPS,
                            options={"movflags": "faststart"})
    (root / "not-a-video.mp4").write_bytes(b"\x00garbage" * 500)
    return root


@pytest.fixture
def server(media: Path, monkeypatch: pytest.MonkeyPatch):
    with MediaServer(media) as running:
        monkeypatch.setenv(dl.WATCH_URL_ENV, f"{running.base_url}/yt/{{id}}.mp4")
        yield running


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_step(workspace: Path, **settings: Any) -> DownloadStep:
    config = DownloadConfig(**{"sleep_min_s": 0, "sleep_max_s": 0, "backoff_s": 0.05, **settings})
    return DownloadStep(config, StepContext(root=workspace))


def outcomes(store: Store, step: str) -> dict[str, tuple[Outcome, str | None]]:
    return {e.item_id: (e.outcome, e.code) for e in store.ledger_entries(step)}


# -- named constants and pure parts ---------------------------------------------------------------


def test_paper_and_policy_constants() -> None:
    assert dl.DEFAULT_FORMAT == "bv*[height<=?480][ext=mp4]+ba[ext=m4a]/b[height<=?480][ext=mp4]/b[height<=?480]"
    assert dl.DEFAULT_WATCH_URL == "https://www.youtube.com/watch?v={id}"
    assert dl.WATCH_URL_ENV == "VIDEOKR_YOUTUBE_WATCH_URL"
    assert dl.DEFAULT_RETRIES == 10
    assert download_step.DEFAULT_WORKERS == 4
    assert download_step.DEFAULT_OUT == "videos"
    assert (download_step.DEFAULT_SLEEP_MIN_S, download_step.DEFAULT_SLEEP_MAX_S) == (1.0, 5.0)
    assert backoff_module.DEFAULT_MAX_BLOCKS == 5
    assert backoff_module.DEFAULT_BACKOFF_S == 60.0
    assert backoff_module.BACKOFF_FACTOR == 2.0
    assert backoff_module.DEFAULT_BACKOFF_MAX_S == 1800.0
    assert DownloadStep.after == ("metadata_relevance",)
    assert dl.YOUTUBE_EXTRACTORS == ("youtube", "generic")
    assert dl.PROGRESS_EVERY_S == 3600.0


def test_sharded_layout(tmp_path: Path) -> None:
    assert dl.video_file(tmp_path, "youtube", "dQw4w9WgXcQ") == tmp_path / "youtube" / "dQ" / "dQw4w9WgXcQ.mp4"
    assert dl.video_file(tmp_path, "url", "-_abc", "webm") == tmp_path / "url" / "-_" / "-_abc.webm"
    for bad in ("", "a/b", ".hidden"):
        with pytest.raises(ValueError):
            dl.video_file(tmp_path, "youtube", bad)


def test_watch_url_template(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(dl.WATCH_URL_ENV, raising=False)
    assert dl.watch_url("abcdefghijk") == "https://www.youtube.com/watch?v=abcdefghijk"
    monkeypatch.setenv(dl.WATCH_URL_ENV, "http://127.0.0.1:9/v/{id}.mp4")
    assert dl.watch_url("abcdefghijk") == "http://127.0.0.1:9/v/abcdefghijk.mp4"
    monkeypatch.setenv(dl.WATCH_URL_ENV, "http://127.0.0.1:9/v/")
    with pytest.raises(ValueError, match="VIDEOKR_YOUTUBE_WATCH_URL must contain"):
        dl.watch_url("abcdefghijk")


@pytest.mark.parametrize("message, status, expected", [
    # texts YouTube returns, as yt-dlp's YouTube extractor passes them on
    ("[youtube] abc: Sign in to confirm you\u2019re not a bot. Use --cookies-from-browser or --cookies for the "
     "authentication.", None, ("blocked", "bot_check")),
    ("[youtube] abc: This content isn't available, try again later. The current session has been rate-limited "
     "by YouTube for up to an hour.", None, ("blocked", "bot_check")),
    ("[youtube] abc: Private video. Sign in if you've been granted access to this video", None, ("rejected", "private")),
    ("[youtube] abc: Video unavailable. This video has been removed by the uploader", None, ("rejected", "removed")),
    ("[youtube] abc: Video unavailable. This video is no longer available because the YouTube account associated "
     "with this video has been terminated.", None, ("rejected", "removed")),
    ("[youtube] abc: This video has been removed for violating YouTube's Terms of Service", None,
     ("rejected", "removed")),
    ("[youtube] abc: Video unavailable", None, ("rejected", "unavailable")),
    ("[youtube] abc: Sign in to confirm your age. This video may be inappropriate for some users.", None,
     ("rejected", "unavailable")),
    ("[generic] x: Unable to download webpage: HTTP Error 403: Forbidden", 403, ("blocked", "http_403")),
    ("[generic] x: Unable to download webpage: HTTP Error 429: Too Many Requests", None, ("blocked", "http_429")),
    ("[generic] x: Unable to download webpage: HTTP Error 404: Not Found", 404, ("rejected", "unavailable")),
    ("[generic] x: Unable to download webpage: HTTP Error 410: Gone", 410, ("rejected", "removed")),
    ("[generic] x: Unable to download webpage: HTTP Error 503: Service Unavailable", 503,
     ("transient", "download_failed")),
    ("[generic] x: Unable to download webpage: <urlopen error [Errno 111] Connection refused>", None,
     ("transient", "download_failed")),
])
def test_classify(message: str, status: int | None, expected: tuple[str, str]) -> None:
    assert dl.classify(message, status) == expected


def test_format_without_ffmpeg_drops_merges() -> None:
    assert dl.usable_format(dl.DEFAULT_FORMAT, True) == dl.DEFAULT_FORMAT
    assert dl.usable_format(dl.DEFAULT_FORMAT, False) == "b[height<=?480][ext=mp4]/b[height<=?480]"
    with pytest.raises(ValueError, match="needs FFmpeg"):
        dl.usable_format("bv+ba", False)


def test_backoff_grows_resets_and_stops() -> None:
    now = [100.0]
    backoff = Backoff(first_s=10, max_s=25, max_blocks=4, clock=lambda: now[0])
    assert backoff.delay() == 0
    assert backoff.blocked("403") == 10 and backoff.delay() == 10
    assert backoff.blocked("403") == 20
    backoff.succeeded()
    assert backoff.blocked("429") == 10  # a success in between starts the count again
    assert backoff.blocked("429") == 20 and backoff.blocked("429") == 25  # capped
    with pytest.raises(Stop, match="refused 4 downloads in a row"):
        backoff.blocked("bot_check")


def test_config_workers_are_parallel_downloads_and_run_only_settings() -> None:
    config = DownloadConfig(workers=7)
    assert config.concurrency == 7
    base = DownloadConfig().fingerprint()
    assert DownloadConfig(retries=1, sleep_max_s=0, cookies="c.txt", rate_limit=10, max_blocks=2).fingerprint() == base
    assert DownloadConfig(format="b").fingerprint() != base
    assert DownloadConfig(out="elsewhere").fingerprint() != base


def test_youtube_downloads_allow_only_the_extractors_a_watch_url_needs(tmp_path: Path) -> None:
    youtube = make_step(tmp_path).downloaders
    assert youtube.settings.extractors == dl.YOUTUBE_EXTRACTORS
    assert dl.ydl_options(youtube.settings, "x", None)["allowed_extractors"] == ["youtube", "generic"]
    url_list = local_step(tmp_path, tmp_path / "m.jsonl").downloaders  # a list of URLs may name any site
    assert url_list.settings.extractors is None
    assert "allowed_extractors" not in dl.ydl_options(url_list.settings, "x", None)
    with pytest.raises(ValueError, match="settings` differ"):
        dl.fetch("http://127.0.0.1:9/a.mp4", tmp_path / "a.mp4", dl.FetchSettings(retries=1), downloaders=youtube)


# -- the download step on the runner -----------------------------------------------------------------


def test_downloads_into_sharded_layout_with_attribution(tmp_path: Path, store: Store, server: MediaServer,
                                                         media: Path) -> None:
    seed(store, judged=IDS[:2], described=IDS[:3])  # the third has metadata but no relevant judgement
    run_step(store, SeedJudgements(), items=[judgement(IDS[0]), judgement(IDS[1]),
                                             judgement(IDS[2], relevant=False)], retire=False)
    report = run_step(store, make_step(tmp_path, workers=2))
    assert report.counts["accepted"] == 2 and report.executor == "async"
    for youtube_id in IDS[:2]:
        video = store.get("video", f"yt-{youtube_id}")
        assert video is not None
        path = Path(video.path)  # type: ignore[attr-defined]
        assert path == (tmp_path / "videos" / "youtube" / youtube_id[:2] / f"{youtube_id}.mp4").resolve()
        assert video.sha256 == sha(media / "yt" / f"{youtube_id}.mp4") == sha(path)  # type: ignore[attr-defined]
        assert (video.source, video.youtube_id, video.licence) == ("youtube", youtube_id, "creativeCommon")  # type: ignore[attr-defined]
        assert video.channel == f"Channel of {youtube_id}"  # type: ignore[attr-defined]
        assert video.source_url == f"https://www.youtube.com/watch?v={youtube_id}"  # type: ignore[attr-defined]
        assert video.title == f"Video {youtube_id}"  # type: ignore[attr-defined]
        assert (video.width, video.height) == (WIDTH, HEIGHT)  # type: ignore[attr-defined]
        assert video.fps == pytest.approx(FPS, rel=0.01)  # type: ignore[attr-defined]
        assert video.duration_s == pytest.approx(FRAMES / FPS, abs=0.1)  # type: ignore[attr-defined]
        assert list(path.parent.iterdir()) == [path]  # no temporary file left beside it
    assert server.count(f"yt/{IDS[2]}.mp4") == 0  # not judged relevant: never asked for
    assert store.producers("video", f"yt-{IDS[0]}") == [("download", IDS[0])]


def test_downloaders_are_reused_and_a_failed_one_is_replaced(tmp_path: Path, server: MediaServer,
                                                             media: Path) -> None:
    settings = dl.FetchSettings(extractors=dl.YOUTUBE_EXTRACTORS)
    with dl.Downloaders(settings) as downloaders:
        for youtube_id in IDS[:3]:  # one downloader, a new output name each time
            target = dl.video_file(tmp_path, "youtube", youtube_id)
            fetched = dl.fetch(dl.watch_url(youtube_id), target, downloaders=downloaders)
            assert fetched.path == target and fetched.sha256 == sha(media / "yt" / f"{youtube_id}.mp4") == sha(target)
            assert sorted(p.name for p in target.parent.iterdir()) == [target.name]
        assert downloaders.built == 1
        server.fault(f"yt/{IDS[3]}.mp4", Fault.http(404))
        with pytest.raises(dl.DownloadFailure) as failed:
            dl.fetch(dl.watch_url(IDS[3]), dl.video_file(tmp_path, "youtube", IDS[3]), downloaders=downloaders)
        assert (failed.value.kind, failed.value.code) == ("rejected", "unavailable")
        dl.fetch(dl.watch_url(IDS[4]), dl.video_file(tmp_path, "youtube", IDS[4]), downloaders=downloaders)
        assert downloaders.built == 2  # the one that failed was closed, not reused


def test_the_step_reuses_one_downloader_per_worker(tmp_path: Path, store: Store, server: MediaServer) -> None:
    seed(store, judged=IDS[:5])
    step = make_step(tmp_path, workers=2)
    downloaders = step.downloaders
    assert run_step(store, step).counts["accepted"] == 5
    assert 1 <= downloaders.built <= 2
    assert step._downloaders is None  # closed when the run ended


def test_cancel_stops_a_download_within_a_block_and_the_next_attempt_resumes(tmp_path: Path, server: MediaServer,
                                                                            media: Path) -> None:
    source = media / "yt" / f"{IDS[0]}.mp4"
    server.fault(f"yt/{IDS[0]}.mp4", Fault.throttle(source.stat().st_size / 4))  # about four seconds per body
    target = dl.video_file(tmp_path, "youtube", IDS[0])
    cancel, outcome = threading.Event(), []
    with dl.Downloaders(dl.FetchSettings(extractors=dl.YOUTUBE_EXTRACTORS)) as downloaders:

        def download() -> None:
            try:
                outcome.append(dl.fetch(dl.watch_url(IDS[0]), target, cancel=cancel, downloaders=downloaders))
            except Exception as exc:  # noqa: BLE001 - the test inspects it
                outcome.append(exc)

        def bytes_arrived() -> bool:
            return target.parent.exists() and any(p.stat().st_size > 0 for p in target.parent.glob("*.part"))

        worker = threading.Thread(target=download)
        worker.start()
        deadline = time.monotonic() + 20
        while not bytes_arrived():
            assert time.monotonic() < deadline, "the download never started"
            time.sleep(0.02)
        cancel.set()
        cancelled_at = time.monotonic()
        worker.join(timeout=10)
        assert not worker.is_alive() and time.monotonic() - cancelled_at < 2
        assert isinstance(outcome[0], Transient) and "cancelled" in str(outcome[0])
        assert dl.finished_file(target) is None and list(target.parent.glob("*.part"))
        assert downloaders.built == 1 and downloaders._idle == []  # the cancelled one was closed

        server.fault(f"yt/{IDS[0]}.mp4", None)
        fetched = dl.fetch(dl.watch_url(IDS[0]), target, downloaders=downloaders)
    assert fetched.path == target and fetched.sha256 == sha(source) == sha(target)
    ranged = [r for r in server.requests if r.path == f"/yt/{IDS[0]}.mp4" and r.status == 206]
    assert ranged and ranged[-1].range is not None and ranged[-1].range.startswith("bytes=")


def test_rerun_never_downloads_again_and_adopts_when_ledger_forgot(tmp_path: Path, store: Store,
                                                                    server: MediaServer) -> None:
    seed(store, judged=IDS[:2])
    run_step(store, make_step(tmp_path))
    gets = {i: server.count(f"yt/{i}.mp4") for i in IDS[:2]}
    assert all(n >= 1 for n in gets.values())
    before = {i: store.get("video", f"yt-{i}") for i in IDS[:2]}

    again = run_step(store, make_step(tmp_path))
    assert again.skipped == 2 and again.processed == 0
    assert {i: server.count(f"yt/{i}.mp4") for i in IDS[:2]} == gets

    store.forget_step("download")  # the ledger lost it; the files are still there
    assert store.get("video", f"yt-{IDS[0]}") is None
    adopted = run_step(store, make_step(tmp_path))
    assert adopted.counts["accepted"] == 2
    assert {i: server.count(f"yt/{i}.mp4") for i in IDS[:2]} == gets  # not a byte fetched again
    assert {i: store.get("video", f"yt-{i}") for i in IDS[:2]} == before
    assert all((store.ledger_get("download", i).detail or {}).get("adopted") for i in IDS[:2])  # type: ignore[union-attr]


def test_finished_file_that_does_not_match_is_fetched_again(tmp_path: Path, store: Store, server: MediaServer,
                                                            media: Path) -> None:
    seed(store, judged=IDS[:1])
    target = tmp_path / "videos" / "youtube" / IDS[0][:2] / f"{IDS[0]}.mp4"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"not a video at all")
    run_step(store, make_step(tmp_path))
    assert sha(target) == sha(media / "yt" / f"{IDS[0]}.mp4")


@pytest.mark.parametrize("fault, code", [
    (Fault.http(404), "unavailable"), (Fault.http(410), "removed"), (Fault.private(), "private"),
    (Fault.removed(), "removed"), (Fault.unavailable(), "unavailable"),
])
def test_gone_videos_are_rejected_with_codes(tmp_path: Path, store: Store, server: MediaServer, fault: Fault,
                                             code: str) -> None:
    seed(store, judged=IDS[:2])
    server.fault(f"yt/{IDS[0]}.mp4", fault)
    report = run_step(store, make_step(tmp_path))
    assert report.counts == {"accepted": 1, "rejected": 1, "quarantined": 0}
    assert outcomes(store, "download")[IDS[0]] == (Outcome.REJECTED, code)
    assert store.get("video", f"yt-{IDS[0]}") is None
    assert not (tmp_path / "videos" / "youtube" / IDS[0][:2]).exists() or not any(
        (tmp_path / "videos" / "youtube" / IDS[0][:2]).iterdir())


def test_unreadable_download_is_rejected(tmp_path: Path, store: Store, server: MediaServer, media: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(dl.WATCH_URL_ENV, f"{server.base_url}/not-a-video.mp4?v={{id}}")
    seed(store, judged=IDS[:1])
    run_step(store, make_step(tmp_path))
    assert outcomes(store, "download")[IDS[0]] == (Outcome.REJECTED, "unreadable")
    assert not list((tmp_path / "videos").rglob("*.mp4"))


@pytest.mark.parametrize("fault, code", [
    (Fault.http(403), "http_403"), (Fault.http(429), "http_429"), (Fault.bot_check(), "bot_check"),
])
def test_refusals_quarantine_back_off_and_stop(tmp_path: Path, store: Store, server: MediaServer, fault: Fault,
                                               code: str) -> None:
    seed(store, judged=IDS[:5])
    for youtube_id in IDS[:4]:
        server.fault(f"yt/{youtube_id}.mp4", fault)
    step = make_step(tmp_path, workers=1, backoff_s=0.2, max_blocks=3)
    with pytest.raises(Stop, match="refused 3 downloads in a row"):
        run_step(store, step)
    ledger = outcomes(store, "download")
    assert ledger == {IDS[0]: (Outcome.QUARANTINED, code), IDS[1]: (Outcome.QUARANTINED, code)}  # the rest pending
    assert step.backoff.waits == [0.2, 0.4]  # growing
    first = [r.at for r in server.requests if r.path == f"/yt/{IDS[0]}.mp4"][0]
    second = [r.at for r in server.requests if r.path == f"/yt/{IDS[1]}.mp4"][0]
    assert second - first >= 0.19  # the next download waited
    assert server.count(f"yt/{IDS[3]}.mp4") == 0 and server.count(f"yt/{IDS[4]}.mp4") == 0

    for youtube_id in IDS[:4]:
        server.fault(f"yt/{youtube_id}.mp4", None)
    report = run_step(store, make_step(tmp_path, workers=2))
    assert report.counts["accepted"] == 5
    assert all(o == (Outcome.ACCEPTED, None) for o in outcomes(store, "download").values())


def test_success_between_refusals_resets_the_count(tmp_path: Path, store: Store, server: MediaServer) -> None:
    seed(store, judged=IDS[:5])
    for youtube_id in (IDS[0], IDS[2], IDS[4]):  # never two refusals in a row
        server.fault(f"yt/{youtube_id}.mp4", Fault.http(429))
    report = run_step(store, make_step(tmp_path, workers=1, backoff_s=0.01, max_blocks=2))
    assert report.counts == {"accepted": 2, "rejected": 0, "quarantined": 3}


def test_cut_connection_resumes_with_a_range(tmp_path: Path, store: Store, server: MediaServer, media: Path) -> None:
    seed(store, judged=IDS[:1])
    server.fault(f"yt/{IDS[0]}.mp4", Fault.cut(8000, times=2))  # the probe GET and the download GET are cut
    run_step(store, make_step(tmp_path))
    video = store.get("video", f"yt-{IDS[0]}")
    assert video is not None and video.sha256 == sha(media / "yt" / f"{IDS[0]}.mp4")  # type: ignore[attr-defined]
    ranged = [r for r in server.requests if r.path == f"/yt/{IDS[0]}.mp4" and r.status == 206]
    assert ranged and ranged[0].range is not None and ranged[0].range.startswith("bytes=")


KILL_SCRIPT = textwrap.dedent("""
    import sys
    from pathlib import Path
    from videokr.pipeline.runner import run_step
    from videokr.pipeline.step import StepContext
    from videokr.steps.download import DownloadConfig, DownloadStep
    from videokr.store import Store
    root = Path(sys.argv[1])
    step = DownloadStep(DownloadConfig(sleep_min_s=0, sleep_max_s=0), StepContext(root=root))
    run_step(Store(root / "videokr.sqlite"), step)
""")


def test_kill_9_mid_download_then_rerun_completes(tmp_path: Path, server: MediaServer, media: Path) -> None:
    store = Store(tmp_path / "videokr.sqlite")
    seed(store, judged=IDS[:1])
    source = media / "yt" / f"{IDS[0]}.mp4"
    server.fault(f"yt/{IDS[0]}.mp4", Fault.throttle(source.stat().st_size / 4))  # about four seconds per body
    env = {**os.environ, dl.WATCH_URL_ENV: os.environ[dl.WATCH_URL_ENV]}
    child = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(tmp_path)], env=env)
    folder = tmp_path / "videos" / "youtube" / IDS[0][:2]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # wait until bytes of the real download reached the disk
        parts = list(folder.glob("*.part")) if folder.exists() else []
        if parts and parts[0].stat().st_size > 0:
            break
        time.sleep(0.05)
    else:
        child.kill()
        pytest.fail("the download never started")
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)
    leftovers = sorted(p.name for p in folder.iterdir())
    assert f"{IDS[0]}.mp4" not in leftovers  # nothing that looks finished
    assert all(".download." in name for name in leftovers)
    assert store.ledger_get("download", IDS[0]) is None

    server.fault(f"yt/{IDS[0]}.mp4", None)
    report = run_step(store, make_step(tmp_path))
    assert report.counts["accepted"] == 1
    video = store.get("video", f"yt-{IDS[0]}")
    assert video is not None and video.sha256 == sha(source) == sha(folder / f"{IDS[0]}.mp4")  # type: ignore[attr-defined]
    assert sorted(p.name for p in folder.iterdir()) == [f"{IDS[0]}.mp4"]


# -- local sources -----------------------------------------------------------------------------------


def seed_knowledge(store: Store) -> None:
    point = KnowledgePoint(id="chem/titration", discipline=Discipline.NATURAL_SCIENCES, subject="Chemistry",
                           course="Analytical", lecture="Volumetric analysis", term="Titration",
                           definition="Adding a reagent of known concentration until the reaction is complete.")
    run_step(store, SeedPoints(), items=[point])
    run_step(store, SeedScenarios(), items=[
        Scenario(id="chem/titration:s1", knowledge_point_id=point.id, text="a burette dripping into a flask"),
        Scenario(id="chem/titration:s2", knowledge_point_id=point.id, text="a colour change at the end point"),
    ])


def local_step(workspace: Path, manifest: Path, **settings: Any) -> LocalSourcesStep:
    config = LocalSourcesConfig(**{"manifest": str(manifest), "sleep_min_s": 0, "sleep_max_s": 0, **settings})
    return LocalSourcesStep(config, StepContext(root=workspace))


def test_local_folder_manifest(tmp_path: Path, store: Store, media: Path) -> None:
    seed_knowledge(store)
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "a.mp4").write_bytes((media / "yt" / f"{IDS[0]}.mp4").read_bytes())
    (folder / "broken.mp4").write_bytes(b"\x00" * 300)
    (folder / "manifest.yaml").write_text(textwrap.dedent("""
        videos:
          - path: a.mp4
            licence: CC-BY-4.0
            title: Titration by hand
            channel: Chemistry Dept.
            knowledge_points: [{subject: chemistry, term: TITRATION}]
          - path: no-licence.mp4
            knowledge_points: [chem/titration]
          - path: gone.mp4
            licence: CC-BY-4.0
            knowledge_points: [chem/titration]
          - path: broken.mp4
            licence: CC-BY-4.0
            knowledge_points: [chem/titration]
          - path: a.mp4
            licence: CC-BY-4.0
            knowledge_points: [chem/titration]
          - path: a.mp4
            licence: CC0
            knowledge_points: [chem/other]
          - just a string
    """), encoding="utf-8")
    report = run_step(store, local_step(tmp_path, folder / "manifest.yaml"))
    assert report.counts == {"accepted": 1, "rejected": 6, "quarantined": 0}
    codes = sorted(c for o, c in outcomes(store, "local_sources").values() if o is Outcome.REJECTED)
    assert codes == ["bad_line", "duplicate", "duplicate", "file_missing", "no_licence", "unreadable"]
    reasons = [e.reason for e in store.ledger_entries("local_sources", Outcome.REJECTED)]
    assert any(r.startswith("mine/manifest.yaml:2: no licence") for r in reasons)
    assert any(r.startswith("mine/manifest.yaml:3: file not found") for r in reasons)

    digest = sha(folder / "a.mp4")
    video = store.get("video", f"local-{digest[:16]}")
    assert video is not None
    assert (video.source, video.licence, video.channel, video.title) == (  # type: ignore[attr-defined]
        "local", "CC-BY-4.0", "Chemistry Dept.", "Titration by hand")
    assert Path(video.path) == (folder / "a.mp4").resolve() and video.sha256 == digest  # type: ignore[attr-defined]
    links = sorted(r.id for r in store.live_outputs("local_sources", "relevance"))
    assert links == [f"metadata:local-{digest[:16]}:chem/titration:s1", f"metadata:local-{digest[:16]}:chem/titration:s2"]
    link = store.get("relevance", links[0])
    assert link.relevant and link.model is None and "declared by the user in mine/manifest.yaml:1" in link.reason  # type: ignore[attr-defined]

    assert run_step(store, local_step(tmp_path, folder / "manifest.yaml")).processed == 0  # a rerun does nothing


def test_unknown_knowledge_point_and_enter_at_metadata(tmp_path: Path, store: Store, media: Path) -> None:
    seed_knowledge(store)
    (tmp_path / "a.mp4").write_bytes((media / "yt" / f"{IDS[1]}.mp4").read_bytes())
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("\n".join(json.dumps(e) for e in [
        {"path": "a.mp4", "licence": "CC-BY-4.0", "knowledge_points": ["chem/titration"], "id": "my-clip"},
        {"path": "b.mp4", "licence": "CC-BY-4.0", "knowledge_points": [{"subject": "Physics", "term": "Force"}]},
        {"path": "c.mp4", "licence": "CC-BY-4.0"},
    ]) + "\nnot json\n", encoding="utf-8")
    run_step(store, local_step(tmp_path, manifest, enter_at="metadata"))
    ledger = outcomes(store, "local_sources")
    assert sorted(str(c) for _, c in ledger.values()) == ["None", "bad_line", "no_knowledge_point",
                                                            "unknown_knowledge_point"]
    assert store.get("video", "my-clip") is not None
    assert list(store.live_outputs("local_sources", "relevance")) == []  # the metadata judge decides the links


def test_url_list_through_the_download_code_path(tmp_path: Path, store: Store, server: MediaServer,
                                                 media: Path) -> None:
    seed_knowledge(store)
    manifest = tmp_path / "urls.jsonl"
    good, gone, blocked = server.url(f"yt/{IDS[2]}.mp4"), server.url(f"yt/{IDS[3]}.mp4"), server.url(f"yt/{IDS[4]}.mp4")
    server.fault(f"yt/{IDS[3]}.mp4", Fault.removed())
    server.fault(f"yt/{IDS[4]}.mp4", Fault.http(429))
    manifest.write_text("\n".join(json.dumps({"url": u, "licence": "CC-BY-4.0", "channel": "Lab",
                                              "knowledge_points": ["chem/titration"]})
                                  for u in (good, gone, blocked)) + "\n", encoding="utf-8")
    report = run_step(store, local_step(tmp_path, manifest, workers=1))
    assert report.counts == {"accepted": 1, "rejected": 1, "quarantined": 1}
    ledger = outcomes(store, "local_sources")
    assert ledger[f"url:{gone}"] == (Outcome.REJECTED, "removed")
    assert ledger[f"url:{blocked}"] == (Outcome.QUARANTINED, "http_429")
    digest = sha(media / "yt" / f"{IDS[2]}.mp4")
    video = store.get("video", f"local-{digest[:16]}")
    assert video is not None and (video.source, video.source_url, video.channel) == ("url", good, "Lab")  # type: ignore[attr-defined]
    assert Path(video.path).parent.parent == (tmp_path / "videos" / "url").resolve()  # type: ignore[attr-defined]
    gets = server.count(f"yt/{IDS[2]}.mp4")
    server.fault(f"yt/{IDS[4]}.mp4", None)
    again = run_step(store, local_step(tmp_path, manifest, workers=1))
    assert again.counts["accepted"] == 1, store.ledger_entries("local_sources")
    assert server.count(f"yt/{IDS[2]}.mp4") == gets


def test_missing_manifest_is_named(tmp_path: Path, store: Store) -> None:
    with pytest.raises(FileNotFoundError, match="steps.local_sources.manifest: .*nowhere.yaml: no such file"):
        run_step(store, local_step(tmp_path, tmp_path / "nowhere.yaml"))
