"""Decision keys: two matrix requests with the same key get the same decision, deciding layers and gaps.

The engine reads the caller only through ``parse_caller(request.principal)``: its kind, account and
service flag (which rules apply, same- or cross-account), and how it matches each Principal /
NotPrincipal element of the resource policy and the RCPs and each grant's grantee and retiring
principal (``principal_match_memo`` / ``principal_value_match``, with the request's ``aws:userid``).
Everything else a decision depends on is the action, resource and resource account, the values of the
context keys that some policy reads (``context_keys_read``; plus the encryption context, which grants
compare), and the policy documents (fingerprints) and flags of the inputs; policy names, provenance and
the caller's ARN only reach the trace and the reason. So a key made of exactly those is shared by every
principal that the policies cannot tell apart: the matrix asks the engine once per key and reuses the
answer (``decision``, ``deciding_layers``, ``unknown``: what the matrix reads; not the trace).

``decision_key`` returns None (no sharing: ask the engine) when a policy cannot be parsed or fingerprinted.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from diag.policy.cache import BoundedCache
from diag.policy.conditions import normalize_context
from diag.policy.engine import context_keys_read
from diag.policy.match import Caller, parse_caller, principal_match_memo, principal_value_match
from diag.policy.model import NamedPolicy, OrgLevel, PolicyInputs, Request
from diag.policy.parse import PolicyError, parse_policy, policy_fingerprint

_EC_PREFIX = "kms:encryptioncontext:"
_ELEMENT_MAX = 65536


class KeyMemo:
    """The memos of one run of decision keys (a matrix, a replay), owned by the caller, never module globals:
    the principal matches per caller and resource side, each Principal element's facts, and the match
    shared by the callers an element cannot tell apart. Entries hold the parsed element they were computed
    for, so an ``id`` is never reused while its entry lives."""

    __slots__ = ("class_matches", "elements", "matches")

    def __init__(self, limit: int = _ELEMENT_MAX) -> None:
        self.matches: dict[Any, Any] = {}
        self.elements: BoundedCache[int, tuple[Any, frozenset[str], frozenset[str], bool]] = BoundedCache(limit)
        self.class_matches: BoundedCache[tuple[Any, ...], tuple[Any, Any]] = BoundedCache(limit)


def _fp(np: NamedPolicy | None) -> Any:
    return None if np is None else policy_fingerprint(np.document)


def _levels(levels: tuple[OrgLevel, ...] | None) -> Any:
    if levels is None:
        return None
    return tuple((lv.org_identifier, tuple(_fp(p) for p in lv.policies)) for lv in levels)


def inputs_key(inputs: PolicyInputs) -> tuple[Any, ...] | None:
    """Everything of ``inputs`` a decision depends on: documents (fingerprints), grants, flags."""
    try:
        return (
            None if inputs.identity_policies is None else tuple(_fp(p) for p in inputs.identity_policies),
            _fp(inputs.resource_policy),
            str(inputs.resource_policy_layer),
            inputs.resource_policy_known,
            _levels(inputs.scps),
            _levels(inputs.rcps),
            _fp(inputs.permission_boundary),
            _fp(inputs.session_policy),
            None if inputs.grants is None else tuple(_freeze(g.__dict__) for g in inputs.grants),
            inputs.permission_boundary_known,
            inputs.session_policy_known,
            context_keys_read(inputs),
        )
    except (PolicyError, TypeError):
        return None


def _principal_policies(inputs: PolicyInputs) -> Iterable[NamedPolicy]:
    if inputs.resource_policy is not None:
        yield inputs.resource_policy
    for lv in inputs.rcps or ():
        yield from lv.policies


def decision_key(
    request: Request, inputs: PolicyInputs, ikey: tuple[Any, ...], memo: KeyMemo | None = None
) -> tuple[Any, ...] | None:
    """The decision key of ``request`` under ``inputs`` (whose ``inputs_key`` is ``ikey``), or None.

    ``memo`` (kept by the caller for a whole run) holds the principal matches per caller, ``aws:userid``
    and the resource-side documents and grants, which many requests share; without one nothing is shared.
    """
    memo = memo if memo is not None else KeyMemo()
    caller = parse_caller(request.principal if isinstance(request.principal, str) else str(request.principal))
    ctx = normalize_context(request.context)
    uid = ctx.get("aws:userid")
    userid = uid[0] if uid else None
    mkey = (caller, userid, ikey[1], ikey[5], ikey[8])
    found = memo.matches.get(mkey)
    matches = found if found is not None else _matches(inputs, caller, userid, memo)
    if matches is None:
        return None
    if found is None:
        memo.matches[mkey] = matches
    read = ikey[-1]
    context = tuple(
        sorted(
            (k, _freeze(v))
            for k, v in (request.context or {}).items()
            if isinstance(k, str) and (k.lower() in read or k.lower().startswith(_EC_PREFIX))
        )
    )
    rest = tuple(
        _freeze(getattr(request, f.name)) for f in dataclasses.fields(request) if f.name not in ("principal", "context")
    )
    return (caller.kind, caller.account, caller.is_service, matches, rest, context, ikey)


def _matches(inputs: PolicyInputs, caller: Caller, userid: str | None, memo: KeyMemo) -> tuple[Any, ...] | None:
    """How the caller matches every Principal / NotPrincipal element and grant principal, in order."""
    matches: list[Any] = []
    try:
        for np in _principal_policies(inputs):
            for st in parse_policy(np.document).statements:
                for spec in (st.principal, st.not_principal):
                    if spec is not None:
                        matches.append(_element_match(spec.values, spec.wildcard, caller, userid, memo))
    except PolicyError:
        return None
    for g in inputs.grants or ():
        matches.append(principal_value_match("AWS", g.grantee_principal or "", caller, userid))
        if g.retiring_principal:
            matches.append(principal_value_match("AWS", g.retiring_principal, caller, userid))
    return tuple(matches)


def _element_facts(values: Any, memo: KeyMemo) -> tuple[frozenset[str], frozenset[str], bool]:
    """(every value, the role names among the AWS values, whether a value may be a unique ID or another
    non-ARN name) of a parsed Principal element, computed once per element."""
    hit = memo.elements.get(id(values))
    if hit is not None and hit[0] is values:
        return hit[1], hit[2], hit[3]
    names = frozenset(v for _, v in values)
    roles = frozenset(str(c.name) for t, v in values if t == "AWS" for c in [parse_caller(v)] if c.kind == "role")
    other = any(t == "AWS" and not v.startswith("arn:") and v != "*" and not v.isdigit() for t, v in values)
    memo.elements.put(id(values), (values, names, roles, other))
    return names, roles, other


def _element_match(values: Any, wildcard: bool, caller: Caller, userid: str | None, memo: KeyMemo) -> Any:
    """``principal_match_memo(...)[0]``, shared by the callers that no value of the element can tell apart.

    ``principal_value_match`` reads the caller's kind, account and service flag, its ARN only by equality
    with a value, its name only against the name of a role value, and ``userid`` only for unique-ID values.
    So a caller whose ARN is not a value and whose name is not a role value's gets the answer of any other
    such caller of the same kind and account (a service caller compares its name case-insensitively: not
    shared)."""
    if caller.is_service:
        return principal_match_memo(values, wildcard, caller, userid)[0]
    names, roles, other = _element_facts(values, memo)
    key = (
        id(values),
        wildcard,
        caller.kind,
        caller.account,
        caller.name if caller.name in roles else None,
        caller.arn if caller.arn in names else None,
        userid if other else None,
    )
    hit = memo.class_matches.get(key)
    if hit is not None and hit[0] is values:
        return hit[1]
    out = principal_match_memo(values, wildcard, caller, userid)[0]
    memo.class_matches.put(key, (values, out))
    return out


def _freeze(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((str(k), _freeze(v)) for k, v in value.items()))
    return value
