-- One row per verdict (diagnosis code; NOT_DIAGNOSED for failures without a diagnosis yet): how many
-- failures, distinct causes, callers, keys and accounts, and when it was first and last seen.
CREATE OR REPLACE VIEW failures_by_verdict AS
SELECT
    coalesce(verdict, 'NOT_DIAGNOSED') AS verdict,
    count(*) AS failures,
    count(DISTINCT (caller_principal, key_ref, action)) AS causes,
    count(DISTINCT caller_principal) AS callers,
    count(DISTINCT key_ref) AS keys,
    count(DISTINCT caller_account) AS caller_accounts,
    min(event_time) AS first_seen,
    max(event_time) AS last_seen
FROM failures
GROUP BY ALL
ORDER BY failures DESC, verdict;
