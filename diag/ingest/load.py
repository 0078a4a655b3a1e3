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

import gc
import os
import queue
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from diag.ingest.normalize import VALUE_COLUMNS
from diag.ingest.worker import FileResult, Task, TaskResult, run_task

if TYPE_CHECKING:
    import duckdb

INPUT_SUFFIXES = (".json", ".json.gz")
FILES_PER_TASK = 16
BYTES_PER_TASK = 4 << 20
# Rows per transaction: bigger is faster, smaller bounds memory (DuckDB holds a group while loading it).
ROWS_PER_COMMIT = int(os.environ.get("KMSDIAG_INGEST_COMMIT_ROWS", "50000"))
FILES_PER_COMMIT = 2_000
MAX_WORKERS = 8
MAX_RECORD_BYTES = 256 << 20


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

_BOOL_COLS = {"read_only", "management_event"}
_JSON_COLS = {"encryption_context", "raw"}
_SPILL_COLS = (*VALUE_COLUMNS, "raw", "source_file")


def _spill_columns_sql() -> str:
    def typ(c: str) -> str:
        return "BOOLEAN" if c in _BOOL_COLS else "JSON" if c in _JSON_COLS else "VARCHAR"

    cols = [f"'{c}': '{typ(c)}'" for c in _SPILL_COLS] + ["'n': 'BIGINT'"]
    return "{" + ", ".join(cols) + "}"


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _insert_sql(spills: list[str], exclude: bool) -> str:
    """Append rows from spill files, skipping eventIDs already stored.

    Duplicates inside one group were found in Python; with ``exclude`` their (spill file, line) pairs
    are passed as parameters $1 and $2 and skipped. Returns the source name of every stored row.
    """
    files = "[" + ", ".join(_sql_str(p) for p in spills) + "]"
    select = ", ".join(
        "timezone('UTC', TRY_CAST(s.event_time AS TIMESTAMPTZ))" if c == "event_time" else f"s.{c}" for c in _SPILL_COLS
    )
    sql = (
        f"INSERT INTO events ({', '.join(_SPILL_COLS)}, ingested_at) "
        f"SELECT {select}, now()::TIMESTAMP "
        f"FROM read_json({files}, columns = {_spill_columns_sql()}, format = 'newline_delimited', "
        f"records = true, filename = true, maximum_object_size = {MAX_RECORD_BYTES}) s "
        "WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.event_id = s.event_id) "
    )
    if exclude:
        sql += (
            "AND NOT EXISTS (SELECT 1 FROM (SELECT unnest($1::VARCHAR[]) AS f, unnest($2::BIGINT[]) AS n) x "
            "WHERE x.f = s.filename AND x.n = s.n) "
        )
    return sql + "RETURNING source_file"


