"""Engine decisions and traces: KMS rules, the guide's walk-through, sessions, unique IDs, grants, gaps."""

from __future__ import annotations

from typing import ClassVar

from diag.policy.engine import evaluate
from diag.policy.model import Decision, Grant, Layer, LayerResult, OrgLevel, PolicyInputs, Request

from .helpers import (
    CALLER_ACCOUNT,
    KEY_ACCOUNT,
    KEY_ARN,
    ROLE_ARN,
    SESSION_ARN,
    VIA_S3,
    key_policy,
    named,
    policy,
    root_statement,
    run,
    stmt,
)

VIA_CONDITION = {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}


def walkthrough_key_policy(principal: str = ROLE_ARN) -> object:
    return key_policy(
        root_statement(),
        stmt(
            action=["kms:Decrypt", "kms:GenerateDataKey*"],
            Principal={"AWS": principal},
            Condition=VIA_CONDITION,
            Sid="AllowDataProcessingViaS3",
        ),
    )


IDENTITY = [policy(stmt(action=["kms:Decrypt", "kms:GenerateDataKey"], resource=KEY_ARN))]


class TestWalkthrough:
    """The guide's story: key in 111111111111, DataProcessingRole in 222222222222, reads SSE-KMS objects via S3."""

    def test_all_layers_allow_via_s3(self) -> None:
        r = run(context=VIA_S3, identity=IDENTITY, key=walkthrough_key_policy())
        assert r.decision == Decision.ALLOWED
        assert r.cross_account
        assert set(r.deciding_layers) == {Layer.KEY_POLICY, Layer.IDENTITY}

    def test_direct_call_fails_the_via_service_condition(self) -> None:
        r = run(context={}, identity=IDENTITY, key=walkthrough_key_policy())
        assert r.decision == Decision.IMPLICITLY_DENIED
        assert r.deciding_layers[0] == Layer.KEY_POLICY
        st = r.layer(Layer.KEY_POLICY)[0].statements[1]
        assert st.failed_elements() == ["Condition"]
        assert st.conditions[0].key == "kms:ViaService" and st.conditions[0].request_values is None

    def test_via_another_service_fails(self) -> None:
        r = run(
            context={"kms:ViaService": "ec2.us-east-1.amazonaws.com"}, identity=IDENTITY, key=walkthrough_key_policy()
        )
        assert r.decision == Decision.IMPLICITLY_DENIED

    def test_without_identity_policy(self) -> None:
        r = run(context=VIA_S3, identity=[], key=walkthrough_key_policy())
        assert r.decision == Decision.IMPLICITLY_DENIED
        assert r.deciding_layers == (Layer.IDENTITY,)
        assert "cross-account" in r.reason

    def test_without_key_policy_statement_for_the_caller(self) -> None:
        r = run(context=VIA_S3, identity=IDENTITY, key=key_policy(root_statement()))
        assert r.decision == Decision.IMPLICITLY_DENIED
        assert r.deciding_layers[0] == Layer.KEY_POLICY

    def test_key_policy_naming_the_caller_account_delegates_to_iam(self) -> None:
        r = run(context=VIA_S3, identity=IDENTITY, key=walkthrough_key_policy(f"arn:aws:iam::{CALLER_ACCOUNT}:root"))
        assert r.decision == Decision.ALLOWED
        assert (
            run(context=VIA_S3, identity=[], key=walkthrough_key_policy(CALLER_ACCOUNT)).decision
            == Decision.IMPLICITLY_DENIED
        )

    def test_principal_typo_is_a_recorded_near_miss(self) -> None:
        typo = f"arn:aws:iam::{CALLER_ACCOUNT}:role/DataProcesingRole"
        r = run(context=VIA_S3, identity=IDENTITY, key=walkthrough_key_policy(typo))
        assert r.decision == Decision.IMPLICITLY_DENIED
        misses = [nm for st in r.layer(Layer.KEY_POLICY)[0].statements for nm in st.near_misses]
        assert any(nm.kind == "principal" and nm.distance == 1 and nm.policy_value == typo for nm in misses)

    def test_principal_in_wrong_account_is_a_near_miss(self) -> None:
        wrong = "arn:aws:iam::333333333333:role/DataProcessingRole"
        r = run(context=VIA_S3, identity=IDENTITY, key=walkthrough_key_policy(wrong))
        misses = [nm for st in r.layer(Layer.KEY_POLICY)[0].statements for nm in st.near_misses]
        assert any(nm.kind == "account" for nm in misses)

    def test_scp_deny(self) -> None:
        scp = (OrgLevel("r-root", (named(policy(stmt(), stmt("Deny", action="kms:Decrypt")), "deny-kms", "scp"),)),)
        r = run(context=VIA_S3, identity=IDENTITY, key=walkthrough_key_policy(), scps=scp)
        assert r.decision == Decision.EXPLICITLY_DENIED and r.deciding_layers == (Layer.SCP,)

    def test_scp_level_without_allow(self) -> None:
        scps = (
            OrgLevel("r-root", (named(policy(stmt(action="*")), "full", "scp"),)),
            OrgLevel("ou-data", (named(policy(stmt(action="s3:*")), "s3-only", "scp"),)),
        )
        r = run(context=VIA_S3, identity=IDENTITY, key=walkthrough_key_policy(), scps=scps)
        assert r.decision == Decision.IMPLICITLY_DENIED
        assert r.deciding_layers == (Layer.SCP,) and "ou-data" in r.reason

    def test_rcp_on_the_key_account(self) -> None:
        rcp = policy(
            stmt(action="*", Principal="*"),
            stmt(
                "Deny",
                action="kms:*",
                Principal="*",
                Condition={"StringNotEqualsIfExists": {"aws:PrincipalOrgID": "o-example"}},
            ),
        )
        rcps = (OrgLevel("r-root", (named(rcp, "org-only", "rcp"),)),)
        r = run(context=VIA_S3, identity=IDENTITY, key=walkthrough_key_policy(), rcps=rcps)
        assert r.decision == Decision.EXPLICITLY_DENIED and r.deciding_layers == (Layer.RCP,)
        ok = run(
            context={**VIA_S3, "aws:PrincipalOrgID": "o-example"},
            identity=IDENTITY,
            key=walkthrough_key_policy(),
            rcps=rcps,
        )
        assert ok.decision == Decision.ALLOWED

    def test_permission_boundary(self) -> None:
        r = run(context=VIA_S3, identity=IDENTITY, key=walkthrough_key_policy(), boundary=policy(stmt(action="s3:*")))
        assert r.decision == Decision.IMPLICITLY_DENIED and r.deciding_layers == (Layer.PERMISSION_BOUNDARY,)

    def test_session_policy(self) -> None:
        r = run(context=VIA_S3, identity=IDENTITY, key=walkthrough_key_policy(), session=policy(stmt(action="s3:*")))
        assert r.decision == Decision.IMPLICITLY_DENIED and r.deciding_layers == (Layer.SESSION_POLICY,)

    def test_identity_resource_as_alias_is_a_near_miss(self) -> None:
        ident = [policy(stmt(resource="arn:aws:kms:us-east-1:111111111111:alias/data"))]
        r = run(context=VIA_S3, identity=ident, key=walkthrough_key_policy())
        assert r.decision == Decision.IMPLICITLY_DENIED
        nms = r.layer(Layer.IDENTITY)[0].statements[0].near_misses
        assert nms and nms[0].kind == "resource" and "alias" in nms[0].detail

    def test_identity_resource_in_other_region_is_a_near_miss(self) -> None:
        ident = [policy(stmt(resource=KEY_ARN.replace("us-east-1", "us-west-2")))]
        r = run(context=VIA_S3, identity=ident, key=walkthrough_key_policy())
        nms = r.layer(Layer.IDENTITY)[0].statements[0].near_misses
        assert nms[0].kind == "region" and "us-west-2" in nms[0].detail

    def test_identity_resource_as_key_id_is_a_near_miss(self) -> None:
        ident = [policy(stmt(resource="1234abcd-12ab-34cd-56ef-1234567890ab"))]
        r = run(context=VIA_S3, identity=ident, key=walkthrough_key_policy())
        assert r.layer(Layer.IDENTITY)[0].statements[0].near_misses[0].detail.startswith("key ID")

    def test_identity_policy_gap_is_unknown_and_computed_as_allowing(self) -> None:
        r = run(context=VIA_S3, identity=None, key=walkthrough_key_policy())
        assert r.decision == Decision.ALLOWED
        assert r.unknown == (Layer.IDENTITY,)
        assert r.layer(Layer.IDENTITY)[0].result == LayerResult.UNKNOWN

    def test_key_policy_gap(self) -> None:
        r = run(context=VIA_S3, identity=IDENTITY, key=None, resource_policy_known=False)
        assert Layer.KEY_POLICY in r.unknown and r.decision == Decision.ALLOWED
        denied = run(context=VIA_S3, identity=[], key=None, resource_policy_known=False)
        assert denied.decision == Decision.IMPLICITLY_DENIED

    def test_key_policy_explicit_deny(self) -> None:
        kp = key_policy(
            root_statement(),
            stmt(action="kms:*", Principal={"AWS": ROLE_ARN}),
            stmt("Deny", action="kms:Decrypt", Principal="*", Condition={"Bool": {"aws:SecureTransport": "false"}}),
        )
        assert (
            run(context={"aws:SecureTransport": "false"}, identity=IDENTITY, key=kp).decision
            == Decision.EXPLICITLY_DENIED
        )
        assert run(context={"aws:SecureTransport": "true"}, identity=IDENTITY, key=kp).decision == Decision.ALLOWED


