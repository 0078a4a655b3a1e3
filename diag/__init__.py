"""kmsdiag: explain AWS KMS AccessDenied across accounts.

Public Python API (imports are lazy so that `kmsdiag explain` starts fast):

- ``diag.open(path, read_only=True)``: a DuckDB connection with the documented views ready.
- ``diag.notebook``: helpers returning pandas DataFrames (``failures``, ``top_keys``, ``causes``, ...).
"""

from __future__ import annotations

import sys as _sys
from typing import TYPE_CHECKING, Any

from diag.version import __version__ as __version__

_ARGV = list(getattr(_sys, "orig_argv", []))
if "-m" in _ARGV and _ARGV[_ARGV.index("-m") + 1 :][:1] == ["diag"]:  # `python -m diag`: handle Ctrl-C from now on
    from diag.cli import interrupt as _interrupt

    _interrupt.install()

if TYPE_CHECKING:
    import duckdb


def open(path: str | None = None, *, read_only: bool = True, **kwargs: Any) -> duckdb.DuckDBPyConnection:
    """Open a kmsdiag database (default ``$KMSDIAG_DB`` or ``./kmsdiag.duckdb``), views ready.

    Writers store the views in the file. A read-only connection to a file made by an older kmsdiag gets
    the current views as TEMP views (``diag.notebook.ensure_views``): nothing is written.
    """
    from diag.store import open_db

    con = open_db(path, read_only=read_only, **kwargs)
    if read_only:
        from diag.notebook import ensure_views

        ensure_views(con)
    # DuckDB 2 refuses con.sql() while an earlier execute() result is half read (fetchone during
    # opening); finish any such result so that the connection is ready for the caller.
    con.execute("SELECT 1").fetchall()
    return con
