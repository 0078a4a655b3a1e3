"""AWS's authorization decision for one request, evaluated layer by layer with a full trace.

``evaluate(request, inputs)`` is pure (no I/O, no logging) and cached: the same request with the same
policies is answered from a dict (keys are the request's fields and the policies' canonical JSON).

Evaluation order (IAM User Guide, "Policy evaluation logic"; KMS Developer Guide, "Key policies",
"Grants"). Every layer is always evaluated so that the trace is complete; the decision is then:

1. **Explicit deny anywhere** — an applying Deny in any SCP level, RCP level, the resource policy (key
   policy / bucket policy: only statements whose Principal names the caller), the identity policies,
   the permission boundary or the session policy → ``ExplicitlyDenied``.
2. **SCPs** (caller's account; root first, account last): every level must have an applying Allow.
   They do not apply to service principals. A level without one → ``ImplicitlyDenied``.
3. **RCPs** (resource's account): the same, every level must allow.
4. **Resource policy** (``inputs.resource_policy_layer``: key policy, bucket policy, trust policy...).
   How the caller matched an allowing statement matters:
   ``exact`` (its own user/session ARN), ``role`` (the role ARN, caller a session of it or the role
   itself), ``wildcard`` (``*``, or an Allow with NotPrincipal), ``service``, ``unique_id``, ``account``
   (account ID or ``:root`` — delegation to IAM, never a grant to the caller).
5. **Grants** (KMS only): a grant whose grantee is the caller (role grantee: its sessions too), whose
   operations include the action, whose key is the request's key and whose constraints
   (EncryptionContextEquals: the request's encryption context is exactly the constraint;
   EncryptionContextSubset: it contains every constraint pair; case-sensitive) hold. A grant allows
   without any identity policy, same- or cross-account; a grant to an account root needs the identity
   policies as well. ``kms:RetireGrant`` is also allowed to a grant's retiring principal.
6. **Identity policies** (inline, managed, group) of the caller.
7. **Permission boundary**, 8. **Session policy**: when present, they must allow too.

Then, with ``SCPs``, ``RCPs`` passed:

- **KMS actions** (``kms:*``): the key policy must allow. In the key's own account a statement naming
  the caller (exact/role/wildcard) suffices; a statement naming only the account delegates to IAM, and
  the identity policies must then allow. No key-policy statement for the account means identity
  policies do not count, even in the key's own account. Cross-account: the key policy must allow (caller
  or its account) *and* the identity policies must allow. Or a grant applies (above).
- **sts:AssumeRole\\*** (trust policies): like KMS, the resource policy is required.
- **Other services** (S3...): same account: identity policies allow, or the resource policy names the
  caller (not just its account). Cross-account: both the resource policy (any match, including the
  account) and the identity policies must allow.
- **Permission boundary**: limits identity-policy allows always. Within one account, a resource-policy
  allow that names the IAM user, the session ARN, or ``*`` is not limited by an implicit deny in the
  boundary; one that names the role ARN (caller a session of it, or the role) is. A grant is limited by
  the boundary (a choice: AWS does not document it; the conservative reading for a diagnosis tool).
- **Session policy**: when present it must allow, whatever path granted the access (see the
  disagreement below).
- **NotPrincipal with Deny** never exempts a caller that has a permission boundary (IAM User Guide,
  NotPrincipal: such a statement "always denies" principals with a boundary).
- Service principals (``s3.amazonaws.com``) have no identity policies, SCPs, RCPs or boundary: only the
  resource policy can allow them.
- SCPs do not apply to the organization's management account; the engine cannot tell which account that
  is, so whoever builds ``PolicyInputs`` passes ``scps=()`` for it.
- Principals are in the account of their ARN; the resource's account is ``request.resource_account``,
  else the account field of its ARN, else the caller's (same account).

Gaps: a layer whose input is ``None`` (identity policies, SCPs, RCPs, grants; the resource policy with
``resource_policy_known=False``; the boundary / session policy with ``..._known=False``) is ``UNKNOWN``
and listed in ``EvaluationResult.unknown``. The decision is computed as if an unknown *restricting*
layer allowed (SCP, RCP, identity, boundary, session; an unknown resource policy counts as an allow of
the account, so identity policies still decide). Unknown grants are counted as granting nothing: grants
only add access, and assuming one would invent an allow. An unparseable policy makes its layer
``UNKNOWN`` with the parse error as the reason.

Where the conformance cases and AWS documentation disagree, the engine follows the case:
``iamsim/sessionPolicies/07`` expects ``ImplicitlyDenied`` when the resource policy names the session ARN
itself and the session policy does not allow; the IAM User Guide (session policies) says such a
resource-policy grant is not limited by the session policy. kmsdiag applies the session policy to every
path, which can only make it stricter than AWS for that case.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from diag.policy.conditions import evaluate_conditions, normalize_context
from diag.policy.match import (
    Caller,
    PrincipalMatch,
    account_of_arn,
    action_matches,
    action_near_misses,
    parse_caller,
    principal_match_memo,
    principal_near_misses_memo,
    principal_value_match,
    resource_matches,
    resource_near_misses,
)
from diag.policy.model import (
    Decision,
    EvaluationResult,
    Grant,
    GrantTrace,
    Layer,
    LayerResult,
    LayerTrace,
    MatchTrace,
    NamedPolicy,
    NearMiss,
    OrgLevel,
    PolicyInputs,
    Request,
    StatementTrace,
)
from diag.policy.parse import (
    ParsedPolicy,
    PolicyError,
    PrincipalSpec,
    StatementSpec,
    parse_policy,
    policy_fingerprint,
    remember,
)

ENGINE_VERSION = "1"

_CACHE_MAX = 16384
_DECISIONS: dict[Any, EvaluationResult] = {}

_DIRECT = {
    PrincipalMatch.EXACT,
    PrincipalMatch.ROLE,
    PrincipalMatch.WILDCARD,
    PrincipalMatch.SERVICE,
    PrincipalMatch.UNIQUE_ID,
}
# Which allowing match counts most: a direct grant (not limited by a boundary's implicit deny in the same
# account) over a role-ARN grant (limited) over delegation to the account.
_RANK = {
    PrincipalMatch.NONE: 0,
    PrincipalMatch.ACCOUNT: 1,
    PrincipalMatch.ROLE: 2,
    PrincipalMatch.UNIQUE_ID: 2,
    PrincipalMatch.WILDCARD: 3,
    PrincipalMatch.SERVICE: 3,
    PrincipalMatch.EXACT: 3,
}
_ASSUME_ROLE = {"sts:assumerole", "sts:assumerolewithsaml", "sts:assumerolewithwebidentity"}


def clear_cache(*, statements: bool = False) -> None:
    """Forget cached decisions (and, with ``statements``, memoized statement traces)."""
    _DECISIONS.clear()
    if statements:
        _STMT_MEMO.clear()
        _LAYER_MEMO.clear()


# ---------------------------------------------------------------------------------------------- cache key


def _freeze(value: Any) -> Any:
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted(((str(k), _freeze(v)) for k, v in value.items()), key=lambda kv: kv[0]))
    return (type(value).__name__, repr(value))


def _freeze_context(context: Any) -> Any:
    """The request context as a hashable tuple (fast path for str and list-of-str values)."""
    if not isinstance(context, dict):
        return _freeze(context)
    items = []
    for k, v in context.items():
        tv = type(v)
        if tv is str:
            items.append((k, v))
        elif tv is list and all(type(x) is str for x in v):
            items.append((k, tuple(v)))
        else:
            items.append((k, _freeze(v)))
    return tuple(items)


def _policy_key(np: NamedPolicy | None, fps: dict[int, Any]) -> Any:
    if np is None:
        return None
    doc = np.document
    try:
        fp: Any = policy_fingerprint(doc)
    except PolicyError:
        fp = ("invalid", repr(doc))
    fps[id(doc)] = fp
    return (fp, np.name, np.kind, np.account, np.arn, np.attached_to)


def _levels_key(levels: tuple[OrgLevel, ...] | None, fps: dict[int, Any]) -> Any:
    if levels is None:
        return None
    return tuple((lv.org_identifier, tuple(_policy_key(p, fps) for p in lv.policies)) for lv in levels)


def _cache_key(request: Request, inputs: PolicyInputs, fps: dict[int, Any]) -> Any:
    """The decision cache key; fills ``fps`` (id of each document → its fingerprint) for this evaluation."""
    return (
        request.principal,
        request.action,
        request.resource,
        request.resource_account,
        _freeze_context(request.context),
        None if inputs.identity_policies is None else tuple(_policy_key(p, fps) for p in inputs.identity_policies),
        _policy_key(inputs.resource_policy, fps),
        str(inputs.resource_policy_layer),
        inputs.resource_policy_known,
        _levels_key(inputs.scps, fps),
        _levels_key(inputs.rcps, fps),
        _policy_key(inputs.permission_boundary, fps),
        _policy_key(inputs.session_policy, fps),
        None if inputs.grants is None else tuple(_freeze(g.__dict__) for g in inputs.grants),
        inputs.permission_boundary_known,
        inputs.session_policy_known,
    )


def evaluate(request: Request, inputs: PolicyInputs) -> EvaluationResult:
    """Decide ``request`` under ``inputs`` as AWS would; every layer's trace and the reason included."""
    fps: dict[int, Any] = {}
    try:
        key = _cache_key(request, inputs, fps)
        hit = _DECISIONS.get(key)
    except TypeError:  # something unhashable slipped through: evaluate without the cache
        return _evaluate(request, inputs, {})
    if hit is not None:
        return hit
    # the request digest (caller, normalized context) does not depend on the action: one per context
    result = _evaluate(request, inputs, fps, (key[0], *key[2:5]))
    remember(_DECISIONS, key, result, _CACHE_MAX)
    return result


