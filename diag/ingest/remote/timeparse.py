"""Parse ``--since``/``--until`` values: relative durations (``90d``, ``24h``, ``30m``) or ISO 8601 times.

All times in kmsdiag are naive UTC datetimes (DESIGN.md section 9).
"""

from __future__ import annotations

import datetime as dt
import re

from diag.errors import UsageError

_REL_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def utcnow() -> dt.datetime:
    """Now, as a naive UTC datetime."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def parse_when(text: str, *, now: dt.datetime | None = None) -> dt.datetime:
    """``7d`` → now minus 7 days; ``2026-11-28`` or ``2026-11-28T12:00:00Z`` → that UTC time."""
    now = now or utcnow()
    m = _REL_RE.match(text)
    if m:
        return now - dt.timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2).lower()])
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise UsageError(
            f"cannot read the time {text!r}: use a duration like 24h, 7d, 90d or an ISO time like 2026-11-28T12:00:00Z"
        ) from exc
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
    return parsed


def parse_duration(text: str) -> float:
    """``5m`` → 300.0 seconds (a bare number is seconds)."""
    value = text.strip()
    try:
        return float(value)
    except ValueError:
        pass
    m = _REL_RE.match(value)
    if not m:
        raise UsageError(f"cannot read the duration {text!r}: use e.g. 30s, 5m, 1h")
    return float(m.group(1)) * _UNITS[m.group(2).lower()]


def day_range(since: dt.datetime, until: dt.datetime) -> list[dt.date]:
    """Every UTC date from ``since`` to ``until`` inclusive."""
    first, last = since.date(), until.date()
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
