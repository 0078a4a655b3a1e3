"""The database side of ingest: append the rows of the workers' spill files to ``events`` in slices of
exactly one DuckDB row group, and record every input in ``ingested_files``.

Why exact slices: a transaction that appends whole row groups (122,880 rows) has them compressed in
parallel and written straight to the database file; rows that end in a partly filled row group go
through the write-ahead log, and later checkpoints rewrite such row groups again. Measured on the 317k
rows a 1M-event corpus keeps: 7 commits of ~50,000 rows spent 24 s in COMMIT; 3 commits of ~123,000
rows (whole inputs, so each a little over a row group) 18 s for INSERT and COMMIT; exact row groups 13 s.

So a transaction takes the next ``ROWS_PER_COMMIT`` *new* rows in input order (duplicates, found among
the slice itself and the rows already stored, do not count), which may end inside an input. Each input's
``ingested_files`` row is written in every transaction that stores some of its rows: status ``partial``
with the counts so far while rows of it are still to come, its final status in the transaction that
stores its last row. A killed run therefore leaves every stored row with its input's row; the next run
reads a ``partial`` input again, and rows of it already stored under its own name count as its kept rows
(not as duplicates), so the final database is the same as after an uninterrupted run.

A background thread commits while the main thread keeps the workers busy; the main thread waits when
more than ``PENDING_COMMITS`` transactions' worth of parsed rows wait (their rows are in spill files on
disk), so memory and spill space stay bounded. Which copy of a duplicate wins is decided before the
insert (the first in input order), so DuckDB may insert in parallel.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from diag.ingest.blobs import Blob
from diag.ingest.normalize import VALUE_COLUMNS
from diag.ingest.summary import IngestSummary
from diag.ingest.worker import MAX_LINE_BYTES, FileResult, TaskResult
from diag.store.bulk import insert_columns

if TYPE_CHECKING:
    import duckdb

# DuckDB's row group size (rows). A transaction that appends whole row groups writes them optimistically.
ROW_GROUP_ROWS = 122_880
# New rows per transaction (the last one of a run holds the rest). Tests lower it to get many transactions.
ROWS_PER_COMMIT = int(os.environ.get("KMSDIAG_INGEST_COMMIT_ROWS", str(ROW_GROUP_ROWS)))
# Inputs per transaction at most, so that runs of inputs with few kept records are still committed as they go.
FILES_PER_COMMIT = 8_000
# Parsed rows allowed to wait for the committer, in transactions (about 3 KB of spill file per row).
PENDING_COMMITS = 2
# read_json's maximum_object_size: one spill line is one record with its columns, never larger than
# worker.MAX_LINE_BYTES. DuckDB allocates read buffers of twice this per thread, so it is kept small.
MAX_RECORD_BYTES = MAX_LINE_BYTES


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
    """Append the rows of a slice: lines ``[lo, hi)`` of each spill file, minus excluded lines.

    Parameters: $1/$2/$3 the spill file, first and end line of each range; with ``exclude``, $4/$5 the
    (spill file, line) pairs to skip (duplicates, decided in :func:`_plan`). No ``RETURNING``: it makes
    DuckDB keep the rows for the result and write them through the write-ahead log (a 122,880-row COMMIT
    took 3.6 s instead of 0.7 s); the plan already knows which lines are stored, and the row count the
    statement reports is checked against it.
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
        "JOIN (SELECT unnest($1::VARCHAR[]) AS f, unnest($2::BIGINT[]) AS lo, unnest($3::BIGINT[]) AS hi) r "
        "ON r.f = s.filename AND s.n >= r.lo AND s.n < r.hi "
    )
    if exclude:
        sql += (
            "WHERE NOT EXISTS (SELECT 1 FROM (SELECT unnest($4::VARCHAR[]) AS f, unnest($5::BIGINT[]) AS n) x "
            "WHERE x.f = s.filename AND x.n = s.n) "
        )
    return sql


# The slice's eventIDs that are already stored, and under which input. The slice's IDs are the hash
# join's build side and the stored eventIDs are only probed (one column scan), so the cost per
# transaction does not include building a hash table of every stored eventID.
_STORED_IDS = "SELECT e.event_id, e.source_file FROM events e WHERE e.event_id IN (SELECT unnest($1::VARCHAR[]))"


