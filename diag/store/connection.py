"""Open the kmsdiag DuckDB file: owner-only permissions, migrations, views, and a clear lock error.

DuckDB allows one read-write process per file (or many read-only ones). When another process holds
the lock we fail fast with a message naming that process, or wait up to ``wait`` seconds.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from diag.errors import DatabaseLockedError, NotFoundError, RefusedError
from diag.files import private_umask

if TYPE_CHECKING:
    import duckdb

DEFAULT_DB_NAME = "kmsdiag.duckdb"
# DuckDB writes a main header and two database headers (three 4 KiB blocks) when it creates a file. A
# shorter file, with no write-ahead log beside it, was cut by a kill during its creation and holds nothing.
_CREATED_BYTES = 3 * 4096
# compiled on first use (re caches it): only a lock conflict reads it
_LOCK = r"Conflicting lock is held in (?P<prog>.*?) \(PID (?P<pid>\d+)\)"


def resolve_db_path(path: str | os.PathLike[str] | None = None) -> Path:
    """``--db`` wins, then ``$KMSDIAG_DB``, then ``./kmsdiag.duckdb``."""
    if path:
        return Path(path)
    env = os.environ.get("KMSDIAG_DB")
    return Path(env) if env else Path(DEFAULT_DB_NAME)


def _process_cmdline(pid: str) -> str | None:
    """A short name for a process: its program and first arguments, never a pasted ``python -c`` source."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    args = [a.decode("utf-8", "replace") for a in raw.split(b"\0") if a]
    if not args:
        return None
    shown = [Path(args[0]).name]
    for arg in args[1:3]:
        if shown[-1] == "-c":
            shown.append("…")  # inline source code: not a name
            break
        shown.append(arg if len(arg) <= 60 and "\n" not in arg else "…")
    return " ".join(shown)


def _lock_mode(path: Path, pid: str) -> str | None:
    """ "READ" (a read-only connection) or "WRITE" for the lock ``pid`` holds on ``path`` (Linux /proc/locks)."""
    try:
        inode = path.stat().st_ino
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if "->" in fields:  # a waiter, not a holder
            continue
        if len(fields) >= 6 and fields[4] == pid and fields[5].rsplit(":", 1)[-1] == str(inode):
            return fields[3] if fields[3] in ("READ", "WRITE") else None
    return None


def lock_message(path: Path, error_text: str) -> str:
    """Explain a DuckDB lock conflict: who holds the file, how, and what to do about it."""
    m = re.search(_LOCK, error_text)
    holder = "another process"
    mode = None
    if m:
        pid = m.group("pid")
        cmd = _process_cmdline(pid)
        holder = f"process {pid} ({cmd or m.group('prog')})"
        mode = _lock_mode(path, pid)
    if mode == "READ":
        return (
            f"the database {path} is locked by {holder}, which has it open read-only. Even a read-only connection"
            " keeps kmsdiag from writing: close it when done (con.close()), explore a copy of the file instead,"
            " or pass --wait SECONDS to wait until it is closed."
        )
    return (
        f"the database {path} is locked by {holder}. Only one process may write to it at a time."
        " If that is a notebook, close its connection (con.close()) and reopen it only to query"
        " (diag.open(path, read_only=True)); if it is another kmsdiag run, wait for it to finish or pass --wait SECONDS."
    )


def never_created(path: Path) -> bool:
    """True for a file left by a process killed while DuckDB was creating it (no header yet, no WAL)."""
    try:
        size = path.stat().st_size
    except OSError:
        return False
    wal = Path(str(path) + ".wal")
    return size < _CREATED_BYTES and (not wal.exists() or wal.stat().st_size == 0)


def _connect(path: Path, read_only: bool, wait: float) -> duckdb.DuckDBPyConnection:
    import duckdb

    deadline = time.monotonic() + max(0.0, wait)
    delay = 0.05
    while True:
        try:
            if read_only:
                return duckdb.connect(str(path), read_only=True)
            old = private_umask()  # the new file and its WAL owner-only, also when called from a notebook
            try:
                return duckdb.connect(str(path))
            finally:
                os.umask(old)
        except duckdb.IOException as exc:
            text = str(exc)
            if "lock" not in text.lower():
                raise RefusedError(f"cannot open the database {path}: {text}") from exc
            if time.monotonic() >= deadline:
                raise DatabaseLockedError(lock_message(path, text)) from exc
            time.sleep(delay)
            delay = min(delay * 2, 1.0)


