"""Minimal evidence for a denied check, straight from the engine's traces (used until, or when, the
diagnosis rules are not available): for each layer that decided, its verdict, the statements that came
closest (fewest failed elements) with what failed and any near miss, and a statement that would allow.

This is deliberately small: the diagnosis rules (``diag.rules``) name causes; this only shows the layer.
"""

from __future__ import annotations

from typing import Any

from diag import arn as arns
from diag.policy.model import EvaluationResult, Layer, LayerResult, LayerTrace, StatementTrace


def _statement_ref(st: StatementTrace) -> dict[str, Any]:
    return {
        "layer": str(st.layer),
        "account": st.account,
        "policy": st.policy_name or None,
        "sid": st.sid,
        "index": st.index,
        "effect": st.effect,
        "failed": st.failed_elements(),
        "near_misses": [
            {"kind": n.kind, "policy_value": n.policy_value, "request_value": n.request_value, "detail": n.detail}
            for n in st.near_misses
        ],
        "conditions_failed": [
            {
                "operator": c.operator,
                "key": c.key,
                "policy_values": list(c.policy_values),
                "request_values": None if c.request_values is None else list(c.request_values),
            }
            for c in st.conditions
            if not c.matched
        ],
    }


def _closest(lt: LayerTrace) -> list[StatementTrace]:
    allows = [s for s in lt.statements if s.effect == "Allow" and not s.applies]
    if not allows:
        return []
    best = min(len(s.failed_elements()) for s in allows)
    return [s for s in allows if len(s.failed_elements()) == best][:3]


def _fix(layer: Layer, result: EvaluationResult, principal_arn: str, key_arn: str) -> dict[str, Any] | None:
    action = result.request.action
    via = result.request.context.get("kms:ViaService")
    if layer == Layer.KEY_POLICY:
        stmt: dict[str, Any] = {
            "Sid": "Allow"
            + "".join(p.capitalize() for p in (arns.name_of(principal_arn) or principal_arn).split("-"))
            + "Use",
            "Effect": "Allow",
            "Principal": {"AWS": principal_arn},
            "Action": action,
            "Resource": "*",
        }
        if isinstance(via, str):
            stmt["Condition"] = {"StringEquals": {"kms:ViaService": via}}
        return {"summary": f"add a key-policy statement allowing {principal_arn} to call {action}", "statement": stmt}
    if layer == Layer.IDENTITY:
        return {
            "summary": f"add an identity-policy statement to {principal_arn} allowing {action} on the key ARN",
            "statement": {"Effect": "Allow", "Action": action, "Resource": key_arn},
        }
    return None


def engine_evidence(result: EvaluationResult, principal_arn: str, key_arn: str) -> list[dict[str, Any]]:
    """One entry per deciding layer of a denied result: verdict, denying or closest statements, a fix."""
    out: list[dict[str, Any]] = []
    for layer in result.deciding_layers:
        for lt in result.layer(layer):
            if lt.result == LayerResult.ALLOWED:
                continue
            denying = lt.denying()
            entry: dict[str, Any] = {
                "layer": str(lt.layer),
                "account": lt.account,
                "result": str(lt.result),
                "reason": lt.reason,
                "denying_statements": [_statement_ref(s) for s in denying],
                "closest_statements": [] if denying else [_statement_ref(s) for s in _closest(lt)],
                "fix": None if denying else _fix(layer, result, principal_arn, key_arn),
            }
            out.append(entry)
    return out
