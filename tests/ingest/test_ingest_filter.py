"""diag.ingest.filter: what is stored and what is only counted."""

from __future__ import annotations

import pytest

from diag.ingest.filter import keep


@pytest.mark.parametrize(
    ("source", "name"),
    [
        ("kms.amazonaws.com", "Decrypt"),
        ("kms.amazonaws.com", "PutKeyPolicy"),
        ("kms.amazonaws.com", "CreateGrant"),
        ("kms.amazonaws.com", "DisableKey"),
        ("kms.amazonaws.com", "ScheduleKeyDeletion"),
        ("s3.amazonaws.com", "GetObject"),
        ("s3.amazonaws.com", "PutBucketPolicy"),
        ("iam.amazonaws.com", "PutRolePolicy"),
        ("iam.amazonaws.com", "DeleteRole"),
        ("iam.amazonaws.com", "PutRolePermissionsBoundary"),
        ("sts.amazonaws.com", "AssumeRole"),
        ("sts.amazonaws.com", "AssumeRoleWithWebIdentity"),
        ("sts.amazonaws.com", "AssumeRoleWithSAML"),
        ("organizations.amazonaws.com", "UpdatePolicy"),
        ("organizations.amazonaws.com", "AttachPolicy"),
        ("organizations.amazonaws.com", "MoveAccount"),
    ],
)
def test_kept(source: str, name: str) -> None:
    assert keep(source, name)


@pytest.mark.parametrize(
    ("source", "name"),
    [
        ("ec2.amazonaws.com", "DescribeInstances"),
        ("sts.amazonaws.com", "GetCallerIdentity"),
        ("iam.amazonaws.com", "GetRole"),
        ("iam.amazonaws.com", "ListRoles"),
        ("organizations.amazonaws.com", "DescribeOrganization"),
        ("lambda.amazonaws.com", "Invoke"),
        (None, "Decrypt"),
        ("iam.amazonaws.com", None),
        (["kms.amazonaws.com"], "Decrypt"),
        ("sts.amazonaws.com", {"x": 1}),
    ],
)
def test_counted_not_kept(source: object, name: object) -> None:
    assert not keep(source, name)
