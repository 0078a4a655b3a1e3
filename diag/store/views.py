"""Create the documented views from the SQL files in queries/ (one statement per file).

Each file is ``queries/<view_name>.sql`` holding a header comment and one ``CREATE OR REPLACE VIEW``.
Views are stored in the database so that a plain ``duckdb.connect(path, read_only=True)`` sees them.
They are rebuilt only when the files change (a hash kept in ``meta``), so opening stays cheap.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from diag.resources import queries_dir

if TYPE_CHECKING:
    import duckdb


def view_files() -> list[Path]:
    try:
        return sorted(queries_dir().glob("*.sql"))
    except FileNotFoundError:
        return []


def header_comment(path: Path) -> str:
    """The leading ``--`` comment of a view file: what one row is."""
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("--"):
            lines.append(line[2:].strip())
        elif line.strip():
            break
    return " ".join(lines).strip()


def _digest(files: list[Path]) -> str:
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def refresh_views(con: duckdb.DuckDBPyConnection, *, force: bool = False) -> int:
    """(Re)create every view whose file changed; return how many statements ran.

    Views may depend on each other: files are retried until no progress is made, so file order does
    not matter. A view that cannot be created (e.g. a table another migration has not added yet) is
    skipped and retried on the next open.
    """
    files = view_files()
    digest = _digest(files)
    row = con.execute("SELECT value FROM meta WHERE key = 'views_digest'").fetchone()
    if row and row[0] == digest and not force:
        return 0
    pending = list(files)
    created = 0
    failed_any = False
    while pending:
        still: list[Path] = []
        for f in pending:
            try:
                con.execute(f.read_text(encoding="utf-8"))
                created += 1
            except Exception:
                still.append(f)
        if len(still) == len(pending):
            failed_any = True
            break
        pending = still
    if not failed_any:
        con.execute(
            "INSERT INTO meta VALUES ('views_digest', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [digest],
        )
    return created
