"""CONDITION_OTHER: another condition (source IP, VPC endpoint, tags, caller account…) did not hold."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from diag.diagnosis.case import Case
from diag.diagnosis.model import Finding
from diag.rules._conditions import condition_findings
from diag.rules.base import Rule


class ConditionOther(Rule):
    code = "CONDITION_OTHER"
    title = "A condition did not hold"
    description = (
        "Another condition did not hold (named in the evidence: source IP, VPC endpoint, tags, caller account…)."
    )
    fix_template = (
        "Make the request satisfy the condition, or widen the condition to this caller (shown in the evidence)."
    )

    def check(self, case: Case, prior: Sequence[Finding]) -> Iterable[Finding]:
        from diag.rules._undetermined import inferred_source_conditions

        return [
            *condition_findings(
                self,
                case,
                "other",
                "make the request satisfy this condition, or widen the condition to include this caller",
            ),
            *inferred_source_conditions(self, case),
        ]
