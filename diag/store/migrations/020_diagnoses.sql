-- Diagnoses: one row per diagnosis run of one event (re-diagnosis with `kmsdiag diagnose --all` adds rows;
-- the view diagnoses_latest keeps the newest per event). `findings` is the JSON list of DESIGN.md section 7.
CREATE TABLE IF NOT EXISTS diagnoses (
    event_id        VARCHAR NOT NULL,
    verdict         VARCHAR NOT NULL,     -- the primary diagnosis code (DESIGN.md section 6)
    codes           VARCHAR[],            -- every finding's code, verdict first
    findings        JSON,                 -- [{"code","layer","account","summary","evidence","fix"}]
    layers          JSON,                 -- the engine's per-layer trace summary
    decision_key    VARCHAR,              -- hash of (caller, action, key, region, context that matters, policies)
    policies_as_of  TIMESTAMP,
    snapshot_id     BIGINT,
    engine_version  VARCHAR,
    diagnosed_at    TIMESTAMP NOT NULL
);
CREATE INDEX IF NOT EXISTS diagnoses_event_id ON diagnoses (event_id);
