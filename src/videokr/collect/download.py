"""One video file from a URL through yt-dlp, finished only once it is proven whole.

Why this shape:

- yt-dlp writes to a temporary name (`<id>.download.<ext>`, with its own `.part` while the
  bytes arrive); the file gets its final name (`<id>.<ext>`) only after its sha256 and a
  probe of the video layer succeed, by an atomic rename after an fsync. A process killed at
  any instant leaves at most a temporary file that no reader mistakes for a finished one,
  and the next attempt resumes it (yt-dlp continues a `.part` with a byte range).
- A file already at its final name is adopted, not fetched again, when it probes and its
  duration matches what the metadata says (the ledger may have lost it; the file has not).
- yt-dlp's failures are sorted into three kinds the caller acts on: `blocked` (bot check,
  HTTP 403, HTTP 429: the source refuses us, so every download should slow down), `rejected`
  (private, removed, unavailable: the video will not come back; a verdict) and `transient`
  (anything else: retried by the next run). The texts matched are YouTube's own, as
  yt-dlp's YouTube extractor passes them on, and the HTTP status of the underlying error.
- Building a yt-dlp downloader is dear (it registers its extractors and loads the TLS
  certificates: ~50 ms of one core with all extractors, several times what fetching a 3 MB
  file over loopback costs), so the downloaders of one set of settings are kept in a pool
  (`Downloaders`) and reused, each by one thread at a time; a reused one also keeps its open
  connections and what its extractors learned (YouTube's player code). Only the output name
  changes from one download to the next.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from videokr.errors import Transient

WATCH_URL_ENV = "VIDEOKR_YOUTUBE_WATCH_URL"
DEFAULT_WATCH_URL = "https://www.youtube.com/watch?v={id}"
# ≤ 480p MP4 (§3.2 keeps downloads small): separate video + m4a audio when they can be merged,
# else the best single MP4 file, else any single file. `height<=?` also admits formats whose
# height is unknown (a direct file link); YouTube's formats always state it.
DEFAULT_FORMAT = "bv*[height<=?480][ext=mp4]+ba[ext=m4a]/b[height<=?480][ext=mp4]/b[height<=?480]"
DEFAULT_RETRIES = 10  # yt-dlp's own retries of one download (connection cuts resume with a byte range)
DEFAULT_SOCKET_TIMEOUT_S = 30.0
# The extractors a YouTube watch URL needs: YouTube's own, and the generic one for a direct file link
# (a mirror, or the loopback stand-in that VIDEOKR_YOUTUBE_WATCH_URL points to in tests). Allowing
# only these builds a downloader in ~1 ms instead of ~35 ms, and spares each download a match of its
# URL against each of yt-dlp's ~1,900 extractors (a quarter of yt-dlp's time on a 3 MB file).
YOUTUBE_EXTRACTORS = ("youtube", "generic")
# yt-dlp formats a progress line after every block it writes even when nothing is shown (a tenth of
# its time on a 3 MB file); this is the least time between two such lines. Cancellation does not
# depend on it: the cancel hook runs after every block.
PROGRESS_EVERY_S = 3600.0
# A finished file is adopted when its probed duration is within this of the metadata's.
ADOPT_DURATION_TOLERANCE_S = 2.0
ADOPT_DURATION_TOLERANCE_SHARE = 0.05
FINAL_EXTENSIONS = ("mp4", "webm", "mkv", "mov")
TEMP_MARK = ".download"

FailureKind = Literal["blocked", "rejected", "transient"]

# (code, phrases) in the order they are tried; phrases are matched lower-case with straight quotes.
BLOCK_PHRASES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("bot_check", ("confirm you're not a bot", "confirm you are not a bot", "unusual traffic",
                   "captcha", "this content isn't available, try again later", "rate-limited by youtube")),
)
GONE_PHRASES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("private", ("private video", "this video is private", "video is private")),
    ("removed", ("has been removed", "account associated with this video has been terminated",
                 "video has been terminated", "no longer available")),
    ("unavailable", ("video unavailable", "this video is unavailable", "video is not available",
                     "not made this video available in your country", "this video is drm protected",
                     "members-only", "sign in to confirm your age", "premieres in", "this live event will begin")),
)
BLOCK_STATUSES = {403: "http_403", 429: "http_429"}
GONE_STATUSES = {404: "unavailable", 410: "removed"}


class DownloadFailure(Exception):
    """Why a download did not produce a file: `kind` says what the caller does, `code` names it in the funnel."""

    def __init__(self, message: str, kind: FailureKind, code: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.code = code


def classify(message: str, status: int | None = None) -> tuple[FailureKind, str]:
    """(kind, code) of a failed download from yt-dlp's message and the HTTP status beneath it.

    Texts first, then the status: a bot check can arrive as a 403, and a private video's page
    as a 404, and the text is the more precise of the two."""
    text = message.lower().replace("\u2019", "'")
    for code, phrases in BLOCK_PHRASES:
        if any(p in text for p in phrases):
            return "blocked", code
    for code, phrases in GONE_PHRASES:
        if any(p in text for p in phrases):
            return "rejected", code
    if status in BLOCK_STATUSES:
        return "blocked", BLOCK_STATUSES[status]
    if status in GONE_STATUSES:
        return "rejected", GONE_STATUSES[status]
    match = re.search(r"HTTP Error (\d{3})", message)
    if match and status is None:
        return classify(message, int(match.group(1)))
    return "transient", "download_failed"


def watch_url(youtube_id: str) -> str:
    """Where a YouTube video is fetched from: `VIDEOKR_YOUTUBE_WATCH_URL` (a template with `{id}`) or YouTube."""
    template = os.environ.get(WATCH_URL_ENV) or DEFAULT_WATCH_URL
    if "{id}" not in template:
        raise ValueError(f"{WATCH_URL_ENV} must contain {{id}} where the video id goes, got {template!r}")
    return template.replace("{id}", youtube_id)


def video_file(root: Path, source: str, video_id: str, ext: str = "mp4") -> Path:
    """The sharded place of a video: `<root>/<source>/<first two characters of the id>/<id>.<ext>`.

    Two characters of a YouTube id give 4,096 folders: a million videos stay a few hundred per folder."""
    if not video_id or "/" in video_id or video_id.startswith("."):
        raise ValueError(f"a video id cannot name a file: {video_id!r}")
    return root / source / video_id[:2] / f"{video_id}.{ext}"


def finished_file(target: Path) -> Path | None:
    """The finished file of `target` under any extension a download may end in, if there is one."""
    for ext in FINAL_EXTENSIONS:
        candidate = target.with_suffix(f".{ext}")
        if candidate.is_file():
            return candidate
    return None


def merge_available() -> bool:
    """Whether yt-dlp can merge separate video and audio streams (it needs FFmpeg on PATH)."""
    return shutil.which("ffmpeg") is not None


def usable_format(spec: str, can_merge: bool) -> str:
    """`spec` without the alternatives that merge streams when FFmpeg is missing (yt-dlp would fail on them)."""
    if can_merge:
        return spec
    single = [alt for alt in spec.split("/") if "+" not in alt]
    if not single:
        raise ValueError(f"format {spec!r} only merges streams, which needs FFmpeg; install FFmpeg or add a "
                         "single-file alternative (e.g. '/b[height<=?480]')")
    return "/".join(single)


@dataclass(frozen=True)
class FetchSettings:
    """How yt-dlp fetches: none of these change which file a URL yields, only how politely and robustly."""

    format: str = DEFAULT_FORMAT
    retries: int = DEFAULT_RETRIES
    sleep_min_s: float = 0.0  # yt-dlp waits a random time in [min, max] before each download
    sleep_max_s: float = 0.0
    rate_limit: int | None = None  # bytes per second per download
    cookies: str | None = None  # a Netscape cookies file
    socket_timeout_s: float = DEFAULT_SOCKET_TIMEOUT_S
    # yt-dlp extractor names (regular expressions) allowed to handle a URL; None: all of them
    # (a list of arbitrary URLs); YOUTUBE_EXTRACTORS for YouTube watch URLs
    extractors: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Fetched:
    """A finished file and what the video layer found in it."""

    path: Path
    sha256: str
    duration_s: float
    width: int
    height: int
    fps: float
    size_bytes: int
    adopted: bool  # found finished on disk: nothing was downloaded


class _QuietLogger:
    """yt-dlp's messages kept off the terminal; its errors reach us as exceptions."""

    def debug(self, msg: str) -> None:
        pass

    def info(self, msg: str) -> None:
        pass

    def warning(self, msg: str) -> None:
        pass

    def error(self, msg: str) -> None:
        pass


