-- One row per diagnosed event: its newest diagnosis. The diagnoses table keeps every run
-- (`kmsdiag diagnose --all` adds rows); this view keeps the latest per event_id (ties on diagnosed_at,
-- as two runs within one clock tick, go to the row inserted last).
CREATE OR REPLACE VIEW diagnoses_latest AS
SELECT *
FROM diagnoses
QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY diagnosed_at DESC, rowid DESC) = 1;
