"""UNKNOWN: not enough evidence to name a cause; says which data is missing and how to collect it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from diag import fixes
from diag.collect import commands as bundle_commands
from diag.diagnosis.case import Case
from diag.diagnosis.collect_plan import collect_plan, plan_lines
from diag.diagnosis.honesty import proven_allowed
from diag.diagnosis.model import Finding, Fix
from diag.policy.model import Decision, Layer
from diag.rules.base import Rule

_INFORMATIONAL = {"RULE_ERROR"}  # RESOLVED_SINCE is an answer: it says what changed and that the cause is not known


def gap_entry(
    what: str, account: str | None, resource: str | None, reason: str, *, region: str | None, how: str = ""
) -> dict[str, Any]:
    """One gap as JSON: what is missing, why, the commands that fill it (``how``, the collector's own
    one-liner, else ``fixes.collect_commands``) and the place they write to (``location``: gaps with the same
    location are filled by the same commands, ``diag.diagnosis.collect_plan``)."""
    step = bundle_commands.collect_step(what, account=account, region=region, resource=resource)
    target = bundle_commands.target_of(how) if how else None
    same = [c for c in step.commands if target and bundle_commands.target_of(c) == target]
    how = same[0] if same else how  # the collector's one-liner, written as the plan writes that file
    cmds = [how] if how else list(fixes.collect_commands(what, account=account, region=region, resource=resource))
    if how and what in ("scp", "rcp"):  # a path alone would read as "no such policies": their contents too
        cmds += [c for c in step.commands if c != how]
    return {
        "what": what,
        "account": account,
        "resource": resource,
        "reason": reason,
        "collect": cmds,
        "location": step.location,
    }


def gap_list(case: Case) -> list[dict[str, Any]]:
    """Every evidence gap with the commands that fill it (collector gaps first, then the engine's unknown layers)."""
    out: list[dict[str, Any]] = []
    seen = set()
    inf = case.inforce
    f = case.facts
    region = f.key_region or f.region
    for g in inf.gaps if inf else ():
        key = (g.what, g.account, g.resource)
        if key in seen:
            continue
        seen.add(key)
        out.append(gap_entry(g.what, g.account, g.resource, g.reason, region=region, how=g.how_to_collect))
    for layer in case.result.unknown if case.result else ():
        what = str(layer)
        if any(x["what"] == what for x in out):
            continue
        account = (
            f.caller_account if what in {"identity", "permission_boundary", "scp", "session_policy"} else f.key_account
        )
        resource = f.key_arn if what in {"key_policy", "grants"} else (f.bucket if what == "bucket_policy" else None)
        out.append(gap_entry(what, account, resource, "not collected", region=region))
    return out


class Unknown(Rule):
    code = "UNKNOWN"
    title = "Not enough evidence"
    description = "Not enough evidence to name the cause: the finding says which data is missing and how to collect it."
    fix_template = "Collect the missing evidence (the commands given), then run kmsdiag explain again."
    runs_last = True

    def check(self, case: Case, prior: Sequence[Finding]) -> Iterable[Finding]:
        from diag.rules._undetermined import undetermined_findings

        undetermined = undetermined_findings(self, case)
        if undetermined or any(p.code not in _INFORMATIONAL for p in prior):
            return undetermined
        gaps = gap_list(case)
        reasons = _reasons(case, gaps)
        if not gaps and not reasons:
            reasons.append("no rule could name the cause from the traces")
        summary, commands = _next_steps(case, gaps)
        return [
            self.finding(
                "evidence",
                None,
                "not enough evidence to name the cause: " + "; ".join(reasons + [_gap_phrase(g) for g in gaps]),
                {"missing": gaps, "reasons": reasons, "aws_message_claims": _aws_hint(case)},
                Fix(summary=summary, commands=tuple(commands)),
            )
        ]


def _reasons(case: Case, gaps: list[dict[str, Any]]) -> list[str]:
    """Why the cause cannot be named (appends the unknown key to ``gaps`` when the event names none)."""
    f = case.facts
    reasons = list(case.notes)
    if f.origin == "error-text" and not (f.caller_arn or f.principal_arn):
        reasons.append(
            "the message names no caller"
            + ("" if f.action else " and no operation")
            + ": ingest the CloudTrail trail that covers the failure, then `kmsdiag explain "
            + (f.request_id or "REQUEST_ID")
            + "` (the request ID the SDK printed)"
        )
    reasons.extend(_decision_reasons(case, gaps))
    if case.extra.get("later_success"):
        later = case.extra["later_success"]
        reasons.append(
            f"the key was used successfully after the failure ({later.get('event_name')} at"
            f" {later.get('event_time')}, event {later.get('event_id')}): a pending deletion or deletion in"
            " the history is contradicted"
        )
    if case.inforce is not None:
        reasons.extend(case.inforce.uncertain)
    return reasons


def _decision_reasons(case: Case, gaps: list[dict[str, Any]]) -> list[str]:
    """What the engine's decision (or its absence) says about the missing evidence."""
    f = case.facts
    if case.result is None:
        if not f.key_arn and not f.is_s3:
            account = f.key_account or f.caller_account
            gaps.append(gap_entry("key", account, f.key_id_given, "no key ARN", region=f.region))
            return ["the key is not known: the event names no key ARN and the key ID or alias could not be resolved"]
        if case.inforce is None:
            return ["no policy snapshot covers this call"]
        return []
    if proven_allowed(case.result):
        return [_allowed_yet_refused(case)]
    if case.result.decision == Decision.ALLOWED:
        seen = [str(t.layer) for t in case.result.layers if t.layer not in case.result.unknown]
        unseen = [str(u) for u in case.result.unknown]
        return [
            "the layers seen ("
            + (", ".join(dict.fromkeys(seen)) or "none")
            + ") do not refuse this call; the layers not collected ("
            + ", ".join(unseen)
            + ") decide it (and kmsdiag never sees a VPC endpoint policy)"
        ]
    return []


def _aws_hint(case: Case) -> str | None:
    """AWS's claim in the error message, as a hint (never evidence)."""
    claimed = case.claimed
    if claimed is None and case.facts.error_message:
        from diag.errortext import parse_error

        claimed = parse_error(case.facts.error_message)
    if claimed is not None and claimed.claim:
        return f"AWS's message says: {claimed.claim} (a hint only: for cross-account calls it can name the wrong layer)"
    return None


def _next_steps(case: Case, gaps: list[dict[str, Any]]) -> tuple[str, list[str]]:
    """The fix's summary and commands: collect the gaps, or say what kmsdiag cannot read."""
    commands = plan_lines(collect_plan(gaps))  # each command once, with the layers it fills
    if commands and all(c.startswith("#") for c in commands):  # nothing to run: only what can be done instead
        return "no command can collect what is missing: see the gaps for what can be done instead", commands
    if commands:
        return "collect the missing evidence, then run `kmsdiag explain` again", commands
    if proven_allowed(case.result):
        return (
            "every layer kmsdiag reads was collected and allows the call: look at what it cannot read (a VPC"
            " endpoint policy, a change between the failure and the snapshot)"
        ), commands
    acct = sorted({a for a in (case.facts.caller_account, case.facts.key_account) if a})
    return (
        "no specific gap is known: ingest the CloudTrail trail that covers the failure and collect the"
        " accounts involved, then run `kmsdiag explain` again"
    ), [
        (
            f"# collect the accounts involved ({', '.join(acct)}), then explain again"
            if acct
            else "# collect the accounts involved, then explain again"
        ),
        "kmsdiag collect",
    ]


def _gap_phrase(gap: dict[str, Any]) -> str:
    acct = f" of account {gap['account']}" if gap.get("account") else ""
    if gap.get("collect") and all(str(c).startswith("#") for c in gap["collect"]):  # e.g. an unreadable policy
        return f"{gap['what']}{acct} not known, and no command can collect it (see the gap)"
    return f"{gap['what']}{acct} not collected"


def _allowed_yet_refused(case: Case) -> str:
    """Why the policies kmsdiag has allow a refused call: name only the layers it really did not see."""
    f = case.facts
    assert case.result is not None
    evaluated = {lt.layer for lt in case.result.layers}
    unseen = [name for layer, name in ((Layer.SCP, "SCPs"), (Layer.RCP, "RCPs")) if layer not in evaluated]
    unseen.append(f"the VPC endpoint policy of {f.vpc_endpoint_id}" if f.vpc_endpoint_id else "a VPC endpoint policy")
    if f.event_id is None:  # an error text: no event, no time
        applied = case.inforce.changes_applied if case.inforce is not None else ()
        last = max(applied, key=lambda c: c.event_time) if applied else None
        newest = (
            f"; the newest change to these policies: {last.event_name} by {last.actor_arn or 'unknown'}"
            f" at {last.event_time:%Y-%m-%d %H:%M:%S} UTC"
            if last is not None
            else ""
        )
        return (
            "the policies in force now allow this call: it was probably fixed after the error (an error message"
            " carries no time), else AWS refused it in a layer kmsdiag does not see ("
            + ", ".join(unseen)
            + ")"
            + newest
        )
    return (
        "the collected policies allow this call, yet AWS refused it: a layer kmsdiag does not see ("
        + ", ".join(unseen)
        + ") or a policy change between the failure and the snapshot that left no trace"
    )
