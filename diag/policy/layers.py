"""One layer's verdict: the statements of its policies evaluated together (identity, resource policy, SCP or
RCP level, permission boundary, session policy).

A layer is explicitly denied when an applying statement is a Deny, unknown when a policy cannot be read,
allowed when an Allow applies, else implicitly denied. ``LayerEvaluator`` evaluates with the full trace
(every statement's ``StatementTrace``, memoized per layer and per statement on exactly the request facets
they read) or, with ``trace=False``, the decision alone: then a layer carries the traces of its applying
statements only (what the decision and its reason cite), and nothing is memoized but compiled policies.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from diag.policy.cache import EngineCache
from diag.policy.match import PrincipalMatch
from diag.policy.model import Layer, LayerResult, LayerTrace, NamedPolicy, OrgLevel, StatementTrace
from diag.policy.parse import PolicyError, PolicyParser, policy_fingerprint
from diag.policy.statement import CompiledPolicy, CompiledStatement, RequestFacts, compile_policy

# Which allowing match counts most: a direct grant (not limited by a boundary's implicit deny in the same
# account) over a role-ARN grant (limited) over delegation to the account.
RANK = {
    PrincipalMatch.NONE: 0,
    PrincipalMatch.ACCOUNT: 1,
    PrincipalMatch.ROLE: 2,
    PrincipalMatch.UNIQUE_ID: 2,
    PrincipalMatch.WILDCARD: 3,
    PrincipalMatch.SERVICE: 3,
    PrincipalMatch.EXACT: 3,
}


@lru_cache(maxsize=1024)
def not_applicable(layer: Layer, reason: str, account: str | None = None) -> LayerTrace:
    return LayerTrace(layer, LayerResult.NOT_APPLICABLE, account, reason)


@lru_cache(maxsize=1024)
def unknown(layer: Layer, reason: str, account: str | None = None) -> LayerTrace:
    return LayerTrace(layer, LayerResult.UNKNOWN, account, reason)


class LayerEvaluator:
    """Evaluates layers for one request, with the engine's caches and parser."""

    __slots__ = ("cache", "fps", "parser", "rq", "trace")

    def __init__(
        self, rq: RequestFacts, fps: dict[int, Any], cache: EngineCache, parser: PolicyParser, trace: bool
    ) -> None:
        self.rq = rq
        self.fps = fps  # id(document) -> fingerprint, for the documents of this evaluation
        self.cache = cache
        self.parser = parser
        self.trace = trace

    def compiled(self, np: NamedPolicy) -> CompiledPolicy:
        """The compiled policy of ``np`` (raises ``PolicyError``); cached on the document's fingerprint."""
        fp = self.fps.get(id(np.document))
        if fp is None:
            fp = self.fps[id(np.document)] = policy_fingerprint(np.document)
        hit = self.cache.policies.get(fp)
        if hit is None:
            try:
                hit = compile_policy(self.parser.parse(np.document, fp))
            except PolicyError as exc:
                hit = exc
            self.cache.policies.put(fp, hit)
        if isinstance(hit, PolicyError):
            raise hit
        return hit

    def policies(
        self,
        layer: Layer,
        policies: Sequence[NamedPolicy],
        *,
        check_principal: bool,
        account: str | None,
        org_identifier: str | None = None,
        implicit_reason: str | None = None,
    ) -> tuple[LayerTrace, PrincipalMatch]:
        """Evaluate every statement of ``policies`` as one layer; also return the best allowing match kind."""
        key = self._policies_key(policies) if self.trace else None
        if key is not None:
            rq = self.rq
            principal = (rq.caller.arn, rq.userid, rq.has_boundary) if check_principal else None
            key = (
                layer,
                check_principal,
                account,
                org_identifier,
                key,
                rq.action,
                rq.resource,
                principal,
                implicit_reason,
            )
            hit = self.cache.layers.get(key)
            if hit is not None:
                return hit
        out = self._evaluate(layer, policies, check_principal, account, org_identifier, implicit_reason)
        if key is not None:
            self.cache.layers.put(key, out)
        return out

    def _policies_key(self, policies: Sequence[NamedPolicy]) -> Any:
        """The policies' part of the layer memo key: their fingerprints and provenance, and the values of
        the context keys they read (None: not memoizable)."""
        if not policies:
            return None
        ctx = self.rq.ctx
        pkeys = []
        facets: list[Any] = []
        for np in policies:
            fp = self.fps.get(id(np.document))
            if fp is None:
                return None
            compiled = self.cache.policies.get(fp)
            if compiled is None:
                try:
                    compiled = self.compiled(np)
                except PolicyError:
                    return None
            elif isinstance(compiled, PolicyError):
                return None
            pkeys.append((fp, np.name, np.kind, np.account))
            for k in compiled.parsed.context_keys:
                facets.append(ctx.get(k))
        return tuple(pkeys), tuple(facets)

    def _evaluate(
        self,
        layer: Layer,
        policies: Sequence[NamedPolicy],
        check_principal: bool,
        account: str | None,
        org_identifier: str | None,
        implicit_reason: str | None,
    ) -> tuple[LayerTrace, PrincipalMatch]:
        traces: list[StatementTrace] = []
        best = PrincipalMatch.NONE
        errors: list[str] = []
        denied = allowed = False
        count = 0
        for np in policies:
            try:
                compiled = self.compiled(np)
            except PolicyError as exc:
                errors.append(f"{np.name or np.kind or 'policy'}: {exc}")
                continue
            for cs in compiled.statements:
                count += 1
                if self.trace:
                    t, kind = self._statement_trace(cs, np, layer, check_principal)
                    traces.append(t)
                    applies = t.applies
                else:
                    applies, kind = cs.applies(self.rq, check_principal)
                    if applies:
                        traces.append(cs.trace(np, layer, self.rq, check_principal)[0])
                if applies:
                    if cs.effect == "Deny":
                        denied = True
                    else:
                        allowed = True
                        if RANK[kind] > RANK[best]:
                            best = kind
        if denied:
            result, reason = LayerResult.EXPLICITLY_DENIED, "a Deny statement applies"
        elif errors:
            result, reason = LayerResult.UNKNOWN, "could not read the policy: " + "; ".join(errors)
        elif allowed:
            result, reason = LayerResult.ALLOWED, "an Allow statement applies"
        else:
            result = LayerResult.IMPLICITLY_DENIED
            reason = implicit_reason or (
                "no statement allows this request" if count else "the policy has no statements"
            )
        return LayerTrace(layer, result, account, reason, tuple(traces), (), org_identifier), best

    def _statement_trace(
        self, cs: CompiledStatement, np: NamedPolicy, layer: Layer, check_principal: bool
    ) -> tuple[StatementTrace, PrincipalMatch]:
        """``cs.trace`` memoized on everything it depends on: the compiled statement (held by the key), the
        policy's provenance, action, resource, the caller for Principal elements, and the values of the
        context keys the statement reads."""
        rq = self.rq
        ctx = rq.ctx
        key = (
            cs,
            layer,
            np.name,
            np.kind,
            np.account,
            rq.action,
            rq.resource,
            (rq.caller.arn, rq.userid, rq.has_boundary) if check_principal else None,
            tuple([ctx.get(k) for k in cs.context_keys]) if cs.context_keys else None,
        )
        hit = self.cache.statements.get(key)
        if hit is not None:
            return hit
        return self.cache.statements.put(key, cs.trace(np, layer, rq, check_principal))

    def optional(self, layer: Layer, np: NamedPolicy | None, known: bool, account: str | None, name: str) -> LayerTrace:
        """The permission boundary or the session policy: unknown, absent, or evaluated."""
        if np is None:
            return (
                unknown(layer, f"the {name} was not collected", account)
                if not known
                else not_applicable(layer, f"no {name}", account)
            )
        lt, _ = self.policies(
            layer,
            [np],
            check_principal=False,
            account=account,
            implicit_reason=f"the {name} does not allow this action",
        )
        return lt

    def org_levels(
        self, layer: Layer, levels: tuple[OrgLevel, ...] | None, account: str | None, name: str
    ) -> list[LayerTrace]:
        """SCPs or RCPs: one trace per organization level (each level must allow)."""
        rq = self.rq
        if rq.caller.is_service:
            return [not_applicable(layer, f"{name}s do not apply to AWS service principals", account)]
        if levels is None:
            return [unknown(layer, f"{name}s were not collected", account)]
        if not levels:
            return [
                not_applicable(
                    layer, f"no {name}s apply (not in an organization, or none collected as attached)", account
                )
            ]
        out: list[LayerTrace] = []
        for lv in levels:
            lt, _ = self.policies(
                layer,
                lv.policies,
                check_principal=layer == Layer.RCP,
                account=account,
                org_identifier=lv.org_identifier,
                implicit_reason=f"no {name} at {lv.org_identifier} allows {rq.action}",
            )
            out.append(lt)
        return out
