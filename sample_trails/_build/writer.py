"""Write one Scenario to disk: trails (CloudTrail S3 layout, gzip), digests, the evidence bundle,
expected.json and README.md. Deterministic: same scenario in, same bytes out."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from ctlib import TRAIL_NAME, UTC, Account, Scenario, alnum, cli_date, compact, gz_bytes, ts, write_json

AWS_MANAGED_ALIASES = [
    "alias/aws/dynamodb",
    "alias/aws/ebs",
    "alias/aws/lambda",
    "alias/aws/rds",
    "alias/aws/s3",
    "alias/aws/secretsmanager",
    "alias/aws/ssm",
]


def _parse(t: str) -> dt.datetime:
    return dt.datetime.strptime(t, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def write_trails(scn: Scenario, root: Path) -> int:
    """Group records per (account, region, 5-minute delivery window) into CloudTrail log files."""
    groups: dict[tuple[str, str, dt.datetime], list[tuple[int, dict[str, Any]]]] = {}
    for i, (trail, rec) in enumerate(scn.records):
        t = _parse(rec["eventTime"])
        end = t.replace(minute=t.minute - t.minute % 5, second=0) + dt.timedelta(minutes=5)
        groups.setdefault((trail, rec["awsRegion"], end), []).append((i, rec))
    bucket = f"aws-controltower-logs-{min(scn.accounts)}-us-east-1"
    digests: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for (acct, region, end), items in sorted(groups.items()):
        items.sort(key=lambda x: (x[1]["eventTime"], x[0]))
        stamp = end.strftime("%Y%m%dT%H%MZ")
        name = f"{acct}_CloudTrail_{region}_{stamp}_{alnum(16, scn.slug, acct, region, stamp)}.json.gz"
        rel = f"AWSLogs/{acct}/CloudTrail/{region}/{end:%Y/%m/%d}/{name}"
        data = gz_bytes(compact({"Records": [r for _, r in items]}).encode())
        path = root / "trails" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        times = [r["eventTime"] for _, r in items]
        digests.setdefault((acct, region), []).append(
            {
                "s3Bucket": bucket,
                "s3Object": rel,
                "hashValue": hashlib.sha256(data).hexdigest(),
                "hashAlgorithm": "SHA-256",
                "newestEventTime": max(times),
                "oldestEventTime": min(times),
            }
        )
    # one digest file per account and region (CloudTrail writes one per hour; a few are enough here)
    for (acct, region), files in sorted(digests.items()):
        newest = max(f["newestEventTime"] for f in files)
        oldest = min(f["oldestEventTime"] for f in files)
        end = _parse(newest).replace(minute=0, second=0) + dt.timedelta(hours=1)
        start = _parse(oldest).replace(minute=0, second=0)
        dname = f"{acct}_CloudTrail-Digest_{region}_{TRAIL_NAME}_us-east-1_{end:%Y%m%dT%H%M%SZ}.json.gz"
        rel = f"AWSLogs/{acct}/CloudTrail-Digest/{region}/{end:%Y/%m/%d}/{dname}"
        digest = {
            "awsAccountId": acct,
            "digestStartTime": ts(start),
            "digestEndTime": ts(end),
            "digestS3Bucket": bucket,
            "digestS3Object": rel,
            "digestPublicKeyFingerprint": hashlib.md5(f"{scn.slug}/{region}".encode()).hexdigest(),  # noqa: S324 - a fingerprint shape, not security
            "digestSignatureAlgorithm": "SHA256withRSA",
            "newestEventTime": newest,
            "oldestEventTime": oldest,
            "previousDigestS3Bucket": None,
            "previousDigestS3Object": None,
            "previousDigestHashValue": None,
            "previousDigestHashAlgorithm": None,
            "previousDigestSignature": None,
            "logFiles": files,
        }
        path = root / "trails" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gz_bytes(compact(digest).encode()))
    return len(groups)


def _iam_document(acct: Account, scn: Scenario) -> dict[str, Any]:
    attach_count: dict[str, int] = {}
    boundary_count: dict[str, int] = {}
    for r in list(acct.roles.values()) + list(acct.users.values()):
        for a in r.attached:
            attach_count[a] = attach_count.get(a, 0) + 1
        if r.boundary:
            boundary_count[r.boundary] = boundary_count.get(r.boundary, 0) + 1
    users = []
    for u in sorted(acct.users.values(), key=lambda x: x.name):
        d: dict[str, Any] = {
            "Path": u.path,
            "UserName": u.name,
            "UserId": u.user_id,
            "Arn": u.arn,
            "CreateDate": cli_date(u.created),
        }
        if u.inline:
            d["UserPolicyList"] = [{"PolicyName": n, "PolicyDocument": doc} for n, doc in u.inline.items()]
        d["GroupList"] = list(u.groups)
        d["AttachedManagedPolicies"] = [{"PolicyName": acct.managed[a].name, "PolicyArn": a} for a in u.attached]
        if u.boundary:
            d["PermissionsBoundary"] = {"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": u.boundary}
        d["Tags"] = []
        users.append(d)
    roles = []
    for r in sorted(acct.roles.values(), key=lambda x: x.name):
        d = {
            "Path": r.path,
            "RoleName": r.name,
            "RoleId": r.role_id,
            "Arn": r.arn,
            "CreateDate": cli_date(r.created),
            "AssumeRolePolicyDocument": r.trust,
        }
        if r.description:
            d["Description"] = r.description
        d["InstanceProfileList"] = []
        d["RolePolicyList"] = [{"PolicyName": n, "PolicyDocument": doc} for n, doc in r.inline.items()]
        d["AttachedManagedPolicies"] = [{"PolicyName": acct.managed[a].name, "PolicyArn": a} for a in r.attached]
        if r.boundary:
            d["PermissionsBoundary"] = {"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": r.boundary}
        d["Tags"] = [{"Key": k, "Value": v} for k, v in sorted(r.tags.items())]
        d["RoleLastUsed"] = {"LastUsedDate": cli_date(scn.collected_at - dt.timedelta(hours=3)), "Region": "us-east-1"}
        roles.append(d)
    policies = []
    for p in sorted(acct.managed.values(), key=lambda x: x.arn):
        policies.append(
            {
                "PolicyName": p.name,
                "PolicyId": p.policy_id,
                "Arn": p.arn,
                "Path": p.path,
                "DefaultVersionId": p.version,
                "AttachmentCount": attach_count.get(p.arn, 0),
                "PermissionsBoundaryUsageCount": boundary_count.get(p.arn, 0),
                "IsAttachable": True,
                "CreateDate": cli_date(p.created),
                "UpdateDate": cli_date(p.created),
                "PolicyVersionList": [
                    {
                        "Document": p.document,
                        "VersionId": p.version,
                        "IsDefaultVersion": True,
                        "CreateDate": cli_date(p.created),
                    }
                ],
            }
        )
    return {"UserDetailList": users, "GroupDetailList": [], "RoleDetailList": roles, "Policies": policies}


def write_bundle(scn: Scenario, root: Path) -> None:
    b = root / "bundle"
    write_json(b / "manifest.json", {"collected_at": ts(scn.collected_at), "accounts": sorted(scn.accounts)})
    for acct in scn.accounts.values():
        a = b / acct.id
        if "iam" not in acct.skip_files:
            write_json(a / "iam" / "get-account-authorization-details.json", _iam_document(acct, scn))
        for region in sorted(acct.regions):
            aliases = []
            names = {al: k for k in acct.keys.values() if k.region == region for al in k.aliases}
            for al in sorted(set(names) | set(AWS_MANAGED_ALIASES)):
                entry: dict[str, Any] = {"AliasName": al, "AliasArn": f"arn:aws:kms:{region}:{acct.id}:{al}"}
                if al in names:
                    k = names[al]
                    entry["TargetKeyId"] = k.key_id
                    entry["CreationDate"] = cli_date(k.created, micro=True)
                    entry["LastUpdatedDate"] = cli_date(k.created, micro=True)
                aliases.append(entry)
            if f"list-aliases:{region}" not in acct.skip_files:
                write_json(a / "kms" / region / "list-aliases.json", {"Aliases": aliases})
        for k in acct.keys.values():
            kd = a / "kms" / k.region / k.key_id
            if f"describe-key:{k.key_id}" not in acct.skip_files:
                md: dict[str, Any] = {
                    "AWSAccountId": k.account,
                    "KeyId": k.key_id,
                    "Arn": k.arn,
                    "CreationDate": cli_date(k.created, micro=True),
                    "Enabled": k.state == "Enabled",
                    "Description": k.description,
                    "KeyUsage": "ENCRYPT_DECRYPT",
                    "KeyState": k.state,
                }
                if k.deletion_date:
                    md["DeletionDate"] = cli_date(k.deletion_date, micro=True)
                md.update(
                    {
                        "Origin": "AWS_KMS",
                        "KeyManager": k.manager,
                        "CustomerMasterKeySpec": "SYMMETRIC_DEFAULT",
                        "KeySpec": "SYMMETRIC_DEFAULT",
                        "EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"],
                        "MultiRegion": False,
                    }
                )
                if k.pending_days:
                    md["PendingDeletionWindowInDays"] = k.pending_days
                write_json(kd / "describe-key.json", {"KeyMetadata": md})
            if f"get-key-policy:{k.key_id}" not in acct.skip_files:
                write_json(kd / "get-key-policy.json", {"Policy": k.policy_text, "PolicyName": "default"})
            if f"list-grants:{k.key_id}" not in acct.skip_files:
                grants = []
                for g in k.grants:
                    gd: dict[str, Any] = {"KeyId": k.arn, "GrantId": g.grant_id}
                    if g.name:
                        gd["Name"] = g.name
                    gd["CreationDate"] = cli_date(g.created)
                    gd["GranteePrincipal"] = g.grantee
                    if g.retiring:
                        gd["RetiringPrincipal"] = g.retiring
                    gd["IssuingAccount"] = f"arn:aws:iam::{g.issuing_account or k.account}:root"
                    gd["Operations"] = g.operations
                    if g.constraints:
                        gd["Constraints"] = g.constraints
                    grants.append(gd)
                write_json(kd / "list-grants.json", {"Grants": grants})
            if k.tags is not None:
                tag_list = [{"TagKey": tk, "TagValue": tv} for tk, tv in k.tags.items()]
                write_json(kd / "list-resource-tags.json", {"Tags": tag_list, "Truncated": False})
        # SSE-KMS with the AWS managed key: the configuration names no key (aws/s3 is implied)
        aws_managed_keys = {k.arn for k in acct.keys.values() if k.manager == "AWS"}
        for bk in acct.buckets.values():
            sd = a / "s3" / bk.name
            if bk.policy is not None:
                write_json(sd / "get-bucket-policy.json", {"Policy": compact(bk.policy)})
            rule: dict[str, Any] = {
                "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}
                if bk.sse_key_arn and bk.sse_key_arn in aws_managed_keys
                else {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": bk.sse_key_arn}
                if bk.sse_key_arn
                else {"SSEAlgorithm": "AES256"}
            }
            rule["BucketKeyEnabled"] = bk.bucket_key and bk.sse_key_arn is not None
            write_json(sd / "get-bucket-encryption.json", {"ServerSideEncryptionConfiguration": {"Rules": [rule]}})
            write_json(
                sd / "get-bucket-location.json", {"LocationConstraint": None if bk.region == "us-east-1" else bk.region}
            )
        org = scn.org
        if org and acct.id in org.parent and "organizations" not in acct.skip_files:
            path = org.path(acct.id)
            od = a / "organizations"
            for child in path[:-1]:
                parent = org.parent[child] if child == acct.id else org.ous[child][1]
                write_json(
                    od / "list-parents" / f"{child}.json",
                    {"Parents": [{"Id": parent, "Type": "ROOT" if parent.startswith("r-") else "ORGANIZATIONAL_UNIT"}]},
                )
            for p in sorted(org.policies.values(), key=lambda x: x.policy_id):
                if not any(tg in path for tg in p.targets):
                    continue
                write_json(
                    od / "describe-policy" / f"{p.policy_id}.json",
                    {
                        "Policy": {
                            "PolicySummary": {
                                "Id": p.policy_id,
                                "Arn": f"arn:aws:organizations::aws:policy/{'service_control_policy' if p.ptype == 'SERVICE_CONTROL_POLICY' else 'resource_control_policy'}/{p.policy_id}"
                                if p.aws_managed
                                else f"arn:aws:organizations::{org.master}:policy/{org.org_id}/{p.ptype.lower()}/{p.policy_id}",
                                "Name": p.name,
                                "Description": p.description,
                                "Type": p.ptype,
                                "AwsManaged": p.aws_managed,
                            },
                            "Content": p.content,
                        }
                    },
                )
                write_json(
                    od / "list-targets-for-policy" / f"{p.policy_id}.json",
                    {
                        "Targets": [
                            {
                                "TargetId": tg,
                                "Arn": org.arn_of(tg),
                                "Name": org.name_of(tg),
                                "Type": "ROOT"
                                if tg.startswith("r-")
                                else "ORGANIZATIONAL_UNIT"
                                if tg.startswith("ou-")
                                else "ACCOUNT",
                            }
                            for tg in p.targets
                        ]
                    },
                )
        write_json(a / "errors.json", acct.errors)


def write_scenario(scn: Scenario, out: Path) -> int:
    root = out / scn.slug
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    n = write_trails(scn, root)
    write_bundle(scn, root)
    ids = {str(r["eventID"]) for _, r in scn.records}
    missing = set(scn.expected) - ids
    assert not missing, f"{scn.slug}: expected events not generated: {missing}"
    (root / "expected.json").write_text(json.dumps(scn.expected, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    text = scn.readme.strip()
    for name, value in {**{a.alias: a.id for a in scn.accounts.values()}, **scn.readme_vars}.items():
        text = text.replace(f"<{name}>", value)
    (root / "README.md").write_text(f"# {scn.title}\n\n{text}\n", encoding="utf-8")
    return n
