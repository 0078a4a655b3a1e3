-- One row per successful change to something authorization depends on (key policies, grants, key
-- state, aliases, IAM identity policies, roles and boundaries, bucket policies, organization policies),
-- in no particular order (ORDER BY change_time). Rows come from policy_changes (kmsdiag collect's policy history, with a summary) and,
-- for changes not turned into history yet, straight from events. change_kind groups them; target is the
-- key ARN, role, user, policy or bucket changed; actor is who did it.
CREATE OR REPLACE VIEW policy_timeline AS
WITH from_history AS (
    SELECT
        p.event_time AS change_time,
        p.account,
        p.region AS aws_region,
        p.event_source,
        p.event_name,
        coalesce(p.resource_arn, p.resource_name) AS target,
        p.policy_name,
        p.actor_arn AS actor,
        NULL::VARCHAR AS actor_session,
        p.invoked_by,
        p.summary,
        p.event_id
    FROM policy_changes p
),
from_events AS (
    SELECT
        e.event_time AS change_time,
        coalesce(e.recipient_account, e.caller_account) AS account,
        e.aws_region,
        e.event_source,
        e.event_name,
        coalesce(
            e.key_arn,
            e.raw ->> '$.requestParameters.roleName',
            e.raw ->> '$.requestParameters.userName',
            e.raw ->> '$.requestParameters.groupName',
            e.raw ->> '$.requestParameters.policyArn',
            e.raw ->> '$.requestParameters.bucketName',
            e.raw ->> '$.requestParameters.policyId',
            e.raw ->> '$.requestParameters.aliasName',
            e.key_id_given
        ) AS target,
        e.raw ->> '$.requestParameters.policyName' AS policy_name,
        coalesce(e.caller_role_arn, e.caller_arn) AS actor,
        e.caller_session_name AS actor_session,
        e.invoked_by,
        NULL::VARCHAR AS summary,
        e.event_id
    FROM events e
    WHERE e.error_code IS NULL
      AND e.event_id NOT IN (SELECT event_id FROM policy_changes)
      AND (
        (e.event_source = 'kms.amazonaws.com' AND e.event_name IN (
            'PutKeyPolicy', 'CreateGrant', 'RetireGrant', 'RevokeGrant', 'DisableKey', 'EnableKey',
            'ScheduleKeyDeletion', 'CancelKeyDeletion', 'CreateKey', 'ReplicateKey', 'UpdatePrimaryRegion',
            'CreateAlias', 'UpdateAlias', 'DeleteAlias'))
        OR (e.event_source = 'iam.amazonaws.com' AND e.event_name IN (
            'PutRolePolicy', 'DeleteRolePolicy', 'AttachRolePolicy', 'DetachRolePolicy',
            'PutUserPolicy', 'DeleteUserPolicy', 'AttachUserPolicy', 'DetachUserPolicy',
            'PutGroupPolicy', 'DeleteGroupPolicy', 'AttachGroupPolicy', 'DetachGroupPolicy',
            'CreatePolicy', 'DeletePolicy', 'CreatePolicyVersion', 'DeletePolicyVersion', 'SetDefaultPolicyVersion',
            'CreateRole', 'DeleteRole', 'UpdateAssumeRolePolicy', 'PutRolePermissionsBoundary',
            'DeleteRolePermissionsBoundary', 'PutUserPermissionsBoundary', 'DeleteUserPermissionsBoundary',
            'CreateUser', 'DeleteUser'))
        OR (e.event_source = 's3.amazonaws.com' AND e.event_name IN (
            'PutBucketPolicy', 'DeleteBucketPolicy', 'PutBucketEncryption', 'DeleteBucketEncryption'))
        OR (e.event_source = 'organizations.amazonaws.com' AND e.event_name IN (
            'CreatePolicy', 'UpdatePolicy', 'DeletePolicy', 'AttachPolicy', 'DetachPolicy',
            'EnablePolicyType', 'DisablePolicyType', 'MoveAccount'))
      )
),
changes AS (
    SELECT * FROM from_history
    UNION ALL
    SELECT * FROM from_events
)
SELECT
    change_time,
    account,
    aws_region,
    CASE
        WHEN event_name = 'PutKeyPolicy' THEN 'key_policy'
        WHEN event_name IN ('CreateGrant', 'RetireGrant', 'RevokeGrant') THEN 'grant'
        WHEN event_name IN ('DisableKey', 'EnableKey', 'ScheduleKeyDeletion', 'CancelKeyDeletion',
                            'CreateKey', 'ReplicateKey', 'UpdatePrimaryRegion') THEN 'key_state'
        WHEN event_name IN ('CreateAlias', 'UpdateAlias', 'DeleteAlias') THEN 'alias'
        WHEN event_source = 'iam.amazonaws.com' AND event_name IN (
            'CreateRole', 'DeleteRole', 'UpdateAssumeRolePolicy', 'PutRolePermissionsBoundary',
            'DeleteRolePermissionsBoundary', 'PutUserPermissionsBoundary', 'DeleteUserPermissionsBoundary',
            'CreateUser', 'DeleteUser') THEN 'principal'
        WHEN event_source = 'iam.amazonaws.com' THEN 'identity_policy'
        WHEN event_source = 's3.amazonaws.com' THEN 'bucket_policy'
        WHEN event_source = 'organizations.amazonaws.com' THEN 'org_policy'
        ELSE 'other'
    END AS change_kind,
    event_source,
    event_name,
    target,
    policy_name,
    actor,
    actor_session,
    invoked_by,
    summary,
    event_id
FROM changes;
