-- One row per diagnosed event: its newest diagnosis (kmsdiag diagnose appends a row per run; --all re-diagnoses).
CREATE OR REPLACE VIEW diagnoses_latest AS
SELECT *
FROM diagnoses
QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY diagnosed_at DESC) = 1
