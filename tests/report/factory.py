"""Rows shaped exactly like the contracts (001_core.sql events, 020_diagnoses.sql diagnoses, DESIGN.md
section 7 findings), to test the report and the notebook without depending on ingest or diagnosis.

``build_walkthrough(con, now)`` writes the guide's story: account 111111111111 owns the keys, account
222222222222 runs DataProcessingRole and friends. It returns the expected figures.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import duckdb

OWNER = "111111111111"
CALLER = "222222222222"
THIRD = "333333333333"
KEY_A = f"arn:aws:kms:us-east-1:{OWNER}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
KEY_B = f"arn:aws:kms:us-east-1:{OWNER}:key/0987dcba-09fe-87dc-65ba-ab0987654321"
ROLE = f"arn:aws:iam::{CALLER}:role/DataProcessingRole"
APP_ROLE = f"arn:aws:iam::{CALLER}:role/AppRole"
BATCH_ROLE = f"arn:aws:iam::{THIRD}:role/BatchRole"
XSS = "<script>alert('kmsdiag')</script>"
NOW = dt.datetime(2026, 11, 29, 6, 0, 0)  # the walk-through's failures are in the 24 hours before this


def session_arn(role_arn: str, session: str) -> str:
    account = role_arn.split(":")[4]
    name = role_arn.rsplit("/", 1)[1]
    return f"arn:aws:sts::{account}:assumed-role/{name}/{session}"


def insert_event(con: duckdb.DuckDBPyConnection, **fields: Any) -> str:
    """Insert one events row; unspecified columns get realistic defaults."""
    event_id = fields.setdefault("event_id", f"evt-{fields.get('_n', 0)}")
    fields.pop("_n", None)
    role = fields.pop("role", None)
    session = fields.pop("session", "session-1")
    if role:
        fields.setdefault("caller_arn", session_arn(role, session))
        fields.setdefault("caller_role_arn", role)
        fields.setdefault("caller_type", "AssumedRole")
        fields.setdefault("caller_account", role.split(":")[4])
        fields.setdefault("caller_session_name", session)
    fields.setdefault("event_source", "kms.amazonaws.com")
    fields.setdefault("event_name", "Decrypt")
    fields.setdefault("event_type", "AwsApiCall")
    fields.setdefault("event_version", "1.09")
    fields.setdefault("aws_region", "us-east-1")
    fields.setdefault("user_agent", "aws-sdk-java/2.20.0")
    fields.setdefault("source_ip", "10.0.0.1")
    fields.setdefault("recipient_account", fields.get("caller_account"))
    fields.setdefault("request_id", f"req-{event_id}")
    if fields.get("key_arn"):
        fields.setdefault("key_account", str(fields["key_arn"]).split(":")[4])
    raw = {
        "eventID": event_id,
        "eventSource": fields["event_source"],
        "eventName": fields["event_name"],
        "errorCode": fields.get("error_code"),
        "requestParameters": fields.pop("request_parameters", None),
    }
    fields.setdefault("raw", json.dumps(raw))
    fields.setdefault("ingested_at", fields.get("event_time"))
    cols = list(fields)
    con.execute(
        f"INSERT INTO events ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})",
        [fields[c] for c in cols],
    )
    return str(event_id)


def finding(code: str, *, layer: str, account: str, summary: str, key: str, role: str) -> dict[str, Any]:
    """One finding as DESIGN.md section 7 shapes it."""
    statement = {
        "Sid": "AllowDataProcessing",
        "Effect": "Allow",
        "Principal": {"AWS": role},
        "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
        "Resource": "*",
    }
    return {
        "code": code,
        "layer": layer,
        "account": account,
        "summary": summary,
        "evidence": {"policy": "default", "statement": "AllowDataProcessing", "key": key},
        "fix": {
            "summary": f"Fix {code.lower().replace('_', ' ')} for {role.rsplit('/', 1)[1]}",
            "policy": {"Version": "2012-10-17", "Statement": [statement]},
            "commands": [
                f"aws kms put-key-policy --key-id {key} --policy-name default --policy file://policy.json "
                f"--profile {account}"
            ],
        },
    }


def insert_diagnosis(
    con: duckdb.DuckDBPyConnection,
    event_id: str,
    verdict: str,
    findings: list[dict[str, Any]],
    *,
    diagnosed_at: dt.datetime,
) -> None:
    con.execute(
        "INSERT INTO diagnoses (event_id, verdict, codes, findings, layers, decision_key, policies_as_of,"
        " snapshot_id, engine_version, diagnosed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            event_id,
            verdict,
            [f["code"] for f in findings] or [verdict],
            json.dumps(findings),
            json.dumps([{"layer": "key_policy", "result": "ImplicitlyDenied"}]),
            f"dk-{verdict}",
            diagnosed_at,
            1,
            "test-1",
            diagnosed_at,
        ],
    )


@dataclass
class Expected:
    failures: int
    causes: int
    keys: int
    accounts: int
    not_diagnosed: int
    unknown: int
    top_verdict: str
    top_count: int


@dataclass
class CauseSpec:
    verdict: str | None
    role: str
    key: str
    action: str
    count: int
    start_hours_ago: float
    every_minutes: float
    layer: str = "key_policy"


WALKTHROUGH = [
    CauseSpec("KEY_POLICY_PRINCIPAL_TYPO", ROLE, KEY_A, "Decrypt", 40, 20, 15),
    CauseSpec("IAM_RESOURCE_MISMATCH", APP_ROLE, KEY_A, "GenerateDataKey", 12, 10, 30, "identity_policy"),
    CauseSpec("CONDITION_VIA_SERVICE", ROLE, KEY_B, "Decrypt", 5, 6, 60),
    CauseSpec("EXPLICIT_DENY", BATCH_ROLE, KEY_B, "Encrypt", 3, 3, 20, "scp"),
    CauseSpec(None, APP_ROLE, KEY_B, "Decrypt", 3, 2, 10),
    CauseSpec("UNKNOWN", BATCH_ROLE, KEY_A, "Decrypt", 2, 1, 10),
]


def add_failures(con: duckdb.DuckDBPyConnection, specs: list[CauseSpec], now: dt.datetime, *, prefix: str = "f") -> int:
    """Insert the failures (and diagnoses) of ``specs``; return how many events were written."""
    n = 0
    for si, spec in enumerate(specs):
        for i in range(spec.count):
            t = now - dt.timedelta(hours=spec.start_hours_ago) + dt.timedelta(minutes=spec.every_minutes * i)
            eid = insert_event(
                con,
                event_id=f"{prefix}{si}-{i:04d}",
                event_time=t,
                event_name=spec.action,
                role=spec.role,
                session=f"job-{i % 3}",
                key_arn=spec.key,
                error_code="AccessDenied",
                error_message=f"User: {session_arn(spec.role, 'job')} is not authorized to perform: kms:{spec.action}",
            )
            n += 1
            if spec.verdict is None:
                continue
            if spec.verdict == "UNKNOWN":
                found = [
                    {
                        "code": "UNKNOWN",
                        "layer": "key_policy",
                        "account": OWNER,
                        "summary": "The key policy of the key is unknown: collect account 111111111111",
                        "evidence": {"missing": ["key_policy"]},
                        "fix": {"summary": "Collect the key policy", "policy": None, "commands": ["kmsdiag collect"]},
                    }
                ]
            else:
                found = [
                    finding(
                        spec.verdict,
                        layer=spec.layer,
                        account=OWNER if spec.layer == "key_policy" else spec.role.split(":")[4],
                        summary=f"{spec.verdict} for {spec.role.rsplit('/', 1)[1]} on kms:{spec.action}",
                        key=spec.key,
                        role=spec.role,
                    )
                ]
            insert_diagnosis(con, eid, spec.verdict, found, diagnosed_at=now)
    return n


def build_walkthrough(con: duckdb.DuckDBPyConnection, now: dt.datetime) -> Expected:
    """The guide's story over the last 24 hours, plus noise, a policy change, a refused file, XSS."""
    add_failures(con, WALKTHROUGH, now)
    # successful calls (not failures), including the key owner's AWSAccount copy of a cross-account call
    for i in range(30):
        insert_event(
            con,
            event_id=f"ok-{i}",
            event_time=now - dt.timedelta(hours=23) + dt.timedelta(minutes=40 * i),
            role=ROLE,
            key_arn=KEY_A,
            shared_event_id=f"shared-{i}",
        )
        insert_event(
            con,
            event_id=f"ok-owner-{i}",
            event_time=now - dt.timedelta(hours=23) + dt.timedelta(minutes=40 * i),
            caller_type="AWSAccount",
            caller_account=CALLER,
            recipient_account=OWNER,
            key_arn=KEY_A,
            shared_event_id=f"shared-{i}",
        )
    # an attacker-controlled user agent and session name on a failure
    eid = insert_event(
        con,
        event_id="xss-1",
        event_time=now - dt.timedelta(hours=1),
        event_name="Decrypt",
        role=ROLE,
        session=XSS,
        key_arn=KEY_A,
        user_agent=XSS,
        error_code="AccessDenied",
        error_message="denied",
    )
    insert_diagnosis(
        con,
        eid,
        "KEY_POLICY_PRINCIPAL_TYPO",
        [
            finding(
                "KEY_POLICY_PRINCIPAL_TYPO",
                layer="key_policy",
                account=OWNER,
                summary=f"near miss for session {XSS}",
                key=KEY_A,
                role=ROLE,
            )
        ],
        diagnosed_at=now,
    )
    # the policy change that preceded the spike
    insert_event(
        con,
        event_id="chg-1",
        event_time=now - dt.timedelta(hours=21),
        event_name="PutKeyPolicy",
        caller_arn=f"arn:aws:sts::{OWNER}:assumed-role/CloudFormationRole/deploy",
        caller_role_arn=f"arn:aws:iam::{OWNER}:role/CloudFormationRole",
        caller_account=OWNER,
        key_arn=KEY_A,
        request_parameters={"keyId": KEY_A, "policyName": "default"},
    )
    insert_event(
        con,
        event_id="chg-2",
        event_time=now - dt.timedelta(hours=11),
        event_source="iam.amazonaws.com",
        event_name="PutRolePolicy",
        role=f"arn:aws:iam::{CALLER}:role/Admin",
        request_parameters={"roleName": "AppRole", "policyName": "kms-access"},
    )
    con.execute(
        "INSERT INTO ingested_files (path, source, status, reason, ingested_at) VALUES "
        "('trails/bad.json.gz', 'file', 'refused', 'not gzip: bad magic number', ?),"
        "('trails/good.json.gz', 'file', 'ok', NULL, ?)",
        [now - dt.timedelta(hours=2), now - dt.timedelta(hours=2)],
    )
    total = sum(s.count for s in WALKTHROUGH) + 1
    return Expected(
        failures=total,
        causes=len(WALKTHROUGH),
        keys=2,
        accounts=3,
        not_diagnosed=3,
        unknown=2,
        top_verdict="KEY_POLICY_PRINCIPAL_TYPO",
        top_count=41,
    )