def context_keys_read(inputs: PolicyInputs) -> tuple[str, ...]:
    """Lower-cased request-context keys that any policy of ``inputs`` reads (conditions and variables).

    Two requests with the same caller, action, resource and values for these keys get the same
    decision under ``inputs`` (plus the ``kms:EncryptionContext:*`` entries when the key has grants, and
    ``aws:userid`` when a policy names a unique ID): the "context that matters" of a decision key
    (DESIGN.md section 2). Unparseable policies contribute nothing.
    """
    keys: dict[str, None] = {}
    policies: list[NamedPolicy] = []
    policies += inputs.identity_policies or ()
    for levels in (inputs.scps or (), inputs.rcps or ()):
        for lv in levels:
            policies += lv.policies
    policies += [p for p in (inputs.resource_policy, inputs.permission_boundary, inputs.session_policy) if p]
    for np in policies:
        try:
            keys.update(dict.fromkeys(parse_policy(np.document).context_keys))
        except PolicyError:
            continue
    return tuple(keys)


# ---------------------------------------------------------------------------------------------- statements


@dataclass(frozen=True, slots=True)
class _Req:
    """The request, pre-digested once per evaluation."""

    request: Request
    action: str
    resource: str
    caller: Caller
    userid: str | None
    ctx: Mapping[str, tuple[str, ...]]
    has_boundary: bool
    fps: dict[int, Any]


