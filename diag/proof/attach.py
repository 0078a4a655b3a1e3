"""Each finding's fix proven by the engine (``diag.proof.prove``) and, when the caller passes a blast-radius
function, the access the fix adds beyond the failing call."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from diag.diagnosis.model import Finding
from diag.policy.model import EvaluationResult, PolicyInputs, Request
from diag.proof.change import Change
from diag.proof.fixmap import _NOT_POLICY, changes_for
from diag.proof.prove import prove

BlastFn = Callable[[list[Change]], "dict[str, Any] | None"]


def attach_proofs(
    findings: Sequence[Finding],
    request: Request,
    inputs: PolicyInputs,
    evaluate: Callable[[Request, PolicyInputs], EvaluationResult],
    *,
    principal_arn: str | None = None,
    now_result: EvaluationResult | None = None,
    blast: BlastFn | None = None,
) -> list[Finding]:
    """The findings with ``fix.proof`` (and ``fix.blast_radius`` when ``blast`` is given) filled in."""
    proofs = prove(findings, request, inputs, evaluate, principal_arn=principal_arn, now_result=now_result)
    out = []
    for f, proof in zip(findings, proofs, strict=True):
        if f.fix is None or proof is None:
            out.append(f)
            continue
        radius = None
        if blast is not None:
            chs = changes_for(f, request)
            if not isinstance(chs, str):
                try:
                    radius = blast(chs)
                except Exception as exc:  # the proof stands without it; say why the radius is missing
                    radius = {"error": f"{type(exc).__name__}: {exc}"}
        out.append(dataclasses.replace(f, fix=dataclasses.replace(f.fix, proof=proof, blast_radius=radius)))
    return out


def unevaluated(findings: Sequence[Finding]) -> list[Finding]:
    """The findings with an ``unprovable`` proof on each fix: the call itself could not be evaluated (no
    key or principal resolved, no policies in force)."""
    out = []
    for f in findings:
        if f.fix is None:
            out.append(f)
            continue
        why = _NOT_POLICY.get(f.code) or "kmsdiag could not evaluate the call itself (no policies in force for it)"
        proof = {"status": "unprovable", "with": [], "deciding_after": [], "why": why}
        out.append(dataclasses.replace(f, fix=dataclasses.replace(f.fix, proof=proof)))
    return out
