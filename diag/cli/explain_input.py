"""Reading the record of `kmsdiag explain --event-file` (shared by the typer command and the fast path)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def read_record(path: Path) -> dict[str, Any]:
    """One CloudTrail record from a file: a record, or {"Records": [...]} (its first failed record)."""
    import orjson

    from diag.errors import BadInputError

    try:
        data = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise BadInputError(f"cannot read {path}: {exc.strerror}") from exc
    except orjson.JSONDecodeError as exc:
        raise BadInputError(f"{path} is not valid JSON ({exc}); pass one CloudTrail record or a Records file") from exc
    records = data.get("Records") if isinstance(data, dict) and "Records" in data else [data]
    records = [r for r in records or [] if isinstance(r, dict) and r.get("eventName")]
    if not records:
        raise BadInputError(f"{path} holds no CloudTrail record (no eventName)")
    failed = [r for r in records if r.get("errorCode")]
    return (failed or records)[0]
