"""The whole §3.1–§3.2 chain, end to end through `videokr run`, against loopback stand-ins of every endpoint.

kb → knowledge_points → scenarios → search_keywords → youtube_search → youtube_videos →
metadata_relevance → download → visual_relevance → safety, on a two-lecture knowledge bank
and a catalogue of eight videos (`chain_world` says what each is planted to do): real HTTP to
the OpenAI-compatible server, the YouTube Data API stand-in, the media server (real yt-dlp
fetching real MP4s) and Azure Content Safety; the real runner; the real CLI. Then the same
chain killed with SIGKILL mid-download and mid-judge, resumed to the same end state.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("yt_dlp")

from tests.cli_support import assert_accounted, funnel, invoke
from tests.collect.chain_world import (  # noqa: E402
    AZURE_KEY, BLUE_G, CATALYST_H, CHAIN, COOKING_C, FILES, HEIGHT, INERTIA_A, LONG_D, MODEL_STEPS, NOT_CC_E, RED_F,
    SHARED_B, WIDTH, YOUTUBE_KEY, ChainWorld, make_media,
)
from videokr.records import Outcome  # noqa: E402
from videokr.safety.frames import SAFETY_FRAMES  # noqa: E402
from videokr.store import Store  # noqa: E402
from videokr.testing import body_fingerprint  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
WRITES = {"kb": "lecture", "knowledge_points": "knowledge_point", "scenarios": "scenario",
          "search_keywords": "search_keyword", "youtube_search": "search_hit", "youtube_videos": "youtube_video",
          "metadata_relevance": "relevance", "download": "video", "visual_relevance": "relevance",
          "safety": "safety_check"}
# What the planted catalogue gives, step by step: (in, accepted, rejected by reason).
FUNNEL = {
    "kb": (2, 2, {}),
    "knowledge_points": (2, 2, {}),  # one lecture's points are the experts': no model asked
    "scenarios": (5, 5, {}),
    "search_keywords": (5, 5, {}),
    "youtube_search": (5, 5, {}),
    "youtube_videos": (8, 6, {"too_long": 1, "not_cc": 1}),
    "metadata_relevance": (7, 6, {"irrelevant": 1}),  # SHARED_B is linked to two scenarios
    "download": (5, 5, {}),
    "visual_relevance": (6, 5, {"irrelevant": 1}),
    "safety": (4, 3, {"unsafe": 1}),
}
MODEL_REQUESTS = 1 + 5 + 5 + 7 + 6  # knowledge_points (one lecture), scenarios, keywords, metadata, visual


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_media(tmp_path_factory.mktemp("chain-media"))


@pytest.fixture
def world(media: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ChainWorld]:
    with ChainWorld(media) as running:
        for name, value in running.env().items():
            monkeypatch.setenv(name, value)
        yield running








def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def live_state(ws: Path) -> dict[str, list[str]]:
    """Each step's live records and its ledger's outcomes: what two runs of the chain must agree on."""
    store = Store(ws / "videokr.sqlite")
    state = {}
    for step, kind in WRITES.items():
        state[f"{step}/{kind}"] = sorted(r.to_json() for r in store.live_outputs(step, kind))
        state[f"{step}/ledger"] = sorted(f"{e.item_id} {e.outcome.value} {e.code}" for e in store.ledger_entries(step))
    return state


# -- the chain through the command line ------------------------------------------------------------------


def test_the_chain_end_to_end_then_a_rerun_sends_nothing(tmp_path: Path, world: ChainWorld, media: Path) -> None:
    ws = world.workspace(tmp_path / "ws")
    done = invoke("-w", ws, "run")
    assert done.exit_code == 0, done.output
    assert "safety 4 in — 3 accepted, 1 rejected, 0 quarantined" in done.text

    rows = funnel(ws)
    assert_accounted(rows, CHAIN)
    assert {step: (r["in"], r["accepted"], r["rejected_by_reason"]) for step, r in rows.items()} == FUNNEL

    store = Store(ws / "videokr.sqlite")
    codes = {(step, e.item_id): e.code for step in CHAIN for e in store.ledger_entries(step, Outcome.REJECTED)}
    scenario = {kw.text: kw.scenario_id for kw in store.live_outputs("search_keywords", "search_keyword")}
    assert codes == {
        ("youtube_videos", LONG_D): "too_long",
        ("youtube_videos", NOT_CC_E): "not_cc",
        ("metadata_relevance", f"{COOKING_C}:{scenario['inertia']}"): "irrelevant",
        ("visual_relevance", f"visual:{BLUE_G}:{scenario['catalyst']}"): "irrelevant",
        ("safety", f"yt-{RED_F}"): "unsafe",
    }
    assert "Violence" in store.ledger_get("safety", f"yt-{RED_F}").reason

    # Every downloaded video carries what CC-BY attribution needs, and is the file the source served.
    videos = {v.id: v for v in store.live_outputs("download", "video")}
    assert set(videos) == {f"yt-{i}" for i in FILES}
    for youtube_id in FILES:
        video = videos[f"yt-{youtube_id}"]
        assert (video.source, video.youtube_id, video.licence) == ("youtube", youtube_id, "creativeCommon")
        assert video.channel == f"Channel {youtube_id[:4]}" and video.title
        assert video.source_url == f"https://www.youtube.com/watch?v={youtube_id}"  # the page, not the loopback URL
        assert video.path == f"youtube/{youtube_id[:2]}/{youtube_id}.mp4"  # under video_root
        assert video.sha256 == sha(media / "yt" / f"{youtube_id}.mp4") == sha(ws / "videos" / video.path)
        assert (video.width, video.height) == (WIDTH, HEIGHT)
    # The corpus: relevant to a scenario by metadata and by frames, and safe.
    assert {c.id for c in store.live_outputs("safety", "safety_check")} == {
        f"yt-{INERTIA_A}", f"yt-{SHARED_B}", f"yt-{CATALYST_H}"}
    assert {j.scenario_id for j in store.live_outputs("visual_relevance", "relevance")
            if j.video_id == f"yt-{SHARED_B}"} == {scenario["inertia"], scenario["newton's second law"]}

    # What reached each endpoint: only what the funnel let through.
    sent = world.requests()
    assert sent["openai"] == MODEL_REQUESTS and world.openai.stats.repeats_after_answer == []
    assert [r.path for r in world.youtube.calls()] == ["/search"] * 5 + ["/videos"]  # 8 ids in one videos.list
    assert world.azure.stats.received == 4 * SAFETY_FRAMES and world.azure.violations == []
    fetched = {r.path for r in world.files.requests if r.method == "GET"}
    assert fetched == {f"/yt/{i}.mp4" for i in FILES}  # never a video a filter had dropped
    assert world.responder.count("VisualAnswer") == 6 and world.responder.count("KnowledgePoints") == 1

    # No key reaches the store or the output.
    stored = (ws / "videokr.sqlite").read_bytes()
    assert YOUTUBE_KEY.encode() not in stored and AZURE_KEY.encode() not in stored
    assert YOUTUBE_KEY not in done.output and AZURE_KEY not in done.output

    again = invoke("-w", ws, "run")
    assert again.exit_code == 0, again.output
    assert "safety 4 in — 0 accepted, 0 rejected, 0 quarantined, 4 already done" in again.text
    assert world.requests() == sent  # not one request to any endpoint
    assert_accounted(funnel(ws), CHAIN)


def test_dry_run_in_a_fresh_copy_sends_nothing_and_prices_what_it_would_send(
        tmp_path: Path, world: ChainWorld) -> None:
    ws = world.workspace(tmp_path / "fresh")
    dry = invoke("-w", ws, "run", "--until", "safety", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "kb: 2 in, 0 done, 2 would be processed" in dry.text and "safety: 0 in" in dry.text
    assert world.requests() == {"openai": 0, "youtube": 0, "media": 0, "azure": 0}
    assert Store(ws / "videokr.sqlite").ledger_summary() == {}

    assert invoke("-w", ws, "run", "--only", "kb").exit_code == 0  # reads a file: nothing is sent
    dry = invoke("-w", ws, "run", "--until", "safety", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "knowledge_points: 2 in, 0 done, 2 would be processed; 1 model requests" in dry.text
    assert "≈$" in dry.text

    assert invoke("-w", ws, "run", "--until", "search_keywords").exit_code == 0
    before = world.requests()
    dry = invoke("-w", ws, "run", "--until", "safety", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "youtube_search: 5 in, 0 done, 5 would be processed; requests 5, quota units 500" in dry.text
    assert world.requests() == before  # the dry run sent nothing
    assert "youtube_search" not in Store(ws / "videokr.sqlite").ledger_summary()


# -- kill -9 mid-download and mid-judge ----------------------------------------------------------------------

MEDIA_RATE = 8000.0  # bytes per second per connection: a ~22 kB video takes about three seconds
SLOW_JUDGE_S = 1.0  # each visual judgement answers after this
KILL_SECTIONS = {"visual_relevance": {"concurrency": 1}, "download": {"workers": 2}}


def command(ws: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "videokr.cli.main", "-w", str(ws), *args]


def stored_requests(ws: Path) -> set[str]:
    """Server-side fingerprints of the model requests whose replies the gateway's cache holds."""
    store = Store(ws / "videokr.sqlite")
    try:
        rows = store.execute("SELECT request FROM model_calls WHERE state='done' AND step IN (%s)"
                             % ",".join("?" * len(MODEL_STEPS)), MODEL_STEPS).fetchall()
    except Exception:  # no model call yet: the cache table does not exist
        return set()
    return {body_fingerprint(json.loads(request)) for (request,) in rows}


