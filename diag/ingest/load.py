"""Ingest orchestration: find inputs, fan parsing out to worker processes, append to DuckDB in bulk.

Two public entry points:

- :func:`ingest_paths` for local files and folders (recursive, ``.json`` / ``.json.gz``);
- :func:`ingest_blobs` for any source that can hand over named byte blobs (S3 objects, LookupEvents
  pages, Athena result rows, a pasted event): each :class:`Blob` carries a name, a source kind, a size,
  an mtime or etag, and either bytes, a callable that returns them, or a local path.

Guarantees: one ``events`` row per eventID (later copies are counted as duplicates); an input already
ingested and unchanged (same size and mtime, or same etag) is skipped; every input's rows and its
``ingested_files`` row are committed in the same transaction (several inputs per transaction), so a
process killed at any moment leaves a consistent database and the next run completes the job with the
same final contents. A refused input stores nothing of its records and never touches stored rows.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from diag.ingest.normalize import COLUMNS
from diag.ingest.worker import FileResult, Row, Task, process_item, run_task

if TYPE_CHECKING:
    import duckdb

INPUT_SUFFIXES = (".json", ".json.gz")
FILES_PER_TASK = 24
BYTES_PER_TASK = 6 << 20
ROWS_PER_COMMIT = 60_000
FILES_PER_COMMIT = 1_000
MAX_WORKERS = 8


@dataclass
class Blob:
    """One input: a name (its key in ``ingested_files``), where it came from, and how to get its bytes.

    Give exactly one of ``data`` (the bytes), ``opener`` (called once, in this process, to fetch them)
    or ``path`` (a local file, read by a worker process).
    """

    name: str
    source: str = "file"
    size: int | None = None
    mtime: float | None = None
    etag: str | None = None
    data: bytes | None = None
    opener: Callable[[], bytes] | None = None
    path: str | None = None


@dataclass
class Progress:
    """Passed to the ``progress`` callback after each group of inputs is parsed or committed."""

    files_done: int
    files_total: int | None
    events_read: int
    events_stored: int


@dataclass
class IngestSummary:
    """What one ingest did. ``refused`` lists (input name, reason)."""

    files_seen: int = 0
    files_ingested: int = 0
    files_unchanged: int = 0
    digests: int = 0
    refused: list[tuple[str, str]] = field(default_factory=list)
    events_read: int = 0
    events_stored: int = 0
    events_skipped: int = 0
    duplicates: int = 0
    seconds: float = 0.0

    @property
    def all_bad(self) -> bool:
        """Every input was refused (the CLI then exits with code 3)."""
        return self.files_seen > 0 and len(self.refused) == self.files_seen

    def to_dict(self) -> dict[str, Any]:
        return {
            "files_seen": self.files_seen,
            "files_ingested": self.files_ingested,
            "files_unchanged": self.files_unchanged,
            "digests": self.digests,
            "files_refused": len(self.refused),
            "refused": [{"file": name, "reason": reason} for name, reason in self.refused],
            "events_read": self.events_read,
            "events_stored": self.events_stored,
            "events_skipped": self.events_skipped,
            "duplicates": self.duplicates,
            "seconds": round(self.seconds, 3),
        }


ProgressFn = Callable[[Progress], None]


# --------------------------------------------------------------------------------------------- inputs


def discover(paths: Iterable[str | os.PathLike[str]]) -> tuple[list[Blob], list[tuple[str, str]]]:
    """Local inputs: files named explicitly, and ``.json``/``.json.gz`` files under folders (sorted).

    Returns the blobs and the paths that do not exist (with a reason).
    """
    blobs: list[Blob] = []
    missing: list[tuple[str, str]] = []
    seen: set[str] = set()

    def add(p: Path) -> None:
        key = str(p.resolve())
        if key in seen:
            return
        seen.add(key)
        try:
            st = p.stat()
        except OSError as exc:
            missing.append((key, f"cannot read the file: {exc.strerror or exc}"))
            return
        blobs.append(Blob(name=key, source="file", size=st.st_size, mtime=st.st_mtime, path=key))

    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found: list[Path] = []
            for root, dirs, files in os.walk(p):
                dirs.sort()
                found.extend(Path(root) / f for f in files if f.lower().endswith(INPUT_SUFFIXES))
            for f in sorted(found):
                add(f)
        elif p.is_file():
            add(p)
        else:
            missing.append((str(p), "no such file or directory"))
    return blobs, missing


# ------------------------------------------------------------------------------------------- database

_EVENT_COLS = (*COLUMNS, "source_file")
_SELECT_EXPR = {
    "event_time": "timezone('UTC', TRY_CAST(event_time AS TIMESTAMPTZ))",
    "read_only": "TRY_CAST(read_only AS BOOLEAN)",
    "management_event": "TRY_CAST(management_event AS BOOLEAN)",
}
_INSERT_EVENTS = (
    f"INSERT INTO events ({', '.join(_EVENT_COLS)}, ingested_at) SELECT "
    + ", ".join(_SELECT_EXPR.get(c, c) for c in _EVENT_COLS)
    + ", now()::TIMESTAMP FROM _kmsdiag_new_rows"
)
_NEW_IDS = (
    "SELECT seq FROM _kmsdiag_ids s WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.event_id = s.event_id) "
    "QUALIFY row_number() OVER (PARTITION BY s.event_id ORDER BY s.seq) = 1 ORDER BY seq"
)
_FILE_COLS = (
    "path",
    "source",
    "size_bytes",
    "mtime",
    "etag",
    "status",
    "reason",
    "records_total",
    "records_kept",
    "records_duplicate",
    "records_skipped",
    "shape",
)
_UPSERT_FILES = (
    f"INSERT INTO ingested_files ({', '.join(_FILE_COLS)}, ingested_at)"
    f" SELECT {', '.join(_FILE_COLS)}, now()::TIMESTAMP FROM _kmsdiag_files"
    " ON CONFLICT (path) DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in (*_FILE_COLS[1:], "ingested_at"))
)


def _known_inputs(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[Any, ...]]:
    rows = con.execute("SELECT path, size_bytes, mtime, etag, status FROM ingested_files").fetchall()
    return {r[0]: r[1:] for r in rows}


def _unchanged(blob: Blob, known: tuple[Any, ...] | None) -> bool:
    if known is None:
        return False
    size, mtime, etag, status = known
    if status not in ("ok", "digest"):
        return False  # a refused input is read again: it may have been fixed, and is reported again
    if blob.etag is not None and etag is not None:
        return bool(blob.etag == etag)
    return blob.size is not None and blob.size == size and blob.mtime is not None and blob.mtime == mtime


class _Writer:
    """Accumulates parsed inputs and commits them in groups (rows + ingested_files, one transaction)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, summary: IngestSummary) -> None:
        self.con = con
        self.summary = summary
        self.files: list[tuple[Blob, FileResult]] = []
        self.rows: list[Row] = []
        self.row_file: list[int] = []

    def add(self, blob: Blob, result: FileResult) -> None:
        idx = len(self.files)
        self.files.append((blob, result))
        if result.rows:
            self.rows.extend(result.rows)
            self.row_file.extend([idx] * len(result.rows))
            result.rows = []
        if len(self.rows) >= ROWS_PER_COMMIT or len(self.files) >= FILES_PER_COMMIT:
            self.flush()

    def _new_rows(self) -> list[int]:
        """Positions (in self.rows) of rows whose eventID is neither stored nor earlier in this group."""
        import numpy as np
        import pandas as pd

        ids = pd.DataFrame(
            {
                "seq": np.arange(len(self.rows), dtype=np.int64),
                "event_id": np.array([r[0] for r in self.rows], dtype=object),
            },
            copy=False,
        )
        self.con.register("_kmsdiag_ids", ids)
        try:
            res = self.con.execute(_NEW_IDS).fetchnumpy()["seq"]
        finally:
            self.con.unregister("_kmsdiag_ids")
        return [int(x) for x in res]

    def _insert(self, positions: list[int]) -> None:
        import numpy as np
        import pandas as pd

        rows = self.rows
        chosen = [rows[i] for i in positions]
        names = [self.files[self.row_file[i]][0].name for i in positions]
        columns = list(zip(*chosen, strict=True))
        frame = {name: np.array(col, dtype=object) for name, col in zip(COLUMNS, columns, strict=True)}
        frame["source_file"] = np.array(names, dtype=object)
        df = pd.DataFrame(frame, copy=False)
        self.con.register("_kmsdiag_new_rows", df)
        try:
            self.con.execute(_INSERT_EVENTS)
        finally:
            self.con.unregister("_kmsdiag_new_rows")

    def _upsert_files(self, params: list[tuple[Any, ...]]) -> None:
        """One ingested_files row per input (bulk: executemany is slow in DuckDB)."""
        import pandas as pd

        df = pd.DataFrame.from_records(params, columns=list(_FILE_COLS))
        for name in ("size_bytes", "records_total", "records_kept", "records_duplicate", "records_skipped"):
            df[name] = df[name].astype("Int64")
        df["mtime"] = df["mtime"].astype("Float64")
        for name in ("path", "source", "etag", "status", "reason", "shape"):
            df[name] = df[name].astype(object)
        self.con.register("_kmsdiag_files", df)
        try:
            self.con.execute(_UPSERT_FILES)
        finally:
            self.con.unregister("_kmsdiag_files")

    def flush(self) -> None:
        if not self.files:
            return
        con = self.con
        kept_per_file = [0] * len(self.files)
        con.execute("BEGIN TRANSACTION")
        try:
            if self.rows:
                positions = self._new_rows()
                for i in positions:
                    kept_per_file[self.row_file[i]] += 1
                if positions:
                    self._insert(positions)
            params = []
            for idx, (blob, res) in enumerate(self.files):
                kept = kept_per_file[idx]
                rows_in = res.records_total - res.records_skipped
                params.append(
                    (
                        blob.name,
                        blob.source,
                        blob.size,
                        blob.mtime,
                        blob.etag,
                        res.status,
                        res.reason,
                        res.records_total,
                        kept,
                        rows_in - kept,
                        res.records_skipped,
                        res.shape,
                    )
                )
            self._upsert_files(params)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        s = self.summary
        for idx, (_blob, res) in enumerate(self.files):
            s.events_stored += kept_per_file[idx]
            s.duplicates += res.records_total - res.records_skipped - kept_per_file[idx]
        self.files = []
        self.rows = []
        self.row_file = []


