"""The ingest scheduler: named inputs in, parsing fanned out to worker processes, rows appended in bulk.

:func:`ingest_blobs` is the one ingest path: every source hands it :class:`~diag.ingest.blobs.Blob`
values (local files from :mod:`diag.ingest.sources.files`, S3 objects, LookupEvents pages, Athena result
rows from the other :mod:`diag.ingest.sources` modules, a pasted event). Each blob carries a name, a
source kind, a size, an mtime or etag, and either bytes, a callable that returns them, or a local path.
Here the blobs are grouped into tasks, parsed by :mod:`.worker` in processes of :mod:`.pool`, and
written by :mod:`.commit`; :mod:`.summary` is what is reported (progress goes to a callback).

Guarantees: one ``events`` row per eventID (later copies are counted as duplicates); an input already
ingested and unchanged (same size and mtime, or same etag) is skipped; every transaction that stores
rows of an input also writes its ``ingested_files`` row (``partial`` until its last row is stored, see
:mod:`.commit`), so a process killed at any moment leaves a consistent database and the next run
completes the job with the same final contents. A refused input stores nothing of its records and never
touches stored rows.
"""

from __future__ import annotations

import gc
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from diag.ingest.blobs import Blob
from diag.ingest.commit import Writer, known_inputs, unchanged
from diag.ingest.summary import IngestSummary, Progress, ProgressFn
from diag.ingest.worker import Task, TaskResult, run_task

if TYPE_CHECKING:
    import duckdb

FILES_PER_TASK = 16
BYTES_PER_TASK = 4 << 20
MAX_WORKERS = 8


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
# DuckDB keeps written blocks in its buffer pool up to memory_limit (80 % of RAM by default), so a long
# ingest would grow without bound. The limit is lowered for the ingest and restored afterwards.
INGEST_MEMORY_LIMIT = os.environ.get("KMSDIAG_INGEST_MEMORY", "1GB")


def _sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _limit_memory(con: duckdb.DuckDBPyConnection) -> str | None:
    """Lower DuckDB's memory_limit for the ingest (never raise it); return the value to restore."""
    row = con.execute("SELECT current_setting('memory_limit')").fetchone()
    old = str(row[0]) if row else None
    try:
        con.execute(f"SET memory_limit = {_sql_literal(INGEST_MEMORY_LIMIT)}")
        lowered = con.execute("SELECT current_setting('memory_limit')").fetchone()
    except Exception:
        return None
    if old and lowered and _bytes(str(lowered[0])) > _bytes(old):
        con.execute(f"SET memory_limit = {_sql_literal(old)}")
        return None
    return old


def _bytes(text: str) -> float:
    """'18.6 GiB' → bytes (DuckDB's display of memory_limit)."""
    units = {"bytes": 1, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40, "kb": 1e3, "mb": 1e6, "gb": 1e9}
    parts = text.strip().split()
    try:
        return float(parts[0]) * units.get(parts[1].lower() if len(parts) > 1 else "bytes", 1)
    except (ValueError, IndexError):
        return float("inf")


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
    # Which copy of a duplicated eventID wins is decided before the insert, so the insert need not keep
    # the input order; letting DuckDB drop it makes the load parallel (and is restored below).
    keep_order = con.execute("SELECT current_setting('preserve_insertion_order')").fetchone()
    con.execute("SET preserve_insertion_order = false")
    known = known_inputs(con)
    names: set[str] = set()
    done = 0

    def fresh() -> Iterator[Blob]:
        nonlocal done
        for blob in blobs:
            s.files_seen += 1
            if blob.name in names or unchanged(blob, known.get(blob.name)):
                s.files_unchanged += 1
                done += 1
                continue
            names.add(blob.name)
            yield blob

    spill_dir = _make_spill_dir()
    restore_limit = _limit_memory(con)
    writer = Writer(con, s)
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
            if restore_limit:
                con.execute(f"SET memory_limit = {_sql_literal(restore_limit)}")
            if keep_order and keep_order[0]:
                con.execute("SET preserve_insertion_order = true")
    if progress:
        progress(Progress(done, files_total, s.events_read, s.events_stored))
    s.seconds += time.monotonic() - started
    return s
