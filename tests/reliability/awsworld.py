"""One moto account with everything `collect` reads, and fault injection below botocore's retry loop."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import boto3

REGION = "us-east-1"
BUCKET = "kmsdiag-data-bucket"


def build_account() -> dict[str, Any]:
    """Keys (one with a grant and an alias), a bucket with policy and SSE-KMS, an organization with an SCP."""
    kms = boto3.client("kms", region_name=REGION)
    account = boto3.client("sts", region_name=REGION).get_caller_identity()["Account"]
    root = {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "kms:*", "Resource": "*"}
    keys = []
    for name in ("data", "logs", "refused"):
        meta = kms.create_key(Description=name, Policy=json.dumps({"Version": "2012-10-17", "Statement": [root]}))
        keys.append(meta["KeyMetadata"]["KeyId"])
    kms.create_alias(AliasName="alias/data", TargetKeyId=keys[0])
    kms.create_grant(KeyId=keys[0], GranteePrincipal=f"arn:aws:iam::{account}:role/App", Operations=["Decrypt"])
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_policy(
        Bucket=BUCKET,
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "s3:GetObject",
                     "Resource": f"arn:aws:s3:::{BUCKET}/*"}
                ],
            }
        ),
    )  # fmt: skip
    s3.put_bucket_encryption(
        Bucket=BUCKET,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": keys[0]}}]
        },
    )
    iam = boto3.client("iam", region_name=REGION)
    iam.create_role(RoleName="App", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}))
    iam.put_role_policy(
        RoleName="App",
        PolicyName="kms",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}]}),
    )  # fmt: skip
    org = boto3.client("organizations", region_name=REGION)
    org.create_organization(FeatureSet="ALL")
    return {"account": account, "keys": keys, "bucket": BUCKET}


def user_with_policy(name: str, policy: dict[str, Any]) -> dict[str, str]:
    """An IAM user holding exactly ``policy``; returns its access key."""
    iam = boto3.client("iam", region_name=REGION)
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="kmsdiag", PolicyDocument=json.dumps(policy))
    return iam.create_access_key(UserName=name)["AccessKey"]


# ------------------------------------------------------------------------------------ fault injection

Fault = Callable[[str, Any], Any]  # (operation name, request) -> None (pass) or an error to inject


class _Raw:
    def stream(self, **_: Any) -> Iterator[bytes]:
        yield b""


def error_response(request: Any, code: str, status: int = 400, message: str = "injected") -> Any:
    """What botocore's endpoint returns for an AWS error reply: (http response, parsed) and no exception."""
    from botocore.awsrequest import AWSResponse

    http = AWSResponse(request.url, status, {}, _Raw())
    parsed = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": {}, "RetryAttempts": 0},
    }
    return (http, parsed), None


@contextmanager
def faults(decide: Fault) -> Iterator[list[tuple[str, str]]]:
    """Inject faults under botocore's retry loop (each attempt passes here), on real moto-backed clients.

    ``decide(operation, request)`` returns None to let moto answer, an error code string for an AWS error
    reply (ThrottlingException, AccessDeniedException, ExpiredTokenException, ...), or an exception instance
    (ReadTimeoutError, EndpointConnectionError) that the HTTP layer raised. Yields the list of injected faults.
    """
    from botocore.endpoint import Endpoint

    real = Endpoint._do_get_response
    injected: list[tuple[str, str]] = []

    def patched(self: Any, request: Any, operation_model: Any, context: Any) -> Any:
        fault = decide(operation_model.name, request)
        if fault is None:
            return real(self, request, operation_model, context)
        injected.append((operation_model.name, fault if isinstance(fault, str) else type(fault).__name__))
        if isinstance(fault, str):
            status = 503 if fault in ("SlowDown", "ServiceUnavailable") else 400
            return error_response(request, fault, status)
        return None, fault

    Endpoint._do_get_response = patched  # type: ignore[method-assign]
    try:
        yield injected
    finally:
        Endpoint._do_get_response = real  # type: ignore[method-assign]
