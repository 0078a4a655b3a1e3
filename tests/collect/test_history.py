"""Policy history: CloudTrail policy changes replayed on top of a snapshot (the answer as of time t)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from diag.collect.bundle import read_bundle
from diag.collect.history import build_policy_changes, transform_event
from diag.collect.inforce import policies_in_force
from diag.collect.snapshot import load_bundle
from diag.store import open_db
from tests.collect.events import insert_events, record
from tests.collect.handmade import (
    CALLER_ACCOUNT,
    KEY_ACCOUNT,
    KEY_ARN,
    KEY_ID,
    KEY_POLICY,
    SESSION_ARN,
    write_handmade_bundle,
)

CFN_ROLE = f"arn:aws:sts::{KEY_ACCOUNT}:assumed-role/CloudFormationExecutionRole/AWSCloudFormation"
ADMIN = f"arn:aws:sts::{KEY_ACCOUNT}:assumed-role/Admin/alice"
REPLACED = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "Root",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{KEY_ACCOUNT}:root"},
            "Action": "kms:*",
            "Resource": "*",
        }
    ],
}
KEY_RESOURCES = [{"accountId": KEY_ACCOUNT, "type": "AWS::KMS::Key", "ARN": KEY_ARN}]


def _put_key_policy(
    when: str, actor: str, policy: dict, *, invoked_by: str | None = None, error: str | None = None
) -> dict:
    return record(
        "PutKeyPolicy",
        "kms.amazonaws.com",
        when,
        account=KEY_ACCOUNT,
        actor_arn=actor,
        request={
            "keyId": KEY_ID,
            "policyName": "default",
            "policy": json.dumps(policy),
            "bypassPolicyLockoutSafetyCheck": False,
        },
        invoked_by=invoked_by,
        error_code=error,
        resources=KEY_RESOURCES,
    )


@pytest.fixture
def con(tmp_path: Path, db_path: Path):
    c = open_db(db_path)
    load_bundle(c, read_bundle(write_handmade_bundle(tmp_path / "b", collected_at="2026-11-28T12:00:00Z")))
    yield c
    c.close()


def test_key_policy_replaced_by_cloudformation_after_the_snapshot(con) -> None:
    cfn = _put_key_policy("2026-11-28T14:00:00Z", CFN_ROLE, REPLACED, invoked_by="cloudformation.amazonaws.com")
    failed_put = _put_key_policy("2026-11-28T14:30:00Z", ADMIN, KEY_POLICY, error="AccessDeniedException")
    fix = _put_key_policy("2026-11-28T18:00:00Z", ADMIN, KEY_POLICY)
    insert_events(con, [cfn, failed_put, fix])
    assert build_policy_changes(con) == 2  # the failed PutKeyPolicy changed nothing
    assert build_policy_changes(con) == 0  # incremental

    failure = dt.datetime(2026, 11, 28, 15, 0, 0)
    inf = policies_in_force(con, caller_arn=SESSION_ARN, caller_account=CALLER_ACCOUNT, key_arn=KEY_ARN, at=failure)
    assert inf.key_policy is not None and inf.key_policy.document == REPLACED
    (change,) = inf.changes_applied
    assert change.event_id == cfn["eventID"] and change.event_name == "PutKeyPolicy"
    assert change.actor_arn == CFN_ROLE and change.invoked_by == "cloudformation.amazonaws.com"
    assert "cloudformation.amazonaws.com" in change.summary
    assert [c.event_id for c in inf.later_changes] == [fix["eventID"]]
    assert inf.uncertain == ()

    # before the change, the snapshot's policy was in force; after the fix, the original again
    before = policies_in_force(
        con, caller_arn=SESSION_ARN, caller_account=CALLER_ACCOUNT, key_arn=KEY_ARN, at=dt.datetime(2026, 11, 28, 13)
    )
    assert before.key_policy is not None and before.key_policy.document == KEY_POLICY and before.changes_applied == ()
    assert [c.event_id for c in before.later_changes] == [cfn["eventID"], fix["eventID"]]
    now = policies_in_force(con, caller_arn=SESSION_ARN, caller_account=CALLER_ACCOUNT, key_arn=KEY_ARN)
    assert now.key_policy is not None and now.key_policy.document == KEY_POLICY


def test_before_the_first_snapshot(con) -> None:
    early = dt.datetime(2026, 11, 20)
    inf = policies_in_force(con, caller_arn=SESSION_ARN, caller_account=CALLER_ACCOUNT, key_arn=KEY_ARN, at=early)
    # only a later snapshot, no change event: the later snapshot's policy, flagged uncertain
    assert inf.key_policy is not None and inf.key_policy.document == KEY_POLICY
    assert inf.uncertain and "no snapshot at or before" in inf.uncertain[0]
    # a PutKeyPolicy between `at` and the snapshot: the policy before it is unknown (a gap, not the snapshot's)
    insert_events(con, [_put_key_policy("2026-11-25T00:00:00Z", ADMIN, KEY_POLICY)])
    build_policy_changes(con)
    inf = policies_in_force(con, caller_arn=SESSION_ARN, caller_account=CALLER_ACCOUNT, key_arn=KEY_ARN, at=early)
    assert inf.key_policy is None
    assert any(g.what == "key_policy" for g in inf.gaps)


def test_identity_and_grant_changes(con) -> None:
    role = f"arn:aws:sts::{CALLER_ACCOUNT}:assumed-role/Deployer/ci"
    new_inline = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "kms:*", "Resource": "*"}]}
    events = [
        record(
            "PutRolePolicy",
            "iam.amazonaws.com",
            "2026-11-28T13:00:00Z",
            account=CALLER_ACCOUNT,
            actor_arn=role,
            request={
                "roleName": "DataProcessingRole",
                "policyName": "kms-decrypt",
                "policyDocument": json.dumps(new_inline),
            },
        ),
        record(
            "DetachRolePolicy",
            "iam.amazonaws.com",
            "2026-11-28T13:05:00Z",
            account=CALLER_ACCOUNT,
            actor_arn=role,
            request={"roleName": "DataProcessingRole", "policyArn": f"arn:aws:iam::{CALLER_ACCOUNT}:policy/ReadS3"},
        ),
        record(
            "RevokeGrant",
            "kms.amazonaws.com",
            "2026-11-28T13:10:00Z",
            account=KEY_ACCOUNT,
            actor_arn=ADMIN,
            request={"keyId": KEY_ARN, "grantId": "abcde1237d5b6c1b1a3a1b1e1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f"},
            resources=KEY_RESOURCES,
        ),
        record(
            "CreateGrant",
            "kms.amazonaws.com",
            "2026-11-28T13:15:00Z",
            account=KEY_ACCOUNT,
            actor_arn=ADMIN,
            request={
                "keyId": KEY_ID,
                "granteePrincipal": "arn:aws:iam::222222222222:role/Other",
                "operations": ["Encrypt"],
            },
            response={"grantId": "f" * 64},
            resources=KEY_RESOURCES,
        ),
        record(
            "DisableKey",
            "kms.amazonaws.com",
            "2026-11-28T13:20:00Z",
            account=KEY_ACCOUNT,
            actor_arn=ADMIN,
            request={"keyId": KEY_ID},
            resources=KEY_RESOURCES,
        ),
    ]
    insert_events(con, events)
    assert build_policy_changes(con) == 5
    inf = policies_in_force(
        con, caller_arn=SESSION_ARN, caller_account=CALLER_ACCOUNT, key_arn=KEY_ARN, at=dt.datetime(2026, 11, 28, 14)
    )
    assert inf.identity_policies is not None
    assert [(p.kind, p.name, p.document) for p in inf.identity_policies] == [("inline", "kms-decrypt", new_inline)]
    assert inf.grants is not None and [g.grant_id for g in inf.grants] == ["f" * 64]
    assert inf.key is not None and inf.key.key_state == "Disabled"
    assert len(inf.changes_applied) == 5


def test_transform_event_records_who_and_skips_failures() -> None:
    rec = record(
        "PutBucketPolicy",
        "s3.amazonaws.com",
        "2026-11-28T10:00:00Z",
        account=KEY_ACCOUNT,
        actor_arn=CFN_ROLE,
        request={"bucketName": "data-bucket-111", "bucketPolicy": {"Version": "2012-10-17", "Statement": []}},
        invoked_by="cloudformation.amazonaws.com",
    )
    row = transform_event(rec)
    assert row is not None
    assert row["resource_arn"] == "arn:aws:s3:::data-bucket-111" and row["invoked_by"] == "cloudformation.amazonaws.com"
    assert row["user_agent"] == "cloudformation.amazonaws.com" and json.loads(row["document"])["Statement"] == []
    rec["errorCode"] = "AccessDenied"
    assert transform_event(rec) is None
    assert transform_event({**rec, "errorCode": None, "eventName": "GetBucketPolicy"}) is None


def test_alias_moved_after_the_snapshot(con) -> None:
    from diag.collect.inforce import resolve_key
    from tests.collect.handmade import DISABLED_KEY_ID

    insert_events(
        con,
        [
            record(
                "UpdateAlias",
                "kms.amazonaws.com",
                "2026-11-28T14:00:00Z",
                account=KEY_ACCOUNT,
                actor_arn=ADMIN,
                request={"aliasName": "alias/data-key", "targetKeyId": DISABLED_KEY_ID},
            ),
            record(
                "DeleteAlias",
                "kms.amazonaws.com",
                "2026-11-28T16:00:00Z",
                account=KEY_ACCOUNT,
                actor_arn=ADMIN,
                request={"aliasName": "alias/data-key"},
            ),
        ],
    )
    assert build_policy_changes(con) == 2

    def at(hour: int) -> str | None:
        info = resolve_key(
            con, "alias/data-key", region="us-east-1", account=KEY_ACCOUNT, at=dt.datetime(2026, 11, 28, hour)
        )
        return info.key_id if info else None

    assert at(13) == KEY_ID
    assert at(15) == DISABLED_KEY_ID
    assert at(17) is None
