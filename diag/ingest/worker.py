"""The CPU-heavy half of ingest: read, unpack, parse, filter, normalize, and spill rows for DuckDB.

Runs in worker processes (``python -m diag.ingest.worker``, see :mod:`diag.ingest.pool`) or inline.
One :class:`Task` is a group of inputs; the kept records of all of them are written to one JSON Lines
"spill" file (normalized columns + the raw record + the input's name + an order number), which the
database side loads with DuckDB's own parallel JSON reader. Only small per-input results travel back.

Kept light on imports (orjson, gzip): workers start fast.
"""

from __future__ import annotations

import gc
import os
import pickle
import stat
import struct
from dataclasses import dataclass, field
from typing import IO, Any

import orjson

from diag.ingest.filter import keep
from diag.ingest.normalize import normalize_columns
from diag.ingest.parse import KIND_DIGEST, KIND_REFUSED, is_digest_name, max_input_bytes, parse_blob, too_large_reason

# Columns of a spill line besides VALUE_COLUMNS.
SPILL_EXTRA = ("raw", "source_file", "n")
_OPT = orjson.OPT_APPEND_NEWLINE
# A CloudTrail record is at most a few hundred KB (requestParameters are truncated at 100 KB); one larger
# than this (as JSON) is refused with its file rather than given to DuckDB's reader.
MAX_RECORD_JSON_BYTES = 16 << 20
# A spill line is the record plus its columns (some repeat parts of it: userAgent, errorMessage, the
# encryption context), so at most about twice the record; DuckDB's reader accepts lines up to this.
MAX_LINE_BYTES = 2 * MAX_RECORD_JSON_BYTES + (1 << 20)
_HEADER = struct.Struct("!Q")


@dataclass
class FileResult:
    """What one input yielded: status ok/digest/refused, the reason, and record counts."""

    name: str
    status: str
    reason: str | None = None
    shape: str | None = None
    records_total: int = 0
    records_skipped: int = 0


@dataclass
class Task:
    """A group of inputs, ``(name, local path | bytes)``, whose kept rows go to ``spill_path``."""

    items: list[tuple[str, str | bytes]]
    spill_path: str


@dataclass
class TaskResult:
    """Per-input results, and the eventIDs of the spilled rows in line order (line ``n`` is ``ids[n]``)."""

    files: list[FileResult] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    spill_path: str | None = None


def read_input(name: str, source: str | bytes) -> bytes | FileResult:
    """The bytes of one input, or a FileResult when it is a digest (by name) or unreadable."""
    if isinstance(source, bytes):
        return source
    if is_digest_name(name):
        # CloudTrail-Digest files hold hashes of log files, no events: counted, never read.
        return FileResult(name, "digest", shape="digest")
    try:
        return read_regular_file(source, max_input_bytes())
    except InputRefused as exc:
        return FileResult(name, "refused", reason=str(exc))
    except OSError as exc:
        return FileResult(name, "refused", reason=f"cannot read the file: {exc.strerror or exc}")


class InputRefused(Exception):
    """A local input that is not read: not a regular file, or larger than the limit."""


def read_regular_file(path: str, limit: int) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes. Opened without blocking and checked after
    opening, so a FIFO or device (even one swapped in after discovery) is refused, never waited on."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise InputRefused(f"not a regular file ({file_kind(st.st_mode)}): not read")
        if st.st_size > limit:
            raise InputRefused(too_large_reason(st.st_size, limit, compressed=False))
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=True) as fh:
            fd = -1
            data = fh.read(limit + 1)
        if len(data) > limit:  # grew since fstat
            raise InputRefused(too_large_reason(len(data), limit, compressed=False))
        return data
    finally:
        if fd >= 0:
            os.close(fd)


def file_kind(mode: int) -> str:
    """'a FIFO', 'a socket', 'a character device'... for a non-regular file's mode."""
    for test, kind in (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISDIR, "a folder"),
    ):
        if test(mode):
            return kind
    return "not a regular file"


