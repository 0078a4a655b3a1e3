-- Columns the ingester fills beyond 001: the alias a caller named instead of a key, the event category
-- (Management / Data / Insight), and the caller's user name (IAM user, role session issuer, SAML user).
ALTER TABLE events ADD COLUMN IF NOT EXISTS key_alias VARCHAR;
ALTER TABLE events ADD COLUMN IF NOT EXISTS event_category VARCHAR;
ALTER TABLE events ADD COLUMN IF NOT EXISTS caller_user_name VARCHAR;
-- How the input was read (records, jsonl, eventbridge, lookup-events, digest) for ingested_files rows.
ALTER TABLE ingested_files ADD COLUMN IF NOT EXISTS shape VARCHAR;
