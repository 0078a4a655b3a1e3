"""The unit that remote sources hand to the ingest path, and the adapter to ``diag.ingest``.

Remote inputs are ``diag.ingest.Blob`` values carrying their bytes: a name recorded in
``ingested_files.path`` (``s3://bucket/key``, ``lookup:...``, ``athena:...``), the source kind (``s3``,
``lookup``, ``athena``), the size, the ETag (S3, for incremental runs) and the bytes (gzip or plain JSON
in a shape the ingester reads: a CloudTrail file, LookupEvents output ``{"Events": [...]}``,
``{"Records": [...]}``). Fetching is concurrent; parsing and storing happen only in ``diag.ingest``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from diag.ingest.blobs import Blob
from diag.ingest.scheduler import ingest_blobs

if TYPE_CHECKING:
    import duckdb

RemoteBlob = Blob

# (connection, blobs) -> the ingester's summary as a mapping of counts
BlobIngester = Callable[["duckdb.DuckDBPyConnection", Iterable[Blob]], Mapping[str, Any]]


def remote_blob(name: str, source: str, data: bytes, etag: str | None = None) -> Blob:
    """A fetched input with its bytes in memory."""
    return Blob(name=name, source=source, size=len(data), etag=etag, data=data)


def default_ingester(*, workers: int | None = None) -> BlobIngester:
    """The project's one ingest path (:func:`diag.ingest.scheduler.ingest_blobs`), returning its summary as a dict."""

    def _ingest(con: duckdb.DuckDBPyConnection, blobs: Iterable[Blob]) -> Mapping[str, Any]:
        return ingest_blobs(con, blobs, workers=workers).to_dict()

    return _ingest