# ingested_files columns written per input (in _file_row order); ingested_at is the transaction's time.
_FILE_COLUMNS = (
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
_UPSERT_FILES_TAIL = "ON CONFLICT (path) DO UPDATE SET " + ", ".join(
    f"{c} = excluded.{c}" for c in (*_FILE_COLUMNS[1:], "ingested_at")
)


def known_inputs(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[Any, ...]]:
    rows = con.execute("SELECT path, size_bytes, mtime, etag, status FROM ingested_files").fetchall()
    return {r[0]: r[1:] for r in rows}


def unchanged(blob: Blob, known: tuple[Any, ...] | None) -> bool:
    if known is None:
        return False
    size, mtime, etag, status = known
    if status not in ("ok", "digest"):
        return False  # a refused input is read again: it may have been fixed, and is reported again
    if blob.etag is not None and etag is not None:
        return bool(blob.etag == etag)
    return blob.size is not None and blob.size == size and blob.mtime is not None and blob.mtime == mtime


@dataclass
class _Spill:
    """One spill file: its path, the eventID of each line, and how many inputs still have lines in it."""

    path: str
    ids: list[str]
    open_units: int = 0


@dataclass
class _Unit:
    """One input in commit order: its lines ``[first, end)`` in its spill file, ``start`` the first line
    not yet stored, and what was decided for it so far (rows stored for it, duplicates)."""

    blob: Blob
    result: FileResult
    spill: _Spill | None
    first: int
    start: int
    end: int
    kept: int = 0
    duplicates: int = 0


@dataclass
class _Plan:
    """One transaction: the units it finishes, the unit it leaves partly stored, the line ranges to read,
    the excluded lines, and per unit the decisions taken (new rows, own earlier rows, duplicates)."""

    done: list[_Unit] = field(default_factory=list)
    partial: _Unit | None = None
    cut: int = 0
    ranges: dict[str, list[int]] = field(default_factory=dict)
    exclude_files: list[str] = field(default_factory=list)
    exclude_lines: list[int] = field(default_factory=list)
    new: int = 0
    added: dict[int, int] = field(default_factory=dict)
    credit: dict[int, int] = field(default_factory=dict)
    dups: dict[int, int] = field(default_factory=dict)


def _plan(units: list[_Unit], stored: dict[str, str], limit: int | None) -> _Plan | None:
    """Walk the pending units in order and take the next ``limit`` new rows (all of them if None).

    A line is a duplicate when its eventID came earlier in this walk, or is already stored under
    another input, or under this input from one of its own earlier lines; a stored row of this input
    that is not such a repeat was stored by an interrupted run and counts as kept. Returns None when the
    pending lines hold fewer than ``limit`` new rows.
    """
    plan = _Plan()
    seen: set[str] = set()
    for unit in units:
        if limit is not None and plan.new >= limit:
            break
        spill = unit.spill
        if spill is None or unit.start == unit.end:
            plan.done.append(unit)
            continue
        ids = spill.ids
        key = id(unit)
        earlier: set[str] | None = None
        i = unit.start
        while i < unit.end:
            if limit is not None and plan.new >= limit:
                break
            eid = ids[i]
            owner = stored.get(eid)
            if eid in seen or (owner is not None and owner != unit.blob.name):
                plan.dups[key] = plan.dups.get(key, 0) + 1
                plan.exclude_files.append(spill.path)
                plan.exclude_lines.append(i)
            elif owner is not None:  # stored under this input's own name
                if earlier is None:
                    earlier = set(ids[unit.first : unit.start])
                bucket = plan.dups if eid in earlier else plan.credit
                bucket[key] = bucket.get(key, 0) + 1
                plan.exclude_files.append(spill.path)
                plan.exclude_lines.append(i)
            else:
                plan.new += 1
                plan.added[key] = plan.added.get(key, 0) + 1
            seen.add(eid)
            i += 1
        if i > unit.start:
            rng = plan.ranges.setdefault(spill.path, [unit.start, i])
            rng[0], rng[1] = min(rng[0], unit.start), max(rng[1], i)
        if i < unit.end:
            plan.partial, plan.cut = unit, i
            break
        plan.done.append(unit)
    if limit is not None and plan.new < limit:
        return None
    return plan


def units_of(blobs: list[Blob], result: TaskResult) -> list[_Unit]:
    """One task's inputs as units in order, each with its lines in the task's spill file."""
    spill = _Spill(result.spill_path, result.ids) if result.spill_path else None
    units: list[_Unit] = []
    line = 0
    for blob, res in zip(blobs, result.files, strict=True):
        n = res.records_total - res.records_skipped if res.status == "ok" and spill is not None else 0
        units.append(_Unit(blob, res, spill if n else None, line, line, line + n))
        if n and spill is not None:
            spill.open_units += 1
        line += n
    if spill is not None and line != len(spill.ids):
        raise RuntimeError(f"ingest worker reported {len(spill.ids)} spilled rows for {line} kept records")
    return units


def _file_row(unit: _Unit, status: str) -> tuple[Any, ...]:
    blob, res = unit.blob, unit.result
    return (
        blob.name,
        blob.source,
        blob.size,
        blob.mtime,
        blob.etag,
        status,
        res.reason,
        res.records_total,
        unit.kept,
        unit.duplicates,
        res.records_skipped,
        res.shape,
    )


def _commit(
    con: duckdb.DuckDBPyConnection, units: list[_Unit], limit: int | None, summary: IngestSummary
) -> _Plan | None:
    """One transaction: the next ``limit`` new rows of ``units`` (all if None) and the ``ingested_files``
    rows of the inputs they touch. Returns the plan carried out, or None (nothing written) when the
    pending lines hold too few new rows."""
    con.execute("BEGIN TRANSACTION")
    try:
        ids = [eid for u in units if u.spill is not None for eid in u.spill.ids[u.start : u.end]]
        stored: dict[str, str] = {}
        if ids:
            stored = {r[0]: r[1] for r in con.execute(_STORED_IDS, [ids]).fetchall()}
        plan = _plan(units, stored, limit)
        if plan is None:
            con.execute("ROLLBACK")
            return None
        if plan.ranges:
            paths = list(plan.ranges)
            params: list[Any] = [paths, [plan.ranges[p][0] for p in paths], [plan.ranges[p][1] for p in paths]]
            if plan.exclude_files:
                params += [plan.exclude_files, plan.exclude_lines]
            row = con.execute(_insert_sql(paths, bool(plan.exclude_files)), params).fetchone()
            if (row[0] if row else 0) != plan.new:
                raise RuntimeError(f"ingest stored {row[0] if row else 0} rows where {plan.new} were planned")
        touched = [*plan.done, *([plan.partial] if plan.partial is not None else [])]
        for unit in touched:
            key = id(unit)
            unit.kept += plan.added.get(key, 0) + plan.credit.get(key, 0)
            unit.duplicates += plan.dups.get(key, 0)
        rows = [_file_row(u, u.result.status) for u in plan.done]
        if plan.partial is not None:
            rows.append(_file_row(plan.partial, "partial"))
        insert_columns(
            con,
            "ingested_files",
            _FILE_COLUMNS,
            rows,
            exprs={"ingested_at": "now()::TIMESTAMP"},
            tail=_UPSERT_FILES_TAIL,
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    # The summary counts rows this run added; rows of an input stored earlier under its own name (by an
    # interrupted run, or before the file changed) were already there, like duplicates.
    summary.events_stored += plan.new
    summary.duplicates += sum(plan.dups.values()) + sum(plan.credit.values())
    return plan


class Writer:
    """Queues parsed inputs and commits them in row-group slices from a background thread.

    DuckDB releases the GIL while it loads a slice, so parsing (worker processes, fed by the main thread)
    and loading overlap. :meth:`add` waits while more than ``PENDING_COMMITS`` slices' worth of rows wait.
    Only the committer thread uses the connection until :meth:`close`.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, summary: IngestSummary) -> None:
        self.con = con
        self.summary = summary
        self.inbox: queue.Queue[list[_Unit] | None] = queue.Queue()
        self.cond = threading.Condition()
        self.waiting_lines = 0  # lines added and not yet committed (guarded by cond)
        self.error: BaseException | None = None
        self.abandoned = False  # close(commit=False): drop what is pending
        self.thread = threading.Thread(target=self._run, name="kmsdiag-ingest-commit", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        pending: list[_Unit] = []
        lines = 0
        next_try = ROWS_PER_COMMIT
        while True:
            units = self.inbox.get()
            if self.error is not None or self.abandoned:
                if units is None:
                    return
                continue
            try:
                if units is None:
                    while pending:
                        done = self._commit_some(pending, lines, None)
                        assert done is not None  # without a limit every pending line is taken
                        pending, lines = done
                    return
                pending.extend(units)
                lines += sum(u.end - u.start for u in units)
                while pending:
                    # Forced (everything pending, unaligned): too many inputs, or so many duplicates that
                    # the rows the main thread may queue hold less than a slice of new rows.
                    forced = len(pending) >= FILES_PER_COMMIT or lines >= PENDING_COMMITS * ROWS_PER_COMMIT
                    if not forced and lines < next_try:
                        break
                    done = self._commit_some(pending, lines, None if forced else ROWS_PER_COMMIT)
                    if done is None:  # too few new rows yet: wait for more
                        next_try = lines + max(1, ROWS_PER_COMMIT // 4)
                        break
                    pending, lines = done
                    next_try = ROWS_PER_COMMIT
            except BaseException as exc:
                self.error = exc
                with self.cond:
                    self.cond.notify_all()
                if units is None:  # the end marker is consumed: nothing more will come
                    return

    def _commit_some(self, pending: list[_Unit], lines: int, limit: int | None) -> tuple[list[_Unit], int] | None:
        """Commit one slice of ``pending``; return what remains pending and its line count, or None when
        nothing was committed (fewer than ``limit`` new rows pending)."""
        plan = _commit(self.con, pending, limit, self.summary)
        if plan is None:
            return None
        for unit in plan.done:
            spill = unit.spill
            if spill is not None and unit.start < unit.end:
                spill.open_units -= 1
                if spill.open_units == 0:
                    Path(spill.path).unlink(missing_ok=True)
        consumed = sum(u.end - u.start for u in plan.done)
        rest = pending[len(plan.done) :]  # the plan finishes a prefix of the pending inputs
        if plan.partial is not None:
            consumed += plan.cut - plan.partial.start
            plan.partial.start = plan.cut
        with self.cond:
            self.waiting_lines -= consumed
            self.cond.notify_all()
        return rest, lines - consumed

    def _check(self) -> None:
        if self.error is not None:
            raise self.error

    def add(self, blobs: list[Blob], result: TaskResult) -> None:
        """Queue one task's inputs (in order); wait while too many parsed rows wait for the database."""
        self._check()
        units = units_of(blobs, result)
        line = sum(u.end - u.start for u in units)
        with self.cond:
            while self.waiting_lines >= PENDING_COMMITS * ROWS_PER_COMMIT and self.error is None:
                self.cond.wait(1.0)
            self.waiting_lines += line
        self._check()
        self.inbox.put(units)

    def close(self, *, commit: bool = True) -> None:
        """Commit what is left (unless ``commit`` is false: what is pending is dropped, to be read again
        by the next run) and wait for the committer."""
        try:
            self.abandoned = not commit
            if not commit:  # stop a slice being stored now: it rolls back and the next run stores it again
                with contextlib.suppress(Exception):
                    self.con.interrupt()
            self.inbox.put(None)
            self.thread.join()
        except BaseException:
            # Interrupted anywhere in here (even before the end marker was queued) while the committer may be
            # inside a statement: stop that statement, make sure the end marker is queued, and return only once
            # the thread is done with the connection (closing a busy connection aborts DuckDB).
            self.abandoned = True
            with contextlib.suppress(Exception):
                self.con.interrupt()
            self.inbox.put_nowait(None)  # unbounded queue: never blocks; a second marker is never read
            join_uninterrupted(self.thread)
            self._end_aborted_transaction()
            raise
        if commit:
            self._check()
        else:
            self._end_aborted_transaction()

    def _end_aborted_transaction(self) -> None:
        """After an interrupt the committer's transaction may be left aborted on the shared connection:
        roll it back, so that the caller's clean-up statements run and the first error is the one reported."""
        with contextlib.suppress(Exception):  # "no transaction is active": nothing to end
            self.con.execute("ROLLBACK")


def join_uninterrupted(thread: threading.Thread) -> None:
    """Wait for ``thread`` to end, whatever KeyboardInterrupt arrives meanwhile."""
    while thread.is_alive():
        try:
            thread.join(0.2)
        except KeyboardInterrupt:
            continue
