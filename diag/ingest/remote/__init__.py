"""Remote CloudTrail sources (S3 trail buckets, LookupEvents, Athena): fetching only.

Everything fetched here becomes a :class:`~diag.ingest.remote.blob.RemoteBlob` and goes through the one
ingest path of ``diag.ingest`` (parsing, filtering, normalization, de-duplication, refused-file records).
"""