class TestKmsSameAccount:
    ROLE = f"arn:aws:iam::{KEY_ACCOUNT}:role/App"
    SESSION = f"arn:aws:sts::{KEY_ACCOUNT}:assumed-role/App/s1"
    IDENT: ClassVar[list[dict]] = [policy(stmt(resource=KEY_ARN))]

    def test_no_root_delegation_means_identity_policies_do_not_count(self) -> None:
        kp = key_policy(stmt(action="kms:*", Principal={"AWS": f"arn:aws:iam::{KEY_ACCOUNT}:role/Admin"}))
        r = run(self.SESSION, identity=self.IDENT, key=kp)
        assert r.decision == Decision.IMPLICITLY_DENIED
        assert r.deciding_layers == (Layer.KEY_POLICY,)
        assert "identity policies do not count" in r.reason
        assert r.layer(Layer.IDENTITY)[0].result == LayerResult.ALLOWED

    def test_root_delegation_lets_identity_decide(self) -> None:
        kp = key_policy(root_statement())
        assert run(self.SESSION, identity=self.IDENT, key=kp).decision == Decision.ALLOWED
        assert run(self.SESSION, identity=[], key=kp).decision == Decision.IMPLICITLY_DENIED

    def test_key_policy_naming_the_role_needs_no_identity_policy(self) -> None:
        kp = key_policy(stmt(Principal={"AWS": self.ROLE}))
        r = run(self.SESSION, identity=[], key=kp)
        assert r.decision == Decision.ALLOWED and r.deciding_layers == (Layer.KEY_POLICY,)

    def test_role_path_in_policy_matches_session(self) -> None:
        kp = key_policy(stmt(Principal={"AWS": f"arn:aws:iam::{KEY_ACCOUNT}:role/service-role/App"}))
        assert run(self.SESSION, identity=[], key=kp).decision == Decision.ALLOWED

    def test_boundary_limits_a_role_arn_grant(self) -> None:
        kp = key_policy(stmt(Principal={"AWS": self.ROLE}))
        r = run(self.SESSION, identity=[], key=kp, boundary=policy(stmt(action="s3:*")))
        assert r.decision == Decision.IMPLICITLY_DENIED and r.deciding_layers == (Layer.PERMISSION_BOUNDARY,)


