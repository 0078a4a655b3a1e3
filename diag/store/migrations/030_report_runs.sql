-- Report runs: what every recorded `kmsdiag report` saw, so the next one can say which causes are new and
-- which were resolved since. A cause is (verdict, caller principal, key, action); its cause_id is a hash
-- of those four (diag.report.model.cause_id).

-- One row per recorded report run.
CREATE TABLE IF NOT EXISTS report_runs (
    run_id           VARCHAR PRIMARY KEY,  -- random hex id
    generated_at     TIMESTAMP NOT NULL,   -- when the report was built (UTC)
    window_start     TIMESTAMP NOT NULL,   -- failures with event_time >= window_start ...
    window_end       TIMESTAMP NOT NULL,   -- ... and < window_end
    format           VARCHAR,              -- html, md, json
    out_path         VARCHAR,              -- where the report was written ('-' for stdout)
    failures         BIGINT NOT NULL,
    causes           BIGINT NOT NULL,
    new_causes       BIGINT NOT NULL,
    resolved_causes  BIGINT NOT NULL,
    previous_run_id  VARCHAR,              -- the run this one was compared with (NULL for the first)
    kmsdiag_version  VARCHAR
);

-- One row per cause seen by a recorded report run.
CREATE TABLE IF NOT EXISTS report_run_causes (
    run_id      VARCHAR NOT NULL,
    cause_id    VARCHAR NOT NULL,
    verdict     VARCHAR NOT NULL,
    caller      VARCHAR,
    key_ref     VARCHAR,   -- key ARN, or the key ID/alias as given when the ARN is unknown
    action      VARCHAR,
    failures    BIGINT NOT NULL,
    first_seen  TIMESTAMP,
    last_seen   TIMESTAMP,
    PRIMARY KEY (run_id, cause_id)
);
