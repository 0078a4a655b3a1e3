"""SCP_NO_ALLOW: an organization level (root, OU, account) has no SCP allowing the action."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from diag.diagnosis.case import Case
from diag.diagnosis.model import Finding
from diag.policy.model import Layer
from diag.rules._org import org_findings
from diag.rules.base import Rule


class ScpNoAllow(Rule):
    code = "SCP_NO_ALLOW"
    title = "No service control policy allows the action"
    description = (
        "An organization level (root, OU or account) of the caller's account has no SCP that allows the action."
    )
    fix_template = "Allow the action in an SCP attached at that level."

    def check(self, case: Case, prior: Sequence[Finding]) -> Iterable[Finding]:
        return org_findings(self, case, Layer.SCP)