class TestPrincipals:
    S3_OBJ = "arn:aws:s3:::bucket/obj"

    def _s3(self, principal: str, bucket_policy: dict, **kw: object) -> Decision:
        return run(
            principal,
            "s3:GetObject",
            self.S3_OBJ,
            key=named(bucket_policy, "bucket", "bucket-policy"),
            resource_account=CALLER_ACCOUNT,
            layer=Layer.BUCKET_POLICY,
            **kw,  # type: ignore[arg-type]
        ).decision

    def test_session_arn_matches_only_that_session(self) -> None:
        bp = policy(stmt(action="s3:GetObject", Principal={"AWS": SESSION_ARN}))
        assert self._s3(SESSION_ARN, bp) == Decision.ALLOWED
        other = SESSION_ARN.replace("etl-job", "other")
        assert self._s3(other, bp) == Decision.IMPLICITLY_DENIED

    def test_role_arn_matches_every_session(self) -> None:
        bp = policy(stmt(action="s3:GetObject", Principal={"AWS": ROLE_ARN}))
        assert self._s3(SESSION_ARN.replace("etl-job", "any"), bp) == Decision.ALLOWED

    def test_same_role_name_other_account_does_not_match(self) -> None:
        bp = policy(stmt(action="s3:GetObject", Principal={"AWS": "arn:aws:iam::333333333333:role/DataProcessingRole"}))
        assert self._s3(SESSION_ARN, bp) == Decision.IMPLICITLY_DENIED

    def test_unique_id_principal(self) -> None:
        bp = policy(stmt(action="s3:GetObject", Principal={"AWS": "AROAEXAMPLEID12345678"}))
        r = run(
            SESSION_ARN,
            "s3:GetObject",
            self.S3_OBJ,
            key=named(bp, "bucket"),
            resource_account=CALLER_ACCOUNT,
            layer=Layer.BUCKET_POLICY,
        )
        assert r.decision == Decision.IMPLICITLY_DENIED
        nm = r.layer(Layer.BUCKET_POLICY)[0].statements[0].near_misses[0]
        assert nm.kind == "principal" and "deleted" in nm.detail
        matched = run(
            SESSION_ARN,
            "s3:GetObject",
            self.S3_OBJ,
            {"aws:userid": "AROAEXAMPLEID12345678:etl-job"},
            key=named(bp, "bucket"),
            resource_account=CALLER_ACCOUNT,
            layer=Layer.BUCKET_POLICY,
        )
        assert matched.decision == Decision.ALLOWED

    def test_not_principal_deny_exempts_listed_and_denies_others(self) -> None:
        bp = policy(
            stmt(action="s3:GetObject", Principal="*"),
            stmt(
                "Deny",
                action="s3:GetObject",
                NotPrincipal={"AWS": [ROLE_ARN, SESSION_ARN, f"arn:aws:iam::{CALLER_ACCOUNT}:root"]},
            ),
        )
        assert self._s3(SESSION_ARN, bp) == Decision.ALLOWED
        assert self._s3(f"arn:aws:iam::{CALLER_ACCOUNT}:user/mallory", bp) == Decision.ALLOWED  # account root listed
        assert self._s3("arn:aws:iam::444444444444:user/x", bp) == Decision.EXPLICITLY_DENIED

    def test_not_principal_deny_always_applies_with_a_boundary(self) -> None:
        bp = policy(
            stmt(action="s3:GetObject", Principal="*"),
            stmt("Deny", action="s3:GetObject", NotPrincipal={"AWS": ROLE_ARN}),
        )
        assert self._s3(SESSION_ARN, bp) == Decision.ALLOWED
        assert self._s3(SESSION_ARN, bp, boundary=policy(stmt(action="*"))) == Decision.EXPLICITLY_DENIED

    def test_not_action_and_not_resource(self) -> None:
        ident = [policy(stmt(action=None, NotAction="kms:Decrypt", resource=None, NotResource="arn:aws:s3:::other/*"))]
        kp = key_policy(root_statement(CALLER_ACCOUNT))
        same = dict(resource_account=CALLER_ACCOUNT)
        assert (
            run(
                identity=ident,
                key=kp,
                action="kms:Encrypt",
                resource=KEY_ARN.replace(KEY_ACCOUNT, CALLER_ACCOUNT),
                **same,
            ).decision
            == Decision.ALLOWED
        )  # type: ignore[arg-type]
        assert (
            run(
                identity=ident,
                key=kp,
                action="kms:Decrypt",
                resource=KEY_ARN.replace(KEY_ACCOUNT, CALLER_ACCOUNT),
                **same,
            ).decision
            == Decision.IMPLICITLY_DENIED
        )  # type: ignore[arg-type]
        assert (
            self._s3(SESSION_ARN, policy(stmt(action="s3:PutObject", Principal="*")), identity=ident)
            == Decision.ALLOWED
        )
        blocked = [policy(stmt(action="s3:*", resource=None, NotResource="arn:aws:s3:::bucket/*"))]
        assert (
            self._s3(SESSION_ARN, policy(stmt(action="s3:PutObject", Principal="*")), identity=blocked)
            == Decision.IMPLICITLY_DENIED
        )

    def test_service_principal(self) -> None:
        bp = policy(stmt(action="s3:PutObject", Principal={"Service": "cloudtrail.amazonaws.com"}))
        r = run(
            "cloudtrail.amazonaws.com",
            "s3:PutObject",
            "arn:aws:s3:::trail/x",
            key=named(bp),
            resource_account=KEY_ACCOUNT,
            layer=Layer.BUCKET_POLICY,
        )
        assert r.decision == Decision.ALLOWED
        r2 = run(
            "config.amazonaws.com",
            "s3:PutObject",
            "arn:aws:s3:::trail/x",
            key=named(bp),
            resource_account=KEY_ACCOUNT,
            layer=Layer.BUCKET_POLICY,
        )
        assert r2.decision == Decision.IMPLICITLY_DENIED


