"""Exactly the AWS actions ``kmsdiag collect`` calls: the least-privilege, read-only IAM policy.

The README's policy is checked against ``READ_ONLY_ACTIONS`` by a test, and another test records the API
operations a moto collection really makes and checks that each maps to an action listed here.
"""

from __future__ import annotations

from typing import Any

# IAM action -> (botocore service name, API operation) that needs it.
ACTION_OPERATIONS: dict[str, tuple[str, str]] = {
    "kms:ListKeys": ("kms", "ListKeys"),
    "kms:ListAliases": ("kms", "ListAliases"),
    "kms:DescribeKey": ("kms", "DescribeKey"),
    "kms:GetKeyPolicy": ("kms", "GetKeyPolicy"),
    "kms:ListGrants": ("kms", "ListGrants"),
    "kms:ListResourceTags": ("kms", "ListResourceTags"),
    "iam:GetAccountAuthorizationDetails": ("iam", "GetAccountAuthorizationDetails"),
    "s3:GetBucketPolicy": ("s3", "GetBucketPolicy"),
    "s3:GetEncryptionConfiguration": ("s3", "GetBucketEncryption"),
    "s3:GetBucketLocation": ("s3", "GetBucketLocation"),
    "organizations:DescribeOrganization": ("organizations", "DescribeOrganization"),
    "organizations:ListPolicies": ("organizations", "ListPolicies"),
    "organizations:DescribePolicy": ("organizations", "DescribePolicy"),
    "organizations:ListTargetsForPolicy": ("organizations", "ListTargetsForPolicy"),
    "organizations:ListParents": ("organizations", "ListParents"),
    "organizations:ListRoots": ("organizations", "ListRoots"),
}

READ_ONLY_ACTIONS: tuple[str, ...] = tuple(sorted(ACTION_OPERATIONS))

# Needed by the identity that runs kmsdiag (not in the collected accounts): to assume each account's role.
# sts:GetCallerIdentity needs no permission.
SOURCE_ACTIONS: tuple[str, ...] = ("sts:AssumeRole",)
UNGATED_OPERATIONS: frozenset[tuple[str, str]] = frozenset({("sts", "GetCallerIdentity"), ("sts", "AssumeRole")})


def read_only_policy() -> dict[str, Any]:
    """The IAM policy to attach to the role kmsdiag uses in each collected account."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "KmsdiagCollectReadOnly", "Effect": "Allow", "Action": list(READ_ONLY_ACTIONS), "Resource": "*"}
        ],
    }