_STMT_MEMO_MAX = 65536
_STMT_MEMO: dict[Any, tuple[StatementSpec, StatementTrace, PrincipalMatch]] = {}
_LAYER_MEMO: dict[Any, tuple[LayerTrace, PrincipalMatch]] = {}


def _eval_statement_memo(
    st: StatementSpec, np: NamedPolicy, layer: Layer, rq: _Req, check_principal: bool
) -> tuple[StatementTrace, PrincipalMatch]:
    """``_eval_statement`` memoized on everything its outcome depends on.

    A statement's trace is a pure function of the (immutable, cached) parsed statement, the policy's
    provenance, the action, the resource, the caller (for Principal elements) and the values of the
    context keys the statement reads (``st.context_keys``). The parsed statement is held in the memo
    entry, so its ``id`` cannot be reused while the entry lives.
    """
    ctx = rq.ctx
    key = (
        id(st),
        layer,
        np.name,
        np.kind,
        np.account,
        rq.action,
        rq.resource,
        (rq.caller.arn, rq.userid, rq.has_boundary) if check_principal else None,
        tuple([ctx.get(k) for k in st.context_keys]) if st.context_keys else None,
    )
    hit = _STMT_MEMO.get(key)
    if hit is not None and hit[0] is st:
        return hit[1], hit[2]
    trace, kind = _eval_statement(st, np, layer, rq, check_principal)
    remember(_STMT_MEMO, key, (st, trace, kind), _STMT_MEMO_MAX)
    return trace, kind


def _first_action(patterns: Sequence[str], action: str) -> str | None:
    for p in patterns:
        if action_matches(p, action):
            return p
    return None


def _first_resource(patterns: Sequence[str], resource: str, ctx: Mapping[str, tuple[str, ...]]) -> str | None:
    for p in patterns:
        if resource_matches(p, resource, ctx):
            return p
    return None


