"""CONDITION_VIA_SERVICE: a ``kms:ViaService`` condition did not hold (direct call, or another service)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from diag.diagnosis.case import Case
from diag.diagnosis.model import Finding
from diag.rules._conditions import condition_findings
from diag.rules.base import Rule


class ConditionViaService(Rule):
    code = "CONDITION_VIA_SERVICE"
    title = "A kms:ViaService condition did not hold"
    description = "A `kms:ViaService` condition did not hold: the call was direct, or came through another service."
    fix_template = "Call through the service the condition names, or add the calling service to the condition's values."

    def check(self, case: Case, prior: Sequence[Finding]) -> Iterable[Finding]:
        via = case.facts.via_service
        advice = (
            f"the call came through {via}: add it to the kms:ViaService values of this statement (shown as it is now)"
            if via
            else "the call was made directly, not through the service the condition names: make it through that"
            " service (e.g. S3 with SSE-KMS), or add a separate statement without the condition if direct use is intended"
        )
        return condition_findings(self, case, "via_service", advice)
