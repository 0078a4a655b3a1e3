"""A bucket's policy (and default encryption) as of a time: its owner's nearest snapshot plus the
PutBucketPolicy / DeleteBucketPolicy events."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from diag import arn as arns
from diag.collect import commands
from diag.collect.asof.history import Change, History, loads
from diag.collect.asof.snapshots import pick_nearest
from diag.collect.asof.steps import ABSENT, UNKNOWN, Step, value_at
from diag.collect.model import Gap
from diag.policy.model import NamedPolicy

if TYPE_CHECKING:
    import duckdb


def bucket_as_of(
    con: duckdb.DuckDBPyConnection,
    hist: History,
    bucket: str,
    at: dt.datetime | None,
    partition: str = arns.DEFAULT_PARTITION,
) -> tuple[NamedPolicy | None, dict[str, Any] | None, bool, list[Gap], list[str], list[Change], list[Change]]:
    rows = con.execute(
        "SELECT b.account, s.collected_at, b.snapshot_id, b.policy_known, b.policy, b.encryption_known, b.encryption"
        " FROM bucket_policies b JOIN snapshots s USING (snapshot_id) WHERE b.bucket = ?",
        [bucket],
    ).fetchall()
    picked = pick_nearest([(0, r[1], *r) for r in rows], at, 1)
    row = picked[0][2:] if picked else None
    arn = arns.bucket_arn(bucket, partition)
    changes = hist.arn(arn)
    steps = [
        Step(c.event_time, (c.document if c.event_name == "PutBucketPolicy" else None, c), UNKNOWN, c) for c in changes
    ]
    snap_time = row[1] if row else None
    res = value_at(
        (loads(row[4]), None) if row and row[3] else ABSENT, snap_time, steps, at, in_snapshot=bool(row and row[3])
    )
    later = [c for c in changes if at is not None and c.event_time > at]
    notes = [f"bucket policy of {bucket}: {res.note}"] if not res.certain and res.note else []
    account = row[0] if row else next((c.account for c in changes if c.account), None)
    encryption = loads(row[6]) if row and row[5] else None
    if res.value is UNKNOWN:
        gap = Gap(
            "bucket_policy",
            account,
            bucket,
            f"the bucket policy of {bucket} was not collected ({res.note})",
            commands.bucket_call(account or "ACCOUNT", bucket, "get-bucket-policy"),
        )
        return None, encryption, False, [gap], notes, res.applied, later
    doc = res.value[0] if res.value is not ABSENT else None
    policy = (
        NamedPolicy(document=doc, name=bucket, kind="bucket-policy", account=account, arn=arn)
        if doc is not None
        else None
    )
    return policy, encryption, True, [], notes, res.applied, later
