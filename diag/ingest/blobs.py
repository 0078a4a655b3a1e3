"""The unit of input of an ingest: :class:`Blob`, a named byte source (local files are found by
:mod:`diag.ingest.sources.files`; remote sources build blobs from what they fetch)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


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
