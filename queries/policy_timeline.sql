-- One row per successful CloudTrail call that changed something authorization depends on: key policies,
-- grants, key state, IAM identity policies and roles, bucket policies and encryption, organization
-- policies. change_kind groups them; target is the key ARN, role, user, policy or bucket changed.
CREATE OR REPLACE VIEW policy_timeline AS
SELECT
    e.event_time AS change_time,
    coalesce(e.recipient_account, e.caller_account) AS account,
    e.aws_region,
    CASE
        WHEN e.event_name IN ('PutKeyPolicy') THEN 'key_policy'
        WHEN e.event_name IN ('CreateGrant', 'RetireGrant', 'RevokeGrant') THEN 'grant'
        WHEN e.event_name IN ('DisableKey', 'EnableKey', 'ScheduleKeyDeletion', 'CancelKeyDeletion',
                              'CreateKey', 'ReplicateKey', 'UpdatePrimaryRegion') THEN 'key_state'
        WHEN e.event_name IN ('CreateAlias', 'UpdateAlias', 'DeleteAlias') THEN 'alias'
        WHEN e.event_source = 'iam.amazonaws.com' AND e.event_name IN (
            'CreateRole', 'DeleteRole', 'UpdateAssumeRolePolicy', 'PutRolePermissionsBoundary',
            'DeleteRolePermissionsBoundary', 'PutUserPermissionsBoundary', 'DeleteUserPermissionsBoundary',
            'CreateUser', 'DeleteUser') THEN 'principal'
        WHEN e.event_source = 'iam.amazonaws.com' THEN 'identity_policy'
        WHEN e.event_source = 's3.amazonaws.com' THEN 'bucket_policy'
        WHEN e.event_source = 'organizations.amazonaws.com' THEN 'org_policy'
        ELSE 'other'
    END AS change_kind,
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
    e.event_id
FROM events e
WHERE e.error_code IS NULL
  AND (
    (e.event_source = 'kms.amazonaws.com' AND e.event_name IN (
        'PutKeyPolicy', 'CreateGrant', 'RetireGrant', 'RevokeGrant', 'DisableKey', 'EnableKey',
        'ScheduleKeyDeletion', 'CancelKeyDeletion', 'CreateKey', 'ReplicateKey', 'UpdatePrimaryRegion',
        'CreateAlias', 'UpdateAlias', 'DeleteAlias'))
    OR (e.event_source = 'iam.amazonaws.com' AND e.event_name IN (
        'PutRolePolicy', 'DeleteRolePolicy', 'AttachRolePolicy', 'DetachRolePolicy',
        'PutUserPolicy', 'DeleteUserPolicy', 'AttachUserPolicy', 'DetachUserPolicy',
        'PutGroupPolicy', 'DeleteGroupPolicy', 'AttachGroupPolicy', 'DetachGroupPolicy',
        'CreatePolicyVersion', 'DeletePolicyVersion', 'SetDefaultPolicyVersion',
        'CreateRole', 'DeleteRole', 'UpdateAssumeRolePolicy', 'PutRolePermissionsBoundary',
        'DeleteRolePermissionsBoundary', 'PutUserPermissionsBoundary', 'DeleteUserPermissionsBoundary',
        'CreateUser', 'DeleteUser'))
    OR (e.event_source = 's3.amazonaws.com' AND e.event_name IN (
        'PutBucketPolicy', 'DeleteBucketPolicy', 'PutBucketEncryption', 'DeleteBucketEncryption'))
    OR (e.event_source = 'organizations.amazonaws.com' AND e.event_name IN (
        'CreatePolicy', 'UpdatePolicy', 'DeletePolicy', 'AttachPolicy', 'DetachPolicy',
        'EnablePolicyType', 'DisablePolicyType', 'MoveAccount'))
  )
ORDER BY change_time;
