"""The AWS CLI's JSON: what `aws ... --output json` prints for a boto3 response, and reading it back.

The evidence bundle (DESIGN.md section 5) holds exactly this JSON, so live collection converts every
boto3 response with ``to_cli_json`` before anything else looks at it: live and bundle data then take the
same path through the ``transform_*`` functions. Timestamps are printed as the CLI v2 prints them
(ISO 8601 with an offset; we use UTC); ``parse_time`` (``diag.times``) also reads CLI v1's epoch seconds and ``Z``.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import urllib.parse
from typing import Any

from diag.times import parse_time

__all__ = ["cli_time", "dumps", "parse_time", "policy_document", "to_cli_json"]

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
