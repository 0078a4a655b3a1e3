"""kmsdiag: explain AWS KMS AccessDenied across accounts.

Public Python API (imports are lazy so that `kmsdiag explain` starts fast):

- ``diag.open(path, read_only=True)``: a DuckDB connection with the documented views ready.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    import duckdb


def open(path: str | None = None, *, read_only: bool = True, **kwargs: Any) -> duckdb.DuckDBPyConnection:
    """Open a kmsdiag database (default ``$KMSDIAG_DB`` or ``./kmsdiag.duckdb``), views ready."""
    from diag.store import open_db

    return open_db(path, read_only=read_only, **kwargs)
