"""Proven fixes: every proposed fix applied to a copy of the policies in force, the failing request
evaluated again by the engine.

``prove(findings, request, inputs, evaluate)`` returns one proof per finding (None for a finding without
a fix): ``proven`` when the fix alone makes the engine allow the request with every deciding layer
collected; ``needs_other_fixes`` when it does not, with the smallest set of the other proposed fixes that
together make it pass (``with``; empty when no combination of proposed fixes passes); ``unprovable`` when
the fix is not a policy change, or when the answer rests on a layer that was not collected (named, with
the commands that collect it).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

from diag import arn as arns
from diag.diagnosis.model import Finding
from diag.policy.model import Decision, EvaluationResult, Layer, PolicyInputs, Request
from diag.proof.change import Change, apply
from diag.proof.fixmap import changes_for

Evaluate = Callable[[Request, PolicyInputs], EvaluationResult]
MAX_SET = 4  # the largest set of fixes searched together


def fix_ref(i: int) -> str:
    return f"findings[{i}].fix"


def deciding_after(result: EvaluationResult) -> list[dict[str, Any]]:
    """The statements (and grants) of the deciding layers that allow the request."""
    out: list[dict[str, Any]] = []
    deciding = set(result.deciding_layers)
    for lt in result.layers:
        if deciding and lt.layer not in deciding:
            continue
        for s in lt.allowing():
            out.append(
                {"layer": str(lt.layer), "account": s.account, "policy": s.policy_name, "sid": s.sid, "index": s.index}
            )
        for g in lt.grants:
            if g.applies:
                out.append({"layer": str(lt.layer), "grant_id": g.grant_id})
    return out


def _refusing(result: EvaluationResult) -> str:
    layers = [str(x) for x in result.deciding_layers] or [
        str(lt.layer) for lt in result.layers if str(lt.result) in ("ImplicitlyDenied", "ExplicitlyDenied")
    ]
    return ", ".join(dict.fromkeys(layers)) or "a layer"


def _unknown(result: EvaluationResult, request: Request) -> dict[str, Any]:
    from diag import fixes

    names = [str(u) for u in result.unknown]
    account = request.resource_account if result.unknown[0] in (Layer.KEY_POLICY, Layer.GRANTS, Layer.RCP) else None
    account = account or str(request.context.get("aws:PrincipalAccount") or "") or None
    region = arns.region_of(request.resource)
    what = {
        "identity": "identity",
        "permission_boundary": "permission_boundary",
        "scp": "scp",
        "rcp": "rcp",
        "session_policy": "session_policy",
    }.get(names[0], "key_policy")
    how = list(fixes.collect_commands(what, account=account, region=region or None, resource=request.resource))
    return {
        "status": "unprovable",
        "with": [],
        "deciding_after": [],
        "why": f"the engine would allow it only if the uncollected layer(s) {', '.join(names)} allow: collect them and explain again",
        "unknown_layers": names,
        "collect": how,
    }


class _Prover:
    def __init__(self, request: Request, inputs: PolicyInputs, evaluate: Evaluate, principal_arn: str | None) -> None:
        self.request, self.inputs, self._evaluate, self.principal_arn = request, inputs, evaluate, principal_arn
        self.memo: dict[tuple[int, ...], EvaluationResult] = {}

    def run(self, idx: tuple[int, ...], changes: dict[int, list[Change]]) -> EvaluationResult:
        if idx not in self.memo:
            chs = [c for i in idx for c in changes[i]]
            self.memo[idx] = self._evaluate(self.request, apply(self.inputs, chs, self.request, self.principal_arn))
        return self.memo[idx]


def _passes(res: EvaluationResult) -> bool:
    return res.decision == Decision.ALLOWED and not res.unknown


def prove(
    findings: Sequence[Finding],
    request: Request,
    inputs: PolicyInputs,
    evaluate: Evaluate,
    *,
    principal_arn: str | None = None,
    now_result: EvaluationResult | None = None,
) -> list[dict[str, Any] | None]:
    """One proof per finding (None where the finding has no fix)."""
    changes: dict[int, list[Change]] = {}
    reasons: dict[int, str] = {}
    for i, f in enumerate(findings):
        if f.fix is None:
            continue
        got = changes_for(f, request)
        if isinstance(got, str):
            reasons[i] = got
        else:
            changes[i] = got
    prover = _Prover(request, inputs, evaluate, principal_arn)
    out: list[dict[str, Any] | None] = []
    for i, f in enumerate(findings):
        if f.fix is None:
            out.append(None)
        elif f.code == "RESOLVED_SINCE" and now_result is not None:
            ok = _passes(now_result)
            out.append(
                {
                    "status": "proven" if ok else "unprovable",
                    "with": [],
                    "deciding_after": deciding_after(now_result) if ok else [],
                    "why": "the policies in force now allow the call" if ok else "the latest policies do not settle it",
                }
            )
        elif i in reasons:
            out.append({"status": "unprovable", "with": [], "deciding_after": [], "why": reasons[i]})
        else:
            out.append(_prove_one(i, prover, changes))
    return out


def _prove_one(i: int, prover: _Prover, changes: dict[int, list[Change]]) -> dict[str, Any]:
    alone = prover.run((i,), changes)
    if _passes(alone):
        return {
            "status": "proven",
            "with": [],
            "deciding_after": deciding_after(alone),
            "why": "with this fix alone the engine allows the call",
        }
    if alone.decision == Decision.ALLOWED and alone.unknown:
        return _unknown(alone, prover.request)
    others = [j for j in changes if j != i]
    for size in range(1, min(len(others), MAX_SET - 1) + 1):
        for combo in itertools.combinations(others, size):
            res = prover.run(tuple(sorted((i, *combo))), changes)
            if _passes(res):
                return {
                    "status": "needs_other_fixes",
                    "with": [fix_ref(j) for j in combo],
                    "deciding_after": deciding_after(res),
                    "why": f"alone, {_refusing(alone)} still refuses; together with the other fix(es) the engine allows the call",
                }
            if res.decision == Decision.ALLOWED and res.unknown:
                return _unknown(res, prover.request)
    return {
        "status": "needs_other_fixes",
        "with": [],
        "deciding_after": [],
        "why": f"alone, {_refusing(alone)} still refuses, and no combination of the proposed fixes makes the call pass",
    }
