"""A bundle written by hand, file by file, exactly as `aws ... --output json` prints each call."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

KEY_ACCOUNT = "111111111111"
CALLER_ACCOUNT = "222222222222"
REGION = "us-east-1"
KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
KEY_ARN = f"arn:aws:kms:{REGION}:{KEY_ACCOUNT}:key/{KEY_ID}"
DISABLED_KEY_ID = "0987dcba-09fe-87dc-65ba-ab0987654321"
ROLE_ARN = f"arn:aws:iam::{CALLER_ACCOUNT}:role/DataProcessingRole"
SESSION_ARN = f"arn:aws:sts::{CALLER_ACCOUNT}:assumed-role/DataProcessingRole/etl-run"

KEY_POLICY = {
    "Version": "2012-10-17",
    "Id": "key-consolepolicy-3",
    "Statement": [
        {
            "Sid": "Enable IAM User Permissions",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{KEY_ACCOUNT}:root"},
            "Action": "kms:*",
            "Resource": "*",
        },
        {
            "Sid": "Allow use of the key",
            "Effect": "Allow",
            "Principal": {"AWS": ROLE_ARN},
            "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
            "Resource": "*",
        },
    ],
}
IDENTITY_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": KEY_ARN}],
}
SCP_DOC = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


def _write(root: Path, rel: str, doc: Any) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=4) + "\n", encoding="utf-8")


def write_handmade_bundle(root: Path, collected_at: str = "2026-11-28T12:00:00Z") -> Path:
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
                    "CreationDate": "2026-11-01T10:00:00.123000+00:00",
                    "LastUpdatedDate": "2026-11-01T10:00:00.123000+00:00",
                },
                {"AliasName": "alias/aws/s3", "AliasArn": f"arn:aws:kms:{REGION}:{KEY_ACCOUNT}:alias/aws/s3"},
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
                "CreationDate": "2026-11-01T10:00:00.123000+00:00",
                "Enabled": True,
                "Description": "data key",
                "KeyUsage": "ENCRYPT_DECRYPT",
                "KeyState": "Enabled",
                "Origin": "AWS_KMS",
                "KeyManager": "CUSTOMER",
                "CustomerMasterKeySpec": "SYMMETRIC_DEFAULT",
                "KeySpec": "SYMMETRIC_DEFAULT",
                "EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"],
                "MultiRegion": False,
            }
        },
    )
    _write(
        root, f"{k}/{KEY_ID}/get-key-policy.json", {"Policy": json.dumps(KEY_POLICY, indent=4), "PolicyName": "default"}
    )
    _write(
        root,
        f"{k}/{KEY_ID}/list-grants.json",
        {
            "Grants": [
                {
                    "KeyId": KEY_ARN,
                    "GrantId": "abcde1237d5b6c1b1a3a1b1e1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f",
                    "Name": "etl",
                    "CreationDate": 1764000000.5,
                    "GranteePrincipal": ROLE_ARN,
                    "IssuingAccount": f"arn:aws:iam::{KEY_ACCOUNT}:root",
                    "Operations": ["Decrypt"],
                    "Constraints": {"EncryptionContextSubset": {"Department": "IT"}},
                }
            ]
        },
    )
    # a disabled key whose policy was refused: describe-key only, plus an errors.json entry
    _write(
        root,
        f"{k}/{DISABLED_KEY_ID}/describe-key.json",
        {
            "KeyMetadata": {
                "AWSAccountId": KEY_ACCOUNT,
                "KeyId": DISABLED_KEY_ID,
                "Arn": f"arn:aws:kms:{REGION}:{KEY_ACCOUNT}:key/{DISABLED_KEY_ID}",
                "CreationDate": "2026-10-01T10:00:00+00:00",
                "Enabled": False,
                "KeyState": "Disabled",
                "KeyManager": "CUSTOMER",
                "MultiRegion": False,
            }
        },
    )
    _write(root, f"{k}/{DISABLED_KEY_ID}/list-grants.json", {"Grants": []})
    _write(
        root,
        f"{KEY_ACCOUNT}/errors.json",
        [
            {
                "call": "kms get-key-policy",
                "resource": f"arn:aws:kms:{REGION}:{KEY_ACCOUNT}:key/{DISABLED_KEY_ID}",
                "error": "AccessDeniedException",
            }
        ],
    )
    _write(
        root,
        f"{CALLER_ACCOUNT}/iam/get-account-authorization-details.json",
        {
            "UserDetailList": [],
            "GroupDetailList": [],
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
                    "RolePolicyList": [{"PolicyName": "kms-decrypt", "PolicyDocument": IDENTITY_POLICY}],
                    "AttachedManagedPolicies": [
                        {"PolicyName": "ReadS3", "PolicyArn": f"arn:aws:iam::{CALLER_ACCOUNT}:policy/ReadS3"}
                    ],
                    "PermissionsBoundary": {
                        "PermissionsBoundaryType": "Policy",
                        "PermissionsBoundaryArn": f"arn:aws:iam::{CALLER_ACCOUNT}:policy/Boundary",
                    },
                    "Tags": [],
                    "RoleLastUsed": {},
                }
            ],
            "Policies": [
                {
                    "PolicyName": "ReadS3",
                    "PolicyId": "ANPAEXAMPLE1",
                    "Arn": f"arn:aws:iam::{CALLER_ACCOUNT}:policy/ReadS3",
                    "Path": "/",
                    "DefaultVersionId": "v2",
                    "AttachmentCount": 1,
                    "IsAttachable": True,
                    "PolicyVersionList": [
                        {
                            "Document": {
                                "Version": "2012-10-17",
                                "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
                            },
                            "VersionId": "v2",
                            "IsDefaultVersion": True,
                            "CreateDate": "2026-10-02T09:00:00+00:00",
                        },
                        {
                            "Document": {
                                "Version": "2012-10-17",
                                "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
                            },
                            "VersionId": "v1",
                            "IsDefaultVersion": False,
                            "CreateDate": "2026-10-01T09:00:00+00:00",
                        },
                    ],
                },
                {
                    "PolicyName": "Boundary",
                    "PolicyId": "ANPAEXAMPLE2",
                    "Arn": f"arn:aws:iam::{CALLER_ACCOUNT}:policy/Boundary",
                    "Path": "/",
                    "DefaultVersionId": "v1",
                    "AttachmentCount": 0,
                    "IsAttachable": True,
                    "PolicyVersionList": [
                        {
                            "Document": "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%5B%22kms%3A%2A%22%2C%22s3%3A%2A%22%5D%2C%22Resource%22%3A%22%2A%22%7D%5D%7D",
                            "VersionId": "v1",
                            "IsDefaultVersion": True,
                            "CreateDate": "2026-10-01T09:00:00+00:00",
                        }
                    ],
                },
            ],
        },
    )
    b = f"{KEY_ACCOUNT}/s3/data-bucket-111"
    _write(
        root,
        f"{b}/get-bucket-policy.json",
        {
            "Policy": json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Deny",
                            "Principal": "*",
                            "Action": "s3:*",
                            "Resource": "arn:aws:s3:::data-bucket-111/*",
                            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                        }
                    ],
                }
            )
        },
    )
    _write(root, f"{b}/get-bucket-location.json", {"LocationConstraint": None})
    _write(
        root,
        f"{b}/get-bucket-encryption.json",
        {
            "ServerSideEncryptionConfiguration": {
                "Rules": [
                    {
                        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": KEY_ARN},
                        "BucketKeyEnabled": True,
                    }
                ]
            }
        },
    )
    o = f"{KEY_ACCOUNT}/organizations"
    _write(
        root,
        f"{o}/describe-organization.json",
        {"Organization": {"Id": "o-exampleorgid", "MasterAccountId": KEY_ACCOUNT}},
    )
    _write(
        root,
        f"{o}/describe-policy/p-FullAWSAccess.json",
        {
            "Policy": {
                "PolicySummary": {
                    "Id": "p-FullAWSAccess",
                    "Arn": "arn:aws:organizations::aws:policy/service_control_policy/p-FullAWSAccess",
                    "Name": "FullAWSAccess",
                    "Type": "SERVICE_CONTROL_POLICY",
                    "AwsManaged": True,
                },
                "Content": json.dumps(SCP_DOC),
            }
        },
    )
    _write(
        root,
        f"{o}/list-targets-for-policy/p-FullAWSAccess.json",
        {
            "Targets": [
                {
                    "TargetId": "r-ab12",
                    "Arn": "arn:aws:organizations::111111111111:root/o-exampleorgid/r-ab12",
                    "Name": "Root",
                    "Type": "ROOT",
                },
                {"TargetId": "ou-ab12-11111111", "Name": "Workloads", "Type": "ORGANIZATIONAL_UNIT"},
                {"TargetId": CALLER_ACCOUNT, "Name": "data", "Type": "ACCOUNT"},
            ]
        },
    )
    _write(
        root,
        f"{o}/list-parents/{CALLER_ACCOUNT}.json",
        {"Parents": [{"Id": "ou-ab12-11111111", "Type": "ORGANIZATIONAL_UNIT"}]},
    )
    _write(root, f"{o}/list-parents/ou-ab12-11111111.json", {"Parents": [{"Id": "r-ab12", "Type": "ROOT"}]})
    _write(root, f"{o}/list-parents/{KEY_ACCOUNT}.json", {"Parents": [{"Id": "r-ab12", "Type": "ROOT"}]})
    return root
