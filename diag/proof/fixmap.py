"""What a proposed fix changes, as ``Change`` values the engine can evaluate.

A fix is read from its finding: the layer it edits (``finding.layer``), the statement or policy it shows
(``fix.policy``), and the statement it corrects (``finding.evidence["statement"]``, when the rule names
one). A fix whose ``policy`` is the evidence statement unchanged (a condition the call did not satisfy, a
Deny to narrow) or that is not a policy at all (enable the key, call another region, use another role)
cannot be evaluated: ``changes_for`` then returns the reason, never a guess.
"""

from __future__ import annotations

from typing import Any

from diag.diagnosis.model import Finding
from diag.policy.model import Grant, Request
from diag.proof.change import Change, _same

_NOT_POLICY = {
    "WRONG_REGION": "the fix is to call the key's region; no policy changes",
    "WRONG_ASSUMED_ROLE": "the fix is to call as another principal; no policy changes",
    "KEY_DISABLED": "the fix changes the key's state, which the policy engine does not decide",
    "KEY_PENDING_DELETION": "the fix changes the key's state, which the policy engine does not decide",
    "KEY_NOT_FOUND": "the fix is to name an existing key; no policy changes",
    "AWS_MANAGED_KEY_CROSS_ACCOUNT": "the fix moves the data to another key; its policy is yours to write",
    # failures after authorization (docs/diagnosis-honesty.md): the policies allowed the call already
    "KEY_STATE_OTHER": "the fix changes the key's state, which the policy engine does not decide",
    "CUSTOM_KEY_STORE_UNAVAILABLE": "not an authorization failure: the fix is in the key store; no policy changes",
    "KEY_USAGE_MISMATCH": "not an authorization failure: the fix is another key or algorithm; no policy changes",
    "WRONG_KEY_FOR_CIPHERTEXT": "not an authorization failure: the fix is the right key; no policy changes",
    "INVALID_CIPHERTEXT": "not an authorization failure: the fix is the ciphertext or its context; no policy changes",
}


def _ref(finding: Finding) -> dict[str, Any] | None:
    ref = finding.evidence.get("statement")
    return ref if isinstance(ref, dict) and isinstance(ref.get("statement"), dict) else None


def _grant(policy: dict[str, Any], request: Request) -> Grant | None:
    grantee = policy.get("GranteePrincipal")
    ops = policy.get("Operations")
    if not isinstance(grantee, str) or not isinstance(ops, list):
        return None
    return Grant(
        grant_id="kmsdiag-proposed-grant",
        key_arn=str(policy.get("KeyId") or request.resource),
        grantee_principal=grantee,
        operations=tuple(str(o) for o in ops),
        constraints=policy.get("Constraints"),
    )


def changes_for(finding: Finding, request: Request) -> list[Change] | str:
    """The changes a finding's fix makes, or why it cannot be evaluated."""
    fix = finding.fix
    if fix is None:
        return "the finding proposes no fix"
    if finding.code in _NOT_POLICY:
        return _NOT_POLICY[finding.code]
    if finding.code == "UNKNOWN":
        if any(not c.lstrip().startswith("#") for c in fix.commands):
            return "a layer was not collected: run the commands shown, then explain again"
        return "a layer is not known and no command can collect it: see the gaps for what can be done instead"
    pol = fix.policy
    if not isinstance(pol, dict):
        return "the fix is not a policy change (" + fix.summary + ")"
    if str(pol.get("Effect", "")).lower() == "deny":
        return "the fix asks to narrow a Deny statement, and how is yours to choose: re-run explain after the edit"
    layer = finding.layer
    who = str(request.context.get("aws:PrincipalArn") or request.principal)
    ref = _ref(finding)
    if ref is not None and _same(ref["statement"], pol):
        return "the fix shows the statement to edit, not the edited statement: the edit is yours to choose"
    if layer == "grants" or "GranteePrincipal" in pol:  # a grant, also as the fix of an identity-side finding
        g = _grant(pol, request)
        return [Change("grants", "add_grant", grant=g)] if g else "the fix names no grantee and operations"
    if layer in ("key_policy", "bucket_policy"):
        target = request.resource if layer == "key_policy" else request.resource.split(":::", 1)[-1].split("/", 1)[0]
        if ref is not None:
            return [Change(layer, "replace_statement", target=target, statement=pol, old=ref["statement"])]
        return [Change(layer, "add_statement", target=target, statement=pol)]
    if layer == "identity":
        if ref is not None:
            return [
                Change(
                    "identity",
                    "replace_statement",
                    target=who,
                    name=ref.get("policy") or None,
                    statement=pol,
                    old=ref["statement"],
                )
            ]
        return [Change("identity", "add_statement", target=who, name="kmsdiag-fix", statement=pol)]
    if layer in ("permission_boundary", "session_policy"):
        return [Change(layer, "add_statement", target=who, statement=pol)]
    if layer in ("scp", "rcp"):
        org = finding.evidence.get("org_identifier")
        return [Change(layer, "add_statement", target=str(org) if org else None, name="kmsdiag-fix", statement=pol)]
    return f"kmsdiag cannot apply a fix to the {layer} layer"
