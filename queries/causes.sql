-- One row per distinct cause over the whole database: (verdict, caller principal, key, action), with the
-- number of failures, first and last seen, and up to five example event IDs (newest first).
-- cause_id is the same hash as diag.report.model.cause_id and report_run_causes.cause_id.
CREATE OR REPLACE VIEW causes AS
SELECT
    left(md5(concat_ws('|', coalesce(verdict, 'NOT_DIAGNOSED'), coalesce(caller_principal, ''),
                       coalesce(key_ref, ''), coalesce(action, ''))), 16) AS cause_id,
    coalesce(verdict, 'NOT_DIAGNOSED') AS verdict,
    caller_principal,
    key_ref,
    action,
    count(*) AS failures,
    min(event_time) AS first_seen,
    max(event_time) AS last_seen,
    list(event_id ORDER BY event_time DESC, event_id)[1:5] AS example_event_ids,
    list(DISTINCT caller_account) AS caller_accounts,
    any_value(key_account) AS key_account,
    list(DISTINCT aws_region) AS regions
FROM failures
GROUP BY coalesce(verdict, 'NOT_DIAGNOSED'), caller_principal, key_ref, action
ORDER BY failures DESC, last_seen DESC;
