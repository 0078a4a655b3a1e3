"""The unit that remote sources hand to the ingest path, and the adapter to ``diag.ingest``.

A :class:`RemoteBlob` is one input as the ingester sees a file: a name recorded in ``ingested_files.path``
(``s3://bucket/key``, ``lookup:...``, ``athena:...``), the source kind (``s3``, ``lookup``, ``athena``),
its size and ETag (for incremental runs) and its bytes (gzip or plain JSON in any shape the ingester
reads: a CloudTrail file, LookupEvents output ``{"Events": [...]}``, ``{"Records": [...]}``).
Fetching is concurrent; parsing and storing happen only in ``diag.ingest``, never here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb


@dataclass(frozen=True)
class RemoteBlob:
    """One fetched input: an S3 object, a LookupEvents page, or a page of Athena rows."""

    name: str
    source: str
    size: int
    etag: str | None
    data: bytes


# (connection, blobs) -> the ingester's summary as a mapping of counts
BlobIngester = Callable[["duckdb.DuckDBPyConnection", Iterable[RemoteBlob]], Mapping[str, Any]]


def default_ingester() -> BlobIngester:
    """The project's one ingest path (``diag.ingest.ingest_blobs``), adapted to :class:`RemoteBlob`."""
    try:
        from diag.ingest import ingest_blobs  # type: ignore[attr-defined,unused-ignore]
    except ImportError as exc:  # pragma: no cover - only before the ingest branch is merged
        raise RuntimeError("diag.ingest.ingest_blobs is not available in this build") from exc

    def _ingest(con: duckdb.DuckDBPyConnection, blobs: Iterable[RemoteBlob]) -> Mapping[str, Any]:
        result = ingest_blobs(con, blobs)
        if isinstance(result, Mapping):
            return result
        to_dict = getattr(result, "to_dict", None)
        return to_dict() if callable(to_dict) else dict(vars(result))

    return _ingest
