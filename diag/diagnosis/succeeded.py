"""The parts of a diagnosis that are not a refusal's findings: a call that succeeded (what allowed it), and
AWS's claim in the error message (a claim, never evidence)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from diag.diagnosis.honesty import SUCCEEDED, proven_decision
from diag.diagnosis.model import Diagnosis, EventFacts

if TYPE_CHECKING:
    from diag.collect.model import InForce
    from diag.errortext import ParsedError
    from diag.policy.model import EvaluationResult


def claim(facts: EventFacts, claimed: ParsedError | None) -> str | None:
    """AWS's claim in the error message (a claim, never evidence)."""
    if claimed is None and facts.error_message:
        from diag.errortext import parse_error

        claimed = parse_error(facts.error_message)
    return (claimed.claim or None) if claimed is not None else None


def layer_rows(result: EvaluationResult | None) -> list[dict[str, Any]]:
    """Each layer's trace as JSON, with the action it was evaluated for."""
    return [dict(t.to_dict(), action=result.request.action) for t in result.layers] if result is not None else []


def _allowed_by(result: EvaluationResult) -> list[dict[str, Any]]:
    """The statements and grants that allowed the call, in the deciding layers."""
    out: list[dict[str, Any]] = []
    deciding = set(result.deciding_layers)
    for trace in result.layers:
        if deciding and trace.layer not in deciding:
            continue
        for st in trace.allowing():
            out.append(
                {
                    "layer": str(trace.layer),
                    "account": trace.account,
                    "policy": st.policy_name,
                    "sid": st.sid,
                    "index": st.index,
                }
            )
        for g in trace.grants:
            if g.grantee_matched and g.operation_matched and g.constraints_matched:
                out.append({"layer": str(trace.layer), "account": trace.account, "grant_id": g.grant_id})
    return out


def success(
    facts: EventFacts,
    result: EvaluationResult | None,
    inforce: InForce | None,
    basis: dict[str, Any],
    gaps: tuple[dict[str, Any], ...] = (),
) -> Diagnosis:
    """A call that succeeded: no verdict; the statements that allowed it when every deciding layer was seen."""
    decision = proven_decision(result)
    allowed_by = _allowed_by(result) if result is not None and decision == "Allowed" else []
    return Diagnosis(
        facts=facts,
        verdict=None,
        findings=(),
        layers=tuple(layer_rows(result)),
        policies_as_of=(inforce.at or inforce.collected_at) if inforce is not None else None,
        decision=decision,
        snapshot_id=inforce.snapshot_id if inforce is not None else None,
        outcome=SUCCEEDED,
        based_on=basis,
        allowed_by=tuple(allowed_by),
        gaps=gaps if decision != "Allowed" else (),
    )
