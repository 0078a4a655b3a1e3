"""The request context as of the event time (diag.diagnosis.request_context) and the fixes AWS allows
(diag.rules._forbidden): tags with history and session tags, organization paths with MoveAccount, keys
that cannot be determined, grants scoped to the request's own encryption context."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from diag.diagnosis.request_context import collect_hint, fill_context, org_of, principal_tags
from diag.policy.context import UNDETERMINED
from diag.policy.model import NamedPolicy, PolicyInputs, Request
from diag.rules._forbidden import grant_fix, is_service_linked_role

from .builders import CALLER_ACCT, KEY_ARN, ROLE, SESSION, T0, case, facts
from .dbutil import insert_record

AK = "ASIAEXAMPLEEXAMPLE01"


@pytest.fixture
def con(db_path: Path) -> Iterator[Any]:
    from diag.store.connection import open_db

    c = open_db(db_path)
    yield c
    c.close()


def _snapshot(con: Any, sid: int, at: dt.datetime, *, tags: dict[str, str] | None, org: str = "in_org") -> None:
    con.execute(
        "INSERT INTO snapshots (snapshot_id, collected_at, source, loaded_at) VALUES (?, ?, 'bundle', ?)", [sid, at, at]
    )
    con.execute(
        "INSERT INTO snapshot_accounts (snapshot_id, account, collected_at, org_state) VALUES (?, ?, ?, ?)",
        [sid, CALLER_ACCT, at, org],
    )
    if org == "in_org":
        con.execute(
            "INSERT INTO org_ids (snapshot_id, account, org_id) VALUES (?, ?, 'o-exampleorg1')", [sid, CALLER_ACCT]
        )
    con.execute(
        "INSERT INTO principals (snapshot_id, account, kind, name, arn) VALUES (?, ?, 'role', ?, ?)",
        [sid, CALLER_ACCT, "DataProcessingRole", ROLE],
    )
    if tags is not None:
        con.execute(
            "INSERT INTO principal_tags (snapshot_id, account, arn, tags) VALUES (?, ?, ?, ?)",
            [sid, CALLER_ACCT, ROLE, json.dumps(tags)],
        )
    for child, parent, kind in (
        (CALLER_ACCT, "ou-ab12-workload", "ORGANIZATIONAL_UNIT"),
        ("ou-ab12-workload", "r-ab12", "ROOT"),
        ("ou-ab12-sandbox1", "r-ab12", "ROOT"),
    ):
        con.execute(
            "INSERT INTO org_paths (snapshot_id, account, child_id, parent_id, parent_type) VALUES (?, ?, ?, ?, ?)",
            [sid, "999999999999", child, parent, kind],
        )


def _record(name: str, source: str, when: dt.datetime, params: dict[str, Any], **extra: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "eventVersion": "1.09",
        "eventID": f"{name}-{when:%H%M%S}-{len(json.dumps(params))}",
        "eventTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": source,
        "eventName": name,
        "awsRegion": "us-east-1",
        "userIdentity": {"type": "IAMUser", "arn": f"arn:aws:iam::{CALLER_ACCT}:user/admin", "accountId": CALLER_ACCT},
        "requestParameters": params,
        "recipientAccountId": CALLER_ACCT,
    }
    rec.update(extra)
    return rec


def _assume(con: Any, when: dt.datetime, tags: dict[str, str] | None = None, **params: Any) -> None:
    req: dict[str, Any] = {"roleArn": ROLE, "roleSessionName": "etl", **params}
    if tags:
        req["tags"] = [{"key": k, "value": v} for k, v in tags.items()]
    insert_record(
        con,
        _record(
            "AssumeRole",
            "sts.amazonaws.com",
            when,
            req,
            responseElements={"credentials": {"accessKeyId": AK}},
        ),
    )


def test_role_tags_are_moved_to_the_event_time(con: Any) -> None:
    _snapshot(con, 1, T0 - dt.timedelta(days=2), tags={"team": "data", "env": "prod"})
    insert_record(
        con,
        _record(
            "TagRole",
            "iam.amazonaws.com",
            T0 - dt.timedelta(hours=3),
            {"roleName": "DataProcessingRole", "tags": [{"key": "team", "value": "analytics"}]},
        ),
    )
    insert_record(
        con,
        _record(
            "UntagRole",
            "iam.amazonaws.com",
            T0 - dt.timedelta(hours=2),
            {"roleName": "DataProcessingRole", "tagKeys": ["env"]},
        ),
    )
    _assume(con, T0 - dt.timedelta(minutes=5))
    tags = principal_tags(con, facts(access_key_id=AK))
    assert tags is not None
    assert tags.value("team") == "analytics" and tags.value("env") is None and tags.value("other") is None


def test_change_between_event_and_a_later_snapshot_is_undetermined(con: Any) -> None:
    _snapshot(con, 1, T0 + dt.timedelta(days=1), tags={"team": "data"})
    insert_record(
        con,
        _record(
            "TagRole",
            "iam.amazonaws.com",
            T0 + dt.timedelta(hours=3),
            {"roleName": "DataProcessingRole", "tags": [{"key": "team", "value": "data"}]},
        ),
    )
    _assume(con, T0 - dt.timedelta(minutes=5))
    tags = principal_tags(con, facts(access_key_id=AK))
    assert tags is not None and tags.value("team") == UNDETERMINED


def test_session_tags_override_role_tags_and_missing_assume_role_is_undetermined(con: Any) -> None:
    _snapshot(con, 1, T0 - dt.timedelta(days=1), tags={"team": "data"})
    assert principal_tags(con, facts(access_key_id=AK)) is None  # no AssumeRole record: session tags unknown
    _assume(con, T0 - dt.timedelta(minutes=5), tags={"team": "legacy"}, transitiveTagKeys=["team"])
    tags = principal_tags(con, facts(access_key_id=AK))
    assert tags is not None and tags.value("team") == "legacy"


def test_tags_never_collected_are_undetermined_not_absent(con: Any) -> None:
    _snapshot(con, 1, T0 - dt.timedelta(days=1), tags=None)
    _assume(con, T0 - dt.timedelta(minutes=5))
    inputs = PolicyInputs(
        resource_policy=NamedPolicy(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": "*",
                        "Action": "kms:Decrypt",
                        "Resource": "*",
                        "Condition": {
                            "StringEquals": {"aws:PrincipalTag/team": "data", "aws:PrincipalOrgID": "o-exampleorg1"},
                            "ArnEquals": {"aws:SourceArn": "arn:aws:sns:us-east-1:111111111111:t"},
                        },
                    }
                ],
            }
        )
    )
    req = Request(SESSION, "kms:Decrypt", KEY_ARN, "111111111111", {"aws:PrincipalArn": ROLE})
    out = fill_context(req, inputs, facts(access_key_id=AK), con)
    assert out.context["aws:principaltag/team"] == UNDETERMINED
    assert out.context["aws:principalorgid"] == "o-exampleorg1"
    assert "aws:sourcearn" not in out.context  # not a service caller: the key is absent, and known to be
    svc = fill_context(req, inputs, facts(caller_type="AWSService", invoked_by="sns.amazonaws.com"), con)
    assert svc.context["aws:sourcearn"] == UNDETERMINED and "aws:principaltag/team" not in svc.context
    assert "sns.amazonaws.com" in collect_hint("aws:SourceArn", facts(invoked_by="sns.amazonaws.com"))


def test_org_path_follows_move_account(con: Any) -> None:
    _snapshot(con, 1, T0 - dt.timedelta(days=2), tags={})
    assert org_of(con, CALLER_ACCT, T0) == ("o-exampleorg1", "o-exampleorg1/r-ab12/ou-ab12-workload/")
    insert_record(
        con,
        _record(
            "MoveAccount",
            "organizations.amazonaws.com",
            T0 - dt.timedelta(hours=1),
            {"accountId": CALLER_ACCT, "sourceParentId": "ou-ab12-workload", "destinationParentId": "ou-ab12-sandbox1"},
        ),
    )
    assert org_of(con, CALLER_ACCT, T0) == ("o-exampleorg1", "o-exampleorg1/r-ab12/ou-ab12-sandbox1/")
    assert org_of(con, CALLER_ACCT, T0 - dt.timedelta(hours=2))[1] == "o-exampleorg1/r-ab12/ou-ab12-workload/"  # type: ignore[index]


def test_not_in_an_organization_is_known_absent(con: Any) -> None:
    _snapshot(con, 1, T0 - dt.timedelta(days=2), tags={}, org="not_in_org")
    assert org_of(con, CALLER_ACCT, T0) == (None, None)
    assert org_of(con, "333333333333", T0) is None  # never collected: unknown


def test_grant_fix_uses_the_failing_requests_own_encryption_context() -> None:
    c = case(None, facts(encryption_context={"tenant": "t-42"}))
    fix = grant_fix(c, ROLE, ["Decrypt"])
    assert fix.policy is not None and fix.policy["Constraints"] == {"EncryptionContextSubset": {"tenant": "t-42"}}
    assert any('"tenant":"t-42"' in cmd and "create-grant" in cmd for cmd in fix.commands)
    plain = grant_fix(case(None, facts()), ROLE, ["Decrypt"])
    assert plain.policy is not None and "Constraints" not in plain.policy


def test_service_linked_role_gets_a_grant_not_an_inline_policy() -> None:
    from diag.rules.iam_policy_missing import fixes_for_role

    slr = f"arn:aws:iam::{CALLER_ACCT}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
    assert is_service_linked_role(slr) and not is_service_linked_role(ROLE)
    c = case(None, dataclasses.replace(facts(), principal_arn=slr, caller_arn=None))
    fix = fixes_for_role(c, slr, "kms:Decrypt", {})
    assert all("put-role-policy" not in cmd for cmd in fix.commands)
    assert any("create-grant" in cmd for cmd in fix.commands)