_FLAT: dict[int, tuple[PrincipalSpec, tuple[str, ...]]] = {}


def _flat(spec: PrincipalSpec) -> tuple[str, ...]:
    """``spec.flat()``, computed once per parsed Principal element (the entry holds the element)."""
    hit = _FLAT.get(id(spec))
    if hit is not None and hit[0] is spec:
        return hit[1]
    flat = spec.flat()
    if len(_FLAT) >= _STMT_MEMO_MAX:
        _FLAT.clear()
    _FLAT[id(spec)] = (spec, flat)
    return flat


def _eval_statement(
    st: StatementSpec, np: NamedPolicy, layer: Layer, rq: _Req, check_principal: bool
) -> tuple[StatementTrace, PrincipalMatch]:
    action = rq.action
    # Action / NotAction
    if st.actions is not None:
        hit = _first_action(st.actions, action)
        a_trace = MatchTrace(
            "Action", hit is not None, st.actions, action, hit, "" if hit else "no Action value matches"
        )
    else:
        nas = st.not_actions or ()
        hit = _first_action(nas, action)
        a_trace = MatchTrace(
            "NotAction",
            hit is None,
            nas,
            action,
            None,
            f"the action is excluded by NotAction {hit}" if hit else "not in NotAction",
        )
    # Resource / NotResource (absent: trust policies and key policies may omit it)
    res = rq.resource
    if st.resources is not None:
        hit = _first_resource(st.resources, res, rq.ctx)
        r_trace = MatchTrace(
            "Resource", hit is not None, st.resources, res, hit, "" if hit else "no Resource value matches"
        )
    elif st.not_resources is not None:
        hit = _first_resource(st.not_resources, res, rq.ctx)
        r_trace = MatchTrace(
            "NotResource",
            hit is None,
            st.not_resources,
            res,
            None,
            f"the resource is excluded by NotResource {hit}" if hit else "not in NotResource",
        )
    else:
        r_trace = MatchTrace("Resource", True, (), res, None, "no Resource element (the policy's own resource)")
    # Principal / NotPrincipal (resource policies and RCPs only)
    p_trace: MatchTrace | None = None
    kind = PrincipalMatch.WILDCARD if not check_principal else PrincipalMatch.NONE
    caller = rq.caller
    if check_principal:
        if st.principal is not None:
            kind, val = principal_match_memo(st.principal.values, st.principal.wildcard, caller, rq.userid)
            p_trace = MatchTrace(
                "Principal",
                kind != PrincipalMatch.NONE,
                _flat(st.principal),
                caller.arn,
                val,
                f"matched as {kind.value}" if kind != PrincipalMatch.NONE else "the caller is not named",
                match_kind="" if kind == PrincipalMatch.NONE else kind.value,
            )
        elif st.not_principal is not None:
            listed, val = principal_match_memo(st.not_principal.values, st.not_principal.wildcard, caller, rq.userid)
            if listed != PrincipalMatch.NONE and st.effect == "Deny" and rq.has_boundary:
                reason = "listed in NotPrincipal, but a Deny with NotPrincipal always applies to a principal with a permission boundary"
                listed = PrincipalMatch.NONE
            else:
                reason = (
                    f"excluded by NotPrincipal {val}"
                    if listed != PrincipalMatch.NONE
                    else "not excluded by NotPrincipal"
                )
            ok = listed == PrincipalMatch.NONE
            kind = PrincipalMatch.WILDCARD if ok else PrincipalMatch.NONE
            p_trace = MatchTrace(
                "NotPrincipal",
                ok,
                _flat(st.not_principal),
                caller.arn,
                None,
                reason,
                match_kind="wildcard" if ok else "",
            )
        else:
            p_trace = MatchTrace(
                "Principal", False, (), caller.arn, None, "statement has no Principal: it applies to no one"
            )
    c_ok, c_traces = evaluate_conditions(st.conditions, rq.ctx, st.effect)
    applies = a_trace.matched and r_trace.matched and (p_trace is None or p_trace.matched) and c_ok
    near: list[NearMiss] = []
    if not applies:
        if a_trace.matched:
            if p_trace is not None and not p_trace.matched and st.principal is not None:
                near.extend(principal_near_misses_memo(st.principal.values, caller))
            if not r_trace.matched and st.resources is not None:
                near.extend(resource_near_misses(st.resources, res))
        elif st.actions is not None and r_trace.matched and (p_trace is None or p_trace.matched):
            near.extend(action_near_misses(st.actions, action))
    trace = StatementTrace(
        layer=layer,
        index=st.index,
        effect=st.effect,
        applies=applies,
        sid=st.sid,
        policy_name=np.name,
        policy_kind=np.kind,
        account=np.account,
        action=a_trace,
        resource=r_trace,
        principal=p_trace,
        conditions=c_traces,
        near_misses=tuple(near),
        statement=st.raw,
    )
    return trace, (kind if applies else PrincipalMatch.NONE)


