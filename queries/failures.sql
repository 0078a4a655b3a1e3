-- One row per KMS call refused for access or key state (or S3 call denied), counted once even when the
-- same call was logged by two accounts (sharedEventID), with its newest diagnosis (verdict NULL = not
-- diagnosed yet). caller_principal is the role (not the session) or user; key_ref is the key ARN, or the
-- key ID/alias as given when the ARN is unknown; action is "kms:Decrypt"-style. decision and based_on say
-- what the diagnosis rests on (NULL when it was made before kmsdiag recorded it).
CREATE OR REPLACE VIEW failures AS
WITH failed AS (
    -- the same selection as `kmsdiag diagnose` (diag/diagnosis/batch.py): refusals, not throttling or bad input
    SELECT e.*
    FROM events e
    WHERE e.error_code IS NOT NULL
      AND ((e.event_source = 'kms.amazonaws.com' AND e.error_code IN (
                'AccessDenied', 'AccessDeniedException', 'NotFoundException', 'DisabledException',
                'KMSInvalidStateException', 'InvalidCiphertextException', 'IncorrectKeyException',
                'InvalidKeyUsageException', 'InvalidGrantTokenException', 'InvalidGrantIdException'))
           OR (e.event_source = 's3.amazonaws.com' AND e.error_code IN ('AccessDenied', 'AccessDeniedException')))
)
SELECT
    f.event_id,
    f.event_time,
    f.event_source,
    f.event_name,
    split_part(f.event_source, '.', 1) || ':' || f.event_name AS action,
    f.aws_region,
    f.error_code,
    f.error_message,
    f.caller_arn,
    coalesce(f.caller_role_arn, f.caller_arn, f.caller_account) AS caller_principal,
    f.caller_type,
    f.caller_account,
    f.caller_session_name,
    f.user_agent,
    f.source_ip,
    f.invoked_by,
    f.key_arn,
    f.key_id_given,
    coalesce(f.key_arn, f.key_id_given, CASE WHEN f.bucket IS NOT NULL THEN 'arn:aws:s3:::' || f.bucket END) AS key_ref,
    coalesce(f.key_account, nullif(split_part(f.key_arn, ':', 5), '')) AS key_account,
    f.bucket,
    f.recipient_account,
    f.shared_event_id,
    f.request_id,
    coalesce(f.caller_account <> coalesce(f.key_account, nullif(split_part(f.key_arn, ':', 5), '')), false) AS cross_account,
    d.verdict,
    d.codes,
    d.findings,
    d.decision_key,
    d.diagnosed_at,
    d.engine_version,
    d.decision,
    d.based_on
FROM failed f
LEFT JOIN diagnoses_latest d USING (event_id)
QUALIFY row_number() OVER (
    PARTITION BY coalesce(f.shared_event_id, f.event_id)
    ORDER BY (d.verdict IS NULL), (f.caller_arn IS NULL), f.event_id
) = 1;
