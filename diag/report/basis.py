"""What each cause of the report rests on: explain's ``based_on``, stored with each diagnosis.

A cause shows the decision its newest diagnosis proves and the line ``based on: …`` that ``explain`` prints
(:mod:`diag.diagnosis.basis`). A cause is called *fixed* only when its ``RESOLVED_SINCE`` finding carries
the evidence: the engine's decision on the policies in force now was Allowed, with what it rested on
recorded. A diagnosis stored by an older kmsdiag (no basis recorded) claims nothing: the report says to run
``kmsdiag diagnose --all``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from diag.diagnosis.basis import line

_NOT_DIAGNOSED = "NOT_DIAGNOSED"
_RESOLVED_SINCE = "RESOLVED_SINCE"


@dataclass(frozen=True)
class CauseBasis:
    decision: str | None
    based_on: dict[str, Any] | None
    text: str  # "based on: …" (explain's line), or why there is none
    fixed_proven: bool  # RESOLVED_SINCE with its evidence (the policies now in force were evaluated: Allowed)


def cause_basis(decision: Any, based_on: Any, verdict: str | None, findings: list[dict[str, Any]]) -> CauseBasis:
    """The basis of one cause from its newest diagnosis (``based_on`` parsed from JSON, or None)."""
    basis = based_on if isinstance(based_on, dict) else None
    diagnosed = verdict not in (None, _NOT_DIAGNOSED)
    return CauseBasis(
        decision=str(decision) if decision else None,
        based_on=basis,
        text=line(basis, diagnosed=diagnosed),
        fixed_proven=verdict == _RESOLVED_SINCE and basis is not None and _now_allowed(findings),
    )


def _now_allowed(findings: list[dict[str, Any]]) -> bool:
    """The RESOLVED_SINCE finding says the policies now in force were evaluated and allow the call."""
    for f in findings:
        if f.get("code") == _RESOLVED_SINCE:
            evidence = f.get("evidence") or {}
            return isinstance(evidence, dict) and evidence.get("now_decision") == "Allowed"
    return False
