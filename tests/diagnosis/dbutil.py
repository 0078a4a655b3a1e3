"""Test helper: store CloudTrail records in the events table the way ingest does (typed columns + raw)."""

from __future__ import annotations

import json
from typing import Any

from diag.diagnosis.facts import facts_from_record, parse_time


def insert_record(con: Any, record: dict[str, Any]) -> None:
    f = facts_from_record(record)
    ui = record.get("userIdentity") or {}
    issuer = ((ui.get("sessionContext") or {}).get("sessionIssuer") or {}).get("arn")
    con.execute(
        "INSERT INTO events (event_id, event_time, event_source, event_name, aws_region, error_code, error_message,"
        " caller_arn, caller_type, caller_account, caller_principal_id, caller_role_arn, caller_session_name, invoked_by,"
        " recipient_account, shared_event_id, request_id, key_arn, key_id_given, key_account, bucket, user_agent,"
        " source_ip, encryption_context, raw) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            f.event_id,
            parse_time(record.get("eventTime")),
            f.event_source,
            f.event_name,
            f.region,
            f.error_code,
            f.error_message,
            f.caller_arn,
            f.caller_type,
            f.caller_account,
            f.principal_id,
            issuer or (f.principal_arn if f.caller_type != "AssumedRole" else None),
            f.session_name,
            f.invoked_by,
            f.recipient_account,
            f.shared_event_id,
            f.request_id,
            f.key_arn,
            f.key_id_given,
            f.key_account,
            f.bucket,
            f.user_agent,
            f.source_ip,
            json.dumps(f.encryption_context) if f.encryption_context else None,
            json.dumps(record),
        ],
    )


def decrypt_record(
    event_id: str,
    *,
    session: str = "etl",
    user_agent: str = "aws-cli/2.15",
    request_id: str | None = None,
    shared: str | None = None,
    when: str = "2026-11-28T10:00:00Z",
    error: bool = True,
    role: str = "DataProcessingRole",
) -> dict[str, Any]:
    key = "arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    rec: dict[str, Any] = {
        "eventVersion": "1.08",
        "userIdentity": {
            "type": "AssumedRole",
            "principalId": f"AROAEXAMPLEEXAMPLE01:{session}",
            "arn": f"arn:aws:sts::222222222222:assumed-role/{role}/{session}",
            "accountId": "222222222222",
            "accessKeyId": "ASIAEXAMPLE000000001",
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "arn": f"arn:aws:iam::222222222222:role/{role}",
                    "accountId": "222222222222",
                    "userName": role,
                }
            },
        },
        "eventTime": when,
        "eventSource": "kms.amazonaws.com",
        "eventName": "Decrypt",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "203.0.113.7",
        "userAgent": user_agent,
        "requestParameters": {"encryptionAlgorithm": "SYMMETRIC_DEFAULT"},
        "responseElements": None,
        "requestID": request_id or f"req-{event_id}",
        "eventID": event_id,
        "readOnly": True,
        "resources": [{"accountId": "111111111111", "type": "AWS::KMS::Key", "ARN": key}],
        "eventType": "AwsApiCall",
        "recipientAccountId": "222222222222",
    }
    if error:
        rec["errorCode"] = "AccessDenied"
        rec["errorMessage"] = (
            f"User: arn:aws:sts::222222222222:assumed-role/{role}/{session} is not authorized to perform: kms:Decrypt"
            f" on resource: {key} because no resource-based policy allows the kms:Decrypt action"
        )
    if shared:
        rec["sharedEventID"] = shared
    return rec
