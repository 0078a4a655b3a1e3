"""The decision from the layers' verdicts: AWS's combination rules (``diag.policy.engine`` docstring).

``decide(v)`` returns (decision, reason, deciding layers): explicit deny anywhere first, then every SCP
and RCP level, then the path that allows the request (a service principal through the resource policy;
for KMS and ``sts:AssumeRole*``, a grant or the resource policy, which is required; for other services,
the identity policies or a resource policy naming the caller, both when cross-account), each limited by
the permission boundary and the session policy.
"""

from __future__ import annotations

from dataclasses import dataclass

from diag.policy.match import Caller, PrincipalMatch
from diag.policy.model import Decision, Layer, LayerResult, LayerTrace

Answer = tuple[Decision, str, tuple[Layer, ...]]

_DIRECT = {
    PrincipalMatch.EXACT,
    PrincipalMatch.ROLE,
    PrincipalMatch.WILDCARD,
    PrincipalMatch.SERVICE,
    PrincipalMatch.UNIQUE_ID,
}
_NAMES = {Layer.KEY_POLICY: "key policy", Layer.BUCKET_POLICY: "bucket policy"}
_OK = (LayerResult.ALLOWED, LayerResult.UNKNOWN)
_OK_OR_ABSENT = (*_OK, LayerResult.NOT_APPLICABLE)


@dataclass(slots=True)  # not frozen: built once per evaluation, and a frozen __init__ costs more
class Verdicts:
    """Every layer's trace for one request, and the facts the combination rules read."""

    caller: Caller
    layers: list[LayerTrace]
    scp: list[LayerTrace]
    rcp: list[LayerTrace]
    rp: LayerTrace
    rp_kind: PrincipalMatch  # how the caller matched the best allowing resource-policy statement
    grants: LayerTrace | None  # KMS only
    grant_account_only: bool  # the applying grants name the caller's account only
    ident: LayerTrace
    pb: LayerTrace
    sp: LayerTrace
    cross: bool
    is_kms: bool
    resource_required: bool  # kms:* and sts:AssumeRole*: the resource policy must allow


@dataclass(slots=True)  # not frozen: built once per evaluation, and a frozen __init__ costs more
class _Paths:
    """What each path allows, derived once from the verdicts."""

    identity_ok: bool
    boundary_ok: bool
    session_ok: bool
    rp_unknown: bool
    rp_any: bool  # the resource policy allows the caller or its account (or is unknown)
    rp_direct: bool  # ... names the caller itself
    rp_bypasses_boundary: bool  # ... in a way an implicit deny of the boundary does not limit
    rpl: Layer
    name: str  # "key policy", "bucket policy", "trust policy", "resource policy"

    @property
    def identity_path_ok(self) -> bool:
        return self.identity_ok and self.boundary_ok and self.session_ok

    @property
    def rp_path_ok(self) -> bool:
        """A resource policy naming the caller allows on its own (same account)."""
        return self.rp_direct and self.session_ok and (self.boundary_ok or self.rp_bypasses_boundary)


def decide(v: Verdicts) -> Answer:
    """The decision, its reason, and the layers that decided (see the module docstring)."""
    results = [lt.result for lt in v.layers]
    if LayerResult.EXPLICITLY_DENIED in results:
        return _explicit_deny(v)
    if LayerResult.IMPLICITLY_DENIED in results:  # an SCP or RCP level that does not allow decides first
        for traces, layer in ((v.scp, Layer.SCP), (v.rcp, Layer.RCP)):
            failed = [lt for lt in traces if lt.result == LayerResult.IMPLICITLY_DENIED]
            if failed:
                return Decision.IMPLICITLY_DENIED, failed[0].reason, (layer,)
    p = _paths(v)
    if v.caller.is_service:
        if p.rp_direct or p.rp_unknown:
            return Decision.ALLOWED, f"the {p.name} allows the service principal", (p.rpl,)
        return (
            Decision.IMPLICITLY_DENIED,
            f"no {p.name} statement allows the service principal {v.caller.arn}",
            (p.rpl,),
        )
    if v.resource_required:
        return _resource_required(v, p)
    if v.cross:
        return _cross_account(p)
    return _same_account(v, p)


def _explicit_deny(v: Verdicts) -> Answer:
    denying = [lt for lt in v.layers if lt.result == LayerResult.EXPLICITLY_DENIED]
    first = denying[0]
    stmt = first.denying()[0] if first.denying() else None
    where = f"{first.layer.value}" + (f" ({first.org_identifier})" if first.org_identifier else "")
    what = (
        f" statement {stmt.sid or stmt.index}" + (f" of {stmt.policy_name}" if stmt and stmt.policy_name else "")
        if stmt
        else ""
    )
    return (
        Decision.EXPLICITLY_DENIED,
        f"explicit deny in the {where}{what}",
        tuple(dict.fromkeys(lt.layer for lt in denying)),
    )


