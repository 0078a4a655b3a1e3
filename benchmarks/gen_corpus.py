"""Generate a deterministic synthetic CloudTrail corpus in the real S3 layout (DESIGN.md section 10).

    python benchmarks/gen_corpus.py --events 1000000 --out /tmp/corpus

Layout: ``AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/<account>_CloudTrail_<region>_<YYYYMMDDTHHMMZ>_<rand>.json.gz``
plus some ``CloudTrail-Digest`` files. Two main accounts (111111111111 owns the keys, 222222222222 runs
the data-processing role) and two noise accounts, two regions; ~70 % noise services, KMS and S3 events,
~0.5 % failed KMS calls, IAM/STS/Organizations changes, cross-account KMS calls logged in both accounts
with one ``sharedEventID``, and a few duplicate deliveries. The same arguments give the same bytes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import random
import uuid
import zlib
from pathlib import Path
from typing import Any

OWNER = "111111111111"
CALLER = "222222222222"
NOISE_ACCOUNTS = ("333333333333", "444444444444")
ACCOUNTS = (OWNER, CALLER, *NOISE_ACCOUNTS)
ACCOUNT_WEIGHTS = (0.3, 0.3, 0.2, 0.2)
REGIONS = ("us-east-1", "eu-west-1")
EVENTS_PER_FILE = 250
START = dt.datetime(2026, 11, 20, 0, 0, tzinfo=dt.UTC)
SLOT = dt.timedelta(minutes=5)
KMS_SHARE = 0.18
FAIL_SHARE_OF_KMS = 0.005 / KMS_SHARE  # ~0.5 % of all events are failed KMS calls

NOISE = (
    ("ec2.amazonaws.com", "DescribeInstances"),
    ("ec2.amazonaws.com", "DescribeSecurityGroups"),
    ("sts.amazonaws.com", "GetCallerIdentity"),
    ("lambda.amazonaws.com", "Invoke"),
    ("dynamodb.amazonaws.com", "GetItem"),
    ("monitoring.amazonaws.com", "PutMetricData"),
    ("ssm.amazonaws.com", "GetParameter"),
    ("logs.amazonaws.com", "CreateLogStream"),
    ("sqs.amazonaws.com", "ReceiveMessage"),
    ("secretsmanager.amazonaws.com", "GetSecretValue"),
    ("iam.amazonaws.com", "GetRole"),
    ("cloudformation.amazonaws.com", "DescribeStacks"),
)
KMS_CALLS = ("Decrypt", "GenerateDataKey", "Encrypt", "GenerateDataKey", "Decrypt", "DescribeKey")
S3_CALLS = ("GetObject", "PutObject", "HeadObject", "ListObjects")
POLICY_CALLS = (
    ("iam.amazonaws.com", "PutRolePolicy"),
    ("iam.amazonaws.com", "AttachRolePolicy"),
    ("kms.amazonaws.com", "PutKeyPolicy"),
    ("kms.amazonaws.com", "CreateGrant"),
    ("sts.amazonaws.com", "AssumeRole"),
    ("s3.amazonaws.com", "PutBucketPolicy"),
    ("organizations.amazonaws.com", "UpdatePolicy"),
)
USER_AGENTS = (
    "aws-sdk-java/2.20.162 Linux/5.10.198-187.748.amzn2.x86_64 OpenJDK_64-Bit_Server_VM/17.0.8+7-LTS Java/17.0.8",
    "Boto3/1.34.11 md/Botocore#1.34.11 ua/2.0 os/linux#5.10.201 md/arch#x86_64 lang/python#3.11.6 cfg/retry-mode#legacy",
    "aws-cli/2.15.4 Python/3.11.6 Linux/6.1.61 exe/x86_64.amzn.2023 prompt/off command/kms.decrypt",
    "s3.amazonaws.com",
)


class Gen:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.keys = {
            (acct, region): [f"arn:aws:kms:{region}:{acct}:key/{self.uuid()}" for _ in range(3)]
            for acct in ACCOUNTS
            for region in REGIONS
        }

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def identity(self, acct: str, role: str) -> dict[str, Any]:
        session = f"session-{self.rng.randrange(1000):03d}"
        rid = f"AROA{acct[:4]}{zlib.crc32(role.encode()):012d}"[:21]
        return {
            "type": "AssumedRole",
            "principalId": f"{rid}:{session}",
            "arn": f"arn:aws:sts::{acct}:assumed-role/{role}/{session}",
            "accountId": acct,
            "accessKeyId": "ASIA" + "".join(self.rng.choices("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", k=16)),
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": rid,
                    "arn": f"arn:aws:iam::{acct}:role/{role}",
                    "accountId": acct,
                    "userName": role,
                },
                "attributes": {"creationDate": "2026-11-20T00:00:00Z", "mfaAuthenticated": "false"},
            },
        }

    def base(self, acct: str, region: str, t: dt.datetime, source: str, name: str, role: str) -> dict[str, Any]:
        ip = f"10.{self.rng.randrange(256)}.{self.rng.randrange(256)}.{self.rng.randrange(256)}"
        return {
            "eventVersion": "1.09",
            "userIdentity": self.identity(acct, role),
            "eventTime": t.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "eventSource": source,
            "eventName": name,
            "awsRegion": region,
            "sourceIPAddress": ip,
            "userAgent": self.rng.choice(USER_AGENTS),
            "requestParameters": None,
            "responseElements": None,
            "requestID": self.uuid(),
            "eventID": self.uuid(),
            "readOnly": True,
            "eventType": "AwsApiCall",
            "managementEvent": True,
            "recipientAccountId": acct,
            "eventCategory": "Management",
            "tlsDetails": {
                "tlsVersion": "TLSv1.3",
                "cipherSuite": "TLS_AES_128_GCM_SHA256",
                "clientProvidedHostHeader": f"{source.split('.')[0]}.{region}.amazonaws.com",
            },
        }

    def noise(self, acct: str, region: str, t: dt.datetime) -> dict[str, Any]:
        source, name = self.rng.choice(NOISE)
        rec = self.base(acct, region, t, source, name, "AppRole")
        rec["requestParameters"] = {"filterSet": {}, "maxResults": 100, "name": f"/app/{self.rng.randrange(50)}"}
        return rec

    def kms(self, acct: str, region: str, t: dt.datetime, *, fail: bool) -> list[tuple[str, dict[str, Any]]]:
        """A KMS call (and, when cross-account and allowed, the key owner's copy)."""
        cross = acct == CALLER and self.rng.random() < 0.5
        key_acct = OWNER if cross else acct
        key = self.rng.choice(self.keys[(key_acct, region)])
        name = self.rng.choice(KMS_CALLS)
        role = "DataProcessingRole" if acct == CALLER else "AppRole"
        rec = self.base(acct, region, t, "kms.amazonaws.com", name, role)
        bucket = f"data-{key_acct}-{region}"
        rec["requestParameters"] = {
            "keyId": key if cross or self.rng.random() < 0.5 else "alias/app-data",
            "encryptionContext": {"aws:s3:arn": f"arn:aws:s3:::{bucket}/obj/{self.rng.randrange(10**6)}"},
            "encryptionAlgorithm": "SYMMETRIC_DEFAULT",
        }
        rec["resources"] = [{"accountId": key_acct, "type": "AWS::KMS::Key", "ARN": key}]
        rec["additionalEventData"] = {"keyMaterialId": f"{self.rng.getrandbits(256):064x}"}
        if self.rng.random() < 0.5:
            rec["userIdentity"]["invokedBy"] = "s3.amazonaws.com"
        out = [(acct, rec)]
        if fail:
            rec["errorCode"] = "AccessDenied"
            arn = rec["userIdentity"]["arn"]
            rec["errorMessage"] = (
                f"User: {arn} is not authorized to perform: kms:{name} on resource: {key} "
                "because no resource-based policy allows the kms:" + name + " action"
            )
            return out
        if cross:
            shared = self.uuid()
            rec["sharedEventID"] = shared
            copy = json.loads(json.dumps(rec))
            copy["eventID"] = self.uuid()
            copy["recipientAccountId"] = OWNER
            copy["userIdentity"] = {
                "type": "AWSAccount",
                "principalId": rec["userIdentity"]["principalId"],
                "accountId": CALLER,
            }
            out.append((OWNER, copy))
        return out

    def s3(self, acct: str, region: str, t: dt.datetime) -> dict[str, Any]:
        name = self.rng.choice(S3_CALLS)
        bucket = f"data-{acct}-{region}"
        rec = self.base(acct, region, t, "s3.amazonaws.com", name, "AppRole")
        rec["eventCategory"] = "Data"
        rec["managementEvent"] = False
        rec["readOnly"] = name != "PutObject"
        objkey = f"obj/{self.rng.randrange(10**6)}"
        rec["requestParameters"] = {"bucketName": bucket, "Host": f"{bucket}.s3.{region}.amazonaws.com", "key": objkey}
        rec["resources"] = [
            {"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket}/{objkey}"},
            {"accountId": acct, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"},
        ]
        rec["additionalEventData"] = {
            "SignatureVersion": "SigV4",
            "bytesTransferredIn": 0,
            "bytesTransferredOut": self.rng.randrange(10**6),
            "x-amz-id-2": f"{self.rng.getrandbits(192):048x}",
        }
        return rec

    def policy(self, acct: str, region: str, t: dt.datetime) -> dict[str, Any]:
        source, name = self.rng.choice(POLICY_CALLS)
        rec = self.base(acct, region, t, source, name, "AdminRole")
        rec["readOnly"] = False
        rec["requestParameters"] = {"roleName": "DataProcessingRole", "policyName": "kms-access"}
        return rec


def generate(out: Path, events: int, seed: int = 7, digests: bool = True, start_slot: int = 0) -> dict[str, int]:
    """Write the corpus under ``out``; return counts (files, events, digests).

    ``start_slot`` shifts the first 5-minute slot: parts generated with different seeds and disjoint
    slot ranges can be combined into a larger corpus (bench_ingest.py does so for 3M events).
    """
    g = Gen(seed)
    per_slot = EVENTS_PER_FILE * len(ACCOUNTS) * len(REGIONS)
    written = files = digest_files = 0
    slot = start_slot
    pending_dups: list[tuple[str, str, dict[str, Any]]] = []
    while written < events:
        t0 = START + slot * SLOT
        budget = min(per_slot, events - written)
        buckets: dict[tuple[str, str], list[dict[str, Any]]] = {(a, r): [] for a in ACCOUNTS for r in REGIONS}
        produced = 0
        for acct, region, rec in pending_dups:
            buckets[(acct, region)].append(rec)
            produced += 1
        pending_dups = []
        while produced < budget:
            acct = g.rng.choices(ACCOUNTS, ACCOUNT_WEIGHTS)[0]
            region = REGIONS[0] if g.rng.random() < 0.7 else REGIONS[1]
            t = t0 + dt.timedelta(seconds=g.rng.randrange(300))
            x = g.rng.random()
            if x < 0.70:
                made = [(acct, g.noise(acct, region, t))]
            elif x < 0.88:
                made = g.kms(acct, region, t, fail=g.rng.random() < FAIL_SHARE_OF_KMS)
            elif x < 0.995:
                made = [(acct, g.s3(acct, region, t))]
            else:
                made = [(acct, g.policy(acct, region, t))]
            for a, rec in made:
                buckets[(a, region)].append(rec)
                produced += 1
                if g.rng.random() < 0.0005:
                    pending_dups.append((a, region, rec))
        for (acct, region), recs in buckets.items():
            if not recs:
                continue
            recs.sort(key=lambda r: r["eventTime"])
            day = t0.strftime("%Y/%m/%d")
            folder = out / "AWSLogs" / acct / "CloudTrail" / region / day
            folder.mkdir(parents=True, exist_ok=True)
            rand = "".join(g.rng.choices("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", k=16))
            name = f"{acct}_CloudTrail_{region}_{t0.strftime('%Y%m%dT%H%MZ')}_{rand}.json.gz"
            body = json.dumps({"Records": recs}, separators=(",", ":")).encode()
            (folder / name).write_bytes(gzip.compress(body, compresslevel=6, mtime=0))
            files += 1
            written += len(recs)
            if digests and slot % 12 == 0:
                dfolder = out / "AWSLogs" / acct / "CloudTrail-Digest" / region / day
                dfolder.mkdir(parents=True, exist_ok=True)
                dname = f"{acct}_CloudTrail-Digest_{region}_trail_{region}_{t0.strftime('%Y%m%dT%H%M%SZ')}.json.gz"
                digest = {
                    "awsAccountId": acct,
                    "digestStartTime": t0.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "digestEndTime": (t0 + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "digestS3Bucket": "trail-bucket",
                    "digestPublicKeyFingerprint": f"{g.rng.getrandbits(128):032x}",
                    "digestSignatureAlgorithm": "SHA256withRSA",
                    "logFiles": [],
                }
                (dfolder / dname).write_bytes(gzip.compress(json.dumps(digest).encode(), mtime=0))
                digest_files += 1
        slot += 1
    return {"files": files, "events": written, "digests": digest_files}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--no-digests", action="store_true")
    ap.add_argument("--start-slot", type=int, default=0, help="first 5-minute slot (to build a corpus in parts)")
    args = ap.parse_args()
    counts = generate(args.out, args.events, args.seed, not args.no_digests, args.start_slot)
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
