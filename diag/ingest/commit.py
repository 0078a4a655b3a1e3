"""The database side of ingest: load groups of spill files into ``events`` and record every input.

One group = one transaction: the group's new rows (DuckDB's parallel ``read_json`` over the spill files
written by the workers) and one ``ingested_files`` row per input. A background thread commits while the
main thread keeps the workers busy; at most ``GROUPS_WAITING`` groups wait, so memory and spill space
stay bounded. Insertion order does not matter (duplicates inside a group are excluded by position, and
copies of rows stored by earlier groups or runs are looked up among the group's own eventIDs first and
skipped), so DuckDB may insert in parallel.
"""

from __future__ import annotations

import os
import queue
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from diag.ingest.blobs import Blob
from diag.ingest.normalize import VALUE_COLUMNS
from diag.ingest.summary import IngestSummary
from diag.ingest.worker import FileResult, TaskResult

if TYPE_CHECKING:
    import duckdb

# Rows per transaction: bigger is faster, smaller bounds memory (DuckDB holds a group while loading it).
ROWS_PER_COMMIT = int(os.environ.get("KMSDIAG_INGEST_COMMIT_ROWS", "50000"))
FILES_PER_COMMIT = 2_000
# Groups parsed and waiting for the database: they hold only file names and eventIDs (their rows are in
# spill files on disk), so a few of them let parsing run ahead while DuckDB loads.
GROUPS_WAITING = 3
# read_json's maximum_object_size: one spill line is one record, never larger than worker.MAX_LINE_BYTES.
# DuckDB allocates read buffers of twice this per thread, so it is kept small.
MAX_RECORD_BYTES = 32 << 20


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


def _insert_sql(spills: list[str], exclude: bool, stored: bool) -> str:
    """Append rows from spill files, skipping eventIDs already stored.

    Duplicates inside one group were found in Python; with ``exclude`` their (spill file, line) pairs
    are passed as parameters $1 and $2 and skipped (so the first copy wins, deterministically). With
    ``stored``, the group's eventIDs already in ``events`` (found by :data:`_STORED_IDS`) are passed as
    the last parameter and skipped. Returns the source name of every stored row.
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
    )
    where = []
    if exclude:
        where.append(
            "NOT EXISTS (SELECT 1 FROM (SELECT unnest($1::VARCHAR[]) AS f, unnest($2::BIGINT[]) AS n) x "
            "WHERE x.f = s.filename AND x.n = s.n)"
        )
    if stored:
        param = "$3" if exclude else "$1"
        where.append(f"s.event_id NOT IN (SELECT unnest({param}::VARCHAR[]))")
    if where:
        sql += "WHERE " + " AND ".join(where) + " "
    return sql + "RETURNING source_file"


# The group's eventIDs that are already stored. The group's IDs are the hash join's build side and the
# stored eventIDs are only probed (one column scan), so the cost per transaction does not include
# building a hash table of every stored eventID, which the former ``NOT EXISTS (SELECT ... FROM events)``
# anti-join did in every transaction (quadratic in the table size).
_STORED_IDS = "SELECT e.event_id FROM events e WHERE e.event_id IN (SELECT unnest($1::VARCHAR[]))"


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
class _Group:
    """Parsed inputs waiting to be committed together.

    ``seen`` holds the group's eventIDs; a later copy of one of them is listed in ``exclude_files`` /
    ``exclude_lines`` (its spill file and line) so that the first copy wins. Copies in earlier groups
    or earlier runs are already in ``events``: :data:`_STORED_IDS` finds them and the insert skips them.
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
            params: list[Any] = [group.exclude_files, group.exclude_lines] if exclude else []
            stored = [r[0] for r in con.execute(_STORED_IDS, [list(group.seen)]).fetchall()]
            if stored:
                params.append(stored)
            sql = _insert_sql(group.spills, exclude, bool(stored))
            for (name,) in con.execute(sql, params or None).fetchall():
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


class Writer:
    """Collects parsed inputs into groups and commits each group in a background thread.

    DuckDB releases the GIL while it loads a group, so parsing (worker processes, fed by the main
    thread) and loading overlap. At most ``GROUPS_WAITING`` groups wait while another commits: memory
    and spill space stay bounded. Only the committer thread uses the connection until :meth:`close`.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, summary: IngestSummary) -> None:
        self.con = con
        self.summary = summary
        self.group = _Group()
        self.queue: queue.Queue[_Group | None] = queue.Queue(maxsize=GROUPS_WAITING)
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
