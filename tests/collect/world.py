"""A two-account AWS world in moto, built through STS AssumeRole into each account.

Account A (111111111111) is the organization's management account and owns the keys and a bucket;
account B (created by Organizations, so its ID is moto's choice) is a member in an OU with an SCP and
runs DataProcessingRole (inline + managed policy + boundary).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import boto3

A = "111111111111"
REGION = "us-east-1"
COLLECTOR = "KmsdiagCollector"


def assume(account: str, role: str = COLLECTOR) -> Any:
    creds = boto3.client("sts", region_name=REGION).assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/{role}", RoleSessionName="kmsdiag-test"
    )["Credentials"]
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=REGION,
    )


@dataclass
class World:
    b: str = ""
    keys: dict[str, str] = field(default_factory=dict)  # name -> key ARN
    key_policy: dict[str, Any] = field(default_factory=dict)
    grant_id: str = ""
    scp_id: str = ""
    rcp_id: str = ""
    b_key: str = ""
    root_id: str = ""
    ou_id: str = ""
    bucket: str = "data-bucket-aaa"
    inline: dict[str, Any] = field(default_factory=dict)
    managed_arn: str = ""
    boundary_arn: str = ""

    @property
    def role_arn(self) -> str:
        return f"arn:aws:iam::{self.b}:role/DataProcessingRole"

    @property
    def session_arn(self) -> str:
        return f"arn:aws:sts::{self.b}:assumed-role/DataProcessingRole/etl"


def build_world() -> World:
    w = World()
    a = assume(A)
    org = a.client("organizations")
    org.create_organization(FeatureSet="ALL")
    w.root_id = org.list_roots()["Roots"][0]["Id"]
    w.ou_id = org.create_organizational_unit(ParentId=w.root_id, Name="workloads")["OrganizationalUnit"]["Id"]
    w.b = org.create_account(AccountName="data", Email="data@example.com")["CreateAccountStatus"]["AccountId"]
    org.move_account(AccountId=w.b, SourceParentId=w.root_id, DestinationParentId=w.ou_id)
    org.enable_policy_type(RootId=w.root_id, PolicyType="SERVICE_CONTROL_POLICY")
    scp = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Action": "kms:ScheduleKeyDeletion", "Resource": "*"}],
    }
    w.scp_id = org.create_policy(
        Content=json.dumps(scp), Description="no deletion", Name="DenyKeyDeletion", Type="SERVICE_CONTROL_POLICY"
    )["Policy"]["PolicySummary"]["Id"]
    org.attach_policy(PolicyId=w.scp_id, TargetId=w.ou_id)
    org.enable_policy_type(RootId=w.root_id, PolicyType="RESOURCE_CONTROL_POLICY")
    rcp = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "kms:*",
                "Resource": "*",
                "Condition": {"StringNotEqualsIfExists": {"aws:PrincipalOrgID": "o-example"}},
            }
        ],
    }
    w.rcp_id = org.create_policy(
        Content=json.dumps(rcp), Description="org only", Name="OrgOnlyKms", Type="RESOURCE_CONTROL_POLICY"
    )["Policy"]["PolicySummary"]["Id"]
    org.attach_policy(PolicyId=w.rcp_id, TargetId=w.ou_id)

    b = assume(w.b)
    w.key_policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Root",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{A}:root"},
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                "Sid": "DataProcessing",
                "Effect": "Allow",
                "Principal": {"AWS": w.role_arn},
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                "Resource": "*",
            },
        ],
    }
    kms = a.client("kms")
    for name in ("data", "disabled", "pending", "refused"):
        policy = (
            w.key_policy if name == "data" else {"Version": "2012-10-17", "Statement": [w.key_policy["Statement"][0]]}
        )
        meta = kms.create_key(Description=f"{name} key", Policy=json.dumps(policy))["KeyMetadata"]
        w.keys[name] = meta["Arn"]
    kms.create_alias(AliasName="alias/data-key", TargetKeyId=w.keys["data"])
    w.grant_id = kms.create_grant(KeyId=w.keys["data"], GranteePrincipal=w.role_arn, Operations=["Decrypt"])["GrantId"]
    kms.disable_key(KeyId=w.keys["disabled"].rsplit("/", 1)[1])  # moto wants the key ID here
    kms.schedule_key_deletion(KeyId=w.keys["pending"].rsplit("/", 1)[1], PendingWindowInDays=7)

    s3 = a.client("s3")
    s3.create_bucket(Bucket=w.bucket)
    s3.put_bucket_policy(
        Bucket=w.bucket,
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "ReadFromB",
                        "Effect": "Allow",
                        "Principal": {"AWS": w.role_arn},
                        "Action": "s3:GetObject",
                        "Resource": f"arn:aws:s3:::{w.bucket}/*",
                    }
                ],
            }
        ),
    )
    s3.put_bucket_encryption(
        Bucket=w.bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": w.keys["data"]}}
            ]
        },
    )

    w.b_key = b.client("kms").create_key(Description="member key")["KeyMetadata"]["Arn"]
    iam = b.client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
    boundary = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["kms:*", "s3:*"], "Resource": "*"}],
    }
    managed = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{w.bucket}/*"}],
    }
    w.boundary_arn = iam.create_policy(PolicyName="DataBoundary", PolicyDocument=json.dumps(boundary))["Policy"]["Arn"]
    w.managed_arn = iam.create_policy(PolicyName="ReadData", PolicyDocument=json.dumps(managed))["Policy"]["Arn"]
    iam.create_role(
        RoleName="DataProcessingRole", AssumeRolePolicyDocument=json.dumps(trust), PermissionsBoundary=w.boundary_arn
    )
    w.inline = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": w.keys["data"]}
        ],
    }
    iam.put_role_policy(RoleName="DataProcessingRole", PolicyName="use-data-key", PolicyDocument=json.dumps(w.inline))
    iam.attach_role_policy(RoleName="DataProcessingRole", PolicyArn=w.managed_arn)
    return w
