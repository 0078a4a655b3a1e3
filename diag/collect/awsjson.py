"""The AWS CLI's JSON: what `aws ... --output json` prints for a boto3 response, and reading it back.

The evidence bundle (DESIGN.md section 5) holds exactly this JSON, so live collection converts every
boto3 response with ``to_cli_json`` before anything else looks at it: live and bundle data then take the
same path through the ``transform_*`` functions. Timestamps are printed as the CLI v2 prints them
(ISO 8601 with an offset; we use UTC); ``parse_time`` also reads CLI v1's epoch seconds and ``Z``.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import urllib.parse
from typing import Any

UTC = dt.UTC


def cli_time(value: dt.datetime) -> str:
    """A datetime as the AWS CLI v2 prints it: ``2026-11-28T12:00:00.123000+00:00`` (UTC here)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat()


def to_cli_json(obj: Any) -> Any:
    """A boto3 response as the AWS CLI prints it: no ResponseMetadata, ISO timestamps, base64 blobs."""
    if isinstance(obj, dict):
        return {k: to_cli_json(v) for k, v in obj.items() if k != "ResponseMetadata"}
    if isinstance(obj, list | tuple):
        return [to_cli_json(v) for v in obj]
    if isinstance(obj, dt.datetime):
        return cli_time(obj)
    if isinstance(obj, bytes | bytearray):
        return base64.b64encode(bytes(obj)).decode("ascii")
    if hasattr(obj, "read"):  # a streaming body
        return to_cli_json(obj.read())
    return obj


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
        stamp = value
    elif isinstance(value, int | float):
        seconds = float(value)
        if abs(seconds) > 1e11:  # milliseconds since the epoch
            seconds /= 1000.0
        try:
            stamp = dt.datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    elif isinstance(value, str):
        text = " ".join(value.split())
        try:
            return parse_time(float(text))
        except ValueError:
            pass
        iso = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
        try:
            stamp = dt.datetime.fromisoformat(iso)
        except ValueError:
            human = _parse_human(text)
            if human is None:
                return None
            stamp = human
    else:
        return None
    if stamp.tzinfo is not None:
        stamp = stamp.astimezone(UTC).replace(tzinfo=None)
    return stamp


def _parse_human(text: str) -> dt.datetime | None:
    for fmt in _HUMAN_FORMATS:
        try:
            return dt.datetime.strptime(text, fmt)
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


def policy_document(value: Any) -> Any:
    """A policy document from an API field: a dict already, a JSON string, or IAM's URL-encoded JSON.

    Returns the parsed document, or the original string when it is not JSON (kept as evidence).
    """
    if value is None or isinstance(value, dict | list):
        return value
    if not isinstance(value, str):
        return value
    for candidate in (value, urllib.parse.unquote(value)):
        try:
            return json.loads(candidate)
        except ValueError:
            continue
    return value


def dumps(doc: Any) -> str:
    """JSON text for a DuckDB JSON column: stable key order so snapshots compare equal."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
