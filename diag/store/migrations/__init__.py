"""Named, ordered schema migrations, each applied in its own transaction and recorded in a table.

Migrations are the files ``NNN_name.sql`` in this folder, applied in numeric order. A file may hold
several statements separated by ``;`` at the end of a line. Ranges reserved per area so parallel work does
not collide: 001-009 store and ingest, 010-019 collect, 020-029 diagnosis, 030-039 report,
040-049 remote ingest, 050-059 check/audit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb

_HERE = Path(__file__).resolve().parent
_NAME_RE = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    number: int
    name: str
    sql: str


def discover() -> list[Migration]:
    """All migration files, ordered; a duplicate number is a programming error."""
    found: dict[int, Migration] = {}
    for path in sorted(_HERE.glob("*.sql")):
        m = _NAME_RE.match(path.name)
        if not m:
            raise RuntimeError(f"migration file name {path.name!r} is not NNN_name.sql")
        number = int(m.group(1))
        if number in found:
            raise RuntimeError(f"two migrations numbered {number:03d}")
        found[number] = Migration(number, m.group(2), path.read_text(encoding="utf-8"))
    return [found[n] for n in sorted(found)]


def split_statements(sql: str) -> list[str]:
    """Split on ``;`` that ends a line; comments and blank statements are dropped."""
    parts = re.split(r";\s*(?:\n|$)", sql)
    out = []
    for part in parts:
        body = "\n".join(line for line in part.splitlines() if not line.strip().startswith("--")).strip()
        if body:
            out.append(body)
    return out


def applied(con: duckdb.DuckDBPyConnection) -> set[int]:
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " number INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)"
    )
    return {row[0] for row in con.execute("SELECT number FROM schema_migrations").fetchall()}


def apply_migrations(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Apply every pending migration in order; return the names applied."""
    done = applied(con)
    names = []
    for mig in discover():
        if mig.number in done:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            for stmt in split_statements(mig.sql):
                con.execute(stmt)
            con.execute("INSERT INTO schema_migrations VALUES (?, ?, now()::TIMESTAMP)", [mig.number, mig.name])
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        names.append(f"{mig.number:03d}_{mig.name}")
    return names
