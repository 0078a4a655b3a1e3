"""AWS's authorization decision for one request, evaluated layer by layer with a full trace.

``evaluate(request, inputs)`` is pure (no I/O, no logging) and cached: the same request with the same
policies is answered from a dict (keys are the request's fields and the policies' canonical JSON).
``decide(request, inputs)`` gives the same decision, reason and deciding layers without the statement
trace (each layer then lists only its applying statements): the fast path of ``simulate --fields``.
The caches belong to an ``Engine`` (``diag.policy.cache.EngineCache``); the module functions use one
shared engine.

Module layout: ``statement`` (compiled statements: matchers and traces), ``layers`` (a layer's verdict),
``grants`` (KMS grants), ``decision`` (the combination rules below), ``cache`` (bounded memo tables),
``conditions``, ``match`` (principals), ``wildcard`` (actions, resources), ``near`` (near misses),
``parse``, ``model``.

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
the account, so identity policies still decide). Unknown grants never allow: grants only add access, and
assuming one would invent an allow (``diag.diagnosis.honesty`` makes a refusal a grant could lift Unknown). An unparseable policy makes its layer
``UNKNOWN`` with the parse error as the reason.

Where the conformance cases and AWS documentation disagree, the engine follows the case:
``iamsim/sessionPolicies/07`` expects ``ImplicitlyDenied`` when the resource policy names the session ARN
itself and the session policy does not allow; the IAM User Guide (session policies) says such a
resource-policy grant is not limited by the session policy. kmsdiag applies the session policy to every
path, which can only make it stricter than AWS for that case.
"""

from __future__ import annotations

from typing import Any

from diag.policy.cache import EngineCache
from diag.policy.conditions import normalize_context
from diag.policy.decision import Verdicts
from diag.policy.decision import decide as combine
from diag.policy.grants import eval_grants
from diag.policy.layers import LayerEvaluator, not_applicable, unknown
from diag.policy.match import Caller, PrincipalMatch, account_of_arn, parse_caller
from diag.policy.model import (
    EvaluationResult,
    Layer,
    LayerResult,
    LayerTrace,
    NamedPolicy,
    OrgLevel,
    PolicyInputs,
    Request,
)
from diag.policy.parse import DEFAULT_PARSER, PolicyError, PolicyParser, parse_policy, policy_fingerprint
from diag.policy.statement import RequestFacts

ENGINE_VERSION = "1"

_ASSUME_ROLE = {"sts:assumerole", "sts:assumerolewithsaml", "sts:assumerolewithwebidentity"}


