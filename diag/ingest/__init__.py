"""CloudTrail → the ``events`` table: parse every input shape, keep what diagnosis needs, store once.

Public API: :func:`ingest_paths`, :func:`ingest_blobs` with :class:`Blob`, :class:`IngestSummary`,
:class:`Progress`, and :func:`normalize_record` (one record → the ``events`` columns).
"""

from diag.ingest.blobs import Blob
from diag.ingest.normalize import normalize_record
from diag.ingest.scheduler import ingest_blobs
from diag.ingest.sources.files import ingest_paths
from diag.ingest.summary import IngestSummary, Progress

__all__ = ["Blob", "IngestSummary", "Progress", "ingest_blobs", "ingest_paths", "normalize_record"]
