"""JSON for `--json` output and stored summaries: orjson, datetimes as ISO 8601 UTC (no terminal involved)."""

from __future__ import annotations

from typing import Any


def json_default(obj: Any) -> Any:
    """orjson's ``default``: datetimes as ISO 8601 (naive ones are UTC), dates, paths, sets, ``to_dict()``."""
    import datetime as dt
    from pathlib import Path

    if isinstance(obj, dt.datetime):
        return obj.strftime("%Y-%m-%dT%H:%M:%SZ") if obj.tzinfo is None else obj.isoformat()
    if isinstance(obj, dt.date):
        return obj.isoformat()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, set | frozenset):
        return sorted(obj)
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")


def to_json(obj: Any, *, indent: bool = True) -> str:
    """Serialize for `--json` output (orjson; datetimes as ISO 8601 UTC)."""
    import orjson

    opts = orjson.OPT_INDENT_2 if indent else 0
    return orjson.dumps(obj, default=json_default, option=opts | orjson.OPT_NON_STR_KEYS).decode()


def stored_json(value: Any) -> Any:
    """A JSON column as read from DuckDB: a str/bytes document parsed (None when it is not JSON), any other
    value (already a dict/list, or None) as it is."""
    import json

    if isinstance(value, str | bytes):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value
