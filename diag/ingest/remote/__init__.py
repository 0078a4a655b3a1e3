"""What the remote CloudTrail sources (``diag.ingest.sources``: S3 trail buckets, LookupEvents, Athena)
share: clients and AWS errors, pacing, concurrency, watermarks, the ``Pull``, the run's options.

Everything fetched here becomes a ``diag.ingest.Blob`` (bytes in memory) and goes through the one ingest
path, ``diag.ingest.ingest_blobs`` (parsing, filtering, normalization, de-duplication, refused inputs).

API (each source also has a ``pull_*`` variant that fetches without a database connection, for watch):

- ``diag.ingest.sources.s3.sync_s3(con, "s3://bucket/prefix", TrailScope(since, until, accounts, regions), *, client,
  ingester, workers=8, progress=None) -> S3Summary`` (``progress``: a callback of
  :class:`~diag.ingest.summary.FetchProgress`)
- ``diag.ingest.sources.lookup.sync_lookup(con, [LookupTarget(account, region, cloudtrail_client)], *, ingester,
  since=None, limiter=RateLimiter(2.0)) -> LookupSummary``
- ``diag.ingest.sources.athena.sync_athena(con, AthenaTable(database, table), *, client, ingester, since=None,
  until=None, accounts=(), regions=(), key_arns=(), workgroup=None, output=None) -> AthenaSummary``;
  ``diag.ingest.sources.athena_sql.build_query(...)`` and ``diag.ingest.sources.athena_ddl.athena_ddl(...)``
  return the SQL.
- ``diag.ingest.pulls.ingest_remote(con, RemoteOptions(...), *, ingester) -> list[dict]``: all of the
  above from command-line options (``diag.ingest.remote.options.options_from_values``), with credentials
  from ``Clients`` (profile / role / kmsdiag.toml).
- ``diag.ingest.remote.blob.default_ingester(workers=None)``: ``ingest_blobs`` as a (con, blobs) -> dict.
- ``diag.watch.Watcher(db_path, planner, *, ingester, diagnose, interval, webhook).run()``.
"""
