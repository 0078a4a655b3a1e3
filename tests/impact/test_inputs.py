"""Identity inputs of `kmsdiag impact` beyond a role's own policy: a permissions boundary, and a group's
policy (which reaches the group's users, not the group)."""

from __future__ import annotations

from pathlib import Path

from diag.policy.model import Layer, NamedPolicy, PolicyInputs, Request
from diag.proof.change import Change, apply

from .test_impact_walkthrough import KEY, ROLE, Run, _callers, _impact, _write, db  # noqa: F401

GROUP = "arn:aws:iam::222222222222:group/Analysts"
ANA = "arn:aws:iam::222222222222:user/ana"
BOB = "arn:aws:iam::222222222222:user/bob"
DOC = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}]}


def _req(user: str) -> Request:
    return Request(principal=user, action="kms:Decrypt", resource=KEY, resource_account="111111111111")


def _inputs(*policies: NamedPolicy) -> PolicyInputs:
    return PolicyInputs(identity_policies=policies, resource_policy_layer=Layer.KEY_POLICY)


def test_group_policy_reaches_members_only() -> None:
    change = Change("identity", "set_document", target=GROUP, name="g", document=DOC, members=(ANA,))
    out = apply(_inputs(), [change], _req(ANA))
    assert [(p.name, p.kind, p.attached_to) for p in out.identity_policies or ()] == [("g", "group-inline", GROUP)]
    assert apply(_inputs(), [change], _req(BOB)) == _inputs()  # not a member


def test_group_policy_replaces_the_groups_own_document_only() -> None:
    """A member already holding the group's policy is a member; the user's own policy of the same name stays."""
    old = NamedPolicy({"Version": "2012-10-17", "Statement": []}, name="g", kind="group-inline", attached_to=GROUP)
    own = NamedPolicy({"Version": "2012-10-17", "Statement": []}, name="g", kind="inline", attached_to=BOB)
    change = Change("identity", "set_document", target=GROUP, name="g", document=DOC)  # members not listed
    out = apply(_inputs(own, old), [change], _req(BOB))
    assert out.identity_policies is not None
    assert out.identity_policies[0] == own and out.identity_policies[1].document == DOC


def test_permissions_boundary_breaks_what_it_does_not_allow(run_cli: Run, db: Path, tmp_path: Path) -> None:  # noqa: F811
    path = _write(tmp_path, "boundary.json", DOC)
    code, rep = _impact(run_cli, db, "--permissions-boundary", path, "--principal", ROLE)
    assert code == 5
    assert _callers(rep) == [(ROLE, "kms:GenerateDataKey")]  # the boundary allows Decrypt only
    assert rep["breaks"][0]["refused_by"]["layers"] == ["permission_boundary"]
    assert rep["changes"] == [f"set document in permission boundary permissions-boundary of {ROLE}"]


def test_group_without_users_is_said(run_cli: Run, db: Path, tmp_path: Path) -> None:  # noqa: F811
    path = _write(tmp_path, "g.json", DOC)
    code, rep = _impact(run_cli, db, "--identity-policy", path, "--principal", GROUP, "--policy-name", "g")
    assert code == 0 and rep["breaks"] == [] and rep["observed"]["distinct_calls"] == 0
    assert any("no collected users" in n for n in rep["notes"])
