"""ISO 8601 durations as the YouTube Data API writes them (`contentDetails.duration`).

Why a parser of our own: the API writes `PT1H2M3S`, `PT45S`, `P1DT2H` (day-long streams),
`P0D` (a live stream) and, rarely, fractional seconds; the 30-minute limit of §3.2 is decided
on this number, so what cannot be read must not pass as zero: it raises, and the video is
rejected (`bad_duration`) instead of being kept or dropped silently.

Years and months are refused: their length in seconds is not defined, and the API never
writes them for a video.
"""

from __future__ import annotations

import re

_DURATION = re.compile(
    r"^P(?!$)"
    r"(?:(?P<weeks>\d+)W)?"
    r"(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)"
    r"(?:(?P<hours>\d+)H)?"
    r"(?:(?P<minutes>\d+)M)?"
    r"(?:(?P<seconds>\d+(?:[.,]\d+)?)S)?"
    r")?$"
)
_SECONDS = {"weeks": 604_800, "days": 86_400, "hours": 3_600, "minutes": 60}


def parse_duration(text: str) -> float:
    """Seconds in an ISO 8601 duration (`PT1H2M3S` → 3723.0); ValueError, naming the text, if it is not one."""
    if not isinstance(text, str):
        raise ValueError(f"duration {text!r} is not text")
    match = _DURATION.match(text.strip().upper())
    if match is None:
        raise ValueError(f"{text!r} is not an ISO 8601 duration of weeks, days, hours, minutes and seconds")
    parts = match.groupdict()
    total = float((parts["seconds"] or "0").replace(",", "."))
    for name, seconds in _SECONDS.items():
        total += int(parts[name] or 0) * seconds
    return total
