"""Random KMS-shaped request documents (JSON Lines) for ``kmsdiag simulate --batch`` benchmarks.

Deterministic for a seed. The world: keys in account 111111111111 (40 keys, each with a 4-6 statement key
policy: root delegation, key administrators, a statement naming some application roles with
``kms:ViaService`` / ``kms:CallerAccount`` / encryption-context conditions, sometimes a TLS-only Deny or a
grants statement), 200 roles spread over the key account and two other accounts (each role has one or two
identity policies drawn from 30 templates, some with conditions), and two SCP levels (full access, and a
region guard). Every request is a session of a random role calling a random KMS action on a random key
with its own session name, source IP, time and encryption context, so nearly every request is a new
decision (no two documents are the same), while policies repeat the way they do in a real account.

Usage: ``python benchmarks/gen_sim_requests.py --count 20000 --out /tmp/requests.jsonl [--seed 3]``
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path
from typing import Any

KEY_ACCOUNT = "111111111111"
ACCOUNTS = [KEY_ACCOUNT, "222222222222", "333333333333"]
REGIONS = ["us-east-1", "us-west-2", "eu-west-1"]
ACTIONS = [
    "kms:Decrypt",
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:ReEncryptFrom",
    "kms:DescribeKey",
    "kms:CreateGrant",
    "kms:Sign",
]
SERVICES = ["s3", "secretsmanager", "dynamodb", "lambda", "ebs"]


def key_arn(i: int, region: str = "us-east-1") -> str:
    return f"arn:aws:kms:{region}:{KEY_ACCOUNT}:key/{i:08x}-12ab-34cd-56ef-1234567890ab"


def role_arn(i: int) -> str:
    return f"arn:aws:iam::{ACCOUNTS[i % 3]}:role/app/App{i:03d}Role"


def _key_policy(rng: random.Random, k: int) -> dict[str, Any]:
    stmts: list[dict[str, Any]] = [
        {
            "Sid": "EnableIAM",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{KEY_ACCOUNT}:root"},
            "Action": "kms:*",
            "Resource": "*",
        },
        {
            "Sid": "Admins",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{KEY_ACCOUNT}:role/KeyAdmin"},
            "Action": ["kms:Create*", "kms:Describe*", "kms:Enable*", "kms:Put*", "kms:Update*", "kms:Revoke*"],
            "Resource": "*",
        },
    ]
    users = sorted(rng.sample(range(200), 25))
    svc = rng.choice(SERVICES)
    stmts.append(
        {
            "Sid": "AppsViaService",
            "Effect": "Allow",
            "Principal": {"AWS": [role_arn(i).replace("/app/", "/") for i in users]},
            "Action": ["kms:Decrypt", "kms:GenerateDataKey*", "kms:Encrypt", "kms:ReEncrypt*"],
            "Resource": "*",
            "Condition": {
                "StringEquals": {"kms:ViaService": f"{svc}.us-east-1.amazonaws.com"},
                "StringLike": {"kms:EncryptionContext:aws:s3:arn": f"arn:aws:s3:::bucket-{k % 7}/*"},
            },
        }
    )
    stmts.append(
        {
            "Sid": "CrossAccountDescribe",
            "Effect": "Allow",
            "Principal": {"AWS": [f"arn:aws:iam::{a}:root" for a in ACCOUNTS[1:]]},
            "Action": ["kms:DescribeKey", "kms:Decrypt"],
            "Resource": "*",
            "Condition": {"StringEquals": {"kms:CallerAccount": ACCOUNTS[1:]}},
        }
    )
    if rng.random() < 0.6:
        stmts.append(
            {
                "Sid": "TLSOnly",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "kms:*",
                "Resource": "*",
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        )
    if rng.random() < 0.5:
        stmts.append(
            {
                "Sid": "Grants",
                "Effect": "Allow",
                "Principal": {"AWS": [role_arn(i).replace("/app/", "/") for i in users[:5]]},
                "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"],
                "Resource": "*",
                "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
            }
        )
    return {"Version": "2012-10-17", "Statement": stmts}


def _identity_template(rng: random.Random, t: int) -> dict[str, Any]:
    keys = [key_arn(k) for k in rng.sample(range(40), 3)]
    stmts: list[dict[str, Any]] = [
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": f"arn:aws:s3:::bucket-{t % 7}/*"},
        {"Effect": "Allow", "Action": rng.sample(ACTIONS, 3), "Resource": keys},
    ]
    if t % 3 == 0:
        stmts.append({"Effect": "Allow", "Action": "kms:*", "Resource": f"arn:aws:kms:*:{KEY_ACCOUNT}:key/*"})
    if t % 4 == 1:
        stmts.append(
            {
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                "Resource": "*",
                "Condition": {"StringLike": {"kms:ViaService": "*.us-east-1.amazonaws.com"}},
            }
        )
    if t % 5 == 2:
        stmts.append(
            {
                "Effect": "Deny",
                "Action": "kms:*",
                "Resource": "*",
                "Condition": {"NotIpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.168.0.0/16"]}},
            }
        )
    return {"Version": "2012-10-17", "Statement": stmts}


def world(seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    templates = [_identity_template(rng, t) for t in range(30)]
    return {
        "key_policies": [_key_policy(rng, k) for k in range(40)],
        "role_policies": [[templates[j] for j in rng.sample(range(30), 1 + (i % 2))] for i in range(200)],
        "scps": [
            {
                "org_identifier": "r-root",
                "policies": [
                    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
                ],
            },
            {
                "org_identifier": "ou-apps",
                "policies": [
                    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]},
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Sid": "RegionGuard",
                                "Effect": "Deny",
                                "NotAction": ["iam:*", "sts:*", "organizations:*"],
                                "Resource": "*",
                                "Condition": {"StringNotEquals": {"aws:RequestedRegion": REGIONS[:2]}},
                            }
                        ],
                    },
                ],
            },
        ],
    }


def request_doc(rng: random.Random, w: dict[str, Any], n: int) -> dict[str, Any]:
    role = rng.randrange(200)
    k = rng.randrange(40)
    account = ACCOUNTS[role % 3]
    rname = f"App{role:03d}Role"
    region = rng.choice(REGIONS)
    ctx: dict[str, Any] = {
        "aws:PrincipalArn": role_arn(role),
        "aws:PrincipalAccount": account,
        "kms:CallerAccount": account,
        "aws:userid": f"AROA{role:016d}:s{n}",
        "aws:SourceIp": f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}"
        if rng.random() < 0.8
        else f"203.0.113.{rng.randrange(256)}",
        "aws:SecureTransport": "true" if rng.random() < 0.97 else "false",
        "aws:RequestedRegion": region,
        "aws:CurrentTime": f"2026-11-{1 + rng.randrange(28):02d}T{rng.randrange(24):02d}:{rng.randrange(60):02d}:00Z",
    }
    if rng.random() < 0.7:
        svc = rng.choice(SERVICES)
        ctx["kms:ViaService"] = f"{svc}.us-east-1.amazonaws.com"
        ctx["aws:CalledVia"] = [f"{svc}.amazonaws.com"]
        obj = f"arn:aws:s3:::bucket-{rng.randrange(7)}/data/{rng.randrange(10**6)}.csv"
        ctx["kms:EncryptionContext:aws:s3:arn"] = obj
        ctx["kms:EncryptionContextKeys"] = ["aws:s3:arn"]
    return {
        "id": f"r{n}",
        "request": {
            "principal": f"arn:aws:sts::{account}:assumed-role/{rname}/session-{n}",
            "action": rng.choice(ACTIONS),
            "resource": key_arn(k),
            "resource_account": KEY_ACCOUNT,
            "context": ctx,
        },
        "identity_policies": w["role_policies"][role],
        "resource_policy": w["key_policies"][k],
        "scps": w["scps"] if account != KEY_ACCOUNT else [],
        "rcps": [],
    }


def write(out: Path, count: int, seed: int = 3) -> Path:
    rng = random.Random(seed * 7919 + 1)
    w = world(seed)
    with out.open("w", encoding="utf-8") as f:
        for n in range(count):
            f.write(json.dumps(request_doc(rng, w, n), separators=(",", ":")) + "\n")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=20000)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=3)
    args = ap.parse_args(argv)
    write(args.out, args.count, args.seed)
    print(f"wrote {args.count} request documents to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
