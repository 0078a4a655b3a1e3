"""Each rule on hand-made engine traces: it fires with checkable evidence and a least-privilege fix,
and stays silent when its cause is absent."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from diag.collect.model import Gap, KeyInfo, PolicyChange
from diag.diagnosis.case import GrantChange, PriorPolicy
from diag.diagnosis.verdict import VERDICT_ORDER, choose_verdict
from diag.policy.model import ConditionTrace, Decision, Grant, GrantTrace, Layer, LayerResult, LayerTrace, NamedPolicy
from diag.rules import RULE_ERROR, load_rules, run_rules
from diag.rules.base import DuplicateRuleError, Rule

from .builders import (
    CALLER_ACCT,
    IDENTITY_OK,
    KEY_ACCT,
    KEY_ADMIN,
    KEY_ARN,
    KEY_ID,
    KEY_ROOT_OWN,
    ROLE,
    SESSION,
    T0,
    case,
    facts,
    inforce,
    key_info,
    layer,
    result,
    stmt,
)

ALLOWED, IMPLICIT, EXPLICIT, UNKNOWN = (
    LayerResult.ALLOWED,
    LayerResult.IMPLICITLY_DENIED,
    LayerResult.EXPLICITLY_DENIED,
    LayerResult.UNKNOWN,
)


def codes(c) -> list[str]:  # type: ignore[no-untyped-def]
    return [f.code for f in run_rules(c)]


def by_code(c, code):  # type: ignore[no-untyped-def]
    found = [f for f in run_rules(c) if f.code == code]
    assert found, f"{code} not in {codes(c)}"
    return found[0]


def test_every_code_has_one_rule_and_a_rank() -> None:
    rules = load_rules()
    names = {r.code for r in rules}
    assert len(names) == len(rules) == 34
    assert names | {RULE_ERROR} == set(VERDICT_ORDER)
    for r in rules:
        assert r.title and r.description and r.fix_template


def test_duplicate_code_raises_at_definition() -> None:
    load_rules()
    with pytest.raises(DuplicateRuleError):

        class Again(Rule):
            code = "KEY_DISABLED"
            title = "x"
            description = "x"
            fix_template = "x"


def test_rule_that_raises_becomes_rule_error_and_others_go_on() -> None:
    class Broken(Rule):
        title = description = fix_template = "x"

        def check(self, case, prior):  # type: ignore[no-untyped-def]
            raise ValueError("boom")

    Broken.code = "BROKEN_FOR_TEST"  # set after definition: not registered
    rules = [Broken(), *[cls() for cls in load_rules()]]
    c = case(result(layer(Layer.KEY_POLICY, IMPLICIT, KEY_ADMIN), layer(Layer.IDENTITY, ALLOWED, IDENTITY_OK)))
    found = run_rules(c, rules)
    assert [f.code for f in found] == ["KEY_POLICY_NO_PRINCIPAL", RULE_ERROR]
    err = found[-1]
    assert err.layer == "rule-error" and "boom" in err.summary
    assert choose_verdict(found) == "KEY_POLICY_NO_PRINCIPAL"


def test_key_policy_no_principal_cross_account_with_iam_missing() -> None:
    c = case(result(layer(Layer.KEY_POLICY, IMPLICIT, KEY_ADMIN, KEY_ROOT_OWN), layer(Layer.IDENTITY, IMPLICIT)))
    assert codes(c) == ["KEY_POLICY_NO_PRINCIPAL", "IAM_POLICY_MISSING"]
    f = by_code(c, "KEY_POLICY_NO_PRINCIPAL")
    assert f.layer == "key_policy" and f.account == KEY_ACCT
    assert f.fix and f.fix.policy == {
        "Sid": "AllowDataProcessingRoleDecrypt",
        "Effect": "Allow",
        "Principal": {"AWS": ROLE},
        "Action": "kms:Decrypt",
        "Resource": "*",
    }
    assert any("put-key-policy" in cmd and KEY_ARN in cmd for cmd in f.fix.commands)
    iam = by_code(c, "IAM_POLICY_MISSING")
    assert iam.fix and iam.fix.policy == {
        "Version": "2012-10-17",
        "Statement": [{"Sid": "AllowDecryptOnKey", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": KEY_ARN}],
    }
    assert any(cmd.startswith("aws iam put-role-policy --role-name DataProcessingRole") for cmd in iam.fix.commands)


def test_via_service_condition_added_to_fix_when_called_through_a_service() -> None:
    f = facts(invoked_by="s3.amazonaws.com", via_service="s3.us-east-1.amazonaws.com")
    c = case(result(layer(Layer.KEY_POLICY, IMPLICIT, KEY_ADMIN), layer(Layer.IDENTITY, ALLOWED, IDENTITY_OK)), f)
    fix = by_code(c, "KEY_POLICY_NO_PRINCIPAL").fix
    assert (
        fix
        and fix.policy
        and fix.policy["Condition"] == {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}
    )


def test_key_policy_no_action_keeps_conditions() -> None:
    s = stmt(
        Layer.KEY_POLICY,
        2,
        sid="AllowRole",
        action=False,
        principal=True,
        principal_values=(ROLE,),
        action_values=("kms:Encrypt",),
        statement={
            "Sid": "AllowRole",
            "Effect": "Allow",
            "Principal": {"AWS": ROLE},
            "Action": "kms:Encrypt",
            "Resource": "*",
            "Condition": {"StringEquals": {"kms:CallerAccount": CALLER_ACCT}},
        },
    )
    c = case(result(layer(Layer.KEY_POLICY, IMPLICIT, KEY_ADMIN, s), layer(Layer.IDENTITY, ALLOWED, IDENTITY_OK)))
    assert codes(c) == ["KEY_POLICY_NO_ACTION"]
    fix = by_code(c, "KEY_POLICY_NO_ACTION").fix
    assert fix and fix.policy and fix.policy["Action"] == ["kms:Encrypt", "kms:Decrypt"]
    assert fix.policy["Condition"] == {"StringEquals": {"kms:CallerAccount": CALLER_ACCT}}


def test_principal_typo_one_character() -> None:
    typo = f"arn:aws:iam::{CALLER_ACCT}:role/DataProcesingRole"
    s = stmt(Layer.KEY_POLICY, 3, sid="CrossAccountDecrypt", principal=False, principal_values=(typo,))
    c = case(result(layer(Layer.KEY_POLICY, IMPLICIT, KEY_ADMIN, s), layer(Layer.IDENTITY, ALLOWED, IDENTITY_OK)))
    assert codes(c) == ["KEY_POLICY_PRINCIPAL_TYPO"]
    f = by_code(c, "KEY_POLICY_PRINCIPAL_TYPO")
    assert f"`{typo}`" in f.summary and "by one character" in f.summary and f"`{ROLE}`" in f.summary
    assert f.evidence["statement"]["sid"] == "CrossAccountDecrypt" and f.evidence["statement"]["index"] == 3
    assert f.fix and f.fix.policy and f.fix.policy["Principal"] == {"AWS": [ROLE]}


def test_principal_typo_wrong_digit_in_account() -> None:
    wrong = "arn:aws:iam::222222222223:role/DataProcessingRole"
    s = stmt(Layer.KEY_POLICY, 1, principal=False, principal_values=(wrong,))
    c = case(result(layer(Layer.KEY_POLICY, IMPLICIT, s), layer(Layer.IDENTITY, ALLOWED, IDENTITY_OK)))
    f = by_code(c, "KEY_POLICY_PRINCIPAL_TYPO")
    assert "222222222223" in f.summary and "digit" in f.summary


def test_same_role_name_in_a_known_other_account_is_wrong_assumed_role() -> None:
    other = "arn:aws:iam::333333333333:role/DataProcessingRole"
    s = stmt(Layer.KEY_POLICY, 1, principal=False, principal_values=(other,))
    c = case(
        result(layer(Layer.KEY_POLICY, IMPLICIT, s), layer(Layer.IDENTITY, IMPLICIT)),
        known_accounts=frozenset({"333333333333", CALLER_ACCT, KEY_ACCT}),
    )
    assert codes(c) == ["WRONG_ASSUMED_ROLE"]
    f = by_code(c, "WRONG_ASSUMED_ROLE")
    assert f.evidence["allowed_principal"] == other
    assert f.fix and any(other in cmd for cmd in f.fix.commands)


def test_user_instead_of_role_is_wrong_assumed_role() -> None:
    f = facts(
        caller_arn=f"arn:aws:iam::{KEY_ACCT}:user/alice",
        caller_type="IAMUser",
        caller_account=KEY_ACCT,
        principal_arn=f"arn:aws:iam::{KEY_ACCT}:user/alice",
    )
    role = f"arn:aws:iam::{KEY_ACCT}:role/AppRole"
    s = stmt(Layer.KEY_POLICY, 1, principal=False, principal_values=(role,))
    c = case(result(layer(Layer.KEY_POLICY, IMPLICIT, s)), f)
    assert codes(c) == ["WRONG_ASSUMED_ROLE"]
    assert "user alice" in by_code(c, "WRONG_ASSUMED_ROLE").summary


def test_root_delegation_missing_same_account() -> None:
    f = facts(
        caller_account=KEY_ACCT,
        caller_arn=SESSION.replace(CALLER_ACCT, KEY_ACCT),
        principal_arn=ROLE.replace(CALLER_ACCT, KEY_ACCT),
    )
    c = case(
        result(
            layer(Layer.KEY_POLICY, IMPLICIT, KEY_ADMIN), layer(Layer.IDENTITY, ALLOWED, IDENTITY_OK, account=KEY_ACCT)
        ),
        f,
    )
    assert codes(c) == ["KEY_POLICY_ROOT_DELEGATION_MISSING"]
    fix = by_code(c, "KEY_POLICY_ROOT_DELEGATION_MISSING").fix
    assert fix and fix.policy and fix.policy["Principal"] == {"AWS": f"arn:aws:iam::{KEY_ACCT}:root"}
    assert fix.policy["Action"] == "kms:Decrypt"


def test_same_account_without_identity_allow_is_no_principal() -> None:
    f = facts(caller_account=KEY_ACCT, principal_arn=ROLE.replace(CALLER_ACCT, KEY_ACCT))
    c = case(result(layer(Layer.KEY_POLICY, IMPLICIT, KEY_ADMIN), layer(Layer.IDENTITY, IMPLICIT)), f)
    assert codes(c) == ["KEY_POLICY_NO_PRINCIPAL"]  # IAM does not count without delegation: not IAM_POLICY_MISSING


def test_orphaned_unique_id() -> None:
    s = stmt(Layer.KEY_POLICY, 1, sid="App", principal=False, principal_values=("AROAOLDOLDOLDOLDOLD12",))
    c = case(result(layer(Layer.KEY_POLICY, IMPLICIT, s), layer(Layer.IDENTITY, ALLOWED, IDENTITY_OK)))
    assert codes(c) == ["KEY_POLICY_PRINCIPAL_ORPHANED"]
    f = by_code(c, "KEY_POLICY_PRINCIPAL_ORPHANED")
    assert f.evidence["caller_unique_id"] == "AROAEXAMPLEEXAMPLE01"
    assert f.fix and f.fix.policy and f.fix.policy["Principal"] == {"AWS": [ROLE]}


def test_iam_resource_mismatch_key_id_instead_of_arn() -> None:
    s = stmt(Layer.IDENTITY, 0, sid="UseKey", resource=False, resource_values=(KEY_ID,), policy_name="kms-use")
    c = case(
        result(
            layer(Layer.KEY_POLICY, ALLOWED, stmt(Layer.KEY_POLICY, 0, principal_values=(ROLE,))),
            layer(Layer.IDENTITY, IMPLICIT, s),
        )
    )
    assert codes(c) == ["IAM_RESOURCE_MISMATCH"]
    f = by_code(c, "IAM_RESOURCE_MISMATCH")
    assert "key ID" in f.summary
    assert f.fix and f.fix.policy and f.fix.policy["Resource"] == [KEY_ARN]
    assert any("put-role-policy" in x for x in f.fix.commands)


def test_iam_resource_mismatch_other_region() -> None:
    other = KEY_ARN.replace("us-east-1", "us-west-2")
    s = stmt(Layer.IDENTITY, 0, resource=False, resource_values=(other,))
    c = case(
        result(
            layer(Layer.KEY_POLICY, ALLOWED, stmt(Layer.KEY_POLICY, 0, principal_values=(ROLE,))),
            layer(Layer.IDENTITY, IMPLICIT, s),
        )
    )
    assert "region us-west-2" in by_code(c, "IAM_RESOURCE_MISMATCH").summary


def _cond(key: str, policy: tuple[str, ...], req: tuple[str, ...] | None) -> ConditionTrace:
    return ConditionTrace(operator="StringEquals", key=key, matched=False, policy_values=policy, request_values=req)


def test_condition_via_service_direct_call() -> None:
    s = stmt(
        Layer.KEY_POLICY,
        1,
        principal_values=(ROLE,),
        conditions=(_cond("kms:ViaService", ("s3.us-east-1.amazonaws.com",), None),),
    )
    c = case(result(layer(Layer.KEY_POLICY, IMPLICIT, s), layer(Layer.IDENTITY, ALLOWED, IDENTITY_OK)))
    assert codes(c) == ["CONDITION_VIA_SERVICE"]
    f = by_code(c, "CONDITION_VIA_SERVICE")
    assert "absent from the request" in f.summary and f.fix and "directly" in f.fix.summary


def test_condition_encryption_context_and_other() -> None:
    s1 = stmt(
        Layer.KEY_POLICY,
        1,
        principal_values=(ROLE,),
        conditions=(_cond("kms:EncryptionContext:app", ("billing",), ("hr",)),),
    )
    s2 = stmt(Layer.IDENTITY, 0, conditions=(_cond("aws:SourceVpce", ("vpce-1",), None),))
    c = case(result(layer(Layer.KEY_POLICY, IMPLICIT, s1), layer(Layer.IDENTITY, IMPLICIT, s2)))
    assert codes(c) == ["CONDITION_ENCRYPTION_CONTEXT", "CONDITION_OTHER"]
    assert by_code(c, "CONDITION_OTHER").layer == "identity"


def test_a_non_authorization_finding_supersedes_every_authorization_code_of_the_registry() -> None:
    """Each rule's code is either an authorization code (policies, conditions, the key missing, disabled or
    pending deletion) or a failure that is not an authorization refusal; the post-authorization rules
    supersede every authorization code, CONDITION_ENCRYPTION_CONTEXT included (the hand-kept list missed it)."""
    from diag.diagnosis.verdict import AUTH_CODES, NOT_AUTHORIZATION

    registry = {cls.code: cls for cls in load_rules()}
    authorization = {code for code in registry if code not in NOT_AUTHORIZATION}
    assert authorization <= set(AUTH_CODES) and NOT_AUTHORIZATION.isdisjoint(AUTH_CODES)
    assert "CONDITION_ENCRYPTION_CONTEXT" in authorization and "KEY_STATE_OTHER" not in authorization
    after_authorization = {code for code, cls in registry.items() if authorization <= set(cls.supersedes)}
    assert after_authorization == {
        "CUSTOM_KEY_STORE_UNAVAILABLE",
        "INVALID_CIPHERTEXT",
        "KEY_USAGE_MISMATCH",
        "WRONG_KEY_FOR_CIPHERTEXT",
    }
    assert after_authorization <= NOT_AUTHORIZATION


def test_wrong_key_for_ciphertext_drops_an_encryption_context_condition_finding() -> None:
    """KMS said IncorrectKeyException: it authorized the call, so no condition refused it."""
    s = stmt(
        Layer.KEY_POLICY,
        1,
        principal_values=(ROLE,),
        conditions=(_cond("kms:EncryptionContext:app", ("billing",), ("hr",)),),
    )
    f = facts(error_code="IncorrectKeyException", encryption_context={"app": "hr"})
    c = case(result(layer(Layer.KEY_POLICY, IMPLICIT, s), layer(Layer.IDENTITY, ALLOWED, IDENTITY_OK)), f)
    assert codes(c) == ["WRONG_KEY_FOR_CIPHERTEXT"]


def test_invalid_ciphertext_is_encryption_context() -> None:
    f = facts(error_code="InvalidCiphertextException", encryption_context={"app": "x"})
    c = case(
        result(
            layer(Layer.KEY_POLICY, ALLOWED, stmt(Layer.KEY_POLICY, 0, principal_values=(ROLE,))),
            layer(Layer.IDENTITY, ALLOWED, IDENTITY_OK),
        ),
        f,
    )
    assert codes(c) == ["CONDITION_ENCRYPTION_CONTEXT"]


def test_explicit_deny_names_layer_and_statement() -> None:
    deny = stmt(Layer.SCP, 0, effect="Deny", sid="DenyKmsOutsideOrg", policy_name="p-deny", account=CALLER_ACCT)
    c = case(
        result(
            layer(Layer.SCP, EXPLICIT, deny, org="r-ab12/ou-ab12-prod"),
            layer(Layer.KEY_POLICY, ALLOWED),
            layer(Layer.IDENTITY, ALLOWED, IDENTITY_OK),
        )
    )
    assert codes(c) == ["EXPLICIT_DENY"]
    f = by_code(c, "EXPLICIT_DENY")
    assert f.layer == "scp" and f.evidence["statements"][0]["sid"] == "DenyKmsOutsideOrg"
    assert f.fix and any("update-policy --policy-id p-deny" in x for x in f.fix.commands)


def test_scp_and_rcp_no_allow() -> None:
    c = case(
        result(
            layer(Layer.SCP, IMPLICIT, org="r-ab12/ou-x"),
            layer(Layer.RCP, IMPLICIT, org="r-ab12"),
            layer(Layer.KEY_POLICY, ALLOWED),
        )
    )
    assert codes(c) == ["SCP_NO_ALLOW", "RCP_NO_ALLOW"]
    assert any("--target-id ou-x" in x for x in by_code(c, "SCP_NO_ALLOW").fix.commands)  # type: ignore[union-attr]


def test_permission_boundary_and_session_policy() -> None:
    inf = inforce(
        permission_boundary=NamedPolicy(document={}, name="Boundary", arn=f"arn:aws:iam::{CALLER_ACCT}:policy/Boundary")
    )
    c = case(
        result(
            layer(Layer.KEY_POLICY, ALLOWED),
            layer(Layer.IDENTITY, ALLOWED, IDENTITY_OK),
            layer(Layer.PERMISSION_BOUNDARY, IMPLICIT),
            layer(Layer.SESSION_POLICY, IMPLICIT),
        ),
        inforce=inf,
        session_policy_event={
            "event_id": "assume-1",
            "event_time": T0,
            "caller_arn": "arn:aws:iam::222222222222:user/ci",
        },
    )
    assert codes(c) == ["PERMISSION_BOUNDARY", "SESSION_POLICY"]
    assert any("create-policy-version" in x for x in by_code(c, "PERMISSION_BOUNDARY").fix.commands)  # type: ignore[union-attr]
    assert "assume-1" in by_code(c, "SESSION_POLICY").summary


def test_grant_missing_after_retire() -> None:
    retire = PolicyChange(
        event_id="r1",
        event_time=T0 - dt.timedelta(hours=1),
        event_name="RetireGrant",
        account=KEY_ACCT,
        resource_arn=KEY_ARN,
        actor_arn="arn:aws:iam::111111111111:role/Ops",
    )
    c = case(
        result(
            layer(Layer.KEY_POLICY, IMPLICIT, KEY_ADMIN), layer(Layer.GRANTS, IMPLICIT), layer(Layer.IDENTITY, IMPLICIT)
        ),
        grant_changes=(GrantChange(retire, grant_id="g-1", grantee=ROLE),),
    )
    assert codes(c) == ["GRANT_MISSING"]
    f = by_code(c, "GRANT_MISSING")
    assert "retired" in f.summary and f.fix and "create-grant" in " ".join(f.fix.commands)
    other = GrantChange(retire, grant_id="g-2", grantee="arn:aws:iam::222222222222:role/Other")
    c2 = case(c.result, grant_changes=(other,))
    assert "GRANT_MISSING" not in codes(c2)  # a grant of someone else was retired: not this caller's way in


def test_grant_constraint_mismatch_is_encryption_context() -> None:
    g = Grant(
        grant_id="g1",
        key_arn=KEY_ARN,
        grantee_principal=ROLE,
        operations=("Decrypt",),
        constraints={"EncryptionContextEquals": {"a": "b"}},
    )
    gl = LayerTrace(
        layer=Layer.GRANTS,
        result=IMPLICIT,
        account=KEY_ACCT,
        grants=(GrantTrace("g1", False, True, True, False, grant=g),),
    )
    c = case(result(layer(Layer.KEY_POLICY, IMPLICIT, KEY_ROOT_OWN), gl, layer(Layer.IDENTITY, ALLOWED, IDENTITY_OK)))
    assert "CONDITION_ENCRYPTION_CONTEXT" in codes(c)


def test_create_grant_missing_via_service() -> None:
    f = facts(
        event_name="CreateGrant",
        action="kms:CreateGrant",
        invoked_by="rds.amazonaws.com",
        via_service="rds.us-east-1.amazonaws.com",
    )
    c = case(
        result(
            layer(Layer.KEY_POLICY, ALLOWED, stmt(Layer.KEY_POLICY, 0, principal_values=(ROLE,))),
            layer(Layer.IDENTITY, IMPLICIT),
            action="kms:CreateGrant",
        ),
        f,
    )
    assert codes(c) == ["CREATE_GRANT_MISSING"]
    fix = by_code(c, "CREATE_GRANT_MISSING").fix
    assert (
        fix
        and fix.policy
        and fix.policy["Statement"][0]["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": "true"}}
    )


def test_aws_managed_key_cross_account() -> None:
    inf = inforce(key=key_info(key_manager="AWS", aliases=(f"arn:aws:kms:us-east-1:{KEY_ACCT}:alias/aws/s3",)))
    c = case(
        result(layer(Layer.KEY_POLICY, IMPLICIT, KEY_ROOT_OWN), layer(Layer.IDENTITY, IMPLICIT)),
        facts(bucket="data"),
        inforce=inf,
    )
    assert codes(c) == ["AWS_MANAGED_KEY_CROSS_ACCOUNT"]
    f = by_code(c, "AWS_MANAGED_KEY_CROSS_ACCOUNT")
    assert "aws/s3" in f.summary and f.fix and any("create-key" in x for x in f.fix.commands)


@pytest.mark.parametrize(
    ("error_code", "state", "message", "expected"),
    [
        ("DisabledException", "Disabled", "arn is disabled.", "KEY_DISABLED"),
        ("KMSInvalidStateException", "PendingDeletion", f"{KEY_ARN} is pending deletion.", "KEY_PENDING_DELETION"),
        ("NotFoundException", None, "Key 'x' does not exist", "KEY_NOT_FOUND"),
    ],
)
def test_key_states(error_code: str, state: str | None, message: str, expected: str) -> None:
    inf = inforce(key=key_info(key_state=state) if state else None)
    c = case(None, facts(error_code=error_code, error_message=message), inforce=inf)
    assert codes(c) == [expected]


def test_cross_account_alias_not_found_says_use_the_arn() -> None:
    f = facts(error_code="NotFoundException", key_arn=None, key_id_given=f"arn:aws:kms:us-east-1:{KEY_ACCT}:alias/data")
    c = case(None, f, inforce=None)
    assert "alias only resolves" in by_code(c, "KEY_NOT_FOUND").summary


def test_wrong_region() -> None:
    f = facts(region="us-west-2", error_code="NotFoundException", key_arn=None, key_id_given=KEY_ID)
    elsewhere = (KeyInfo(key_arn=KEY_ARN, key_id=KEY_ID, account=KEY_ACCT, region="us-east-1", multi_region=False),)
    c = case(None, f, inforce=None, keys_elsewhere=elsewhere)
    assert codes(c) == ["WRONG_REGION"]
    fnd = by_code(c, "WRONG_REGION")
    assert fnd.evidence["key_regions"] == ["us-east-1"] and "us-east-1" in (fnd.fix.summary if fnd.fix else "")


def test_s3_bucket_policy_missing() -> None:
    f = facts(
        event_source="s3.amazonaws.com",
        event_name="GetObject",
        action="s3:GetObject",
        bucket="shared-data",
        object_key="a.csv",
        key_arn=None,
        key_account=None,
    )
    res = result(
        layer(Layer.BUCKET_POLICY, IMPLICIT, account=KEY_ACCT),
        layer(Layer.IDENTITY, ALLOWED, IDENTITY_OK),
        action="s3:GetObject",
        resource="arn:aws:s3:::shared-data/a.csv",
    )
    c = case(res, f)
    assert codes(c) == ["S3_BUCKET_POLICY_MISSING"]
    fix = by_code(c, "S3_BUCKET_POLICY_MISSING").fix
    assert fix and fix.policy and fix.policy["Resource"] == "arn:aws:s3:::shared-data/a.csv"


def test_resolved_since_names_the_change() -> None:
    change = PolicyChange(
        event_id="c1",
        event_time=T0 + dt.timedelta(hours=2),
        event_name="PutKeyPolicy",
        account=KEY_ACCT,
        resource_arn=KEY_ARN,
        actor_arn="arn:aws:iam::111111111111:user/bob",
    )
    denied = result(layer(Layer.KEY_POLICY, IMPLICIT, KEY_ADMIN), layer(Layer.IDENTITY, ALLOWED, IDENTITY_OK))
    now = result(layer(Layer.KEY_POLICY, ALLOWED), layer(Layer.IDENTITY, ALLOWED, IDENTITY_OK))
    c = case(denied, inforce=inforce(later_changes=(change,)), now_result=now, now_inforce=inforce(at=None))
    found = run_rules(c)
    # the policies now allow: RESOLVED_SINCE is the verdict, and the cause at the time stays a finding
    assert [f.code for f in found] == ["RESOLVED_SINCE", "KEY_POLICY_NO_PRINCIPAL"]
    assert "user/bob" in found[0].summary


def test_key_policy_overwritten() -> None:
    change = PolicyChange(
        event_id="p1",
        event_time=T0 - dt.timedelta(days=1),
        event_name="PutKeyPolicy",
        account=KEY_ACCT,
        resource_arn=KEY_ARN,
        actor_arn="arn:aws:sts::111111111111:assumed-role/cfn-deploy/x",
        invoked_by="cloudformation.amazonaws.com",
    )
    old = result(
        layer(Layer.KEY_POLICY, ALLOWED, stmt(Layer.KEY_POLICY, 4, sid="AllowDataProcessing", principal_values=(ROLE,)))
    )
    c = case(
        result(layer(Layer.KEY_POLICY, IMPLICIT, KEY_ADMIN), layer(Layer.IDENTITY, ALLOWED, IDENTITY_OK)),
        prior_key_policies=(PriorPolicy(change, old),),
    )
    assert codes(c) == ["KEY_POLICY_OVERWRITTEN"]
    f = by_code(c, "KEY_POLICY_OVERWRITTEN")
    assert "cloudformation" in f.summary and f.evidence["removed_statement"]["sid"] == "AllowDataProcessing"


def test_unknown_when_key_policy_not_collected() -> None:
    gap = Gap(what="key_policy", account=KEY_ACCT, resource=KEY_ARN, reason="AccessDenied on GetKeyPolicy")
    res = result(
        layer(Layer.KEY_POLICY, UNKNOWN), layer(Layer.IDENTITY, ALLOWED, IDENTITY_OK), decision=Decision.ALLOWED
    )
    c = case(res, inforce=inforce(key_policy=None, gaps=(gap,)))
    assert codes(c) == ["UNKNOWN"]
    f = by_code(c, "UNKNOWN")
    assert any("get-key-policy" in x and KEY_ARN in x for x in f.fix.commands)  # type: ignore[union-attr]


def test_unknown_quotes_the_message_as_a_hint_only() -> None:
    from diag.errortext import parse_error

    claimed = parse_error(
        f"User: {SESSION} is not authorized to perform: kms:Decrypt on resource: {KEY_ARN} with an explicit deny in a service control policy"
    )
    c = case(None, inforce=None, claimed=claimed)
    f = by_code(c, "UNKNOWN")
    assert codes(c) == ["UNKNOWN"] and "service control policy" in f.evidence["aws_message_claims"]


def test_no_findings_when_allowed_and_nothing_missing() -> None:
    res = result(layer(Layer.KEY_POLICY, ALLOWED), layer(Layer.IDENTITY, ALLOWED, IDENTITY_OK))
    c = case(res)
    assert codes(c) == ["UNKNOWN"]  # AWS refused, the policies allow: we say so rather than guess
    assert "collected policies allow" in run_rules(c)[0].summary


def test_findings_are_in_verdict_order() -> None:
    c = case(
        result(
            layer(Layer.KEY_POLICY, IMPLICIT, KEY_ADMIN),
            layer(Layer.IDENTITY, IMPLICIT),
            layer(Layer.SCP, IMPLICIT, org="r-1"),
        )
    )
    got = codes(c)
    assert got == sorted(got, key=VERDICT_ORDER.index) and got[0] == "SCP_NO_ALLOW"


def test_facts_replace_roundtrip_is_frozen() -> None:
    f = facts()
    with pytest.raises(dataclasses.FrozenInstanceError):
        f.region = "x"  # type: ignore[misc]
