-- One row per API call. A cross-account call is logged twice, in the caller's trail and in the resource
-- owner's trail, with one sharedEventID and two eventIDs: here the copies are joined into one row
-- (call_id = sharedEventID); any other event is a call with one copy (call_id = eventID).
-- caller_event_id is the caller's copy (its userIdentity names the principal); owner_event_id the owner's
-- copy (userIdentity type AWSAccount, or logged in the key's account for a service caller). A denied
-- cross-account call is logged only by the caller, so owner_event_id is NULL. Fields come from the caller's
-- copy when it has them, else from the owner's.
CREATE OR REPLACE VIEW calls AS
WITH c AS (
    SELECT
        *,
        coalesce(shared_event_id, event_id) AS call_id,
        coalesce(caller_type = 'AWSAccount', false)
            OR coalesce(recipient_account = key_account AND recipient_account IS DISTINCT FROM caller_account, false)
            AS is_owner_copy
    FROM events
)
SELECT
    call_id,
    any_value(shared_event_id) AS shared_event_id,
    count(*) AS copies,
    list(event_id ORDER BY event_id) AS event_ids,
    any_value(event_id) FILTER (WHERE NOT is_owner_copy) AS caller_event_id,
    any_value(event_id) FILTER (WHERE is_owner_copy) AS owner_event_id,
    min(event_time) AS event_time,
    any_value(event_source) AS event_source,
    any_value(event_name) AS event_name,
    any_value(aws_region) AS aws_region,
    coalesce(any_value(error_code) FILTER (WHERE NOT is_owner_copy), any_value(error_code)) AS error_code,
    coalesce(any_value(error_message) FILTER (WHERE NOT is_owner_copy), any_value(error_message)) AS error_message,
    coalesce(any_value(caller_arn) FILTER (WHERE NOT is_owner_copy), any_value(caller_arn)) AS caller_arn,
    coalesce(any_value(caller_type) FILTER (WHERE NOT is_owner_copy), any_value(caller_type)) AS caller_type,
    coalesce(any_value(caller_account) FILTER (WHERE NOT is_owner_copy), any_value(caller_account)) AS caller_account,
    coalesce(any_value(caller_role_arn) FILTER (WHERE NOT is_owner_copy), any_value(caller_role_arn)) AS caller_role_arn,
    coalesce(any_value(invoked_by) FILTER (WHERE NOT is_owner_copy), any_value(invoked_by)) AS invoked_by,
    any_value(recipient_account) FILTER (WHERE NOT is_owner_copy) AS caller_recipient_account,
    any_value(recipient_account) FILTER (WHERE is_owner_copy) AS owner_recipient_account,
    any_value(key_arn) AS key_arn,
    any_value(key_id_given) AS key_id_given,
    any_value(key_account) AS key_account,
    any_value(bucket) AS bucket,
    any_value(request_id) AS request_id,
    any_value(encryption_context) AS encryption_context
FROM c
GROUP BY call_id;