def _parse(np: NamedPolicy, fps: dict[int, Any]) -> ParsedPolicy:
    return parse_policy(np.document, fps.get(id(np.document)))


def _eval_policies(
    layer: Layer,
    policies: Sequence[NamedPolicy],
    rq: _Req,
    *,
    check_principal: bool,
    account: str | None,
    org_identifier: str | None = None,
    implicit_reason: str | None = None,
) -> tuple[LayerTrace, PrincipalMatch]:
    """Evaluate every statement of ``policies`` as one layer; also return the best allowing match kind.

    Memoized like ``_eval_statement_memo``, on the policies' fingerprints and provenance plus the request
    facets the policies read (action, resource, caller for Principal elements, their context keys).
    """
    fps = rq.fps
    ctx = rq.ctx
    pkeys = []
    facets: list[Any] = []
    memo_ok = bool(policies)
    for np in policies:
        fp = fps.get(id(np.document))
        if fp is None:
            memo_ok = False
            break
        try:
            parsed = parse_policy(np.document, fp)
        except PolicyError:
            memo_ok = False
            break
        pkeys.append((fp, np.name, np.kind, np.account))
        for k in parsed.context_keys:
            facets.append(ctx.get(k))
    if not memo_ok:
        return _eval_policies_uncached(layer, policies, rq, check_principal, account, org_identifier, implicit_reason)
    key = (
        layer,
        check_principal,
        account,
        org_identifier,
        tuple(pkeys),
        rq.action,
        rq.resource,
        (rq.caller.arn, rq.userid, rq.has_boundary) if check_principal else None,
        tuple(facets),
        implicit_reason,
    )
    hit = _LAYER_MEMO.get(key)
    if hit is not None:
        return hit
    out = _eval_policies_uncached(layer, policies, rq, check_principal, account, org_identifier, implicit_reason)
    remember(_LAYER_MEMO, key, out, _STMT_MEMO_MAX)
    return out


def _eval_policies_uncached(
    layer: Layer,
    policies: Sequence[NamedPolicy],
    rq: _Req,
    check_principal: bool,
    account: str | None,
    org_identifier: str | None,
    implicit_reason: str | None = None,
) -> tuple[LayerTrace, PrincipalMatch]:
    traces: list[StatementTrace] = []
    best = PrincipalMatch.NONE
    errors: list[str] = []
    denied = allowed = False
    for np in policies:
        try:
            parsed = _parse(np, rq.fps)
        except PolicyError as exc:
            errors.append(f"{np.name or np.kind or 'policy'}: {exc}")
            continue
        for st in parsed.statements:
            t, kind = _eval_statement_memo(st, np, layer, rq, check_principal)
            traces.append(t)
            if t.applies:
                if t.effect == "Deny":
                    denied = True
                else:
                    allowed = True
                    if _RANK[kind] > _RANK[best]:
                        best = kind
    st_traces = tuple(traces)
    if denied:
        result, reason = LayerResult.EXPLICITLY_DENIED, "a Deny statement applies"
    elif errors:
        result, reason = LayerResult.UNKNOWN, "could not read the policy: " + "; ".join(errors)
    elif allowed:
        result, reason = LayerResult.ALLOWED, "an Allow statement applies"
    else:
        result = LayerResult.IMPLICITLY_DENIED
        reason = implicit_reason or (
            "no statement allows this request" if st_traces else "the policy has no statements"
        )
    return LayerTrace(layer, result, account, reason, st_traces, (), org_identifier), best


@lru_cache(maxsize=1024)
def _na(layer: Layer, reason: str, account: str | None = None) -> LayerTrace:
    return LayerTrace(layer, LayerResult.NOT_APPLICABLE, account, reason)


@lru_cache(maxsize=1024)
def _unknown(layer: Layer, reason: str, account: str | None = None) -> LayerTrace:
    return LayerTrace(layer, LayerResult.UNKNOWN, account, reason)


