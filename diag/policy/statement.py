"""Compiled statements: every element's matcher built once per parsed statement, and the statement's trace.

A ``CompiledStatement`` wraps a parsed ``StatementSpec`` with what the engine asks of it for every request:

- ``applies(rq, check_principal)``: does the statement apply, and how did the caller match its Principal
  (the decision alone, no trace objects);
- ``trace(np, layer, rq, check_principal)``: the same answer with the full ``StatementTrace`` (element
  traces, condition traces, near misses).

Both read the same element outcomes (``_action``, ``_resource``, ``_principal``, the compiled conditions'
``outcome``), so the decision and the trace cannot disagree. Outcomes that depend on one request facet only
are memoized on the statement itself: the Action outcome per action, the Resource outcome per resource
(when no policy variable is involved); the Principal element is indexed once (``match.PrincipalIndex``:
dictionary lookups on the caller's ARN, account and role instead of a scan of the values), and so are its
values for near misses (``near.PrincipalNearMisses``). Memos are bounded (cleared when full).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from diag.policy.conditions import CompiledCondition
from diag.policy.match import Caller, PrincipalIndex, PrincipalMatch
from diag.policy.model import Layer, MatchTrace, NamedPolicy, NearMiss, StatementTrace
from diag.policy.near import PrincipalNearMisses, action_near_misses, resource_near_misses
from diag.policy.parse import ParsedPolicy, StatementSpec
from diag.policy.wildcard import action_matches, resource_matches

_MEMO_MAX = 4096
_MISSING: Any = object()


@dataclass(slots=True)  # not frozen: built once per evaluation, and a frozen __init__ costs more
class RequestFacts:
    """The request, pre-digested once per evaluation."""

    request: Any  # diag.policy.model.Request
    action: str
    resource: str
    caller: Caller
    userid: str | None
    ctx: Mapping[str, tuple[str, ...]]
    has_boundary: bool


class CompiledStatement:
    """One parsed statement with its element matchers and per-facet memos (see the module docstring)."""

    __slots__ = (
        "_action_memo",
        "_near_principal",
        "_principal_index",
        "_resource_memo",
        "action_patterns",
        "conditions",
        "context_keys",
        "effect",
        "not_action",
        "not_principal",
        "principal_flat",
        "principal_spec",
        "resource_element",
        "resource_patterns",
        "resource_vars",
        "spec",
    )

    def __init__(self, spec: StatementSpec) -> None:
        self.spec = spec
        self.effect = spec.effect
        self.context_keys = spec.context_keys
        self.conditions = tuple(CompiledCondition(c) for c in spec.conditions)
        self.not_action = spec.actions is None
        self.action_patterns: tuple[str, ...] = spec.actions if spec.actions is not None else (spec.not_actions or ())
        if spec.resources is not None:
            self.resource_element: str | None = "Resource"
            self.resource_patterns: tuple[str, ...] = spec.resources
        elif spec.not_resources is not None:
            self.resource_element = "NotResource"
            self.resource_patterns = spec.not_resources
        else:
            self.resource_element = None
            self.resource_patterns = ()
        self.resource_vars = any("${" in p for p in self.resource_patterns)
        pspec = spec.principal if spec.principal is not None else spec.not_principal
        self.principal_spec = pspec
        self.not_principal = spec.principal is None and spec.not_principal is not None
        self.principal_flat: tuple[str, ...] = pspec.flat() if pspec is not None else ()
        self._action_memo: dict[str, tuple[MatchTrace, bool]] = {}
        self._resource_memo: dict[str, tuple[MatchTrace, bool]] = {}
        self._principal_index: PrincipalIndex | None = None
        self._near_principal: PrincipalNearMisses | None = None

    # ------------------------------------------------------------------------------------------ elements

    def _action(self, action: str) -> tuple[MatchTrace, bool]:
        hit = self._action_memo.get(action)
        if hit is not None:
            return hit
        patterns = self.action_patterns
        first = next((p for p in patterns if action_matches(p, action)), None)
        if not self.not_action:
            mt = MatchTrace(
                "Action", first is not None, patterns, action, first, "" if first else "no Action value matches"
            )
        else:
            mt = MatchTrace(
                "NotAction",
                first is None,
                patterns,
                action,
                None,
                f"the action is excluded by NotAction {first}" if first else "not in NotAction",
            )
        return _remember(self._action_memo, action, (mt, mt.matched))

    def _resource(self, resource: str, ctx: Mapping[str, tuple[str, ...]]) -> tuple[MatchTrace, bool]:
        if not self.resource_vars:
            hit = self._resource_memo.get(resource)
            if hit is not None:
                return hit
        element = self.resource_element
        if element is None:
            mt = MatchTrace("Resource", True, (), resource, None, "no Resource element (the policy's own resource)")
        else:
            patterns = self.resource_patterns
            first = next((p for p in patterns if resource_matches(p, resource, ctx)), None)
            if element == "Resource":
                mt = MatchTrace(
                    "Resource",
                    first is not None,
                    patterns,
                    resource,
                    first,
                    "" if first else "no Resource value matches",
                )
            else:
                mt = MatchTrace(
                    "NotResource",
                    first is None,
                    patterns,
                    resource,
                    None,
                    f"the resource is excluded by NotResource {first}" if first else "not in NotResource",
                )
        if self.resource_vars:
            return mt, mt.matched
        return _remember(self._resource_memo, resource, (mt, mt.matched))

    def _principal_match(self, caller: Caller, userid: str | None) -> tuple[PrincipalMatch, str | None]:
        """``principal_match`` of the element, by lookups in its ``PrincipalIndex`` (built on first use)."""
        index = self._principal_index
        if index is None:
            spec = self.principal_spec
            assert spec is not None
            index = self._principal_index = PrincipalIndex(spec.values, spec.wildcard)
        return index.match(caller, userid)

    def _principal(self, rq: RequestFacts) -> tuple[bool, PrincipalMatch, str | None, str]:
        """(matched, kind counted for the decision, matched value, reason) of Principal / NotPrincipal."""
        if self.principal_spec is None:
            return False, PrincipalMatch.NONE, None, "statement has no Principal: it applies to no one"
        kind, val = self._principal_match(rq.caller, rq.userid)
        if not self.not_principal:
            matched = kind != PrincipalMatch.NONE
            return matched, kind, val, f"matched as {kind.value}" if matched else "the caller is not named"
        if kind != PrincipalMatch.NONE and self.effect == "Deny" and rq.has_boundary:
            reason = "listed in NotPrincipal, but a Deny with NotPrincipal always applies to a principal with a permission boundary"
            kind = PrincipalMatch.NONE
        else:
            reason = (
                f"excluded by NotPrincipal {val}" if kind != PrincipalMatch.NONE else "not excluded by NotPrincipal"
            )
        ok = kind == PrincipalMatch.NONE
        return ok, PrincipalMatch.WILDCARD if ok else PrincipalMatch.NONE, None, reason

    # ------------------------------------------------------------------------------------------ answers

    def applies(self, rq: RequestFacts, check_principal: bool) -> tuple[bool, PrincipalMatch]:
        """Whether the statement applies, and the principal kind it counts as (``NONE`` when it does not)."""
        if not self._action(rq.action)[1] or not self._resource(rq.resource, rq.ctx)[1]:
            return False, PrincipalMatch.NONE
        kind = PrincipalMatch.WILDCARD
        if check_principal:
            ok, kind, _, _ = self._principal(rq)
            if not ok:
                return False, PrincipalMatch.NONE
        ctx, effect = rq.ctx, self.effect
        for cc in self.conditions:
            if not cc.outcome(ctx, effect)[0]:
                return False, PrincipalMatch.NONE
        return True, kind

    def trace(
        self, np: NamedPolicy, layer: Layer, rq: RequestFacts, check_principal: bool
    ) -> tuple[StatementTrace, PrincipalMatch]:
        """The statement's full trace and the principal kind it counts as (``NONE`` when it does not apply)."""
        spec = self.spec
        a_trace, a_ok = self._action(rq.action)
        r_trace, r_ok = self._resource(rq.resource, rq.ctx)
        p_trace: MatchTrace | None = None
        kind = PrincipalMatch.WILDCARD
        p_ok = True
        if check_principal:
            p_ok, kind, val, reason = self._principal(rq)
            p_trace = MatchTrace(
                "NotPrincipal" if self.not_principal else "Principal",
                p_ok,
                self.principal_flat,
                rq.caller.arn,
                val,
                reason,
                match_kind=kind.value if p_ok else "",
            )
        c_traces = tuple(cc.trace(rq.ctx, self.effect) for cc in self.conditions)
        applies = a_ok and r_ok and p_ok and all(t.matched for t in c_traces)
        near: tuple[NearMiss, ...] = ()
        if not applies:
            near = self._near_misses(rq, a_ok, r_ok, p_trace)
        trace = StatementTrace(
            layer=layer,
            index=spec.index,
            effect=spec.effect,
            applies=applies,
            sid=spec.sid,
            policy_name=np.name,
            policy_kind=np.kind,
            account=np.account,
            action=a_trace,
            resource=r_trace,
            principal=p_trace,
            conditions=c_traces,
            near_misses=near,
            statement=spec.raw,
        )
        return trace, (kind if applies else PrincipalMatch.NONE)

    def _near_misses(
        self, rq: RequestFacts, a_ok: bool, r_ok: bool, p_trace: MatchTrace | None
    ) -> tuple[NearMiss, ...]:
        spec = self.spec
        near: list[NearMiss] = []
        p_ok = p_trace is None or p_trace.matched
        if a_ok:
            if not p_ok and spec.principal is not None:
                if self._near_principal is None:
                    self._near_principal = PrincipalNearMisses(spec.principal.values)
                near.extend(self._near_principal.find(rq.caller))
            if not r_ok and spec.resources is not None:
                near.extend(resource_near_misses(spec.resources, rq.resource))
        elif spec.actions is not None and r_ok and p_ok:
            near.extend(action_near_misses(spec.actions, rq.action))
        return tuple(near)


def _remember(memo: dict[Any, Any], key: Any, value: Any) -> Any:
    if len(memo) >= _MEMO_MAX:
        memo.clear()
    memo[key] = value
    return value


@dataclass(frozen=True, slots=True)
class CompiledPolicy:
    """A parsed policy with its statements compiled."""

    parsed: ParsedPolicy
    statements: tuple[CompiledStatement, ...]


def compile_policy(parsed: ParsedPolicy) -> CompiledPolicy:
    return CompiledPolicy(parsed, tuple(CompiledStatement(st) for st in parsed.statements))
