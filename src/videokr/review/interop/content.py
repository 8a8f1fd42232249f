"""What a reviewer sees of an item in an outside tool: media URLs, cited moments, the item's fields as HTML.

Both tools show a task in a browser that is not the videokr app, so a local video is only
playable through a URL some server answers. `Media.url` turns an item's video (or frame) path
into one under `--media-url BASE`, which serves the media root (`--media-root`; by default the
workspace's video root, else the workspace): a static file server started there, or Label
Studio's local-files storage, whose `?d=` prefix is kept as given. http(s) URLs pass through.
Cited moments become links with a media fragment (`URL#t=SECONDS`), which browsers open at
that time, labelled as the prompts and the app label them (`format_timestamp`).
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

from videokr.review.schema import ReviewItem
from videokr.timestamps import format_timestamp

# Fields the tools show as their own text blocks (Label Studio <Text>, Argilla TextField): what the
# reviewer reads first. Everything else in `ReviewItem.fields` goes into the item's context block.
SHOWN_FIELDS = ("question", "options", "answer")


class MediaError(ValueError):
    """A local video or frame that no URL reaches (no --media-url given)."""


def is_url(ref: str) -> bool:
    return ref.startswith(("http://", "https://"))


@dataclass(frozen=True)
class Media:
    """Where local media are served: `base` (--media-url) answers for the folder `root` (--media-root).

    An item's relative path is relative to the `workspace` folder, as the providers write them."""

    base: str | None
    root: Path
    workspace: Path

    def url(self, ref: str | None) -> str | None:
        """The URL a browser plays `ref` from: a URL as it is; a local file: `base` + its path in `root`."""
        if not ref:
            return None
        if is_url(ref):
            return ref
        if self.base is None:
            raise MediaError(
                f"{ref} is a local file: pass --media-url BASE, a URL that serves {self.root} "
                "(e.g. a static file server started there)"
            )
        path = Path(ref)
        path = path if path.is_absolute() else self.workspace / path
        try:
            relative = PurePosixPath(path.resolve().relative_to(self.root.resolve()).as_posix())
        except ValueError:
            raise MediaError(
                f"{ref} is not under {self.root}, the folder --media-url serves: pass --media-root "
                "(a folder holding every video and frame of the queue)"
            ) from None
        joiner = "" if self.base.endswith(("/", "=")) else "/"
        return f"{self.base}{joiner}{quote(str(relative), safe='/')}"


def moment_links(url: str | None, timestamps: list[float]) -> str:
    """The cited moments as HTML: links that open the video at each time, or plain labels without a video."""
    parts = []
    for seconds in timestamps:
        label = html.escape(format_timestamp(seconds))
        if url:
            parts.append(f'<a href="{html.escape(url)}#t={seconds:g}" target="_blank">{label}</a>')
        else:
            parts.append(label)
    return " ".join(parts)


def field_text(value: Any) -> str:
    """A field's value as plain text: strings as they are, lists one item a line, anything else as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "\n".join(value)
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True)


def video_html(url: str | None, timestamps: list[float]) -> str:
    """An HTML5 player for the video and the cited moments under it (Argilla renders this markdown field)."""
    if not url:
        return ""
    player = (
        f'<video controls preload="metadata" width="100%"><source src="{html.escape(url)}" '
        'type="video/mp4"></video>'
    )
    moments = moment_links(url, timestamps)
    return player + (f"\n\n<p>Cited moments: {moments}</p>" if moments else "")


def context_html(item: ReviewItem, video: str | None, media: Media) -> str:
    """The item's title, cited moments, frames and the fields not shown on their own, as escaped HTML."""
    parts = [
        f"<h3>{html.escape(item.title)}</h3>",
        f"<p><small>{html.escape(item.group)} · " f"{html.escape(item.item_id)}</small></p>",
    ]
    if item.timestamps:
        parts.append(f"<p>Cited moments: {moment_links(video, item.timestamps)}</p>")
    for frame in item.frames:
        label = html.escape(format_timestamp(float(frame.get("t", 0.0))))
        src = media.url(str(frame.get("path") or ""))
        if src:
            parts.append(
                f'<figure><img src="{html.escape(src)}" width="320"><figcaption>{label}</figcaption>'
                "</figure>"
            )
    rest = {key: value for key, value in item.fields.items() if key not in SHOWN_FIELDS}
    if rest:
        rows = "".join(
            f'<dt><b>{html.escape(key)}</b></dt><dd><pre style="white-space:pre-wrap">'
            f"{html.escape(field_text(value))}</pre></dd>"
            for key, value in rest.items()
        )
        parts.append(f"<dl>{rows}</dl>")
    return "\n".join(parts)


def shown_fields(items: list[ReviewItem]) -> list[str]:
    """Which of SHOWN_FIELDS any item of the queue has, in that order (a tool's layout is per queue)."""
    present = {key for item in items for key in item.fields}
    return [key for key in SHOWN_FIELDS if key in present]