# ------------------------------------------------------------------------------------------ pipeline


def _tasks(blobs: Iterable[Blob]) -> Iterator[tuple[list[Blob], Task]]:
    group: list[Blob] = []
    items: list[tuple[str, str | bytes]] = []
    size = 0
    for blob in blobs:
        if blob.path is not None:
            src: str | bytes = blob.path
            size += blob.size or 0
        else:
            data = blob.data if blob.data is not None else (blob.opener() if blob.opener else b"")
            src = data
            size += len(data)
            if blob.size is None:
                blob.size = len(data)
        group.append(blob)
        items.append((blob.name, src))
        if len(group) >= FILES_PER_TASK or size >= BYTES_PER_TASK:
            yield group, Task(items)
            group, items, size = [], [], 0
    if group:
        yield group, Task(items)


def default_workers() -> int:
    """Worker processes: one per core (the main process mostly waits on DuckDB), at most 8."""
    return max(1, min(MAX_WORKERS, os.cpu_count() or 1))


def _results(tasks: Iterator[tuple[list[Blob], Task]], workers: int) -> Iterator[tuple[list[Blob], list[FileResult]]]:
    """Run tasks in order, in a process pool when it pays, with a bounded number in flight."""
    head: list[tuple[list[Blob], Task]] = []
    for t in tasks:
        head.append(t)
        if len(head) >= 3:
            break
    if workers <= 1 or len(head) < 3:
        for group, task in [*head, *tasks]:
            yield group, [process_item(n, s) for n, s in task.items]
        return
    import multiprocessing
    from collections import deque
    from concurrent.futures import ProcessPoolExecutor

    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        inflight: deque[Any] = deque()
        source = iter([*head, *tasks])
        for group, task in source:
            inflight.append((group, pool.submit(run_task, task)))
            if len(inflight) >= workers * 2:
                g, fut = inflight.popleft()
                yield g, fut.result()
        while inflight:
            g, fut = inflight.popleft()
            yield g, fut.result()