def ledger_count(ws: Path, step: str) -> int:
    return len(Store(ws / "videokr.sqlite").ledger_entries(step)) if (ws / "videokr.sqlite").exists() else 0


def finished_files(ws: Path) -> set[str]:
    folder = ws / "videos" / "youtube"
    return {f"/yt/{p.name}" for p in folder.rglob("*.mp4") if ".download." not in p.name} if folder.exists() else set()


def kill_when(ws: Path, env: dict[str, str], moment: Callable[[], bool], timeout_s: float = 60.0) -> None:
    """Start `videokr run` in its own process group and SIGKILL it as soon as `moment()` holds."""
    log = ws.parent / f"{ws.name}-run.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(command(ws, "run"), env=env, start_new_session=True, stdout=out, stderr=out)
        deadline = time.monotonic() + timeout_s
        try:
            while not moment():
                assert proc.poll() is None, f"the run ended before the moment came: {log.read_text()[-2000:]}"
                assert time.monotonic() < deadline, "the moment never came"
                time.sleep(0.02)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == -signal.SIGKILL


def test_kill_9_mid_download_and_mid_judge_then_rerun_to_the_same_end(
        tmp_path: Path, media: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with ChainWorld(media) as reference_world:
        for name, value in reference_world.env().items():
            monkeypatch.setenv(name, value)
        reference = reference_world.workspace(tmp_path / "reference", **KILL_SECTIONS)
        assert invoke("-w", reference, "run").exit_code == 0
    expected = live_state(reference)

    with ChainWorld(media, slow_visual_s=SLOW_JUDGE_S, media_rate=MEDIA_RATE) as world:
        ws = world.workspace(tmp_path / "killed", **KILL_SECTIONS)
        env = {**os.environ, **world.env(), "PYTHONPATH": str(REPO)}
        snapshots: list[tuple[int, int, set[str], set[str]]] = []  # (events, media log, stored, finished)

        def snapshot() -> None:
            Store(ws / "videokr.sqlite").ledger_summary()  # the store opens after a kill
            world.files.settle()
            snapshots.append((len(world.openai.stats.events), len(world.files.requests), stored_requests(ws),
                              finished_files(ws)))

        # 1. mid-download: bytes of a video are on disk under its temporary name, no download is recorded
        def downloading() -> bool:
            folder = ws / "videos" / "youtube"
            parts = [p for p in folder.rglob("*.part") if p.stat().st_size > 0] if folder.exists() else []
            return bool(parts)

        kill_when(ws, env, downloading)
        snapshot()
        assert ledger_count(ws, "download") < len(FILES) and ledger_count(ws, "visual_relevance") == 0
        assert snapshots[-1][2], "the model steps before download stored their replies"

        # 2. mid-judge: some visual judgements stored by the gateway, not all of them in the ledger
        def judging() -> bool:
            return (len(stored_requests(ws)) >= MODEL_REQUESTS - 6 + 2
                    and ledger_count(ws, "visual_relevance") < 6)

        kill_when(ws, env, judging)
        snapshot()
        assert ledger_count(ws, "download") == len(FILES) and ledger_count(ws, "visual_relevance") < 6

        done = subprocess.run(command(ws, "run"), env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        world.files.settle()
        events, log = list(world.openai.stats.events), world.files.requests

        # no stored model request sent again, per fingerprint
        resent = {e.fingerprint for start, _, stored, _ in snapshots for e in events[start:] if e.fingerprint in stored}
        assert resent == set()
        # at kill 1 no model request was in flight, at kill 2 at most one judgement (concurrency 1)
        assert MODEL_REQUESTS <= len(events) <= MODEL_REQUESTS + 1
        # no finished file fetched again
        refetched = {r.path for _, start, _, finished in snapshots for r in log[start:] if r.path in finished}
        assert refetched == set()
        assert any(finished for *_, finished in snapshots)  # a file had finished before a kill

        sent = world.requests()
        again = subprocess.run(command(ws, "run"), env=env, capture_output=True, text=True, timeout=120)
        assert again.returncode == 0 and world.requests() == sent  # done is done

    assert_accounted(funnel(ws), CHAIN)
    assert live_state(ws) == expected
    for youtube_id in FILES:
        folder = ws / "videos" / "youtube" / youtube_id[:2]
        assert sorted(p.name for p in folder.iterdir()) == [f"{youtube_id}.mp4"]  # no temporary file left
        assert sha(folder / f"{youtube_id}.mp4") == sha(media / "yt" / f"{youtube_id}.mp4")