_UPSERT_FILES = (
    "INSERT INTO ingested_files (path, source, size_bytes, mtime, etag, status, reason, records_total,"
    " records_kept, records_duplicate, records_skipped, shape, ingested_at)"
    " SELECT unnest($1), unnest($2), unnest($3), unnest($4), unnest($5), unnest($6), unnest($7), unnest($8),"
    " unnest($9), unnest($10), unnest($11), unnest($12), now()::TIMESTAMP"
    " ON CONFLICT (path) DO UPDATE SET "
    + ", ".join(
        f"{c} = excluded.{c}"
        for c in (
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
            "ingested_at",
        )
    )
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


@dataclass
class _Group:
    """Parsed inputs waiting to be committed together.

    ``seen`` holds the group's eventIDs; a later copy of one of them is listed in ``exclude_files`` /
    ``exclude_lines`` (its spill file and line) so that the first copy wins. Copies in earlier groups
    or earlier runs are already in ``events`` and are skipped by the insert itself.
    """

    files: list[tuple[Blob, FileResult]] = field(default_factory=list)
    spills: list[str] = field(default_factory=list)
    rows: int = 0
    seen: set[str] = field(default_factory=set)
    exclude_files: list[str] = field(default_factory=list)
    exclude_lines: list[int] = field(default_factory=list)


def _commit(con: duckdb.DuckDBPyConnection, group: _Group, summary: IngestSummary) -> None:
    """One transaction: the group's new rows and one ``ingested_files`` row per input."""
    kept: dict[str, int] = {}
    con.execute("BEGIN TRANSACTION")
    try:
        if group.spills:
            exclude = bool(group.exclude_files)
            params = [group.exclude_files, group.exclude_lines] if exclude else None
            for (name,) in con.execute(_insert_sql(group.spills, exclude), params).fetchall():
                kept[name] = kept.get(name, 0) + 1
        columns: list[list[Any]] = [[] for _ in range(12)]
        for blob, res in group.files:
            n = kept.get(blob.name, 0)
            values = (
                blob.name,
                blob.source,
                blob.size,
                blob.mtime,
                blob.etag,
                res.status,
                res.reason,
                res.records_total,
                n,
                res.records_total - res.records_skipped - n,
                res.records_skipped,
                res.shape,
            )
            for col, v in zip(columns, values, strict=True):
                col.append(v)
        con.execute(_UPSERT_FILES, columns)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    for blob, res in group.files:
        n = kept.get(blob.name, 0)
        summary.events_stored += n
        summary.duplicates += res.records_total - res.records_skipped - n
    for path in group.spills:
        Path(path).unlink(missing_ok=True)


class _Writer:
    """Collects parsed inputs into groups and commits each group in a background thread.

    DuckDB releases the GIL while it loads a group, so parsing (worker processes, fed by the main
    thread) and loading overlap. At most one group waits while another commits: memory and spill
    space stay bounded. Only the committer thread uses the connection until :meth:`close`.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, summary: IngestSummary) -> None:
        self.con = con
        self.summary = summary
        self.group = _Group()
        self.queue: queue.Queue[_Group | None] = queue.Queue(maxsize=1)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="kmsdiag-ingest-commit", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (group := self.queue.get()) is not None:
            if self.error is not None:
                continue
            try:
                _commit(self.con, group, self.summary)
            except BaseException as exc:
                self.error = exc

    def _check(self) -> None:
        if self.error is not None:
            raise self.error

    def add(self, blobs: list[Blob], result: TaskResult) -> None:
        self._check()
        g = self.group
        g.files.extend(zip(blobs, result.files, strict=True))
        if result.spill_path:
            path = result.spill_path
            g.spills.append(path)
            g.rows += len(result.ids)
            seen = g.seen
            for n, event_id in enumerate(result.ids):
                if event_id in seen:
                    g.exclude_files.append(path)
                    g.exclude_lines.append(n)
                else:
                    seen.add(event_id)
        if g.rows >= ROWS_PER_COMMIT or len(g.files) >= FILES_PER_COMMIT:
            self.queue.put(g)
            self.group = _Group()

    def close(self, *, commit: bool = True) -> None:
        """Commit what is left (unless ``commit`` is false) and wait for the committer."""
        if commit and self.group.files:
            self.queue.put(self.group)
        self.group = _Group()
        self.queue.put(None)
        self.thread.join()
        self._check()


# ------------------------------------------------------------------------------------------ pipeline


def _tasks(blobs: Iterable[Blob], spill_dir: str) -> Iterator[tuple[list[Blob], Task]]:
    group: list[Blob] = []
    items: list[tuple[str, str | bytes]] = []
    size = 0
    n = 0

    def make() -> tuple[list[Blob], Task]:
        return group, Task(items, spill_path=os.path.join(spill_dir, f"{n:08d}.jsonl"))

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
            yield make()
            n += 1
            group, items, size = [], [], 0
    if group:
        yield make()


def default_workers() -> int:
    """Worker processes: one per core (the main process mostly waits on DuckDB), at most 8."""
    return max(1, min(MAX_WORKERS, os.cpu_count() or 1))


def _results(tasks: Iterator[tuple[list[Blob], Task]], workers: int) -> Iterator[tuple[list[Blob], TaskResult]]:
    """Run tasks in order: in worker processes when there are several, else in this process."""
    head: list[tuple[list[Blob], Task]] = []
    for t in tasks:
        head.append(t)
        if len(head) >= 3:
            break
    if workers <= 1 or len(head) < 3:
        for group, task in [*head, *tasks]:
            yield group, run_task(task)
        return
    from itertools import chain

    from diag.ingest.pool import Pool

    with Pool(workers) as pool:
        yield from pool.map(chain(head, tasks), window=workers * 2)


SPILL_PREFIX = "kmsdiag-ingest-"


def _make_spill_dir() -> str:
    """A private temporary folder for spill files, named after this process.

    Folders left behind by a killed ingest (their process is gone) are removed first.
    """
    base = Path(tempfile.gettempdir())
    for old in base.glob(f"{SPILL_PREFIX}*-*"):
        pid = old.name[len(SPILL_PREFIX) :].split("-", 1)[0]
        try:
            mine = old.is_dir() and old.stat().st_uid == os.getuid()
        except OSError:
            continue
        if mine and pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    return tempfile.mkdtemp(prefix=f"{SPILL_PREFIX}{os.getpid()}-")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Parsed records hold no reference cycles; the collector would only rescan them over and over."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


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

    Blobs already ingested and unchanged are skipped, as is a name seen earlier in the same call.
    ``workers`` defaults to the number of cores; ``files_total`` (if known) is passed to ``progress``.
    """
    started = time.monotonic()
    s = summary if summary is not None else IngestSummary()
    # DuckDB draws a progress bar on stdout for long statements: it would corrupt `--json` output.
    con.execute("SET enable_progress_bar = false")
    known = _known_inputs(con)
    names: set[str] = set()
    done = 0

    def fresh() -> Iterator[Blob]:
        nonlocal done
        for blob in blobs:
            s.files_seen += 1
            if blob.name in names or _unchanged(blob, known.get(blob.name)):
                s.files_unchanged += 1
                done += 1
                continue
            names.add(blob.name)
            yield blob

    spill_dir = _make_spill_dir()
    writer = _Writer(con, s)
    ok = False
    try:
        with _gc_paused():
            for group, result in _results(_tasks(fresh(), spill_dir), workers or default_workers()):
                for blob, res in zip(group, result.files, strict=True):
                    done += 1
                    s.events_read += res.records_total
                    s.events_skipped += res.records_skipped
                    if res.status == "refused":
                        s.refused.append((blob.name, res.reason or "refused"))
                    elif res.status == "digest":
                        s.digests += 1
                    else:
                        s.files_ingested += 1
                writer.add(group, result)
                if progress:
                    progress(Progress(done, files_total, s.events_read, s.events_stored))
            ok = True
    finally:
        try:
            writer.close(commit=ok)
        finally:
            shutil.rmtree(spill_dir, ignore_errors=True)
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
