-- One row per ingested input (file, S3 object, API page) that was refused, with the reason.
CREATE OR REPLACE VIEW ingest_refused AS
SELECT path, source, size_bytes, reason, ingested_at
FROM ingested_files
WHERE status = 'refused'
ORDER BY ingested_at DESC, path;