class _CancelHook:
    """A pooled downloader's progress hook, pointed at the cancel event of the download it is doing now.

    yt-dlp calls it after every block it writes, so a stopping run ends a download within a block."""

    def __init__(self, cancel: threading.Event | None = None) -> None:
        self.cancel = cancel

    def __call__(self, _status: dict[str, Any]) -> None:
        if self.cancel is not None and self.cancel.is_set():
            from yt_dlp.utils import DownloadCancelled

            raise DownloadCancelled()


def ydl_options(settings: FetchSettings, outtmpl: str, cancel: threading.Event | None) -> dict[str, Any]:
    """yt-dlp's parameters for one download (see yt_dlp.YoutubeDL's docstring for each)."""
    return _options(settings, outtmpl, _CancelHook(cancel))


def _options(settings: FetchSettings, outtmpl: str, hook: _CancelHook) -> dict[str, Any]:
    options: dict[str, Any] = {
        "format": usable_format(settings.format, merge_available()),
        "outtmpl": {"default": outtmpl},
        "merge_output_format": "mp4",
        "noplaylist": True,
        "continuedl": True,
        "overwrites": False,
        "retries": settings.retries,
        "fragment_retries": settings.retries,
        "socket_timeout": settings.socket_timeout_s,
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
        "progress_delta": PROGRESS_EVERY_S,
        "logger": _QuietLogger(),
        "cachedir": False,
        "progress_hooks": [hook],
    }
    if settings.sleep_max_s > 0:
        options["sleep_interval"] = settings.sleep_min_s
        options["max_sleep_interval"] = max(settings.sleep_min_s, settings.sleep_max_s)
    if settings.rate_limit:
        options["ratelimit"] = settings.rate_limit
    if settings.cookies:
        options["cookiefile"] = settings.cookies
    if settings.extractors is not None:
        options["allowed_extractors"] = list(settings.extractors)
    return options


