"""Shared logic of SCP_NO_ALLOW and RCP_NO_ALLOW: one organization level with no Allow for the action."""

from __future__ import annotations

from typing import TYPE_CHECKING

from diag import fixes
from diag.diagnosis.case import Case
from diag.diagnosis.model import Finding, Fix
from diag.policy.model import Layer, LayerResult
from diag.rules._helpers import org_target, the_action
from diag.shell import q

if TYPE_CHECKING:
    from diag.rules.base import Rule


def org_findings(rule: Rule, case: Case, layer: Layer) -> list[Finding]:
    kind = "service control" if layer == Layer.SCP else "resource control"
    ptype = "SERVICE_CONTROL_POLICY" if layer == Layer.SCP else "RESOURCE_CONTROL_POLICY"
    action = the_action(case)
    out = []
    for t in case.traces(layer):
        if t.result != LayerResult.IMPLICITLY_DENIED:
            continue
        target = org_target(t.org_identifier, t.account)
        names = sorted({s.policy_name for s in t.statements if s.policy_name})
        statement = {
            "Sid": fixes.sid_for("Allow", action.split(":")[-1]),
            "Effect": "Allow",
            "Action": action,
            "Resource": "*",
        }
        if layer == Layer.RCP:
            statement = {**statement, "Principal": "*"}  # AWS requires Principal "*" in an RCP statement
        out.append(
            rule.finding(
                str(layer),
                t.account,
                f"no {kind} policy attached at {t.org_identifier or target} allows {action}"
                f" (policies there: {', '.join(names) or 'none'}); every level from the root to the account must allow",
                {"org_identifier": t.org_identifier, "policies": names, "reason": t.reason},
                Fix(
                    summary=_fix_summary(kind, target, names, layer),
                    policy=statement,
                    commands=(
                        "# with credentials of the organization's management account",
                        f"aws organizations list-policies-for-target --target-id {q(target)} --filter {q(ptype)}",
                        "aws organizations describe-policy --policy-id POLICY_ID --query Policy.Content --output text > org-policy.json",
                        "# add the statement to org-policy.json, then:",
                        "aws organizations update-policy --policy-id POLICY_ID --content file://org-policy.json",
                    ),
                    target=f"{kind} policies at {target}",
                ),
            )
        )
    return out


_FULL_ACCESS = {"FullAWSAccess", "RCPFullAWSAccess"}


def _fix_summary(kind: str, target: str, names: list[str], layer: Layer) -> str:
    """Where the Allow goes. A level whose SCPs do not include the AWS-managed FullAWSAccess uses an
    allow-list strategy: the action belongs in its allow-list policy; attaching full access there would undo
    the strategy and allow every action. Nobody can detach RCPFullAWSAccess, so an RCP level without it
    means the RCPs were not fully collected."""
    allow_list = [n for n in names if n not in _FULL_ACCESS]
    if layer == Layer.RCP:
        return (
            f"add this statement to a customer-managed {kind} policy attached at {target} (AWS attaches"
            " RCPFullAWSAccess to every level and nobody can edit or detach it: if it is missing here, the RCPs"
            " were not fully collected)"
        )
    if allow_list and not _FULL_ACCESS & set(names):
        listed = ", ".join(allow_list)
        return (
            f"add this statement (the action) to the allow-list {kind} policy attached at {target} ({listed});"
            " that level uses an allow-list strategy, so do not attach a full-access policy there"
        )
    return f"add this statement to a customer-managed {kind} policy attached at {target}"
