"""RESOLVED_SINCE: the policies now in force allow the call: it was fixed after the failure."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from diag.diagnosis.case import Case
from diag.diagnosis.model import Finding, Fix
from diag.policy.model import Decision
from diag.rules.base import Rule


class ResolvedSince(Rule):
    code = "RESOLVED_SINCE"
    title = "Fixed since the failure"
    description = "The policies now in force allow the call: it was fixed after the failure (when and by whom, if the history knows)."
    fix_template = "Nothing to change: retry the call."

    def check(self, case: Case, prior: Sequence[Finding]) -> Iterable[Finding]:
        if case.now_result is None or case.now_result.decision != Decision.ALLOWED:
            return []
        if case.facts.error_code == "NotFoundException" or case.now_result.undetermined:
            return []  # no policy refused a key that was not there; an undetermined decision is not an allow
        now = case.now_inforce
        if now is not None and now.key is not None and now.key.key_state not in (None, "Enabled"):
            return []
        changes = list(case.inforce.later_changes) if case.inforce else []
        ev_time = case.facts.event_time
        if ev_time is not None:
            changes = [c for c in changes if c.event_time >= ev_time]
        if case.result is None:
            return []
        cause_known = case.result.decision != Decision.ALLOWED
        if not cause_known and not changes:
            return []  # allowed then and now, nothing changed in between: that is UNKNOWN's case, not a fix
        last = changes[-1] if changes else None
        when = (
            f" by {last.actor_arn or 'unknown'} at {last.event_time:%Y-%m-%d %H:%M:%S} UTC ({last.event_name})"
            if last
            else ""
        )
        unknown_then = (
            ""
            if cause_known
            else "; the policies in force at the failure were not collected (they changed since),"
            " so the original cause cannot be shown"
        )
        as_of = (now.collected_at or now.at) if now else None
        basis = ""
        if as_of is not None:
            more = f" plus {len(changes)} later change(s) from CloudTrail" if changes else ""
            basis = f" (the snapshot of {as_of:%Y-%m-%d %H:%M} UTC{more})"
        return [
            self.finding(
                "history",
                case.facts.key_account,
                f"the policies in force now{basis} allow this call: it was fixed after the failure{when}{unknown_then}",
                {
                    "now_decision": str(case.now_result.decision),
                    "cause_known": cause_known,
                    "policies_as_of": as_of,
                    "changes_since": [
                        {
                            "event_id": c.event_id,
                            "event_time": c.event_time,
                            "event_name": c.event_name,
                            "actor": c.actor_arn,
                            "invoked_by": c.invoked_by,
                            "resource": c.resource_arn,
                            "summary": c.summary,
                        }
                        for c in changes
                    ],
                },
                Fix(summary="nothing to change: the call is allowed now; retry it"),
            )
        ]
