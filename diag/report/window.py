"""The report's time window: ``--since 24h|7d|90m|2w|ISO`` and ``--until`` parsed to naive UTC datetimes.

kmsdiag stores every time as a naive UTC TIMESTAMP (001_core.sql), so windows are naive UTC as well.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from diag import times
from diag.errors import UsageError


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
    return times.utcnow(whole_seconds=True)


def parse_instant(text: str, now: dt.datetime, *, option: str) -> dt.datetime:
    """``24h``/``7d``/``90m``/``2w``/``30s`` before ``now`` (both --since and --until count from now), or an ISO 8601 date/time (offsets converted to UTC)."""
    value = times.parse_instant(text, now)
    if value is None:
        raise UsageError(
            f"{option} {text!r} is neither a duration (24h, 7d, 90m, 2w) nor an ISO 8601 date or time",
            hint=f"e.g. {option} 24h or {option} 2026-11-28T00:00:00Z",
        )
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