def _import_ytdlp() -> Any:
    try:
        import yt_dlp
    except ImportError:
        raise RuntimeError("downloading needs yt-dlp: pip install 'videokr[collect]'") from None
    return yt_dlp


class Downloaders:
    """Reusable yt-dlp downloaders for one `FetchSettings`; each serves one download at a time.

    A download leases one (`lease`), sets its output name, and gives it back when it succeeds;
    one that failed is closed instead, so a broken connection or a half-closed file of a
    cancelled download never reaches the next download. Thread-safe; `close` when done
    (a cookies file is written back then)."""

    def __init__(self, settings: FetchSettings | None = None) -> None:
        self.settings = settings or FetchSettings()
        self._idle: list[tuple[Any, _CancelHook]] = []
        self._lock = threading.Lock()
        self._closed = False
        self.built = 0  # downloaders built so far, for reports and tests

    def _new(self) -> tuple[Any, _CancelHook]:
        yt_dlp = _import_ytdlp()
        with self._lock:
            self.built += 1
        hook = _CancelHook()
        # the output name is a placeholder until a lease sets the real one
        return yt_dlp.YoutubeDL(_options(self.settings, TEMP_MARK + ".%(ext)s", hook)), hook

    @contextmanager
    def lease(self, outtmpl: str, cancel: threading.Event | None = None) -> Iterator[Any]:
        """A downloader that writes to `outtmpl` and stops when `cancel` is set, for one download."""
        with self._lock:
            held = self._idle.pop() if self._idle else None
        ydl, hook = held or self._new()
        # `outtmpl` is the only parameter that differs between downloads; yt-dlp reads it from
        # its params at each download (prepare_filename), and fills the other kinds of output
        # name (chapters, thumbnails: never written here) once, when it is built
        ydl.params["outtmpl"]["default"] = outtmpl
        hook.cancel = cancel
        ok = False
        try:
            yield ydl
            ok = True
        finally:
            hook.cancel = None
            with self._lock:
                keep = ok and not self._closed
                if keep:
                    self._idle.append((ydl, hook))
            if not keep:
                ydl.close()

    def close(self) -> None:
        """Close the idle downloaders (their connections; a cookies file is saved); leased ones close on return."""
        with self._lock:
            idle, self._idle = self._idle, []
            self._closed = True
        for ydl, _hook in idle:
            ydl.close()

    def __enter__(self) -> "Downloaders":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _status_of(exc: BaseException) -> int | None:
    """The HTTP status somewhere beneath a yt-dlp error, if any."""
    seen: set[int] = set()
    stack: list[Any] = [exc]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        status = getattr(current, "status", None)
        if isinstance(status, int) and 100 <= status <= 599:
            return status
        exc_info = getattr(current, "exc_info", None)
        if isinstance(exc_info, tuple) and len(exc_info) > 1:
            stack.append(exc_info[1])
        stack.extend([getattr(current, "cause", None), getattr(current, "__cause__", None)])
    return None


def _clean_message(message: str) -> str:
    return re.sub(r"^ERROR:\s*", "", message.strip())