class TestGrants:
    SESSION = SESSION_ARN
    KP = key_policy(root_statement())  # nothing for account 222222222222

    def grant(self, **kw: object) -> Grant:
        base: dict = dict(
            grant_id="g1", key_arn=KEY_ARN, grantee_principal=ROLE_ARN, operations=("Decrypt", "GenerateDataKey")
        )
        base.update(kw)
        return Grant(**base)

    def test_grant_allows_without_key_or_identity_policy(self) -> None:
        r = run(identity=[], key=self.KP, grants=(self.grant(),))
        assert r.decision == Decision.ALLOWED and r.deciding_layers == (Layer.GRANTS,)
        assert r.layer(Layer.GRANTS)[0].grants[0].applies

    def test_grant_without_the_operation(self) -> None:
        r = run(action="kms:Encrypt", identity=[], key=self.KP, grants=(self.grant(),))
        assert r.decision == Decision.IMPLICITLY_DENIED
        g = r.layer(Layer.GRANTS)[0].grants[0]
        assert g.grantee_matched and not g.operation_matched
        assert Layer.GRANTS in r.deciding_layers

    def test_grant_for_another_grantee(self) -> None:
        r = run(
            identity=[], key=self.KP, grants=(self.grant(grantee_principal="arn:aws:iam::222222222222:role/Other"),)
        )
        assert r.decision == Decision.IMPLICITLY_DENIED and not r.layer(Layer.GRANTS)[0].grants[0].grantee_matched

    def test_encryption_context_equals(self) -> None:
        g = self.grant(constraints={"EncryptionContextEquals": {"dept": "data"}})
        ok = run(context={"kms:EncryptionContext:dept": "data"}, identity=[], key=self.KP, grants=(g,))
        assert ok.decision == Decision.ALLOWED
        extra = run(
            context={"kms:EncryptionContext:dept": "data", "kms:EncryptionContext:x": "1"},
            identity=[],
            key=self.KP,
            grants=(g,),
        )
        assert extra.decision == Decision.IMPLICITLY_DENIED
        assert not extra.layer(Layer.GRANTS)[0].grants[0].constraints_matched
        case = run(context={"kms:EncryptionContext:dept": "Data"}, identity=[], key=self.KP, grants=(g,))
        assert case.decision == Decision.IMPLICITLY_DENIED

    def test_encryption_context_subset(self) -> None:
        g = self.grant(constraints={"EncryptionContextSubset": {"dept": "data"}})
        assert (
            run(
                context={"kms:EncryptionContext:dept": "data", "kms:EncryptionContext:x": "1"},
                identity=[],
                key=self.KP,
                grants=(g,),
            ).decision
            == Decision.ALLOWED
        )
        assert run(context={}, identity=[], key=self.KP, grants=(g,)).decision == Decision.IMPLICITLY_DENIED

    def test_retiring_principal_may_retire(self) -> None:
        g = self.grant(grantee_principal="arn:aws:iam::222222222222:role/Other", retiring_principal=ROLE_ARN)
        assert run(action="kms:RetireGrant", identity=[], key=self.KP, grants=(g,)).decision == Decision.ALLOWED

    def test_grant_to_account_needs_identity_policy(self) -> None:
        g = self.grant(grantee_principal=f"arn:aws:iam::{CALLER_ACCOUNT}:root")
        assert run(identity=[], key=self.KP, grants=(g,)).decision == Decision.IMPLICITLY_DENIED
        assert run(identity=IDENTITY, key=self.KP, grants=(g,)).decision == Decision.ALLOWED

    def test_explicit_deny_beats_grant(self) -> None:
        r = run(identity=[policy(stmt("Deny"))], key=self.KP, grants=(self.grant(),))
        assert r.decision == Decision.EXPLICITLY_DENIED

    def test_unknown_grants_grant_nothing(self) -> None:
        r = run(identity=[], key=self.KP, grants=None)
        assert r.decision == Decision.IMPLICITLY_DENIED and Layer.GRANTS in r.unknown

    def test_unknown_grants_say_they_are_not_known_not_that_they_grant_nothing(self) -> None:
        """The layer's reason reads as what kmsdiag knows (nothing) and what follows (no allow rests on them)."""
        r = run(identity=[], key=self.KP, grants=None)
        (trace,) = r.layer(Layer.GRANTS)
        assert trace.result == LayerResult.UNKNOWN and trace.grants == ()
        assert trace.reason == "grants not known (not collected): no allow rests on them"


