"""The CloudTrail events that change what KMS allows: one list for collection, diagnosis and ingest.

- :data:`REPLAYED`: per service, the successful events :mod:`diag.collect.history` turns into
  ``policy_changes`` rows (their documents are replayed on top of a snapshot);
- :data:`DECISION_CHANGES`: every event that may change an authorization decision, the replayed ones
  plus those whose effect the history does not model (group membership, users, policy versions deleted,
  bucket encryption, Organizations structure); diagnosis splits its decision cache at their times;
- :data:`KMS_S3_CHANGES`: the KMS and S3 ones, which Athena pulls even when filtering by key.
"""

from __future__ import annotations

KMS_CHANGES = (
    "CreateKey",
    "PutKeyPolicy",
    "CreateGrant",
    "RetireGrant",
    "RevokeGrant",
    "DisableKey",
    "EnableKey",
    "ScheduleKeyDeletion",
    "CancelKeyDeletion",
    "CreateAlias",
    "UpdateAlias",
    "DeleteAlias",
)
IAM_CHANGES = (
    "PutRolePolicy",
    "DeleteRolePolicy",
    "AttachRolePolicy",
    "DetachRolePolicy",
    "PutRolePermissionsBoundary",
    "DeleteRolePermissionsBoundary",
    "CreateRole",
    "DeleteRole",
    "PutUserPolicy",
    "DeleteUserPolicy",
    "AttachUserPolicy",
    "DetachUserPolicy",
    "PutUserPermissionsBoundary",
    "DeleteUserPermissionsBoundary",
    "PutGroupPolicy",
    "DeleteGroupPolicy",
    "AttachGroupPolicy",
    "DetachGroupPolicy",
    "CreatePolicy",
    "CreatePolicyVersion",
    "SetDefaultPolicyVersion",
    "DeletePolicy",
)
S3_CHANGES = ("PutBucketPolicy", "DeleteBucketPolicy")
ORG_CHANGES = ("CreatePolicy", "UpdatePolicy", "DeletePolicy", "AttachPolicy", "DetachPolicy")

REPLAYED: dict[str, tuple[str, ...]] = {
    "kms.amazonaws.com": KMS_CHANGES,
    "iam.amazonaws.com": IAM_CHANGES,
    "s3.amazonaws.com": S3_CHANGES,
    "organizations.amazonaws.com": ORG_CHANGES,
}

# Not replayed by the history, yet they change decisions.
S3_ENCRYPTION_CHANGES = ("PutBucketEncryption", "DeleteBucketEncryption")
UNMODELED_CHANGES = (
    "DeletePolicyVersion",
    "AddUserToGroup",
    "RemoveUserFromGroup",
    "CreateUser",
    "DeleteUser",
    "EnablePolicyType",
    "DisablePolicyType",
    "MoveAccount",
    # the request context: principal tags (aws:PrincipalTag; the aliases are KMS changes above)
    "TagRole",
    "UntagRole",
    "TagUser",
    "UntagUser",
    # key tags (aws:ResourceTag of a KMS key: diag.collect.key_tags)
    "TagResource",
    "UntagResource",
    *S3_ENCRYPTION_CHANGES,
)

DECISION_CHANGES = tuple(sorted({n for names in REPLAYED.values() for n in names} | set(UNMODELED_CHANGES)))
KMS_S3_CHANGES = KMS_CHANGES + S3_CHANGES + S3_ENCRYPTION_CHANGES
