-- Remote ingest bookkeeping (S3 objects are tracked in ingested_files by s3://bucket/key and ETag).

-- How far each time-based remote source has been read. The next run starts at the watermark minus an
-- overlap (late delivery); de-duplication by eventID makes the overlap harmless.
CREATE TABLE IF NOT EXISTS remote_watermarks (
    source     VARCHAR NOT NULL,     -- lookup, athena
    scope      VARCHAR NOT NULL,     -- lookup: <account>/<region>/<event source>; athena: <database>.<table>
    watermark  TIMESTAMP NOT NULL,   -- the end of the last window read completely (UTC)
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (source, scope)
);

-- Every Athena query kmsdiag ran: its window, final state, what it scanned (the bill) and returned.
CREATE TABLE IF NOT EXISTS athena_queries (
    query_execution_id VARCHAR PRIMARY KEY,
    table_name         VARCHAR NOT NULL,
    window_start       TIMESTAMP,
    window_end         TIMESTAMP,
    state              VARCHAR,      -- SUCCEEDED, FAILED, CANCELLED
    state_reason       VARCHAR,
    bytes_scanned      BIGINT,
    rows_returned      BIGINT,
    query              VARCHAR,
    started_at         TIMESTAMP,
    finished_at        TIMESTAMP
);
