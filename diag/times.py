"""Time in kmsdiag: naive UTC datetimes everywhere (the database stores naive UTC TIMESTAMPs).

- ``utcnow()``: now;
- ``parse_time(value)``: any timestamp AWS or CloudTrail writes (ISO 8601, epoch seconds or milliseconds,
  ``"Nov 2, 2021, 11:25:25 PM"``, Java's ``Date.toString``, RFC 1123), None when it is not one;
- ``parse_iso(text)``: an ISO 8601 date or time given by a user (``Z`` or an offset converted to UTC);
- ``duration_seconds(text)``: ``30s``/``5m``/``24h``/``7d``/``2w`` in seconds (None when not a duration);
- ``parse_instant(text, now)``: a duration before ``now`` or an ISO time (None when neither).
- ``cloudtrail_time(value)``: a time written as CloudTrail writes ``eventTime`` (``2026-11-28T12:00:00Z``).

Callers raise their own usage error (with their option's name) when a user's text is neither.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

UTC = dt.UTC

DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def utcnow(*, whole_seconds: bool = False) -> dt.datetime:
    """Now, as a naive UTC datetime (to the second when ``whole_seconds``)."""
    now = dt.datetime.now(UTC).replace(tzinfo=None)
    return now.replace(microsecond=0) if whole_seconds else now


def naive_utc(value: dt.datetime) -> dt.datetime:
    """An aware datetime converted to naive UTC; a naive one is taken as UTC already."""
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo is not None else value


def cloudtrail_time(value: dt.datetime) -> str:
    """CloudTrail's form of a time (``eventTime``): ``2026-11-28T12:00:00Z``, UTC, to the second. A naive
    datetime is taken as UTC already."""
    return f"{naive_utc(value):%Y-%m-%dT%H:%M:%SZ}"


def duration_seconds(text: str) -> float | None:
    """``7d`` -> 604800.0; None when ``text`` is not a number followed by one of s, m, h, d, w."""
    m = DURATION_RE.match(text)
    return float(m.group(1)) * UNIT_SECONDS[m.group(2).lower()] if m else None


def parse_iso(text: str) -> dt.datetime | None:
    """``2026-11-28``, ``2026-11-28T12:00:00Z``, ``...+02:00`` as naive UTC; None when not ISO 8601."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        return naive_utc(dt.datetime.fromisoformat(value))
    except ValueError:
        return None


def parse_instant(text: str, now: dt.datetime) -> dt.datetime | None:
    """A duration before ``now`` (``24h`` -> a day ago) or an ISO 8601 date/time; None when neither."""
    seconds = duration_seconds(text)
    if seconds is not None:
        return now - dt.timedelta(seconds=seconds)
    return parse_iso(text)


_HUMAN_FORMATS = (
    "%b %d, %Y, %I:%M:%S %p",  # "Nov 2, 2021, 11:25:25 PM" (CloudTrail's ScheduleKeyDeletion deletionDate)
    "%b %d, %Y %I:%M:%S %p",
    "%B %d, %Y, %I:%M:%S %p",
    "%B %d, %Y %I:%M:%S %p",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%a %b %d %H:%M:%S %Z %Y",  # "Tue Nov 02 23:25:25 UTC 2021" (Java's Date.toString)
    "%a, %d %b %Y %H:%M:%S %Z",  # RFC 1123, as in HTTP headers
)


def parse_time(value: Any) -> dt.datetime | None:
    """Any timestamp AWS or CloudTrail writes, as a naive UTC datetime (None when it is not one).

    The one date parser of kmsdiag: ISO 8601 with an offset or ``Z`` (fractions allowed), epoch seconds or
    milliseconds (number or text; CLI v1 and some ``responseElements``), and the human form CloudTrail uses
    in some ``responseElements`` (``"Nov 2, 2021, 11:25:25 PM"``, read as UTC), Java's ``Date.toString``
    and RFC 1123.
    """
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, dt.datetime):
        return naive_utc(value)
    if isinstance(value, int | float):
        seconds = float(value)
        if abs(seconds) > 1e11:  # milliseconds since the epoch
            seconds /= 1000.0
        try:
            return naive_utc(dt.datetime.fromtimestamp(seconds, tz=UTC))
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str):
        return None
    text = " ".join(value.split())
    try:
        return parse_time(float(text))
    except ValueError:
        pass
    iso = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
    try:
        return naive_utc(dt.datetime.fromisoformat(iso))
    except ValueError:
        return _parse_human(text)


def _parse_human(text: str) -> dt.datetime | None:
    for fmt in _HUMAN_FORMATS:
        try:
            return naive_utc(dt.datetime.strptime(text, fmt))
        except ValueError:
            continue
    # "Apr 12, 2021 18:58:30 PM" (a real CloudTrail example): a 24-hour clock with a stray AM/PM
    bare = text[:-3] if text.endswith((" AM", " PM")) else text
    for fmt in ("%b %d, %Y %H:%M:%S", "%b %d, %Y, %H:%M:%S"):
        try:
            return dt.datetime.strptime(bare, fmt)
        except ValueError:
            continue
    return None
