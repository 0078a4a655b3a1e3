"""The guide's walk-through as a small evidence bundle (key in 111111111111, DataProcessingRole in
222222222222), with the key policy and identity policy given per test, for end-to-end explain tests."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

KEY_ACCOUNT = "111111111111"
CALLER_ACCOUNT = "222222222222"
REGION = "us-east-1"
KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
KEY_ARN = f"arn:aws:kms:{REGION}:{KEY_ACCOUNT}:key/{KEY_ID}"
ROLE_ARN = f"arn:aws:iam::{CALLER_ACCOUNT}:role/DataProcessingRole"

ROOT_STATEMENT = {
    "Sid": "Enable IAM User Permissions",
    "Effect": "Allow",
    "Principal": {"AWS": f"arn:aws:iam::{KEY_ACCOUNT}:root"},
    "Action": "kms:*",
    "Resource": "*",
}


def role_statement(
    principal: str = ROLE_ARN, actions: Any = ("kms:Decrypt",), sid: str = "AllowDataProcessingRole"
) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Principal": {"AWS": principal}, "Action": list(actions), "Resource": "*"}


IDENTITY_OK = {
    "Version": "2012-10-17",
    "Statement": [{"Sid": "UseDataKey", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": KEY_ARN}],
}


def _write(root: Path, rel: str, doc: Any) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2), encoding="utf-8")


def write_bundle(
    root: Path,
    *,
    key_statements: list[dict[str, Any]],
    identity: dict[str, Any] | None = None,
    collected_at: str = "2026-11-28T12:00:00Z",
) -> Path:
    identity = copy.deepcopy(IDENTITY_OK if identity is None else identity)
    k = f"{KEY_ACCOUNT}/kms/{REGION}"
    _write(root, "manifest.json", {"collected_at": collected_at})
    _write(
        root,
        f"{k}/list-aliases.json",
        {
            "Aliases": [
                {
                    "AliasName": "alias/data-key",
                    "AliasArn": f"arn:aws:kms:{REGION}:{KEY_ACCOUNT}:alias/data-key",
                    "TargetKeyId": KEY_ID,
                }
            ]
        },
    )
    _write(
        root,
        f"{k}/{KEY_ID}/describe-key.json",
        {
            "KeyMetadata": {
                "AWSAccountId": KEY_ACCOUNT,
                "KeyId": KEY_ID,
                "Arn": KEY_ARN,
                "CreationDate": "2026-11-01T10:00:00+00:00",
                "Enabled": True,
                "KeyUsage": "ENCRYPT_DECRYPT",
                "KeyState": "Enabled",
                "Origin": "AWS_KMS",
                "KeyManager": "CUSTOMER",
                "KeySpec": "SYMMETRIC_DEFAULT",
                "MultiRegion": False,
            }
        },
    )
    policy = {"Version": "2012-10-17", "Id": "key-policy", "Statement": key_statements}
    _write(root, f"{k}/{KEY_ID}/get-key-policy.json", {"Policy": json.dumps(policy), "PolicyName": "default"})
    _write(root, f"{k}/{KEY_ID}/list-grants.json", {"Grants": []})
    _write(
        root,
        f"{KEY_ACCOUNT}/iam/get-account-authorization-details.json",
        {"UserDetailList": [], "GroupDetailList": [], "RoleDetailList": [], "Policies": []},
    )
    _write(
        root,
        f"{CALLER_ACCOUNT}/iam/get-account-authorization-details.json",
        {
            "UserDetailList": [],
            "GroupDetailList": [],
            "Policies": [],
            "RoleDetailList": [
                {
                    "Path": "/",
                    "RoleName": "DataProcessingRole",
                    "RoleId": "AROAEXAMPLEID1234567",
                    "Arn": ROLE_ARN,
                    "CreateDate": "2026-10-01T09:00:00+00:00",
                    "AssumeRolePolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "ec2.amazonaws.com"},
                                "Action": "sts:AssumeRole",
                            }
                        ],
                    },
                    "InstanceProfileList": [],
                    "RolePolicyList": [{"PolicyName": "kms-use", "PolicyDocument": identity}],
                    "AttachedManagedPolicies": [],
                    "Tags": [],
                    "RoleLastUsed": {},
                }
            ],
        },
    )
    return root


def load(con: Any, root: Path) -> int:
    from diag.collect.bundle import read_bundle
    from diag.collect.snapshot import load_bundle

    return load_bundle(con, read_bundle(root))
