"""A deterministic synthetic database for the diagnosis benchmarks: a two-account evidence bundle and
events rows generated in SQL (both much faster than writing and ingesting trail files, which
benchmarks/bench_ingest measures separately).

Account 111111111111 owns four keys in us-east-1; account 222222222222 runs 50 roles, each with an
identity policy allowing kms:Decrypt/GenerateDataKey/Encrypt on every key. Key policies: key 0 names
roles 0-24, key 1 names them with a typo, key 2 delegates to its own account only, key 3 names roles
25-49 for Decrypt only. Failures are spread over roles, keys, actions and regions (a tenth in us-west-2,
where the keys do not exist); every event has its own session name and source IP, as in real trails.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

KEY_ACCOUNT = "111111111111"
CALLER_ACCOUNT = "222222222222"
REGION = "us-east-1"
ROLES = 50
KEYS = [f"{i:08d}-12ab-34cd-56ef-1234567890ab" for i in range(4)]


def key_arn(i: int) -> str:
    return f"arn:aws:kms:{REGION}:{KEY_ACCOUNT}:key/{KEYS[i]}"


def role_arn(i: int) -> str:
    return f"arn:aws:iam::{CALLER_ACCOUNT}:role/App{i:02d}Role"


def _w(root: Path, rel: str, doc: Any) -> None:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(doc), encoding="utf-8")


def write_bundle(root: Path) -> Path:
    root_stmt = {
        "Sid": "EnableIAM",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{KEY_ACCOUNT}:root"},
        "Action": "kms:*",
        "Resource": "*",
    }
    policies = [
        [
            root_stmt,
            {
                "Sid": "Apps",
                "Effect": "Allow",
                "Principal": {"AWS": [role_arn(i) for i in range(25)]},
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                "Resource": "*",
            },
        ],
        [
            root_stmt,
            {
                "Sid": "Apps",
                "Effect": "Allow",
                "Principal": {"AWS": [role_arn(i).replace("Role", "Rol") for i in range(25)]},
                "Action": "kms:Decrypt",
                "Resource": "*",
            },
        ],
        [root_stmt],
        [
            root_stmt,
            {
                "Sid": "Apps",
                "Effect": "Allow",
                "Principal": {"AWS": [role_arn(i) for i in range(25, 50)]},
                "Action": "kms:Decrypt",
                "Resource": "*",
                "Condition": {"StringEquals": {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}},
            },
        ],
    ]
    _w(root, "manifest.json", {"collected_at": "2026-11-01T00:00:00Z"})
    k = f"{KEY_ACCOUNT}/kms/{REGION}"
    _w(
        root,
        f"{k}/list-aliases.json",
        {
            "Aliases": [
                {
                    "AliasName": f"alias/app-{i}",
                    "AliasArn": f"arn:aws:kms:{REGION}:{KEY_ACCOUNT}:alias/app-{i}",
                    "TargetKeyId": KEYS[i],
                }
                for i in range(4)
            ]
        },
    )
    for i, kid in enumerate(KEYS):
        _w(
            root,
            f"{k}/{kid}/describe-key.json",
            {
                "KeyMetadata": {
                    "AWSAccountId": KEY_ACCOUNT,
                    "KeyId": kid,
                    "Arn": key_arn(i),
                    "Enabled": True,
                    "KeyState": "Enabled",
                    "KeyManager": "CUSTOMER",
                    "MultiRegion": False,
                    "CreationDate": "2026-10-01T00:00:00+00:00",
                }
            },
        )
        _w(
            root,
            f"{k}/{kid}/get-key-policy.json",
            {"Policy": json.dumps({"Version": "2012-10-17", "Statement": policies[i]}), "PolicyName": "default"},
        )
        _w(root, f"{k}/{kid}/list-grants.json", {"Grants": []})
    ident = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:GenerateDataKey", "kms:Encrypt"],
                "Resource": [key_arn(i) for i in range(4)],
            }
        ],
    }
    _w(
        root,
        f"{KEY_ACCOUNT}/iam/get-account-authorization-details.json",
        {"UserDetailList": [], "GroupDetailList": [], "RoleDetailList": [], "Policies": []},
    )
    _w(
        root,
        f"{CALLER_ACCOUNT}/iam/get-account-authorization-details.json",
        {
            "UserDetailList": [],
            "GroupDetailList": [],
            "Policies": [],
            "RoleDetailList": [
                {
                    "Path": "/",
                    "RoleName": f"App{i:02d}Role",
                    "RoleId": f"AROAEXAMPLE{i:09d}",
                    "Arn": role_arn(i),
                    "CreateDate": "2026-10-01T00:00:00+00:00",
                    "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": []},
                    "RolePolicyList": [{"PolicyName": "kms", "PolicyDocument": ident}],
                    "AttachedManagedPolicies": [],
                    "Tags": [],
                }
                for i in range(ROLES)
            ],
        },
    )
    return root


def insert_events(con: Any, *, total: int, failures: int, seed: int = 7) -> None:
    """``total`` events of which ``failures`` are failed KMS calls; the rest successful KMS/S3/IAM noise."""
    failure_every = max(1, total // max(1, failures))
    con.execute(f"SELECT setseed({(seed % 100) / 100})")
    con.execute(
        f"""
        INSERT INTO events (event_id, event_time, event_source, event_name, aws_region, error_code, error_message,
            caller_arn, caller_type, caller_account, caller_principal_id, caller_role_arn, caller_session_name,
            invoked_by, recipient_account, shared_event_id, request_id, key_arn, key_id_given, key_account,
            user_agent, source_ip, read_only, management_event, raw, ingested_at)
        WITH g AS (
            SELECT i,
                   (i % {failure_every} = 0 AND i // {failure_every} < {failures}) AS failed,
                   CAST(hash(i * 7919) % {ROLES} AS BIGINT) AS role,
                   CAST(hash(i * 104729) % 4 AS BIGINT) AS k,
                   ['Decrypt', 'GenerateDataKey', 'Encrypt'][CAST(1 + hash(i * 31) % 3 AS BIGINT)] AS name,
                   CASE WHEN hash(i * 131) % 10 = 0 THEN 'us-west-2' ELSE '{REGION}' END AS region,
                   TIMESTAMP '2026-11-20 00:00:00' + to_seconds(i * (700000 // {max(total, 1)} + 1) / 1.0) AS t
            FROM range({total}) r(i)
        ), r AS (
            SELECT *, printf('%08d-0000-4000-8000-%012d', i // 100000000, i) AS eid,
                   'arn:aws:sts::{CALLER_ACCOUNT}:assumed-role/App' || lpad(CAST(role AS VARCHAR), 2, '0') || 'Role/s-' || CAST(i AS VARCHAR) AS session,
                   'arn:aws:iam::{CALLER_ACCOUNT}:role/App' || lpad(CAST(role AS VARCHAR), 2, '0') || 'Role' AS role_arn,
                   'arn:aws:kms:{REGION}:{KEY_ACCOUNT}:key/' || ['{KEYS[0]}', '{KEYS[1]}', '{KEYS[2]}', '{KEYS[3]}'][1 + k] AS karn
            FROM g
        )
        SELECT eid, t, 'kms.amazonaws.com', name, region,
               CASE WHEN failed THEN (CASE WHEN region = 'us-west-2' THEN 'NotFoundException' ELSE 'AccessDenied' END) END,
               CASE WHEN failed AND region <> 'us-west-2' THEN 'User: ' || session || ' is not authorized to perform: kms:' || name || ' on resource: ' || karn END,
               session, 'AssumedRole', '{CALLER_ACCOUNT}', 'AROAEXAMPLE:' || CAST(i AS VARCHAR), role_arn, 's-' || CAST(i AS VARCHAR),
               NULL, '{CALLER_ACCOUNT}', NULL, 'req-' || eid,
               CASE WHEN region = '{REGION}' THEN karn END, CASE WHEN region = 'us-west-2' THEN split_part(karn, '/', 2) ELSE karn END,
               '{KEY_ACCOUNT}', 'aws-sdk-java/2.20 app/' || CAST(role AS VARCHAR), '10.' || CAST(hash(i) % 250 AS VARCHAR) || '.' || CAST(i % 250 AS VARCHAR) || '.7',
               false, true,
               json_object('eventVersion', '1.08', 'eventID', eid, 'eventTime', strftime(t, '%Y-%m-%dT%H:%M:%SZ'),
                   'eventSource', 'kms.amazonaws.com', 'eventName', name, 'awsRegion', region,
                   'errorCode', CASE WHEN failed THEN (CASE WHEN region = 'us-west-2' THEN 'NotFoundException' ELSE 'AccessDenied' END) END,
                   'userIdentity', json_object('type', 'AssumedRole', 'arn', session, 'accountId', '{CALLER_ACCOUNT}',
                        'principalId', 'AROAEXAMPLE:' || CAST(i AS VARCHAR),
                        'sessionContext', json_object('sessionIssuer', json_object('type', 'Role', 'arn', role_arn, 'accountId', '{CALLER_ACCOUNT}'))),
                   'requestParameters', json_object('keyId', CASE WHEN region = 'us-west-2' THEN split_part(karn, '/', 2) ELSE karn END),
                   'resources', CASE WHEN region = '{REGION}' THEN json_array(json_object('ARN', karn, 'type', 'AWS::KMS::Key', 'accountId', '{KEY_ACCOUNT}')) END,
                   'requestID', 'req-' || eid, 'sourceIPAddress', '10.0.0.1', 'recipientAccountId', '{CALLER_ACCOUNT}'),
               now()::TIMESTAMP
        FROM r
        """
    )
