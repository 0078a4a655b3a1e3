"""diag.rules._forbidden.forbidden_edit: the fixes AWS refuses (IAM User Guide, "Using service-linked
roles" and "AWS managed policies"; AWS KMS developer guide, "AWS managed keys"; AWS Organizations User
Guide, FullAWSAccess and RCPFullAWSAccess). tests/diagnosis/test_scenarios.py applies it to every fix of
every sample story."""

from __future__ import annotations

import pytest

from diag.rules._forbidden import forbidden_edit

KEY = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@pytest.mark.parametrize(
    ("command", "why"),
    [
        (
            "aws iam put-role-policy --role-name AWSServiceRoleForAutoScaling --policy-name kms"
            ' --policy-document \'{"Version": "2012-10-17"}\'',
            "service-linked role",
        ),
        ("aws iam attach-role-policy --role-name=AWSServiceRoleForEC2Spot --policy-arn x", "service-linked role"),
        (
            "aws iam create-policy-version --policy-arn arn:aws:iam::aws:policy/ReadOnlyAccess --policy-document x",
            "AWS managed policy",
        ),
        ("aws organizations detach-policy --policy-id p-RCPFullAWSAccess --target-id r-ab12", "AWS managed"),
        ("aws organizations update-policy --policy-id p-FullAWSAccess --content x", "AWS managed"),
        (f"aws kms put-key-policy --key-id {KEY} --policy-name default --policy x", "AWS managed key"),
        ("aws kms put-key-policy --key-id alias/aws/ebs --policy-name default --policy x", "AWS managed key"),
    ],
)
def test_what_aws_refuses(command: str, why: str) -> None:
    found = forbidden_edit(command, frozenset({KEY}))
    assert found is not None and why in found


@pytest.mark.parametrize(
    "command",
    [
        "aws iam put-role-policy --role-name AppRole --policy-name kms --policy-document x",
        "aws iam create-policy-version --policy-arn arn:aws:iam::111122223333:policy/kms-use --policy-document x",
        f"aws kms put-key-policy --key-id {KEY} --policy-name default --policy x",
        "aws organizations update-policy --policy-id p-examplepolicyid111 --content x",
        "# aws iam put-role-policy --role-name AWSServiceRoleForAutoScaling",
        "kmsdiag collect",
        "aws iam put-role-policy --role-name 'unbalanced",
    ],
)
def test_what_aws_allows(command: str) -> None:
    assert forbidden_edit(command) is None
