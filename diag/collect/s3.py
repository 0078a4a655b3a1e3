"""S3: bucket policy, default encryption and location of the buckets that matter.

Buckets come from the configuration and from ingested events (``events.bucket``); ``bucket_owner`` decides
which account owns each one and reads it. A bucket without a policy (``NoSuchBucketPolicy``) is known to
have none; a refused call is a gap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from diag import arn as arns
from diag.collect import commands
from diag.collect.awsjson import dumps, policy_document, to_cli_json
from diag.collect.bundle import BUCKET_RE, Bundle, bucket_dir
from diag.collect.rows import NOT_A_GAP, call_name, errors_for, gap_row, insert_rows

if TYPE_CHECKING:
    import duckdb

CALLS = ("get-bucket-policy", "get-bucket-encryption", "get-bucket-location")
_WHAT = {
    "get-bucket-policy": "bucket_policy",
    "get-bucket-encryption": "bucket_encryption",
    "get-bucket-location": "bucket_location",
}


def _owner(expected_owner: str | None) -> dict[str, str]:
    """``ExpectedBucketOwner``: AWS refuses (403) the call when another account owns the bucket."""
    return {"ExpectedBucketOwner": expected_owner} if expected_owner else {}


def get_bucket_policy(client: Any, bucket: str, *, expected_owner: str | None = None) -> dict[str, Any]:
    return to_cli_json(client.get_bucket_policy(Bucket=bucket, **_owner(expected_owner)))


def get_bucket_encryption(client: Any, bucket: str, *, expected_owner: str | None = None) -> dict[str, Any]:
    return to_cli_json(client.get_bucket_encryption(Bucket=bucket, **_owner(expected_owner)))


def get_bucket_location(client: Any, bucket: str, *, expected_owner: str | None = None) -> dict[str, Any]:
    return to_cli_json(client.get_bucket_location(Bucket=bucket, **_owner(expected_owner)))


def region_of_location(doc: Any) -> str | None:
    """GetBucketLocation's answer as a region (null means us-east-1, ``EU`` means eu-west-1)."""
    if not isinstance(doc, dict) or "LocationConstraint" not in doc:
        return None
    loc = doc.get("LocationConstraint")
    if not loc:
        return "us-east-1"
    return "eu-west-1" if loc == "EU" else str(loc)


def transform_bucket(
    account: str,
    bucket: str,
    policy: Any,
    encryption: Any,
    location: Any,
    known_absent: set[str],
) -> dict[str, Any]:
    """A ``bucket_policies`` row. ``known_absent``: calls answered "there is none" (NoSuchBucketPolicy...)."""
    policy_known = isinstance(policy, dict) and policy.get("Policy") is not None
    encryption_known = isinstance(encryption, dict) and "ServerSideEncryptionConfiguration" in encryption
    return {
        "account": account,
        "bucket": bucket,
        "region": region_of_location(location),
        "policy_known": policy_known or "get-bucket-policy" in known_absent,
        "policy": dumps(policy_document(policy["Policy"])) if policy_known else None,
        "encryption_known": encryption_known or "get-bucket-encryption" in known_absent,
        "encryption": dumps(encryption["ServerSideEncryptionConfiguration"]) if encryption_known else None,
    }


def transform_account(bundle: Bundle, account: str) -> dict[str, list[dict[str, Any]]]:
    errors = errors_for(bundle.errors.get(account, []), "s3")
    by_bucket: dict[str, dict[str, dict[str, Any]]] = {}
    for entry in errors:
        resource = str(entry.get("resource") or "")
        parsed = arns.parse(resource)  # a bucket name, or its ARN
        bucket = parsed.resource if parsed is not None and parsed.service == "s3" else resource
        if BUCKET_RE.match(bucket):
            by_bucket.setdefault(bucket, {})[call_name(entry.get("call"))] = entry
    buckets = {rel.split("/")[2] for rel in bundle.under(f"{account}/s3")} | set(by_bucket)
    out: dict[str, list[dict[str, Any]]] = {"bucket_policies": [], "gaps": []}
    for bucket in sorted(buckets):
        base = bucket_dir(account, bucket)
        docs = {c: bundle.get(f"{base}/{c}.json") for c in CALLS}
        errs = by_bucket.get(bucket, {})
        absent = {c for c, e in errs.items() if str(e.get("error")) in NOT_A_GAP}
        out["bucket_policies"].append(
            transform_bucket(
                account,
                bucket,
                docs["get-bucket-policy"],
                docs["get-bucket-encryption"],
                docs["get-bucket-location"],
                known_absent=absent,
            )
        )
        for call in CALLS:
            if docs[call] is not None or call in absent:
                continue
            e: dict[str, Any] | None = errs.get(call)
            out["gaps"].append(
                gap_row(
                    account=account,
                    region=None,
                    what=_WHAT[call],
                    call=f"s3api {call}",
                    resource=bucket,
                    error=str(e.get("error") or "Error") if e else "NotCollected",
                    message=e.get("message") if e else f"{call}.json is missing from the bundle",
                    how_to_collect=commands.bucket_call(account, bucket, call),
                )
            )
    return out


def load_account(con: duckdb.DuckDBPyConnection, snapshot_id: int, bundle: Bundle, account: str) -> dict[str, int]:
    rows = transform_account(bundle, account)
    _drop_second_owner(con, snapshot_id, account, rows)
    return {
        "bucket_policies": insert_rows(con, "bucket_policies", snapshot_id, rows["bucket_policies"]),
        "gaps": insert_rows(con, "collection_gaps", snapshot_id, rows["gaps"]),
    }


def _drop_second_owner(
    con: duckdb.DuckDBPyConnection, snapshot_id: int, account: str, rows: dict[str, list[dict[str, Any]]]
) -> None:
    """A bucket has one owner: when an earlier account of this snapshot already holds it (a hand-made bundle
    with the same bucket under two accounts), this account's copy is not stored and becomes a gap instead."""
    names = [r["bucket"] for r in rows["bucket_policies"]]
    if not names:
        return
    marks = ", ".join("?" * len(names))
    held = dict(
        con.execute(
            f"SELECT bucket, account FROM bucket_policies WHERE snapshot_id = ? AND bucket IN ({marks})",
            [snapshot_id, *names],
        ).fetchall()
    )
    if not held:
        return
    rows["bucket_policies"] = [r for r in rows["bucket_policies"] if r["bucket"] not in held]
    rows["gaps"] = [g for g in rows["gaps"] if g["resource"] not in held]
    for bucket, owner in sorted(held.items()):
        rows["gaps"].append(
            gap_row(
                account=account,
                region=None,
                what="bucket_policy",
                call="s3api get-bucket-policy",
                resource=bucket,
                error="DuplicateBucket",
                message=f"bucket {bucket} is also under account {owner} in this snapshot; a bucket has one owner:"
                f" the copy under {owner} was kept, this one ignored",
                how_to_collect=commands.bucket_call(account, bucket, "get-bucket-location"),
            )
        )