def _org_layers(
    layer: Layer, levels: tuple[OrgLevel, ...] | None, rq: _Req, account: str | None, name: str
) -> list[LayerTrace]:
    if rq.caller.is_service:
        return [_na(layer, f"{name}s do not apply to AWS service principals", account)]
    if levels is None:
        return [_unknown(layer, f"{name}s were not collected", account)]
    if not levels:
        return [_na(layer, f"no {name}s apply (not in an organization, or none collected as attached)", account)]
    out: list[LayerTrace] = []
    for lv in levels:
        lt, _ = _eval_policies(
            layer,
            lv.policies,
            rq,
            check_principal=layer == Layer.RCP,
            account=account,
            org_identifier=lv.org_identifier,
            implicit_reason=f"no {name} at {lv.org_identifier} allows {rq.action}",
        )
        out.append(lt)
    return out


# ---------------------------------------------------------------------------------------------- grants


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


def _eval_grants(grants: tuple[Grant, ...] | None, rq: _Req, account: str | None) -> tuple[LayerTrace, bool]:
    """Grant layer trace and whether an applying grant names an account (identity policies must allow)."""
    if grants is None:
        return _unknown(Layer.GRANTS, "grants were not collected (counted as granting nothing)", account), False
    if not grants:
        return _na(Layer.GRANTS, "the key has no grants", account), False
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


# ---------------------------------------------------------------------------------------------- decision


_REQ_MEMO: dict[Any, tuple[Caller, dict[str, tuple[str, ...]], str | None]] = {}


def _digest(request: Request, rkey: Any) -> tuple[Caller, dict[str, tuple[str, ...]], str | None]:
    """Caller, normalized context and aws:userid of a request, memoized on the request's fields."""
    hit = _REQ_MEMO.get(rkey) if rkey is not None else None
    if hit is not None:
        return hit
    caller = parse_caller(request.principal if isinstance(request.principal, str) else str(request.principal))
    ctx = normalize_context(request.context)
    userid_vals = ctx.get("aws:userid")
    out = (caller, ctx, userid_vals[0] if userid_vals else None)
    if rkey is not None:
        remember(_REQ_MEMO, rkey, out, _STMT_MEMO_MAX)
    return out


def _evaluate(request: Request, inputs: PolicyInputs, fps: dict[int, Any], rkey: Any = None) -> EvaluationResult:
    caller, ctx, userid = _digest(request, rkey)
    rq = _Req(
        request=request,
        action=request.action if isinstance(request.action, str) else str(request.action),
        resource=request.resource if isinstance(request.resource, str) else str(request.resource),
        caller=caller,
        userid=userid,
        ctx=ctx,
        has_boundary=inputs.permission_boundary is not None or not inputs.permission_boundary_known,
        fps=fps,
    )
    action_l = rq.action.lower()
    is_kms = action_l.startswith("kms:")
    resource_required = is_kms or action_l in _ASSUME_ROLE
    res_account = request.resource_account or account_of_arn(rq.resource) or caller.account
    cross = bool(caller.account and res_account and caller.account != res_account)
    rp_layer = inputs.resource_policy_layer

    layers: list[LayerTrace] = []
    scp_traces = _org_layers(Layer.SCP, inputs.scps, rq, caller.account, "SCP")
    rcp_traces = _org_layers(Layer.RCP, inputs.rcps, rq, res_account, "RCP")
    layers += scp_traces + rcp_traces

    # resource policy
    rp_kind = PrincipalMatch.NONE
    if not inputs.resource_policy_known:
        rp = _unknown(rp_layer, "the resource policy was not collected", res_account)
    elif inputs.resource_policy is None:
        if resource_required:
            what = "key policy" if is_kms else "trust policy"
            rp = LayerTrace(
                rp_layer, LayerResult.IMPLICITLY_DENIED, res_account, f"no {what}: nothing allows the caller"
            )
        else:
            rp = _na(rp_layer, "the resource has no resource-based policy", res_account)
    else:
        rp, rp_kind = _eval_policies(
            rp_layer,
            [inputs.resource_policy],
            rq,
            check_principal=True,
            account=res_account,
            implicit_reason="no statement allows this caller and action",
        )
    layers.append(rp)

    grant_account_only = False
    if is_kms:
        gt, grant_account_only = _eval_grants(inputs.grants, rq, res_account)
        layers.append(gt)
    else:
        gt = None

    if caller.is_service:
        ident = _na(Layer.IDENTITY, "AWS service principals have no identity policies", None)
        pb = _na(Layer.PERMISSION_BOUNDARY, "service principal", None)
        sp = _na(Layer.SESSION_POLICY, "service principal", None)
    else:
        if inputs.identity_policies is None:
            ident = _unknown(Layer.IDENTITY, "the caller's identity policies were not collected", caller.account)
        else:
            ident, _ = _eval_policies(
                Layer.IDENTITY, inputs.identity_policies, rq, check_principal=False, account=caller.account
            )
            if not inputs.identity_policies:
                ident = LayerTrace(
                    Layer.IDENTITY, LayerResult.IMPLICITLY_DENIED, caller.account, "the caller has no identity policies"
                )
        pb = _optional_layer(
            Layer.PERMISSION_BOUNDARY,
            inputs.permission_boundary,
            inputs.permission_boundary_known,
            rq,
            caller.account,
            "permission boundary",
        )
        sp = _optional_layer(
            Layer.SESSION_POLICY,
            inputs.session_policy,
            inputs.session_policy_known,
            rq,
            caller.account,
            "session policy",
        )
    layers += [ident, pb, sp]

    unknown = tuple(dict.fromkeys(lt.layer for lt in layers if lt.result == LayerResult.UNKNOWN))
    decision, reason, deciding = _decide(
        rq,
        layers,
        scp_traces,
        rcp_traces,
        rp,
        rp_kind,
        gt,
        grant_account_only,
        ident,
        pb,
        sp,
        cross,
        is_kms,
        resource_required,
    )
    return EvaluationResult(decision, tuple(layers), request, reason, unknown, deciding, cross)


