-- One row per (caller principal, key, action) seen in KMS calls: how many calls succeeded and failed,
-- when each last happened, and the newest verdict of its failures (calls logged by two accounts count once).
CREATE OR REPLACE VIEW key_access_matrix AS
WITH kms AS (
    SELECT
        e.event_id,
        e.event_time,
        e.error_code,
        'kms:' || e.event_name AS action,
        coalesce(e.caller_role_arn, e.caller_arn, e.caller_account) AS caller_principal,
        e.caller_account,
        coalesce(e.key_arn, e.key_id_given) AS key_ref,
        coalesce(e.key_account, nullif(split_part(e.key_arn, ':', 5), '')) AS key_account
    FROM events e
    WHERE e.event_source = 'kms.amazonaws.com'
    QUALIFY row_number() OVER (
        PARTITION BY coalesce(e.shared_event_id, e.event_id) ORDER BY (e.caller_arn IS NULL), e.event_id
    ) = 1
)
SELECT
    k.caller_principal,
    k.key_ref,
    k.action,
    any_value(k.caller_account) AS caller_account,
    any_value(k.key_account) AS key_account,
    count(*) AS calls,
    count(*) FILTER (WHERE k.error_code IS NULL) AS successes,
    count(*) FILTER (WHERE k.error_code IS NOT NULL) AS failures,
    max(k.event_time) FILTER (WHERE k.error_code IS NULL) AS last_success,
    max(k.event_time) FILTER (WHERE k.error_code IS NOT NULL) AS last_failure,
    arg_max(d.verdict, k.event_time) FILTER (WHERE d.verdict IS NOT NULL) AS latest_verdict
FROM kms k
LEFT JOIN diagnoses_latest d USING (event_id)
WHERE k.key_ref IS NOT NULL
GROUP BY k.caller_principal, k.key_ref, k.action
ORDER BY failures DESC, calls DESC;
