"""The CPU-heavy half of ingest, run in worker processes: read, unpack, parse, filter, normalize.

Kept light on imports (orjson, gzip): workers are spawned processes. One task is a list of inputs; the
result per input is a :class:`FileResult` whose rows are already in ``events`` column order, so the
database side only has to append them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from diag.ingest.filter import keep
from diag.ingest.normalize import normalize_row
from diag.ingest.parse import KIND_DIGEST, KIND_RECORDS, KIND_REFUSED, is_digest_name, parse_blob

Row = tuple[str | None, ...]


@dataclass
class FileResult:
    """What one input yielded: status ok/digest/refused, counts, and the kept rows."""

    name: str
    status: str
    reason: str | None = None
    shape: str | None = None
    records_total: int = 0
    records_skipped: int = 0
    rows: list[Row] = field(default_factory=list)


@dataclass
class Task:
    """Inputs for one worker call: (name, path to read | bytes) pairs."""

    items: list[tuple[str, str | bytes]]


def process_bytes(name: str, data: bytes) -> FileResult:
    """Parse one blob and normalize the records that kmsdiag keeps."""
    parsed = parse_blob(data, name)
    if parsed.kind == KIND_REFUSED:
        return FileResult(name, "refused", reason=parsed.reason)
    if parsed.kind == KIND_DIGEST:
        return FileResult(name, "digest", shape="digest")
    assert parsed.kind == KIND_RECORDS
    rows: list[Row] = []
    skipped = 0
    for rec in parsed.records:
        if keep(rec.get("eventSource"), rec.get("eventName")):
            rows.append(normalize_row(rec))
        else:
            skipped += 1
    return FileResult(
        name, "ok", shape=parsed.shape, records_total=len(parsed.records), records_skipped=skipped, rows=rows
    )


def process_item(name: str, source: str | bytes) -> FileResult:
    """Read (when given a path) and process one input; unreadable files are refused, not raised."""
    if isinstance(source, str):
        if is_digest_name(name):
            # CloudTrail-Digest files hold hashes of log files, no events: counted, never read.
            return FileResult(name, "digest", shape="digest")
        try:
            data = Path(source).read_bytes()
        except OSError as exc:
            return FileResult(name, "refused", reason=f"cannot read the file: {exc.strerror or exc}")
        return process_bytes(name, data)
    return process_bytes(name, source)


def run_task(task: Task) -> list[FileResult]:
    """Worker entry point: one result per input, in order."""
    return [process_item(name, src) for name, src in task.items]