def _optional_layer(
    layer: Layer, np: NamedPolicy | None, known: bool, rq: _Req, account: str | None, name: str
) -> LayerTrace:
    if np is None:
        return (
            _unknown(layer, f"the {name} was not collected", account)
            if not known
            else _na(layer, f"no {name}", account)
        )
    lt, _ = _eval_policies(
        layer,
        [np],
        rq,
        check_principal=False,
        account=account,
        implicit_reason=f"the {name} does not allow this action",
    )
    return lt


def _decide(
    rq: _Req,
    layers: list[LayerTrace],
    scp_traces: list[LayerTrace],
    rcp_traces: list[LayerTrace],
    rp: LayerTrace,
    rp_kind: PrincipalMatch,
    gt: LayerTrace | None,
    grant_account_only: bool,
    ident: LayerTrace,
    pb: LayerTrace,
    sp: LayerTrace,
    cross: bool,
    is_kms: bool,
    resource_required: bool,
) -> tuple[Decision, str, tuple[Layer, ...]]:
    denying = [lt for lt in layers if lt.result == LayerResult.EXPLICITLY_DENIED]
    if denying:
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
    failed_scp = [lt for lt in scp_traces if lt.result == LayerResult.IMPLICITLY_DENIED]
    if failed_scp:
        return Decision.IMPLICITLY_DENIED, failed_scp[0].reason, (Layer.SCP,)
    failed_rcp = [lt for lt in rcp_traces if lt.result == LayerResult.IMPLICITLY_DENIED]
    if failed_rcp:
        return Decision.IMPLICITLY_DENIED, failed_rcp[0].reason, (Layer.RCP,)

    ok = (LayerResult.ALLOWED, LayerResult.UNKNOWN)
    identity_ok = ident.result in ok
    boundary_ok = pb.result in (*ok, LayerResult.NOT_APPLICABLE)
    session_ok = sp.result in (*ok, LayerResult.NOT_APPLICABLE)
    rp_unknown = rp.result == LayerResult.UNKNOWN
    rp_any = rp_kind != PrincipalMatch.NONE or rp_unknown
    role_like = rp_kind == PrincipalMatch.ROLE or (
        rp_kind == PrincipalMatch.UNIQUE_ID and rq.caller.kind in ("role", "assumed-role")
    )
    rp_direct = rp_kind in _DIRECT
    rp_bypasses_boundary = rp_direct and not role_like
    rpl = rp.layer
    name = {Layer.KEY_POLICY: "key policy", Layer.BUCKET_POLICY: "bucket policy"}.get(
        rpl, "key policy" if is_kms else ("trust policy" if resource_required else "resource policy")
    )

    if rq.caller.is_service:
        if rp_direct or rp_unknown:
            return Decision.ALLOWED, f"the {name} allows the service principal", (rpl,)
        return Decision.IMPLICITLY_DENIED, f"no {name} statement allows the service principal {rq.caller.arn}", (rpl,)

    identity_path_ok = identity_ok and boundary_ok and session_ok
    grant_ok = gt is not None and gt.result == LayerResult.ALLOWED and boundary_ok and session_ok
    if grant_ok and grant_account_only and not identity_ok:
        grant_ok = False

    if resource_required:
        if grant_ok:
            return Decision.ALLOWED, "a KMS grant allows the request", (Layer.GRANTS,)
        if not cross and rp_direct and session_ok and (boundary_ok or rp_bypasses_boundary):
            return Decision.ALLOWED, f"the {name} allows the caller directly ({rp_kind.value})", (rpl,)
        if rp_any and identity_path_ok:
            layers_ok = (rpl, Layer.IDENTITY)
            how = "the caller" if rp_direct else "the caller's account"
            return Decision.ALLOWED, f"the {name} allows {how} and the identity policies allow", layers_ok
        missing: list[Layer] = []
        if not rp_any:
            missing.append(rpl)
            reason = f"no {name} statement allows the caller or its account" + (
                " (identity policies do not count without one)" if identity_ok and not cross else ""
            )
        elif not identity_ok and (cross or not rp_direct):
            missing.append(Layer.IDENTITY)
            reason = (
                f"the {name} allows the caller's account, but no identity policy allows the action"
                if not cross or not rp_direct
                else f"cross-account: the {name} allows the caller, but its identity policies do not"
            )
        elif not boundary_ok:
            missing.append(Layer.PERMISSION_BOUNDARY)
            reason = "the permission boundary does not allow the action"
        else:
            missing.append(Layer.SESSION_POLICY)
            reason = "the session policy does not allow the action"
        if not identity_ok and rpl in missing and cross:
            missing.append(Layer.IDENTITY)
        if gt is not None and gt.result == LayerResult.IMPLICITLY_DENIED and any(g.grantee_matched for g in gt.grants):
            missing.append(Layer.GRANTS)
        return Decision.IMPLICITLY_DENIED, reason, tuple(dict.fromkeys(missing))

    # other services
    if cross:
        if rp_any and identity_path_ok:
            return (
                Decision.ALLOWED,
                f"cross-account: the {name} and the identity policies both allow",
                (rpl, Layer.IDENTITY),
            )
        missing = []
        if not rp_any:
            missing.append(rpl)
        if not identity_ok:
            missing.append(Layer.IDENTITY)
        elif not boundary_ok:
            missing.append(Layer.PERMISSION_BOUNDARY)
        elif not session_ok:
            missing.append(Layer.SESSION_POLICY)
        first_missing = missing[0]
        reason = {
            rpl: f"cross-account: no {name} statement allows the caller or its account",
            Layer.IDENTITY: "cross-account: no identity policy allows the action",
            Layer.PERMISSION_BOUNDARY: "the permission boundary does not allow the action",
            Layer.SESSION_POLICY: "the session policy does not allow the action",
        }[first_missing]
        return Decision.IMPLICITLY_DENIED, reason, tuple(missing)
    if identity_path_ok and ident.result in ok:
        return Decision.ALLOWED, "the identity policies allow", (Layer.IDENTITY,)
    if rp_direct and session_ok and (boundary_ok or rp_bypasses_boundary):
        return Decision.ALLOWED, f"the {name} allows the caller ({rp_kind.value})", (rpl,)
    if identity_ok and not boundary_ok:
        return (
            Decision.IMPLICITLY_DENIED,
            "the permission boundary does not allow the action",
            (Layer.PERMISSION_BOUNDARY,),
        )
    if (identity_ok or rp_direct) and not session_ok:
        return Decision.IMPLICITLY_DENIED, "the session policy does not allow the action", (Layer.SESSION_POLICY,)
    if rp_direct and not boundary_ok:
        return (
            Decision.IMPLICITLY_DENIED,
            f"the {name} names the role, and the permission boundary does not allow the action",
            (Layer.PERMISSION_BOUNDARY,),
        )
    return (
        Decision.IMPLICITLY_DENIED,
        "no identity policy allows the action, and no resource policy names the caller",
        (Layer.IDENTITY,),
    )
