"""`kmsdiag explain`'s input: one ID, an event file or an error text, explained against an open database
(shared by the typer command and the fast path)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb

    from diag.diagnosis.model import Diagnosis


def explain_input(
    con: duckdb.DuckDBPyConnection,
    *,
    ident: str | None,
    event_file: Path | None,
    error: str | None,
    key: str | None = None,
    region: str | None = None,
) -> Diagnosis:
    """The diagnosis of the one input given, each fix with its blast radius over the collected principals."""
    from diag import explain as ex

    if ident:
        return ex.explain_id(con, ident, blast_radius=blast_for_source)
    if event_file:
        return ex.explain_record(con, read_record(event_file), blast_radius=blast_for_source)
    return ex.explain_error(con, error or "", key=key, region=region, blast_radius=blast_for_source)


def blast_for_source(source: Any, request: Any, at: Any = None) -> Any:
    """``diag.proof.blast.blast_for_source``, imported when the pipeline first asks for it (a fix to prove
    against the database's policies): an explain without one does not import the blast radius and the audit
    matrix's evaluator (~8 ms of imports)."""
    from diag.proof import blast

    return blast.blast_for_source(source, request, at)


def verdict_title(diagnosis: Diagnosis) -> str:
    """The title of the rule that names the verdict ("" for a success or an unknown code)."""
    from diag.rules import load_rules

    code = diagnosis.verdict or "UNKNOWN"
    return next((cls.title for cls in load_rules() if cls.code == code), "")


def read_record(path: Path) -> dict[str, Any]:
    """One CloudTrail record from a file: a record, {"Records": [...]}, `aws cloudtrail lookup-events` output
    or an EventBridge "AWS API Call via CloudTrail" envelope (the first failed record, else the first)."""
    import orjson

    from diag.errors import BadInputError

    try:
        data = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise BadInputError(f"cannot read {path}: {exc.strerror}") from exc
    except orjson.JSONDecodeError as exc:
        raise BadInputError(f"{path} is not valid JSON ({exc}); pass one CloudTrail record or a Records file") from exc
    records = [r for r in _records_of(data) if isinstance(r, dict) and r.get("eventName")]
    if not records:
        raise BadInputError(f"{path} holds no CloudTrail record (no eventName)")
    failed = [r for r in records if r.get("errorCode")]
    return (failed or records)[0]


def _records_of(data: Any) -> list[Any]:
    """The records a document holds, in the shapes `kmsdiag ingest` reads."""
    import orjson

    if not isinstance(data, dict):
        return [data]
    if "Records" in data:
        return list(data.get("Records") or [])
    if isinstance(data.get("Events"), list):  # lookup-events: each record is a JSON string
        out = []
        for event in data["Events"]:
            inner = event.get("CloudTrailEvent") if isinstance(event, dict) else None
            try:
                out.append(orjson.loads(inner) if isinstance(inner, str) else None)
            except orjson.JSONDecodeError:
                continue
        return out
    if isinstance(data.get("detail"), dict) and ("detail-type" in data or "source" in data):
        return [data["detail"]]  # EventBridge envelope
    return [data]