def require_db(path: str | os.PathLike[str] | None) -> Path:
    """The database path (``path``, else ``$KMSDIAG_DB``, else ./kmsdiag.duckdb); NotFoundError (exit 1) when
    no file is there: commands that only read never create one."""
    db_path = resolve_db_path(path)
    if not db_path.exists():
        raise NotFoundError(
            f"no database at {db_path}; run `kmsdiag ingest PATH…` (or `kmsdiag demo`) first, or pass --db PATH"
            " (default: $KMSDIAG_DB, else ./kmsdiag.duckdb)"
        )
    return db_path


def open_db(
    path: str | os.PathLike[str] | None = None,
    *,
    read_only: bool = False,
    wait: float = 0.0,
    migrate: bool = True,
) -> duckdb.DuckDBPyConnection:
    """Open (and for writers, create and migrate) the database.

    A new file is created owner-only (0600). Writers apply pending migrations and refresh the views
    from ``queries/``. Readers get the file as it is; a missing file is a NotFoundError.
    """
    db_path = resolve_db_path(path)
    if read_only:
        require_db(db_path)
    if never_created(db_path):
        if read_only:
            raise NotFoundError(
                f"the database {db_path} was never completely created (a run was stopped while creating it). "
                "The next command that writes (e.g. `kmsdiag ingest …`) creates it."
            )
        db_path.unlink()
        Path(str(db_path) + ".wal").unlink(missing_ok=True)
    if not read_only and db_path.parent and not db_path.parent.exists():
        db_path.parent.mkdir(parents=True, exist_ok=True)
    con = _connect(db_path, read_only, wait)
    if not read_only:
        for candidate in (db_path, Path(str(db_path) + ".wal")):
            if candidate.exists():
                candidate.chmod(0o600)
        if migrate:
            from diag.store.migrations import apply_migrations
            from diag.store.views import refresh_views

            apply_migrations(con)
            refresh_views(con)
    # DuckDB 2 refuses con.sql() while an execute() result is unfinished (a fetchone() of the migrations above
    # leaves one): hand callers, notebooks included, a connection with nothing pending. A reader ran nothing yet.
    if not read_only:
        con.execute("SELECT 1").fetchall()
    return con


def open_db_or_empty(path: str | os.PathLike[str] | None = None, *, wait: float = 0.0) -> duckdb.DuckDBPyConnection:
    """The database read-only, or, when there is none yet, an empty in-memory one with the schema (for
    ``explain --error`` and ``--event-file``: answered even before anything was ingested or collected)."""
    if resolve_db_path(path).exists():
        return open_db(path, read_only=True, wait=wait)
    import duckdb

    from diag.store.migrations import apply_migrations
    from diag.store.views import refresh_views

    con = duckdb.connect(":memory:")
    apply_migrations(con)
    refresh_views(con)
    return con


class Opening:
    """A database being opened in a thread while the caller's thread does other work (``kmsdiag explain``
    imports its modules meanwhile): DuckDB releases the GIL while it opens a file (~25 ms, mostly starting
    a database instance), so the two overlap on a second core. ``result()`` waits and returns the connection,
    or raises what opening raised (the same error, message and exit code as opening in the caller's thread).
    The caller must call ``result()`` (and close what it returns).

    A trade of CPU for wall time: two threads at once run slower each (measured on a 2-vCPU VM, 31 paired
    cold explains, load ~1.2: 11-31 ms less wall time, 16-26 ms more CPU than opening in the caller's thread)."""

    def __init__(self, opener: Callable[[], duckdb.DuckDBPyConnection]) -> None:
        import duckdb  # noqa: F401  # here, before the thread starts: the two threads never both import it

        self._con: duckdb.DuckDBPyConnection | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(opener,), name="kmsdiag-open-db", daemon=True)
        self._thread.start()

    def _run(self, opener: Callable[[], duckdb.DuckDBPyConnection]) -> None:
        try:
            self._con = opener()
        except BaseException as exc:  # handed to the caller's thread by result()
            self._error = exc

    def result(self) -> duckdb.DuckDBPyConnection:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._con is not None
        return self._con
