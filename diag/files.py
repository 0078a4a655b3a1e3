"""Files kmsdiag creates are owner-only: 0600 for files, 0700 for folders.

The CLI sets the process umask to 077 at start (:func:`private_umask`), so everything it creates —
database, DuckDB's ``.wal`` (created later by DuckDB itself), reports, audit output, bundles, locks,
temporary folders, and what survives a kill — is owner-only. :func:`write_private` also fixes the mode
of a file that already existed with wider permissions.
"""

from __future__ import annotations

import os

PRIVATE_UMASK = 0o077


def private_umask() -> int:
    """Set the process umask to 077; return the previous one."""
    return os.umask(PRIVATE_UMASK)


def write_private(path: str | os.PathLike[str], data: str | bytes, encoding: str = "utf-8") -> None:
    """Write ``data`` to ``path`` (truncating it), owner-only even when the file existed before."""
    raw = data.encode(encoding) if isinstance(data, str) else data
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fd = -1
            fh.write(raw)
    finally:
        if fd >= 0:
            os.close(fd)
