"""Changes applied to a copy of the engine's inputs (diag.proof.change): only the request's own layer
moves, the inputs given are not modified, and a layer that was not collected stays unknown."""

from __future__ import annotations

import copy

from diag.policy.model import Grant, Layer, NamedPolicy, OrgLevel, PolicyInputs, Request
from diag.proof.change import Change, apply

KEY = "arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ROLE = "arn:aws:iam::222222222222:role/App"
REQ = Request(
    principal="arn:aws:sts::222222222222:assumed-role/App/s",
    action="kms:Decrypt",
    resource=KEY,
    resource_account="111111111111",
    context={"aws:PrincipalArn": ROLE},
)
STMT = {"Effect": "Allow", "Principal": {"AWS": ROLE}, "Action": "kms:Decrypt", "Resource": "*"}


def _inputs() -> PolicyInputs:
    return PolicyInputs(
        identity_policies=(NamedPolicy({"Version": "2012-10-17", "Statement": [STMT]}, name="p", kind="inline"),),
        resource_policy=NamedPolicy({"Version": "2012-10-17", "Statement": [STMT]}, name="default"),
        resource_policy_layer=Layer.KEY_POLICY,
        scps=(
            OrgLevel(
                "r-1",
                (
                    NamedPolicy(
                        {"Statement": [STMT]},
                        name="FullAWSAccess",
                        arn="arn:aws:organizations::1:policy/o-1/service_control_policy/p-full",
                    ),
                ),
            ),
        ),
        grants=(Grant("g1", KEY, ROLE, ("Decrypt",)),),
    )


def test_key_policy_of_another_key_does_not_apply() -> None:
    inputs = _inputs()
    out = apply(
        inputs, [Change("key_policy", "set_document", target=KEY.replace("1234abcd", "99999999"), document={})], REQ
    )
    assert out == inputs


def test_replace_statement_keeps_the_original_untouched() -> None:
    inputs = _inputs()
    keep = copy.deepcopy(inputs.resource_policy.document)  # type: ignore[union-attr]
    new = {**STMT, "Action": ["kms:Decrypt", "kms:Encrypt"]}
    out = apply(inputs, [Change("key_policy", "replace_statement", target=KEY, statement=new, old=STMT)], REQ)
    assert out.resource_policy.document["Statement"] == [new]  # type: ignore[union-attr,index]
    assert inputs.resource_policy.document == keep  # type: ignore[union-attr]


def test_revoke_grant_and_scp_by_policy_id() -> None:
    inputs = _inputs()
    out = apply(inputs, [Change("grants", "revoke_grant", grant=Grant("g1", KEY, "", ()))], REQ)
    assert out.grants == ()
    deny_all = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]}
    out = apply(inputs, [Change("scp", "set_document", name="p-full", document=deny_all)], REQ)
    assert out.scps[0].policies[0].document == deny_all  # type: ignore[index]


def test_identity_change_for_another_principal_or_unknown_layer() -> None:
    inputs = _inputs()
    other = Change("identity", "set_document", target="arn:aws:iam::222222222222:role/Other", name="p", document={})
    assert apply(inputs, [other], REQ) == inputs
    unknown = PolicyInputs(resource_policy=None, resource_policy_known=False, resource_policy_layer=Layer.KEY_POLICY)
    added = apply(unknown, [Change("key_policy", "add_statement", target=KEY, statement=STMT)], REQ)
    assert added.resource_policy_known is False  # a statement added to a policy nobody has seen proves nothing