def test_context_keys_read() -> None:
    from diag.policy.engine import context_keys_read

    inputs = PolicyInputs(
        identity_policies=(named(policy(stmt(resource="arn:aws:s3:::home/${aws:username}/*"))),),
        resource_policy=walkthrough_key_policy(),  # type: ignore[arg-type]
        scps=(OrgLevel("r", (named(policy(stmt(Condition={"Null": {"aws:PrincipalOrgID": "true"}}))),)),),
    )
    assert set(context_keys_read(inputs)) == {"aws:username", "kms:viaservice", "aws:principalorgid"}


class TestEngineBehaviour:
    def test_cached_decision_is_reused(self) -> None:
        req = Request(SESSION_ARN, "kms:Decrypt", KEY_ARN, None, dict(VIA_S3))
        inputs = PolicyInputs(
            identity_policies=tuple(named(d) for d in IDENTITY),
            resource_policy=walkthrough_key_policy(),
            resource_policy_layer=Layer.KEY_POLICY,
        )  # type: ignore[arg-type]
        a = evaluate(req, inputs)
        b = evaluate(Request(SESSION_ARN, "kms:Decrypt", KEY_ARN, None, dict(VIA_S3)), inputs)
        assert a is b

    def test_mutating_a_policy_dict_is_seen(self) -> None:
        doc = policy(stmt(resource=KEY_ARN))
        kp = key_policy(root_statement(CALLER_ACCOUNT))
        first = run(identity=[doc], key=kp, resource_account=CALLER_ACCOUNT, resource=KEY_ARN)
        doc["Statement"][0]["Effect"] = "Deny"
        second = run(identity=[doc], key=kp, resource_account=CALLER_ACCOUNT, resource=KEY_ARN)
        assert first.decision != second.decision

    def test_invalid_policy_makes_its_layer_unknown(self) -> None:
        r = run(
            identity=[{"Statement": [{"Effect": "Maybe", "Action": "*"}]}],
            key=key_policy(root_statement(CALLER_ACCOUNT)),
        )
        lt = r.layer(Layer.IDENTITY)[0]
        assert lt.result == LayerResult.UNKNOWN and "Effect" in lt.reason

    def test_to_dict_is_json_serializable(self) -> None:
        import orjson

        r = run(
            context=VIA_S3,
            identity=IDENTITY,
            key=walkthrough_key_policy(),
            grants=(Grant("g", KEY_ARN, ROLE_ARN, ("Decrypt",)),),
        )
        d = r.to_dict()
        assert d["decision"] == "Allowed"
        orjson.dumps(d)

    def test_malformed_context_does_not_crash(self) -> None:
        for ctx in (["not", "a", "dict"], None, "text"):
            r = evaluate(
                Request(SESSION_ARN, "kms:Decrypt", KEY_ARN, None, ctx),
                PolicyInputs(grants=(Grant("g", KEY_ARN, ROLE_ARN, ("Decrypt",)),)),
            )  # type: ignore[arg-type]
            assert r.decision == Decision.ALLOWED  # the grant applies; the context is simply empty

    def test_hostile_request_values_do_not_crash(self) -> None:
        r = evaluate(Request("\x1b[31mnot-an-arn", "", "", None, {"k": ["x", 1, None]}), PolicyInputs())  # type: ignore[list-item]
        assert r.decision == Decision.IMPLICITLY_DENIED


