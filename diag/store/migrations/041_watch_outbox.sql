-- `kmsdiag watch` outbox: one row per event whose diagnosis watch announced (or is about to).
-- Rows are queued in the same transaction as the diagnosis and marked emitted after the JSON line
-- (and webhook) went out, so a restart re-sends only what was queued but not yet emitted and no event
-- is announced twice.
CREATE TABLE IF NOT EXISTS watch_outbox (
    event_id       VARCHAR PRIMARY KEY,
    payload        JSON NOT NULL,       -- the JSON line printed on stdout
    queued_at      TIMESTAMP NOT NULL,
    emitted_at     TIMESTAMP,           -- NULL: queued, not yet printed
    webhook_status VARCHAR              -- HTTP status or error of the webhook POST, NULL without --webhook
);
