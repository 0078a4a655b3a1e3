-- One row per KMS call (successful or not) whose caller account differs from the account that owns the
-- key, counted once even when both accounts logged it (the caller's copy is kept).
CREATE OR REPLACE VIEW cross_account_calls AS
WITH kms AS (
    SELECT
        e.*,
        coalesce(e.key_account, nullif(split_part(e.key_arn, ':', 5), '')) AS owner_account
    FROM events e
    WHERE e.event_source = 'kms.amazonaws.com'
)
SELECT
    event_id,
    event_time,
    'kms:' || event_name AS action,
    aws_region,
    coalesce(caller_role_arn, caller_arn, caller_account) AS caller_principal,
    caller_account,
    coalesce(key_arn, key_id_given) AS key_ref,
    owner_account AS key_account,
    CASE WHEN error_code IS NULL THEN 'success' ELSE 'failure' END AS outcome,
    error_code,
    invoked_by,
    shared_event_id
FROM kms
WHERE caller_account IS NOT NULL AND owner_account IS NOT NULL AND caller_account <> owner_account
QUALIFY row_number() OVER (
    PARTITION BY coalesce(shared_event_id, event_id) ORDER BY (caller_arn IS NULL), event_id
) = 1;