def _paths(v: Verdicts) -> _Paths:
    rp_kind = v.rp_kind
    rp_unknown = v.rp.result == LayerResult.UNKNOWN
    role_like = rp_kind == PrincipalMatch.ROLE or (
        rp_kind == PrincipalMatch.UNIQUE_ID and v.caller.kind in ("role", "assumed-role")
    )
    rp_direct = rp_kind in _DIRECT
    rpl = v.rp.layer
    name = _NAMES.get(rpl) or (
        "key policy" if v.is_kms else ("trust policy" if v.resource_required else "resource policy")
    )
    return _Paths(
        identity_ok=v.ident.result in _OK,
        boundary_ok=v.pb.result in _OK_OR_ABSENT,
        session_ok=v.sp.result in _OK_OR_ABSENT,
        rp_unknown=rp_unknown,
        rp_any=rp_kind != PrincipalMatch.NONE or rp_unknown,
        rp_direct=rp_direct,
        rp_bypasses_boundary=rp_direct and not role_like,
        rpl=rpl,
        name=name,
    )


def _resource_required(v: Verdicts, p: _Paths) -> Answer:
    """KMS and trust policies: a grant, or the resource policy (naming the caller, or its account with
    the identity policies)."""
    gt = v.grants
    grant_ok = gt is not None and gt.result == LayerResult.ALLOWED and p.boundary_ok and p.session_ok
    if grant_ok and v.grant_account_only and not p.identity_ok:
        grant_ok = False
    if grant_ok:
        return Decision.ALLOWED, "a KMS grant allows the request", (Layer.GRANTS,)
    if not v.cross and p.rp_path_ok:
        return Decision.ALLOWED, f"the {p.name} allows the caller directly ({v.rp_kind.value})", (p.rpl,)
    if p.rp_any and p.identity_path_ok:
        how = "the caller" if p.rp_direct else "the caller's account"
        return Decision.ALLOWED, f"the {p.name} allows {how} and the identity policies allow", (p.rpl, Layer.IDENTITY)
    missing: list[Layer] = []
    if not p.rp_any:
        missing.append(p.rpl)
        reason = f"no {p.name} statement allows the caller or its account" + (
            " (identity policies do not count without one)" if p.identity_ok and not v.cross else ""
        )
    elif not p.identity_ok and (v.cross or not p.rp_direct):
        missing.append(Layer.IDENTITY)
        reason = (
            f"the {p.name} allows the caller's account, but no identity policy allows the action"
            if not v.cross or not p.rp_direct
            else f"cross-account: the {p.name} allows the caller, but its identity policies do not"
        )
    elif not p.boundary_ok:
        missing.append(Layer.PERMISSION_BOUNDARY)
        reason = "the permission boundary does not allow the action"
    else:
        missing.append(Layer.SESSION_POLICY)
        reason = "the session policy does not allow the action"
    if not p.identity_ok and p.rpl in missing and v.cross:
        missing.append(Layer.IDENTITY)
    if gt is not None and gt.result == LayerResult.IMPLICITLY_DENIED and any(g.grantee_matched for g in gt.grants):
        missing.append(Layer.GRANTS)
    return Decision.IMPLICITLY_DENIED, reason, tuple(dict.fromkeys(missing))


def _cross_account(p: _Paths) -> Answer:
    """Other services, cross-account: the resource policy and the identity policies must both allow."""
    if p.rp_any and p.identity_path_ok:
        return (
            Decision.ALLOWED,
            f"cross-account: the {p.name} and the identity policies both allow",
            (p.rpl, Layer.IDENTITY),
        )
    missing = []
    if not p.rp_any:
        missing.append(p.rpl)
    if not p.identity_ok:
        missing.append(Layer.IDENTITY)
    elif not p.boundary_ok:
        missing.append(Layer.PERMISSION_BOUNDARY)
    elif not p.session_ok:
        missing.append(Layer.SESSION_POLICY)
    reason = {
        p.rpl: f"cross-account: no {p.name} statement allows the caller or its account",
        Layer.IDENTITY: "cross-account: no identity policy allows the action",
        Layer.PERMISSION_BOUNDARY: "the permission boundary does not allow the action",
        Layer.SESSION_POLICY: "the session policy does not allow the action",
    }[missing[0]]
    return Decision.IMPLICITLY_DENIED, reason, tuple(missing)


def _same_account(v: Verdicts, p: _Paths) -> Answer:
    """Other services, same account: the identity policies, or a resource policy naming the caller."""
    if p.identity_path_ok:
        return Decision.ALLOWED, "the identity policies allow", (Layer.IDENTITY,)
    if p.rp_path_ok:
        return Decision.ALLOWED, f"the {p.name} allows the caller ({v.rp_kind.value})", (p.rpl,)
    if p.identity_ok and not p.boundary_ok:
        return (
            Decision.IMPLICITLY_DENIED,
            "the permission boundary does not allow the action",
            (Layer.PERMISSION_BOUNDARY,),
        )
    if (p.identity_ok or p.rp_direct) and not p.session_ok:
        return Decision.IMPLICITLY_DENIED, "the session policy does not allow the action", (Layer.SESSION_POLICY,)
    if p.rp_direct and not p.boundary_ok:
        return (
            Decision.IMPLICITLY_DENIED,
            f"the {p.name} names the role, and the permission boundary does not allow the action",
            (Layer.PERMISSION_BOUNDARY,),
        )
    return (
        Decision.IMPLICITLY_DENIED,
        "no identity policy allows the action, and no resource policy names the caller",
        (Layer.IDENTITY,),
    )