class SpillFile:
    """Spill lines written straight to the task's spill file (opened at the first line), so that parsed rows
    do not pile up in memory; :meth:`undo` drops the lines of an input refused halfway."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.fh: IO[bytes] | None = None
        self.count = 0

    def __len__(self) -> int:
        return self.count

    def append(self, line: bytes) -> None:
        if self.fh is None:
            self.fh = open(self.path, "wb")  # noqa: SIM115 - closed by close()
        self.fh.write(line)
        self.count += 1

    def mark(self) -> tuple[int, int]:
        return (self.fh.tell() if self.fh is not None else 0, self.count)

    def undo(self, mark: tuple[int, int]) -> None:
        if self.fh is not None:
            self.fh.seek(mark[0])
            self.fh.truncate()
        self.count = mark[1]

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()


def process_input(name: str, source: str | bytes, out: list[bytes] | SpillFile, ids: list[str]) -> FileResult:
    """Parse one input; append one spill line (JSON) per kept record to ``out``, its eventID to ``ids``.

    A refused input leaves ``out`` and ``ids`` as they were. Each record is released once its line is
    written, so memory holds the parsed document once, shrinking, not the document and all its lines.
    """
    data = read_input(name, source)
    if isinstance(data, FileResult):
        return data
    parsed = parse_blob(data, name)
    del data
    if parsed.kind == KIND_REFUSED:
        return FileResult(name, "refused", reason=parsed.reason)
    if parsed.kind == KIND_DIGEST:
        return FileResult(name, "digest", shape="digest")
    records: list[Any] = parsed.records
    parsed.records = []
    total = len(records)
    start, id_start = len(out), len(ids)
    mark = out.mark() if isinstance(out, SpillFile) else None

    def refuse(reason: str) -> FileResult:
        if isinstance(out, SpillFile):
            assert mark is not None
            out.undo(mark)
        else:
            del out[start:]
        del ids[id_start:]
        return FileResult(name, "refused", reason=reason)

    skipped = 0
    dumps = orjson.dumps
    for i in range(total):
        rec = records[i]
        records[i] = None  # released when its line is written
        if not keep(rec.get("eventSource"), rec.get("eventName")):
            skipped += 1
            continue
        row = normalize_columns(rec)
        row["raw"] = rec
        row["source_file"] = name
        row["n"] = len(out)
        try:
            line = dumps(row, option=_OPT)
        except orjson.JSONEncodeError as exc:
            # e.g. nesting deeper than orjson writes (254 levels): no real CloudTrail record is like that.
            return refuse(f"record {i} cannot be stored as JSON: {exc}")
        if len(line) > MAX_RECORD_JSON_BYTES:
            refusal = _too_large(i, rec, len(line))
            if refusal is not None:
                return refuse(refusal)
        out.append(line)
        ids.append(row["event_id"])
    return FileResult(name, "ok", shape=parsed.shape, records_total=total, records_skipped=skipped)


def _mb(n: int) -> str:
    return f"{n / (1 << 20):.1f} MB"


def _too_large(i: int, rec: dict[str, Any], line_bytes: int) -> str | None:
    """Why record ``i`` cannot be stored (its JSON, or its row, is too large), or None."""
    size = len(orjson.dumps(rec))
    if size > MAX_RECORD_JSON_BYTES:
        return (
            f"record {i} is {_mb(size)} of JSON, larger than {MAX_RECORD_JSON_BYTES >> 20} MB: not a CloudTrail record"
        )
    if line_bytes > MAX_LINE_BYTES:
        return (
            f"record {i} with its columns takes {_mb(line_bytes)}, more than {MAX_LINE_BYTES >> 20} MB per stored row"
        )
    return None


def run_task(task: Task) -> TaskResult:
    """Process every input of a task; write the spill file when something was kept."""
    spill = SpillFile(task.spill_path)
    result = TaskResult()
    try:
        for name, source in task.items:
            result.files.append(process_input(name, source, spill, result.ids))
    finally:
        spill.close()
    if len(spill):
        result.spill_path = task.spill_path
    elif spill.fh is not None:  # every line written was undone
        os.unlink(task.spill_path)
    return result


def write_frame(stream: IO[bytes], obj: object) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)))
    stream.write(data)
    stream.flush()


def read_frame(stream: IO[bytes]) -> Any:
    """One pickled frame, or None at end of stream. Frames come only from our own processes."""
    head = stream.read(_HEADER.size)
    if len(head) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack(head)
    data = stream.read(size)
    if len(data) < size:
        return None
    return pickle.loads(data)  # noqa: S301 - a pipe between kmsdiag's own processes


def serve(stdin: IO[bytes], stdout: IO[bytes]) -> None:
    """Worker loop: read Task frames, answer TaskResult frames, stop at end of input."""
    gc.disable()  # parsed records hold no cycles; the collector would rescan them constantly
    while True:
        task = read_frame(stdin)
        if task is None:
            return
        write_frame(stdout, run_task(task))