class TestAwsManagedKeyPattern:
    """The aws/s3 default key policy: Principal "*" limited by kms:CallerAccount and kms:ViaService."""

    KP = key_policy(
        stmt(
            action=["kms:Decrypt", "kms:GenerateDataKey*"],
            Principal={"AWS": "*"},
            Condition={
                "StringEquals": {"kms:CallerAccount": KEY_ACCOUNT, "kms:ViaService": "s3.us-east-1.amazonaws.com"}
            },
        ),
        root_statement(),
    )
    SAME = f"arn:aws:sts::{KEY_ACCOUNT}:assumed-role/App/s1"

    def test_same_account_via_s3_needs_no_identity_policy(self) -> None:
        ctx = {"kms:CallerAccount": KEY_ACCOUNT, **VIA_S3}
        assert run(self.SAME, context=ctx, identity=[], key=self.KP).decision == Decision.ALLOWED

    def test_other_account_is_not_allowed_even_with_identity_policy(self) -> None:
        ctx = {"kms:CallerAccount": CALLER_ACCOUNT, **VIA_S3}
        r = run(SESSION_ARN, context=ctx, identity=[policy(stmt(resource=KEY_ARN))], key=self.KP)
        assert r.decision == Decision.IMPLICITLY_DENIED
        cond = {c.key: c for c in r.layer(Layer.KEY_POLICY)[0].statements[0].conditions}
        assert not cond["kms:CallerAccount"].matched and cond["kms:ViaService"].matched

    def test_memoized_statements_follow_the_context(self) -> None:
        ctx = {"kms:CallerAccount": KEY_ACCOUNT, **VIA_S3}
        for _ in range(2):
            assert run(self.SAME, context=ctx, identity=[], key=self.KP).decision == Decision.ALLOWED
            direct = {"kms:CallerAccount": KEY_ACCOUNT}
            assert run(self.SAME, context=direct, identity=[], key=self.KP).decision == Decision.IMPLICITLY_DENIED
