"""Each audit finding on a bundle (and, where it needs them, CloudTrail events) made for it."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from diag.audit import run_audit
from diag.audit.base import AuditFinding
from diag.collect.history import build_policy_changes
from diag.store import open_db
from tests.audit.bundles import (
    CALLER_ACCOUNT,
    KEY_ACCOUNT,
    KEY_ARN,
    KEY_ID,
    ROLE_ARN,
    BundleBuilder,
    grant,
    policy,
    root_statement,
)
from tests.collect.events import insert_events, record

NOW = dt.datetime(2026, 11, 29, 6, 0, 0)
USE = ["kms:Decrypt", "kms:GenerateDataKey*"]
IAM_USE = policy({"Sid": "UseDataKey", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": KEY_ARN})
ADMIN = f"arn:aws:sts::{KEY_ACCOUNT}:assumed-role/Admin/alice"
CFN = f"arn:aws:sts::{KEY_ACCOUNT}:assumed-role/CloudFormationExecutionRole/AWSCloudFormation"


def _stmt(
    sid: str | None, principal: Any, actions: Any = USE, condition: dict[str, Any] | None = None
) -> dict[str, Any]:
    st: dict[str, Any] = {"Effect": "Allow", "Principal": principal, "Action": actions, "Resource": "*"}
    if sid is not None:
        st = {"Sid": sid, **st}
    if condition:
        st["Condition"] = condition
    return st


def _audit(
    tmp_path: Path, b: BundleBuilder, code: str, events: list[dict[str, Any]] | None = None, **kw: Any
) -> list[AuditFinding]:
    return _audits(tmp_path, b, [(code, kw)], events)[0]


def _audits(
    tmp_path: Path,
    b: BundleBuilder,
    runs: list[tuple[str, dict[str, Any]]],
    events: list[dict[str, Any]] | None = None,
) -> list[list[AuditFinding]]:
    """Load once, audit several times (one code and its options per run)."""
    con = open_db(tmp_path / "a.duckdb")
    try:
        b.load(con, tmp_path / "bundle")
        if events:
            insert_events(con, events)
            build_policy_changes(con)
        return [run_audit(con, now=NOW, codes={code}, **kw) for code, kw in runs]
    finally:
        con.close()


def _builder(key_policy: dict[str, Any], **key_kw: Any) -> BundleBuilder:
    b = BundleBuilder()
    b.key(policy_doc=key_policy, **key_kw)
    b.role("DataProcessingRole", inline={"kms": IAM_USE})
    b.role("Reporting")
    return b


def test_cross_account_root_names_the_roles_that_use_it(tmp_path: Path) -> None:
    b = _builder(policy(root_statement(), _stmt("AllowDataAccount", {"AWS": f"arn:aws:iam::{CALLER_ACCOUNT}:root"})))
    (f,) = _audit(tmp_path, b, "key-policy-cross-account-root")
    assert (f.account, f.resource, f.sid, f.statement_index) == (KEY_ACCOUNT, KEY_ARN, "AllowDataAccount", 1)
    assert f.evidence["roles_using_it"] == [ROLE_ARN]  # Reporting has no KMS permission: not listed
    assert f.fix is not None and f.fix.policy is not None
    assert f.fix.policy["Principal"] == {"AWS": [ROLE_ARN]}
    assert any("put-key-policy" in c for c in f.fix.commands)


def test_same_account_root_is_not_flagged(tmp_path: Path) -> None:
    assert _audit(tmp_path, _builder(policy(root_statement())), "key-policy-cross-account-root") == []


@pytest.mark.parametrize(
    ("actions", "flagged"),
    [("kms:*", True), (["kms:Decrypt", "kms:PutKeyPolicy"], True), (["kms:Create*"], True), (USE, False)],
)
def test_cross_account_admin(tmp_path: Path, actions: Any, flagged: bool) -> None:
    b = _builder(policy(root_statement(), _stmt("DataAccount", {"AWS": ROLE_ARN}, actions)))
    found = _audit(tmp_path, b, "key-policy-cross-account-admin")
    assert bool(found) is flagged
    if flagged:
        f = found[0]
        assert f.severity == "high" and f.evidence["grantee_accounts"] == [CALLER_ACCOUNT]
        assert f.fix is not None and f.fix.policy is not None
        assert "kms:PutKeyPolicy" not in f.fix.policy["Action"]


def test_cross_account_create_grant_for_aws_resources_is_fine(tmp_path: Path) -> None:
    grants = _stmt(
        "AllowAttachmentOfPersistentResources",
        {"AWS": ROLE_ARN},
        ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"],
        {"Bool": {"kms:GrantIsForAWSResource": "true"}},
    )
    assert _audit(tmp_path, _builder(policy(root_statement(), grants)), "key-policy-cross-account-admin") == []


def test_public_principal(tmp_path: Path) -> None:
    open_ = _stmt("Everyone", "*", ["kms:Decrypt"])
    pinned = _stmt("Org", {"AWS": "*"}, ["kms:Decrypt"], {"StringEquals": {"kms:CallerAccount": CALLER_ACCOUNT}})
    (f,) = _audit(tmp_path, _builder(policy(root_statement(), open_, pinned)), "key-policy-public-principal")
    assert f.sid == "Everyone" and f.statement_index == 1
    assert f.fix is not None and f.fix.policy is not None
    assert f.fix.policy["Condition"]["StringEquals"]["kms:CallerAccount"] == [KEY_ACCOUNT]


def test_cross_account_statement_without_scoping_condition(tmp_path: Path) -> None:
    bare = _stmt("DataRole", {"AWS": ROLE_ARN})
    via = _stmt(
        "DataRoleViaS3", {"AWS": ROLE_ARN}, USE, {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}
    )
    (f,) = _audit(tmp_path, _builder(policy(root_statement(), bare, via)), "cross-account-statement-unscoped")
    assert f.sid == "DataRole" and f.statement_index == 1
    assert f.fix is not None and f.fix.policy is not None
    assert f.fix.policy["Condition"]["StringEquals"]["kms:ViaService"] == "s3.us-east-1.amazonaws.com"


def test_sid_missing_and_meaningless(tmp_path: Path) -> None:
    doc = policy(root_statement(), _stmt(None, {"AWS": ROLE_ARN}), _stmt("Stmt1700000000000", {"AWS": ROLE_ARN}))
    (missing,), (meaningless,) = _audits(
        tmp_path, _builder(doc), [("key-policy-sid-missing", {}), ("key-policy-sid-meaningless", {})]
    )
    assert missing.statement_index == 1 and missing.sid is None
    assert missing.fix is not None and missing.fix.policy is not None
    assert missing.fix.policy["Sid"] == "AllowDataProcessingRoleDecryptGenerateDataKey"
    assert meaningless.sid == "Stmt1700000000000" and meaningless.statement_index == 2


def test_grant_stale_and_missing_principal(tmp_path: Path) -> None:
    grants = [
        grant(ROLE_ARN, ["Decrypt"], grant_id="a" * 64, created="2025-01-01T00:00:00+00:00"),
        grant(ROLE_ARN, ["Decrypt"], grant_id="b" * 64, created="2026-11-20T00:00:00+00:00"),
        grant(f"arn:aws:iam::{CALLER_ACCOUNT}:role/DeletedRole", ["Decrypt"], grant_id="c" * 64),
        grant("arn:aws:iam::444444444444:role/Elsewhere", ["Decrypt"], grant_id="d" * 64),  # IAM not collected
        grant("rds.amazonaws.com", ["Decrypt"], grant_id="e" * 64),
    ]
    b = _builder(policy(root_statement()), grants=grants)
    stale, none, (missing,) = _audits(
        tmp_path,
        b,
        [("grant-stale", {}), ("grant-stale", {"grant_max_age_days": 1000}), ("grant-principal-missing", {})],
    )
    assert [f.evidence["grant_id"] for f in stale] == ["a" * 64]
    assert stale[0].evidence["age_days"] == (NOW - dt.datetime(2025, 1, 1)).days
    assert any("revoke-grant" in c for c in stale[0].fix.commands)  # type: ignore[union-attr]
    assert none == []
    assert missing.evidence["grant_id"] == "c" * 64


def test_orphaned_unique_id_principal_with_earlier_arn(tmp_path: Path) -> None:
    earlier = policy(
        root_statement(), _stmt("AllowReporting", {"AWS": f"arn:aws:iam::{CALLER_ACCOUNT}:role/Reporting"})
    )
    now = policy(root_statement(), _stmt("AllowReporting", {"AWS": "AROAEXAMPLEDELETED123"}))
    put = record(
        "PutKeyPolicy",
        "kms.amazonaws.com",
        "2026-06-01T10:00:00Z",
        account=KEY_ACCOUNT,
        actor_arn=ADMIN,
        request={"keyId": KEY_ID, "policyName": "default", "policy": json.dumps(earlier)},
        resources=[{"accountId": KEY_ACCOUNT, "type": "AWS::KMS::Key", "ARN": KEY_ARN}],
    )
    (f,) = _audit(tmp_path, _builder(now), "key-policy-orphaned-principal", [put])
    assert f.sid == "AllowReporting" and f.evidence["unique_id"] == "AROAEXAMPLEDELETED123"
    reporting = f"arn:aws:iam::{CALLER_ACCOUNT}:role/Reporting"
    assert f.evidence["earlier_arn"] == reporting and f.evidence["recreated_principal"] == reporting
    assert f.fix is not None and f.fix.policy is not None and f.fix.policy["Principal"]["AWS"] == reporting


def test_identity_decrypt_on_every_key(tmp_path: Path) -> None:
    b = BundleBuilder()
    b.key()
    b.role("Wide", inline={"all": policy({"Sid": "DecryptAll", "Effect": "Allow", "Action": "kms:*", "Resource": "*"})})
    b.role(
        "WideButScoped",
        inline={
            "via": policy(
                {
                    "Effect": "Allow",
                    "Action": "kms:Decrypt",
                    "Resource": "arn:aws:kms:*:*:key/*",
                    "Condition": {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}},
                }
            )
        },
    )
    b.role("Narrow", inline={"one": IAM_USE})
    b.role(
        "NotResource",
        inline={"nr": policy({"Effect": "Allow", "Action": "kms:Decrypt", "NotResource": "arn:aws:s3:::x"})},
    )
    mp = b.managed_policy("Boundary", policy({"Effect": "Allow", "Action": "*", "Resource": "*"}))  # unattached
    assert mp
    found = _audit(tmp_path, b, "identity-decrypt-all-keys")
    by_holder = {f.evidence["holders"][0].rsplit("/", 1)[-1]: f for f in found}
    assert set(by_holder) == {"Wide", "WideButScoped", "NotResource"}
    assert by_holder["Wide"].severity == "medium" and by_holder["Wide"].sid == "DecryptAll"
    assert by_holder["WideButScoped"].severity == "low"


def _kms_event(
    when: str, *, key_arn: str, caller_account: str = CALLER_ACCOUNT, error: str | None = None
) -> dict[str, Any]:
    return record(
        "Decrypt",
        "kms.amazonaws.com",
        when,
        account=caller_account,
        actor_arn=f"arn:aws:sts::{caller_account}:assumed-role/DataProcessingRole/etl",
        request={"keyId": key_arn},
        resources=[{"accountId": key_arn.split(":")[4], "type": "AWS::KMS::Key", "ARN": key_arn}],
        error_code=error,
    )


def test_aws_managed_key_used_across_accounts(tmp_path: Path) -> None:
    managed_id = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
    b = BundleBuilder()
    managed = b.key(managed_id, manager="AWS", aliases=("alias/aws/s3",))
    b.key()
    b.role("DataProcessingRole")
    b.files[f"{KEY_ACCOUNT}/s3/shared-bucket/get-bucket-policy.json"] = {
        "Policy": json.dumps(
            policy(
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": ROLE_ARN},
                    "Action": "s3:GetObject",
                    "Resource": "arn:aws:s3:::shared-bucket/*",
                }
            )
        )
    }
    b.files[f"{KEY_ACCOUNT}/s3/shared-bucket/get-bucket-encryption.json"] = {
        "ServerSideEncryptionConfiguration": {
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]
        }
    }
    b.files[f"{KEY_ACCOUNT}/s3/shared-bucket/get-bucket-location.json"] = {"LocationConstraint": None}
    events = [
        _kms_event("2026-11-20T10:00:00Z", key_arn=managed, error="AccessDenied"),
        _kms_event("2026-11-21T10:00:00Z", key_arn=managed, error="AccessDenied"),
        _kms_event("2026-11-21T11:00:00Z", key_arn=KEY_ARN),  # customer-managed: fine
        _kms_event("2026-11-21T12:00:00Z", key_arn=managed, caller_account=KEY_ACCOUNT),  # same account: fine
    ]
    found = _audit(tmp_path, b, "aws-managed-key-cross-account", events)
    assert len(found) == 2
    ev = next(f for f in found if f.resource == managed)
    assert ev.evidence["caller_account"] == CALLER_ACCOUNT and ev.evidence["events"] == 2 and ev.evidence["failed"] == 2
    bucket = next(f for f in found if f.resource == "arn:aws:s3:::shared-bucket")
    assert bucket.evidence["shared_with"] == [CALLER_ACCOUNT] and bucket.statement_index == 0


def test_pending_deletion_key_still_in_use(tmp_path: Path) -> None:
    b = BundleBuilder()
    b.key(state="PendingDeletion", deletion_date="2026-12-05T00:00:00+00:00")
    b.role("DataProcessingRole")
    recent = [_kms_event("2026-11-25T10:00:00Z", key_arn=KEY_ARN, error="KMSInvalidStateException")]
    (f,) = _audit(tmp_path, b, "key-pending-deletion-in-use", recent)
    assert f.evidence["events"] == 1 and f.evidence["failed"] == 1
    assert any("cancel-key-deletion" in c for c in f.fix.commands)  # type: ignore[union-attr]
    old = [_kms_event("2026-09-01T10:00:00Z", key_arn=KEY_ARN)]
    assert _audit(tmp_path / "2", b, "key-pending-deletion-in-use", old) == []


def _put(
    when: str, doc: dict[str, Any], *, actor: str, invoked_by: str | None = None, agent: str = "aws-cli/2.15.0"
) -> dict[str, Any]:
    return record(
        "PutKeyPolicy",
        "kms.amazonaws.com",
        when,
        account=KEY_ACCOUNT,
        actor_arn=actor,
        request={"keyId": KEY_ID, "policyName": "default", "policy": json.dumps(doc)},
        invoked_by=invoked_by,
        user_agent=agent,
        resources=[{"accountId": KEY_ACCOUNT, "type": "AWS::KMS::Key", "ARN": KEY_ARN}],
    )


TEMPLATE = policy(root_statement())
HAND = policy(root_statement(), _stmt("AllowDataProcessingRole", {"AWS": ROLE_ARN}))


def test_iac_drift_hand_edit_after_cloudformation(tmp_path: Path) -> None:
    events = [
        _put("2026-11-01T10:00:00Z", TEMPLATE, actor=CFN, invoked_by="cloudformation.amazonaws.com"),
        _put("2026-11-10T10:00:00Z", HAND, actor=ADMIN),
    ]
    (f,), overwrite = _audits(
        tmp_path, _builder(HAND), [("key-policy-iac-drift", {}), ("key-policy-iac-overwrite", {})], events
    )
    assert f.evidence["iac_write"]["tool"] == "CloudFormation" and f.evidence["manual_write"]["actor"] == ADMIN
    assert [s["sid"] for s in f.evidence["added_by_hand"]] == ["AllowDataProcessingRole"]
    assert overwrite == []


def test_iac_overwrite_removed_hand_statements(tmp_path: Path) -> None:
    events = [
        _put("2026-11-10T10:00:00Z", HAND, actor=ADMIN),
        _put(
            "2026-11-12T10:00:00Z",
            TEMPLATE,
            actor=ADMIN,
            agent="APN/1.0 HashiCorp/1.0 Terraform/1.6.0 (+https://www.terraform.io)",
        ),
    ]
    (f,), drift = _audits(
        tmp_path, _builder(TEMPLATE), [("key-policy-iac-overwrite", {}), ("key-policy-iac-drift", {})], events
    )
    assert f.sid == "AllowDataProcessingRole" and f.evidence["iac_write"]["tool"] == "Terraform"
    assert f.fix is not None and f.fix.policy is not None and len(f.fix.policy["Statement"]) == 2
    assert drift == []
    # restored by hand since: no longer an overwrite finding (and now drift)
    restored = [*events, _put("2026-11-13T10:00:00Z", HAND, actor=ADMIN)]
    assert _audit(tmp_path / "3", _builder(HAND), "key-policy-iac-overwrite", restored) == []


def test_crashing_rule_becomes_audit_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from diag.audit.rules.sid_missing import KeyPolicySidMissing

    def boom(self: object, ctx: object) -> list[AuditFinding]:
        raise RuntimeError("broken rule")

    monkeypatch.setattr(KeyPolicySidMissing, "run", boom)
    con = open_db(tmp_path / "a.duckdb")
    try:
        _builder(policy(root_statement(), _stmt("Stmt1", {"AWS": ROLE_ARN}))).load(con, tmp_path / "bundle")
        findings = run_audit(con, now=NOW)
    finally:
        con.close()
    codes = [f.code for f in findings]
    assert "audit-error" in codes
    err = next(f for f in findings if f.code == "audit-error")
    assert err.evidence["rule"] == "key-policy-sid-missing" and "broken rule" in err.summary
    assert "key-policy-sid-meaningless" in codes  # the other rules went on


def test_iac_overwrite_of_a_version_seen_only_in_the_snapshot(tmp_path: Path) -> None:
    # the hand-added statement is only in the snapshot (collected before CloudFormation's write)
    b = _builder(HAND)
    b.collected_at = "2026-11-08T00:00:00Z"
    events = [_put("2026-11-10T02:00:00Z", TEMPLATE, actor=CFN, invoked_by="cloudformation.amazonaws.com")]
    (f,) = _audit(tmp_path, b, "key-policy-iac-overwrite", events)
    assert f.evidence["previous_version"]["source"] == "snapshot"
    assert [r["sid"] for r in f.evidence["removed"]] == ["AllowDataProcessingRole"]
    # a snapshot taken after a hand edit that CloudTrail did not capture: drift
    b2 = _builder(HAND)
    events2 = [_put("2026-11-10T02:00:00Z", TEMPLATE, actor=CFN, invoked_by="cloudformation.amazonaws.com")]
    (d,) = _audit(tmp_path / "2", b2, "key-policy-iac-drift", events2)
    assert d.evidence["manual_write"]["source"] == "snapshot"
    assert [r["sid"] for r in d.evidence["added_by_hand"]] == ["AllowDataProcessingRole"]


def test_changes_after_the_snapshot_are_audited(tmp_path: Path) -> None:
    bare = _stmt("DataRole", {"AWS": ROLE_ARN})
    b = _builder(policy(root_statement(), bare))
    events = [
        _put("2026-11-28T13:00:00Z", TEMPLATE, actor=ADMIN),  # after the snapshot (12:00): the statement is gone
        record(
            "ScheduleKeyDeletion",
            "kms.amazonaws.com",
            "2026-11-28T14:00:00Z",
            account=KEY_ACCOUNT,
            actor_arn=ADMIN,
            request={"keyId": KEY_ID, "pendingWindowInDays": 7},
            response={"keyId": KEY_ARN, "keyState": "PendingDeletion", "deletionDate": "Dec 5, 2026, 2:00:00 PM"},
            resources=[{"accountId": KEY_ACCOUNT, "type": "AWS::KMS::Key", "ARN": KEY_ARN}],
        ),
        _kms_event("2026-11-28T15:00:00Z", key_arn=KEY_ARN, error="KMSInvalidStateException"),
    ]
    latest_unscoped, pinned_unscoped, pending = _audits(
        tmp_path,
        b,
        [
            ("cross-account-statement-unscoped", {}),
            ("cross-account-statement-unscoped", {"snapshot_id": 1}),
            ("key-pending-deletion-in-use", {}),
        ],
        events,
    )
    assert latest_unscoped == []
    assert [f.sid for f in pinned_unscoped] == ["DataRole"]
    assert len(pending) == 1 and pending[0].evidence["events"] == 1


@pytest.mark.parametrize(
    ("partition", "resource", "every_key"),
    [
        ("aws-cn", "arn:aws-cn:kms:*:*:key/*", True),
        ("aws-us-gov", "arn:aws-us-gov:kms:*:*:*", True),
        ("aws", "arn:aws-cn:kms:*:*:key/*", False),
        ("aws-cn", "*", True),
        ("aws-cn", "arn:aws-cn:kms:cn-north-1:*:key/*", False),
    ],
)
def test_decrypt_on_every_key_in_the_holders_partition(partition: str, resource: str, every_key: bool) -> None:
    """A China or GovCloud policy's "every key" pattern names its own partition: the probe keys are built in
    the partition of the policy's holders (probes in `aws` alone never matched `arn:aws-cn:kms:*:*:key/*`)."""
    from diag.audit.rules.identity_decrypt_all_keys import _all_keys
    from diag.policy.parse import parse_policy

    st = parse_policy(policy({"Effect": "Allow", "Action": "kms:Decrypt", "Resource": resource})).statements[0]
    assert _all_keys(st, partition) is every_key
