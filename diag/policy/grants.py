"""The KMS grants layer: which grants allow the request (KMS Developer Guide, "Grants in AWS KMS").

A grant applies when its grantee is the caller (a role grantee: its sessions too), its operations include
the action, its key is the request's key and its constraints hold (``EncryptionContextEquals``: the
request's encryption context is exactly the constraint; ``EncryptionContextSubset``: it contains every
constraint pair; case-sensitive). ``kms:RetireGrant`` is also allowed to a grant's retiring principal.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from diag.policy.layers import not_applicable, unknown
from diag.policy.match import PrincipalMatch, principal_value_match
from diag.policy.model import Grant, GrantTrace, Layer, LayerResult, LayerTrace
from diag.policy.statement import RequestFacts


def _encryption_context(context: Mapping[str, Any]) -> dict[str, str]:
    """The request's encryption context from ``kms:EncryptionContext:<key>`` entries (key case kept)."""
    prefix = "kms:encryptioncontext:"
    out: dict[str, str] = {}
    if not isinstance(context, Mapping):
        return out
    for k, v in context.items():
        if isinstance(k, str) and k.lower().startswith(prefix) and isinstance(v, str):
            out[k[len(prefix) :]] = v
    return out


def eval_grants(grants: tuple[Grant, ...] | None, rq: RequestFacts, account: str | None) -> tuple[LayerTrace, bool]:
    """Grant layer trace and whether an applying grant names an account (identity policies must allow)."""
    if grants is None:
        return unknown(Layer.GRANTS, "grants not known (not collected): no allow rests on them", account), False
    if not grants:
        return not_applicable(Layer.GRANTS, "the key has no grants", account), False
    op = rq.action.partition(":")[2].lower()
    ec = _encryption_context(rq.request.context)
    traces: list[GrantTrace] = []
    via_account_only = True
    any_applies = False
    for g in grants:
        kind = principal_value_match("AWS", g.grantee_principal or "", rq.caller, rq.userid)
        grantee_ok = kind != PrincipalMatch.NONE
        ops = {o.lower() for o in (g.operations or ())}
        op_ok = op in ops
        if op == "retiregrant" and g.retiring_principal:
            rk = principal_value_match("AWS", g.retiring_principal, rq.caller, rq.userid)
            if rk != PrincipalMatch.NONE:
                grantee_ok, op_ok, kind = True, True, rk
        key_ok = (
            not g.key_arn or g.key_arn == rq.resource or (bool(rq.resource) and rq.resource.endswith("/" + g.key_arn))
        )
        c_ok, c_reason = _grant_constraints(g.constraints, ec)
        applies = grantee_ok and op_ok and key_ok and c_ok
        if not grantee_ok:
            reason = f"grantee {g.grantee_principal} is not the caller"
        elif not op_ok:
            reason = f"operations {sorted(g.operations or ())} do not include {rq.action.partition(':')[2]}"
        elif not key_ok:
            reason = f"the grant is for key {g.key_arn}"
        elif not c_ok:
            reason = c_reason
        else:
            reason = f"the grant applies (grantee matched as {kind.value})"
        if applies:
            any_applies = True
            if kind != PrincipalMatch.ACCOUNT:
                via_account_only = False
        traces.append(GrantTrace(g.grant_id, applies, grantee_ok, op_ok, c_ok and key_ok, reason, g))
    result = LayerResult.ALLOWED if any_applies else LayerResult.IMPLICITLY_DENIED
    reason = "a grant allows this request" if any_applies else "no grant allows this request"
    return LayerTrace(Layer.GRANTS, result, account, reason, (), tuple(traces)), any_applies and via_account_only


def _grant_constraints(constraints: Mapping[str, Any] | None, ec: Mapping[str, str]) -> tuple[bool, str]:
    if not constraints:
        return True, ""
    eq = constraints.get("EncryptionContextEquals") if isinstance(constraints, Mapping) else None
    sub = constraints.get("EncryptionContextSubset") if isinstance(constraints, Mapping) else None
    if isinstance(eq, Mapping):
        want = {str(k): str(v) for k, v in eq.items()}
        if dict(ec) != want:
            return False, f"EncryptionContextEquals {want} does not equal the request's encryption context {dict(ec)}"
    if isinstance(sub, Mapping):
        missing = {str(k): str(v) for k, v in sub.items() if ec.get(str(k)) != str(v)}
        if missing:
            return False, f"EncryptionContextSubset: the request's encryption context lacks {missing}"
    return True, ""
