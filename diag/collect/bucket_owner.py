"""Which account owns each bucket to collect: one owner per bucket, decided from evidence.

A bucket reaches live collection from several places: ``[collect].buckets`` (read in every account that
owns it), an account's own ``buckets``, and ingested events. A cross-account S3 call is logged by both
the caller's trail and the bucket owner's, so one bucket can be "seen" by two accounts; it still has
exactly one owner, and its policy is stored once.

Evidence, strongest first (the order in which accounts are tried):

1. the bucket's ``resources[].accountId`` in S3 events (CloudTrail names the owner);
2. the account's own ``buckets`` list in kmsdiag.toml;
3. the trail that logged a call made by *another* account (only the owner's trail logs a stranger's call);
4. ``[collect].buckets`` (configuration order);
5. the trail that logged a call made by its own account (same-account access, or the caller's copy);
6. any other configured account.

Each candidate that kmsdiag holds credentials for is asked ``GetBucketLocation`` with
``ExpectedBucketOwner`` set to that account: AWS answers only when the account owns the bucket (403
otherwise), so the first account that gets an answer is the owner, and the policy and encryption are read
with the same expected owner. When no account gets an answer, the bucket is a gap (every refusal is in its
message), never a guess and never a second row.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from diag.collect import s3
from diag.collect.bundle import BUCKET_RE, Bundle, bucket_dir
from diag.collect.rows import error_code

if TYPE_CHECKING:
    import duckdb

RESOURCE_OWNER, ACCOUNT_CONFIG, STRANGER_CALL, COLLECT_CONFIG, OWN_CALL, OTHER_ACCOUNT = range(1, 7)
WHY = {
    RESOURCE_OWNER: "CloudTrail resources[].accountId",
    ACCOUNT_CONFIG: "the account's buckets in kmsdiag.toml",
    STRANGER_CALL: "its trail logged another account's call",
    COLLECT_CONFIG: "[collect].buckets",
    OWN_CALL: "its trail logged its own call",
    OTHER_ACCOUNT: "a configured account",
}


@dataclass
class Claims:
    """Candidate owners of one bucket: account -> the strongest evidence rank seen for it."""

    bucket: str
    ranks: dict[str, int] = field(default_factory=dict)

    def add(self, account: str | None, rank: int) -> None:
        if account:  # an event that names no account still makes the bucket a candidate, with no owner
            self.ranks[account] = min(rank, self.ranks.get(account, rank))

    def order(self) -> list[str]:
        return sorted(self.ranks, key=lambda a: (self.ranks[a], a))


def event_claims(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str | None, int]]:
    """(bucket, account, rank) from ingested events, one row per distinct fact."""
    sql = """
        SELECT DISTINCT bucket, recipient_account, caller_account, event_source = 's3.amazonaws.com',
               list_transform(
                   list_filter(json_extract(raw, '$.resources[*]'), lambda r:
                       json_extract_string(r, '$.type') = 'AWS::S3::Bucket'
                       AND ends_with(coalesce(json_extract_string(r, '$.ARN'), json_extract_string(r, '$.arn'), ''),
                                     ':::' || bucket)),
                   lambda r: json_extract_string(r, '$.accountId'))
        FROM events WHERE bucket IS NOT NULL
    """
    try:
        rows = con.execute(sql).fetchall()
    except Exception:  # an events table without raw records (older database): no event evidence
        return []
    out: list[tuple[str, str | None, int]] = []
    for bucket, recipient, caller, is_s3, owners in rows:
        for owner in owners or []:
            if owner:
                out.append((bucket, owner, RESOURCE_OWNER))
        if not is_s3:  # a KMS call made for S3 is logged by the key's and caller's trails, not the bucket's
            out.append((bucket, None, OTHER_ACCOUNT))
        elif recipient and caller and recipient != caller:
            out.append((bucket, recipient, STRANGER_CALL))
        else:
            out.append((bucket, recipient, OWN_CALL))
    return out


def gather(
    configured: Sequence[str],
    per_account: Mapping[str, Iterable[str]],
    collect_buckets: Iterable[str],
    events: Iterable[tuple[str, str | None, int]],
) -> dict[str, Claims]:
    """Every bucket to collect with its candidate owners (configured accounts come in for every bucket)."""
    claims: dict[str, Claims] = {}

    def claim(bucket: str) -> Claims:
        return claims.setdefault(bucket, Claims(bucket))

    for account, names in per_account.items():
        for b in names:
            claim(b).add(account, ACCOUNT_CONFIG)
    for b in collect_buckets:
        for account in configured:
            claim(b).add(account, COLLECT_CONFIG)
    for b, seen_by, rank in events:
        claim(b).add(seen_by, rank)
    for c in claims.values():
        for account in configured:
            c.add(account, OTHER_ACCOUNT)
    return claims


@dataclass
class Ownership:
    owners: dict[str, str] = field(default_factory=dict)  # bucket -> account it is stored under
    notes: list[str] = field(default_factory=list)


def _probe(client: Any, bucket: str, owner: str) -> tuple[dict[str, Any] | None, str, str]:
    try:
        return s3.get_bucket_location(client, bucket, expected_owner=owner), "", ""
    except Exception as exc:
        code, msg = error_code(exc)
        return None, code, msg


def resolve_and_fetch(bundle: Bundle, clients: Mapping[str, Any], claims: Mapping[str, Claims]) -> Ownership:
    """Decide each bucket's owner by asking AWS, then read the bucket with that owner's credentials.

    ``clients``: the S3 client of every account whose credentials work (config order: the first one reads
    buckets whose owner is named by CloudTrail but not configured)."""
    result = Ownership()
    first = next(iter(clients), None)
    if first is None:
        return result
    for bucket in sorted(claims):
        c = claims[bucket]
        if not BUCKET_RE.match(bucket) or ".." in bucket:
            bundle.error(first, "s3api get-bucket-policy", bucket[:80], "InvalidBucketName")
            result.owners[bucket] = first
            continue
        tried: list[str] = []
        codes: list[str] = []
        owner: str | None = None
        location: dict[str, Any] | None = None
        for account in c.order():
            if account in clients:
                reader = account
            elif c.ranks[account] == RESOURCE_OWNER:
                reader = first  # CloudTrail names an owner kmsdiag has no credentials for
            else:
                continue
            doc, code, msg = _probe(clients[reader], bucket, account)
            if doc is not None:
                owner, location = reader, doc  # stored under the account that read it
                if reader != account:
                    result.notes.append(
                        f"bucket {bucket}: owner account {account} ({WHY[RESOURCE_OWNER]}) is not configured;"
                        f" read with {reader}"
                    )
                _fetch_rest(bundle, clients[reader], reader, bucket, account, location)
                break
            tried.append(f"{account} ({WHY[c.ranks[account]]}): {code}{': ' + msg if msg else ''}")
            codes.append(code)
            if code in ("NoSuchBucket", "InvalidBucketName"):
                break
        if owner is None:
            owner = _record_unknown(bundle, c, tried, codes[0] if codes else "BucketOwnerUnknown", first, clients)
        result.owners[bucket] = owner
    return result


def _fetch_rest(
    bundle: Bundle, client: Any, account: str, bucket: str, expected: str, location: dict[str, Any]
) -> None:
    base = bucket_dir(account, bucket)
    bundle.put(f"{base}/get-bucket-location.json", location)
    for call, fn in (("get-bucket-policy", s3.get_bucket_policy), ("get-bucket-encryption", s3.get_bucket_encryption)):
        try:
            bundle.put(f"{base}/{call}.json", fn(client, bucket, expected_owner=expected))
        except Exception as exc:
            code, msg = error_code(exc)
            bundle.error(account, f"s3api {call}", bucket, code, msg)


def _record_unknown(
    bundle: Bundle, c: Claims, tried: list[str], code: str, first: str, clients: Mapping[str, Any]
) -> str:
    """No account got an answer: one gap per call, under the strongest configured candidate."""
    account = next((a for a in c.order() if a in clients), first)
    message = (
        f"owner of bucket {c.bucket} not confirmed: GetBucketLocation with ExpectedBucketOwner was refused for "
        + "; ".join(tried or ["no account"])
    )
    for call in s3.CALLS:
        bundle.error(account, f"s3api {call}", c.bucket, code if call == "get-bucket-location" else "NotRead", message)
    return account
