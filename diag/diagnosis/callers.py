"""Callers that are not IAM roles or users: AWS service principals (``userIdentity.type`` ``AWSService``).

A service principal (``events.amazonaws.com``, ``sns.amazonaws.com``, ``cloudtrail.amazonaws.com``…) that
calls KMS for one of its resources has no identity policies, no permissions boundary, no session policy,
and SCPs do not apply to it (SCPs restrict IAM principals of member accounts; IAM User Guide, "Service
control policies"): the key policy and the grants decide alone. Its record is in the key owner's trail.

``source_candidates`` lists what an ``aws:SourceArn`` condition on such a call can be compared with: the
rules, trails, topics, alarms or buckets that the trail shows the service's users creating or updating.
"""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Any

from diag import arn as arns
from diag.diagnosis.model import EventFacts
from diag.policy.model import PolicyInputs

if TYPE_CHECKING:
    import duckdb


def is_service_caller(facts: EventFacts) -> bool:
    return facts.caller_type == "AWSService"


def service_principal(facts: EventFacts) -> str | None:
    """The service principal of an ``AWSService`` record (``invokedBy``), else None."""
    if not is_service_caller(facts):
        return None
    inv = facts.invoked_by or ""
    return inv if inv.endswith(".amazonaws.com") and " " not in inv else None


def for_caller(inputs: PolicyInputs, facts: EventFacts) -> PolicyInputs:
    """``inputs`` for this caller: for a service principal, the identity-side layers do not apply (known
    empty, never a gap); for anyone else, unchanged."""
    if not is_service_caller(facts):
        return inputs
    return dataclasses.replace(
        inputs,
        identity_policies=(),
        permission_boundary=None,
        permission_boundary_known=True,
        session_policy=None,
        session_policy_known=True,
        scps=(),
    )


# The resources whose ARN a service passes as aws:SourceArn when it calls KMS for them, and the CloudTrail
# records that create or update them: (event source, event names, where the ARN is in the record).
# Sources: the EventBridge, CloudTrail, SNS, CloudWatch and S3 user guides' key-policy examples with
# aws:SourceArn (the rule, trail, topic, alarm or bucket that uses the key).
_SOURCE_RECORDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "events.amazonaws.com": ("events.amazonaws.com", ("PutRule",)),
    "cloudtrail.amazonaws.com": ("cloudtrail.amazonaws.com", ("CreateTrail", "UpdateTrail")),
    "sns.amazonaws.com": ("sns.amazonaws.com", ("CreateTopic", "SetTopicAttributes")),
    "cloudwatch.amazonaws.com": ("monitoring.amazonaws.com", ("PutMetricAlarm", "PutCompositeAlarm")),
    "s3.amazonaws.com": ("s3.amazonaws.com", ("CreateBucket", "PutBucketNotification")),
}
_CANDIDATES = 10


def _source_arn(name: str, record: dict[str, Any], partition: str) -> str | None:
    """The ARN of the resource a create/update record is about (None when the record does not say)."""
    req = record.get("requestParameters") or {}
    resp = record.get("responseElements") or {}
    region, account = record.get("awsRegion"), record.get("recipientAccountId")
    if not isinstance(req, dict) or not isinstance(resp, dict):
        return None
    value: Any = None
    if name == "PutRule":
        value = resp.get("ruleArn")
    elif name in ("CreateTrail", "UpdateTrail"):
        value = resp.get("trailARN")
        trail = req.get("name")
        if not value and isinstance(trail, str) and region and account:  # a name, or the trail's ARN
            value = (
                trail
                if arns.is_arn(trail)
                else arns.build("cloudtrail", f"trail/{trail}", region=region, account=account, partition=partition)
            )
    elif name == "CreateTopic":
        value = resp.get("topicArn")
    elif name == "SetTopicAttributes":
        value = req.get("topicArn")
    elif name in ("PutMetricAlarm", "PutCompositeAlarm") and req.get("alarmName") and region and account:
        value = arns.build(
            "cloudwatch", f"alarm:{req['alarmName']}", region=region, account=account, partition=partition
        )
    elif name in ("CreateBucket", "PutBucketNotification") and req.get("bucketName"):
        value = arns.bucket_arn(str(req["bucketName"]), partition)
    return value if isinstance(value, str) and arns.is_arn(value) else None


def source_candidates(con: duckdb.DuckDBPyConnection | None, facts: EventFacts) -> list[dict[str, Any]]:
    """For an AWS service principal's call: the resources of that service that CloudTrail saw created or
    updated (successfully, at or before the call, newest first), with the record that says so: the values
    to compare with an ``aws:SourceArn`` / ``aws:SourceAccount`` condition. [] when none are in the trail."""
    service = service_principal(facts)
    if con is None or service not in _SOURCE_RECORDS:
        return []
    source, names = _SOURCE_RECORDS[service]
    partition = arns.partition_of(facts.key_arn, arns.partition_for_region(facts.region))
    marks = ",".join("?" for _ in names)
    sql = (
        "SELECT event_id, event_time, event_name, raw FROM events WHERE event_source = ?"
        f" AND event_name IN ({marks}) AND error_code IS NULL"
    )
    params: list[Any] = [source, *names]
    if facts.event_time is not None:
        sql += " AND event_time <= ?"
        params.append(facts.event_time)
    rows = con.execute(sql + " ORDER BY event_time DESC, event_id LIMIT 200", params).fetchall()
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for event_id, when, name, raw in rows:
        try:
            record = json.loads(raw) if isinstance(raw, str) else raw
        except ValueError:
            continue
        arn = _source_arn(str(name), record if isinstance(record, dict) else {}, partition)
        if arn is None or arn in seen:
            continue
        seen.add(arn)
        out.append({"arn": arn, "account": arns.account_of(arn), "event": name, "event_id": event_id, "at": when})
        if len(out) >= _CANDIDATES:
            break
    return out
