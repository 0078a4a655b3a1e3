"""Where CloudTrail events come from; each source turns what it reads into :class:`~diag.ingest.blobs.Blob`
values for the one ingest path, :func:`diag.ingest.scheduler.ingest_blobs`.

- :mod:`.files`: local files and folders (``ingest_paths``);
- :mod:`.s3`: a trail bucket (listing plan in :mod:`.s3_layout`, pure);
- :mod:`.lookup`: CloudTrail event history (LookupEvents);
- :mod:`.athena`: an Athena CloudTrail table (query text in :mod:`.athena_sql`, the table's DDL in
  :mod:`.athena_ddl`, result rows rebuilt as records in :mod:`.athena_rows`).

The remote sources share :mod:`diag.ingest.remote` (clients, rate limits, watermarks, pulls);
:mod:`diag.ingest.pulls` plans one run over them from the command-line options.
"""
