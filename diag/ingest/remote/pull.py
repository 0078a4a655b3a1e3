"""A pull separated from the database: fetch first (no connection held), write after.

Each source builds a :class:`Pull` from the state it read (known ETags, watermarks): an iterator of
blobs plus a ``finish(con)`` step that records its bookkeeping once the ingester has committed the
blobs. ``kmsdiag ingest`` streams a pull straight into the ingester; ``kmsdiag watch`` spools it to a
temporary folder first, so it holds the write lock only while writing.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from diag.ingest.remote.blob import RemoteBlob

if TYPE_CHECKING:
    import duckdb


def _no_finish(con: duckdb.DuckDBPyConnection) -> None:
    return None


@dataclass
class Pull:
    """Blobs to ingest, then ``finish(con)`` (watermarks, query records); ``summary`` fills in as it runs."""

    blobs: Iterable[RemoteBlob]
    summary: Any
    finish: Callable[[duckdb.DuckDBPyConnection], None] = _no_finish
    error: BaseException | None = None  # raised by the caller after finish() recorded it


@dataclass
class Spool:
    """Blobs written to a private temporary folder, read back one at a time."""

    folder: Path
    entries: list[tuple[str, str, int, str | None, Path]] = field(default_factory=list)

    @classmethod
    def create(cls) -> Spool:
        return cls(Path(tempfile.mkdtemp(prefix="kmsdiag-watch-")))

    def add_all(self, blobs: Iterable[RemoteBlob]) -> int:
        n = 0
        for blob in blobs:
            path = self.folder / f"{len(self.entries):08d}"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            data = blob.data if blob.data is not None else (blob.opener() if blob.opener else b"")
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            self.entries.append((blob.name, blob.source, len(data), blob.etag, path))
            n += 1
        return n

    def __len__(self) -> int:
        return len(self.entries)

    def blobs(self) -> Iterator[RemoteBlob]:
        for name, source, size, etag, path in self.entries:
            yield RemoteBlob(name=name, source=source, size=size, etag=etag, path=str(path))

    def close(self) -> None:
        for *_, path in self.entries:
            path.unlink(missing_ok=True)
        self.entries.clear()
        with contextlib.suppress(OSError):
            self.folder.rmdir()