def verify(path: Path) -> Fetched:
    """sha256 and probe of a file; raises the video layer's VideoError when it is not a usable video.

    Hashed after the download rather than while yt-dlp writes (it writes through its own file):
    the file is still in the page cache, and the hash itself (~1.8 GB/s per core, whatever the
    read size) is the cost, not reading it back."""
    from videokr.video.probe import probe, sha256_file

    info = probe(path)
    width, height = info.display_size
    return Fetched(path=path, sha256=sha256_file(path), duration_s=round(info.duration_s, 6), width=width,
                   height=height, fps=round(info.fps, 6), size_bytes=path.stat().st_size, adopted=False)


def duration_matches(found_s: float, expected_s: float | None) -> bool:
    if not expected_s:
        return True
    tolerance = max(ADOPT_DURATION_TOLERANCE_S, expected_s * ADOPT_DURATION_TOLERANCE_SHARE)
    return abs(found_s - expected_s) <= tolerance


def adopt(target: Path, expected_duration_s: float | None = None) -> Fetched | None:
    """A finished file already at `target` (any extension), if it probes and its duration matches."""
    from videokr.video.probe import VideoError

    existing = finished_file(target)
    if existing is None:
        return None
    try:
        found = verify(existing)
    except VideoError:
        return None
    if not duration_matches(found.duration_s, expected_duration_s):
        return None
    return Fetched(**{**found.__dict__, "adopted": True})


def _durable_rename(source: Path, target: Path) -> None:
    """Rename after the bytes are on disk, then make the rename itself durable."""
    with source.open("rb") as handle:
        os.fsync(handle.fileno())
    os.replace(source, target)
    try:
        fd = os.open(target.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def fetch(url: str, target: Path, settings: FetchSettings | None = None, *, expected_duration_s: float | None = None,
          cancel: threading.Event | None = None, downloaders: Downloaders | None = None) -> Fetched:
    """The file of `url` at `target` (its extension may differ when the format chosen is not MP4).

    `downloaders` (whose settings are used, `settings` must then be None or the same) saves
    building a yt-dlp downloader per call; without it one is built and closed here.
    Raises DownloadFailure (blocked, rejected or transient) or Transient when cancelled."""
    if downloaders is not None:
        if settings is not None and settings != downloaders.settings:
            raise ValueError("fetch: `settings` differ from those of `downloaders`; pass one or the other")
        return _fetch(url, target, downloaders, expected_duration_s, cancel)
    with Downloaders(settings) as own:
        return _fetch(url, target, own, expected_duration_s, cancel)


def _fetch(url: str, target: Path, downloaders: Downloaders, expected_duration_s: float | None,
           cancel: threading.Event | None) -> Fetched:
    from videokr.video.probe import VideoError

    found = adopt(target, expected_duration_s)
    if found is not None:
        return found
    stale = finished_file(target)
    if stale is not None:  # a final name whose content does not probe or match: fetch it again
        stale.unlink()
    target.parent.mkdir(parents=True, exist_ok=True)
    outtmpl = str(target.with_suffix("")) + TEMP_MARK + ".%(ext)s"
    temp = _run_ytdlp(url, downloaders, outtmpl, cancel)
    try:
        fetched = verify(temp)
    except VideoError as exc:
        temp.unlink(missing_ok=True)
        raise DownloadFailure(f"{url}: the file downloaded is not a usable video ({exc.problem})", "rejected",
                              "unreadable") from None
    final = target.with_suffix(temp.suffix)
    _durable_rename(temp, final)
    return Fetched(**{**fetched.__dict__, "path": final})


def _run_ytdlp(url: str, downloaders: Downloaders, outtmpl: str, cancel: threading.Event | None) -> Path:
    _import_ytdlp()
    from yt_dlp.utils import DownloadCancelled, DownloadError

    if cancel is not None and cancel.is_set():
        raise Transient(f"{url}: download cancelled (the run is stopping)")
    try:
        with downloaders.lease(outtmpl, cancel) as ydl:
            info = ydl.extract_info(url, download=True)
    except DownloadCancelled:
        raise Transient(f"{url}: download cancelled (the run is stopping)") from None
    except DownloadError as exc:
        if cancel is not None and cancel.is_set():
            raise Transient(f"{url}: download cancelled (the run is stopping)") from None
        message = _clean_message(str(exc))
        kind, code = classify(message, _status_of(exc))
        raise DownloadFailure(message, kind, code) from None
    downloads = (info or {}).get("requested_downloads") or []
    path = downloads[0].get("filepath") if downloads else None
    if not path or not Path(path).is_file():
        raise DownloadFailure(f"{url}: yt-dlp reported no file", "transient", "download_failed")
    return Path(path)
