-- One row per failure that has no usable diagnosis, and why: never diagnosed (run `kmsdiag diagnose`),
-- or diagnosed UNKNOWN (the finding says which evidence is missing and how to collect it).
CREATE OR REPLACE VIEW failures_undiagnosed AS
SELECT
    event_id,
    event_time,
    action,
    caller_principal,
    key_ref,
    CASE WHEN verdict IS NULL THEN 'not_diagnosed' ELSE 'unknown' END AS status,
    CASE
        WHEN verdict IS NULL AND key_ref IS NULL THEN 'not diagnosed yet (the event names no key): run `kmsdiag diagnose`'
        WHEN verdict IS NULL THEN 'not diagnosed yet: run `kmsdiag diagnose`'
        ELSE coalesce(findings -> 0 ->> 'summary', 'UNKNOWN: not enough evidence')
    END AS reason
FROM failures
WHERE verdict IS NULL OR verdict = 'UNKNOWN'
ORDER BY event_time DESC;
