"""RCP_NO_ALLOW: an organization level of the key's account has no RCP allowing the action."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from diag.diagnosis.case import Case
from diag.diagnosis.model import Finding
from diag.policy.model import Layer
from diag.rules._org import org_findings
from diag.rules.base import Rule


class RcpNoAllow(Rule):
    code = "RCP_NO_ALLOW"
    title = "No resource control policy allows the action"
    description = "An organization level (root, OU or account) of the key's account has no RCP that allows the action."
    fix_template = "Allow the action in an RCP attached at that level."

    def check(self, case: Case, prior: Sequence[Finding]) -> Iterable[Finding]:
        return org_findings(self, case, Layer.RCP)