def ingest_blobs(
    con: duckdb.DuckDBPyConnection,
    blobs: Iterable[Blob],
    *,
    progress: ProgressFn | None = None,
    workers: int | None = None,
    files_total: int | None = None,
    summary: IngestSummary | None = None,
) -> IngestSummary:
    """Ingest named blobs (see :class:`Blob`) into ``events`` and ``ingested_files``; return the summary.

    Blobs already ingested and unchanged are skipped. ``workers`` defaults to the number of cores;
    ``files_total`` (if known) is passed on to ``progress``.
    """
    started = time.monotonic()
    s = summary if summary is not None else IngestSummary()
    known = _known_inputs(con)
    writer = _Writer(con, s)
    done = 0

    def fresh() -> Iterator[Blob]:
        nonlocal done
        for blob in blobs:
            s.files_seen += 1
            if _unchanged(blob, known.get(blob.name)):
                s.files_unchanged += 1
                done += 1
                continue
            yield blob

    for group, results in _results(_tasks(fresh()), workers or default_workers()):
        for blob, res in zip(group, results, strict=True):
            done += 1
            s.events_read += res.records_total
            s.events_skipped += res.records_skipped
            if res.status == "refused":
                s.refused.append((blob.name, res.reason or "refused"))
            elif res.status == "digest":
                s.digests += 1
            else:
                s.files_ingested += 1
            writer.add(blob, res)
        if progress:
            progress(Progress(done, files_total, s.events_read, s.events_stored))
    writer.flush()
    if progress:
        progress(Progress(done, files_total, s.events_read, s.events_stored))
    s.seconds += time.monotonic() - started
    return s


def ingest_paths(
    con: duckdb.DuckDBPyConnection,
    paths: Iterable[str | os.PathLike[str]],
    *,
    progress: ProgressFn | None = None,
    workers: int | None = None,
) -> IngestSummary:
    """Ingest local files and folders (recursive; ``.json`` and ``.json.gz``); return the summary.

    A path that does not exist is reported as refused (and not recorded in ``ingested_files``).
    """
    started = time.monotonic()
    blobs, missing = discover(paths)
    summary = IngestSummary(files_seen=len(missing), refused=list(missing))
    ingest_blobs(con, blobs, progress=progress, workers=workers, files_total=len(blobs), summary=summary)
    summary.seconds = time.monotonic() - started
    return summary