class Engine:
    """The evaluator and its caches: ``evaluate`` (full trace) and ``decide`` (decision only)."""

    __slots__ = ("cache", "parser")

    def __init__(self, cache: EngineCache | None = None, parser: PolicyParser | None = None) -> None:
        self.cache = cache if cache is not None else EngineCache()
        self.parser = parser if parser is not None else DEFAULT_PARSER

    def evaluate(
        self,
        request: Request,
        inputs: PolicyInputs,
        *,
        trace: bool = True,
        fingerprints: dict[int, Any] | None = None,
    ) -> EvaluationResult:
        """Decide ``request`` under ``inputs`` as AWS would; every layer's trace and the reason included.

        With ``trace=False`` the decision, reason, deciding layers and gaps are the same, and each layer
        lists only its applying statements (no trace of the others, no near misses). ``fingerprints``:
        ``id(document) → policy_fingerprint(document)`` already computed for these inputs' documents
        (``simulate.document_to_inputs`` fills it); the documents must not change in between.
        """
        fps: dict[int, Any] = dict(fingerprints) if fingerprints else {}
        cache = self.cache.decisions if trace else self.cache.verdicts
        try:
            key = _cache_key(request, inputs, fps)
            hit = cache.get(key)
        except TypeError:  # something unhashable slipped through: evaluate without the cache
            return self._evaluate(request, inputs, {}, None, trace)
        if hit is not None:
            return hit
        # the request digest (caller, normalized context) does not depend on the action: one per context
        result = self._evaluate(request, inputs, fps, (key[0], *key[2:5]), trace)
        return cache.put(key, result)

    def clear(self, *, statements: bool = False, compiled: bool = False) -> None:
        self.cache.clear(statements=statements, compiled=compiled)

    def _digest(self, request: Request, rkey: Any) -> tuple[Caller, dict[str, tuple[str, ...]], str | None]:
        """Caller, normalized context and aws:userid of a request, memoized on the request's fields."""
        hit = self.cache.requests.get(rkey) if rkey is not None else None
        if hit is not None:
            return hit
        caller = parse_caller(request.principal if isinstance(request.principal, str) else str(request.principal))
        ctx = normalize_context(request.context)
        userid_vals = ctx.get("aws:userid")
        out = (caller, ctx, userid_vals[0] if userid_vals else None)
        if rkey is not None:
            self.cache.requests.put(rkey, out)
        return out

    def _evaluate(
        self, request: Request, inputs: PolicyInputs, fps: dict[int, Any], rkey: Any, trace: bool
    ) -> EvaluationResult:
        caller, ctx, userid = self._digest(request, rkey)
        rq = RequestFacts(
            request=request,
            action=request.action if isinstance(request.action, str) else str(request.action),
            resource=request.resource if isinstance(request.resource, str) else str(request.resource),
            caller=caller,
            userid=userid,
            ctx=ctx,
            has_boundary=inputs.permission_boundary is not None or not inputs.permission_boundary_known,
        )
        ev = LayerEvaluator(rq, fps, self.cache, self.parser, trace)
        action_l = rq.action.lower()
        is_kms = action_l.startswith("kms:")
        resource_required = is_kms or action_l in _ASSUME_ROLE
        res_account = request.resource_account or account_of_arn(rq.resource) or caller.account
        cross = bool(caller.account and res_account and caller.account != res_account)

        scp = ev.org_levels(Layer.SCP, inputs.scps, caller.account, "SCP")
        rcp = ev.org_levels(Layer.RCP, inputs.rcps, res_account, "RCP")
        rp, rp_kind = _resource_layer(ev, inputs, res_account, is_kms, resource_required)
        gt, grant_account_only = eval_grants(inputs.grants, rq, res_account) if is_kms else (None, False)
        ident, pb, sp = _caller_layers(ev, inputs, caller)
        layers = [*scp, *rcp, rp, *([gt] if gt is not None else []), ident, pb, sp]
        unknown_layers = tuple(dict.fromkeys(lt.layer for lt in layers if lt.result == LayerResult.UNKNOWN))
        decision, reason, deciding = combine(
            Verdicts(
                caller,
                layers,
                scp,
                rcp,
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
        )
        return EvaluationResult(decision, tuple(layers), request, reason, unknown_layers, deciding, cross)


def _resource_layer(
    ev: LayerEvaluator, inputs: PolicyInputs, account: str | None, is_kms: bool, resource_required: bool
) -> tuple[LayerTrace, PrincipalMatch]:
    rp_layer = inputs.resource_policy_layer
    if not inputs.resource_policy_known:
        return unknown(rp_layer, "the resource policy was not collected", account), PrincipalMatch.NONE
    if inputs.resource_policy is None:
        if resource_required:
            what = "key policy" if is_kms else "trust policy"
            reason = f"no {what}: nothing allows the caller"
            return LayerTrace(rp_layer, LayerResult.IMPLICITLY_DENIED, account, reason), PrincipalMatch.NONE
        return not_applicable(rp_layer, "the resource has no resource-based policy", account), PrincipalMatch.NONE
    return ev.policies(
        rp_layer,
        [inputs.resource_policy],
        check_principal=True,
        account=account,
        implicit_reason="no statement allows this caller and action",
    )


def _caller_layers(
    ev: LayerEvaluator, inputs: PolicyInputs, caller: Caller
) -> tuple[LayerTrace, LayerTrace, LayerTrace]:
    """The identity policies, the permission boundary and the session policy of the caller."""
    if caller.is_service:
        return (
            not_applicable(Layer.IDENTITY, "AWS service principals have no identity policies", None),
            not_applicable(Layer.PERMISSION_BOUNDARY, "service principal", None),
            not_applicable(Layer.SESSION_POLICY, "service principal", None),
        )
    account = caller.account
    if inputs.identity_policies is None:
        ident = unknown(Layer.IDENTITY, "the caller's identity policies were not collected", account)
    elif not inputs.identity_policies:
        ident = LayerTrace(
            Layer.IDENTITY, LayerResult.IMPLICITLY_DENIED, account, "the caller has no identity policies"
        )
    else:
        ident, _ = ev.policies(Layer.IDENTITY, inputs.identity_policies, check_principal=False, account=account)
    pb = ev.optional(
        Layer.PERMISSION_BOUNDARY,
        inputs.permission_boundary,
        inputs.permission_boundary_known,
        account,
        "permission boundary",
    )
    sp = ev.optional(
        Layer.SESSION_POLICY, inputs.session_policy, inputs.session_policy_known, account, "session policy"
    )
    return ident, pb, sp


#: The engine behind the module functions.
DEFAULT_ENGINE = Engine()


#: ``evaluate(request, inputs)``: decide ``request`` under ``inputs`` as AWS would, every layer's trace and
#: the reason included (``Engine.evaluate`` of the shared engine, bound: no extra call per evaluation).
evaluate = DEFAULT_ENGINE.evaluate


def decide(request: Request, inputs: PolicyInputs) -> EvaluationResult:
    """``evaluate`` without the statement trace: each layer lists only its applying statements."""
    return DEFAULT_ENGINE.evaluate(request, inputs, trace=False)


def clear_cache(*, statements: bool = False, compiled: bool = False) -> None:
    """Forget cached decisions; with ``statements`` memoized traces too; with ``compiled`` compiled policies too
    (``diag.policy.cache.EngineCache.clear``)."""
    DEFAULT_ENGINE.clear(statements=statements, compiled=compiled)


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
    fp: Any = fps.get(id(doc))
    if fp is None:
        try:
            fp = policy_fingerprint(doc)
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
