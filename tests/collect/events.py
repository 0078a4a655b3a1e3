"""CloudTrail records for history tests, inserted into `events` with the 001_core.sql columns."""

from __future__ import annotations

import json
import uuid
from typing import Any

from diag.collect.awsjson import parse_time


def record(
    event_name: str,
    event_source: str,
    event_time: str,
    *,
    account: str,
    actor_arn: str,
    request: dict[str, Any] | None = None,
    response: dict[str, Any] | None = None,
    invoked_by: str | None = None,
    user_agent: str = "aws-cli/2.15.0",
    error_code: str | None = None,
    region: str = "us-east-1",
    resources: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    ident: dict[str, Any] = {
        "type": "AssumedRole",
        "principalId": "AROAEXAMPLE:session",
        "arn": actor_arn,
        "accountId": account,
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "arn": actor_arn.replace(":sts::", ":iam::").replace("assumed-role/", "role/").rsplit("/", 1)[0],
            },
        },
    }
    if invoked_by:
        ident["invokedBy"] = invoked_by
    rec: dict[str, Any] = {
        "eventVersion": "1.09",
        "userIdentity": ident,
        "eventTime": event_time,
        "eventSource": event_source,
        "eventName": event_name,
        "awsRegion": region,
        "sourceIPAddress": invoked_by or "203.0.113.10",
        "userAgent": invoked_by or user_agent,
        "requestParameters": request,
        "responseElements": response,
        "requestID": str(uuid.uuid4()),
        "eventID": str(uuid.uuid4()),
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": account,
    }
    if resources is not None:
        rec["resources"] = resources
    if error_code:
        rec["errorCode"] = error_code
        rec["errorMessage"] = "denied"
    return rec


def insert_events(con: Any, records: list[dict[str, Any]]) -> None:
    for r in records:
        ident = r["userIdentity"]
        con.execute(
            "INSERT INTO events (event_id, event_time, event_source, event_name, aws_region, error_code, caller_arn,"
            " caller_type, caller_account, invoked_by, recipient_account, user_agent, key_arn, raw)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                r["eventID"],
                parse_time(r["eventTime"]),
                r["eventSource"],
                r["eventName"],
                r["awsRegion"],
                r.get("errorCode"),
                ident.get("arn"),
                ident.get("type"),
                ident.get("accountId"),
                ident.get("invokedBy"),
                r.get("recipientAccountId"),
                r.get("userAgent"),
                next((x.get("ARN") for x in r.get("resources") or []), None),
                json.dumps(r),
            ],
        )
