"""One-line labels of a fix's proof and blast radius, for terminals and Markdown (plain text: callers
escape it for their medium)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from diag.diagnosis.model import Finding


def _resolve(ref: str, findings: Sequence[Finding]) -> str:
    """``findings[1].fix`` → the code of that finding and the layer it edits."""
    try:
        i = int(ref.split("[", 1)[1].split("]", 1)[0])
    except (IndexError, ValueError):
        return ref
    if 0 <= i < len(findings):
        return f"the {findings[i].code} fix ({findings[i].layer})"
    return ref


def proof_label(proof: dict[str, Any] | None, findings: Sequence[Finding] = ()) -> str | None:
    """``proven``, ``needs also the X fix``, ``unprovable: why``; None when there is no proof."""
    if not proof:
        return None
    status = proof.get("status")
    if status == "proven":
        return "proven: " + str(proof.get("why") or "the engine allows the call with this fix")
    if status == "needs_other_fixes":
        others = [_resolve(r, findings) for r in proof.get("with") or []]
        if others:
            return "not enough alone: needs also " + " AND ".join(others) + " (that set is proven)"
        return "not enough alone: " + str(proof.get("why") or "another layer still refuses")
    return "unprovable: " + str(proof.get("why") or "")


def blast_label(radius: dict[str, Any] | None) -> str | None:
    if not radius:
        return None
    if "error" in radius:
        return f"blast radius not computed: {radius['error']}"
    return "blast radius: " + str(radius.get("summary") or "")
