-- Who used each key successfully, per operation: the callers that `explain` compares with the principals a
-- key policy names (diag.diagnosis.intent.key_users). Derived from `events` (successful KMS calls), rebuilt
-- whole and idempotently by diag.store.key_usage.refresh_key_usage after each ingest; `key_usage_state`
-- holds the number of events it was built from, so a reader uses it only when it is up to date.
CREATE TABLE IF NOT EXISTS key_usage (
    key_arn     VARCHAR NOT NULL,
    event_name  VARCHAR NOT NULL,
    who         VARCHAR NOT NULL,      -- coalesce(caller_role_arn, caller_arn)
    calls       BIGINT NOT NULL,
    last_call   TIMESTAMP,
    PRIMARY KEY (key_arn, event_name, who)
);
CREATE INDEX IF NOT EXISTS key_usage_key_arn ON key_usage (key_arn);
CREATE TABLE IF NOT EXISTS key_usage_state (
    events_rows BIGINT NOT NULL,       -- count(*) of events when key_usage was built (events are never deleted)
    built_at    TIMESTAMP NOT NULL
);
