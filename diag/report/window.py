"""The report's time window: ``--since 24h|7d|90m|2w|ISO`` and ``--until`` parsed to naive UTC datetimes.

kmsdiag stores every time as a naive UTC TIMESTAMP (001_core.sql), so windows are naive UTC as well.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from diag.errors import UsageError

_REL_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


@dataclass(frozen=True)
class Window:
    """Failures with ``start <= event_time < end`` (naive UTC); ``label`` is what the user asked for."""

    start: dt.datetime
    end: dt.datetime
    label: str

    @property
    def hours(self) -> float:
        return (self.end - self.start).total_seconds() / 3600


def utcnow() -> dt.datetime:
    """Now, naive UTC, to the second."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


def parse_instant(text: str, now: dt.datetime, *, option: str) -> dt.datetime:
    """``24h``/``7d``/``90m``/``2w``/``30s`` before ``now`` (both --since and --until count from now), or an ISO 8601 date/time (offsets converted to UTC)."""
    m = _REL_RE.match(text)
    if m:
        seconds = float(m.group(1)) * _UNIT_SECONDS[m.group(2).lower()]
        return now - dt.timedelta(seconds=seconds)
    raw = text.strip()
    if raw.endswith(("Z", "z")):
        raw = raw[:-1] + "+00:00"
    try:
        value = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise UsageError(
            f"{option} {text!r} is neither a duration (24h, 7d, 90m, 2w) nor an ISO 8601 date or time",
            hint=f"e.g. {option} 24h or {option} 2026-11-28T00:00:00Z",
        ) from None
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


ALL = "all"
EPOCH = dt.datetime(1970, 1, 1)


def parse_window(
    since: str, until: str | None = None, *, now: dt.datetime | None = None, first: dt.datetime | None = None
) -> Window:
    """Build the window; ``until`` defaults to now. ``since="all"`` starts at ``first`` (the oldest event,
    when the caller knows it). An empty or inverted window is a usage error."""
    now = now or utcnow()
    end = parse_instant(until, now, option="--until") if until else now
    if since.strip().lower() == ALL:
        start = min(first, end - dt.timedelta(seconds=1)) if first else EPOCH
        return Window(start=start, end=end, label=ALL if not until else f"{ALL} .. {until}")
    start = parse_instant(since, now, option="--since")
    if start >= end:
        raise UsageError(f"the window is empty: --since {since} is not before --until {until or 'now'}")
    return Window(start=start, end=end, label=since if not until else f"{since} .. {until}")
