"""Parse ``--since``/``--until`` values: relative durations (``90d``, ``24h``, ``30m``) or ISO 8601 times.

All times in kmsdiag are naive UTC datetimes (DESIGN.md section 9).
"""

from __future__ import annotations

import datetime as dt

from diag.errors import UsageError
from diag.times import duration_seconds, parse_instant, utcnow

__all__ = ["day_range", "parse_duration", "parse_when", "utcnow"]


def parse_when(text: str, *, now: dt.datetime | None = None) -> dt.datetime:
    """``7d`` → now minus 7 days; ``2026-11-28`` or ``2026-11-28T12:00:00Z`` → that UTC time."""
    parsed = parse_instant(text, now or utcnow())
    if parsed is None:
        raise UsageError(
            f"cannot read the time {text!r}: use a duration like 24h, 7d, 90d or an ISO time like 2026-11-28T12:00:00Z"
        )
    return parsed


def parse_duration(text: str) -> float:
    """``5m`` → 300.0 seconds (a bare number is seconds)."""
    value = text.strip()
    try:
        return float(value)
    except ValueError:
        pass
    seconds = duration_seconds(value)
    if seconds is None:
        raise UsageError(f"cannot read the duration {text!r}: use e.g. 30s, 5m, 1h")
    return seconds


def day_range(since: dt.datetime, until: dt.datetime) -> list[dt.date]:
    """Every UTC date from ``since`` to ``until`` inclusive."""
    first, last = since.date(), until.date()
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
