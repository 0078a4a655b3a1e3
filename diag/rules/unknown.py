"""UNKNOWN: not enough evidence to name a cause; says which data is missing and how to collect it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from diag import fixes
from diag.diagnosis.case import Case
from diag.diagnosis.model import Finding, Fix
from diag.policy.model import Decision, Layer
from diag.rules.base import Rule

_INFORMATIONAL = {"RULE_ERROR"}  # RESOLVED_SINCE is an answer: it says what changed and that the cause is not known


def gap_list(case: Case) -> list[dict[str, Any]]:
    """Every evidence gap with the commands that fill it (collector gaps first, then the engine's unknown layers)."""
    out: list[dict[str, Any]] = []
    seen = set()
    inf = case.inforce
    f = case.facts
    for g in inf.gaps if inf else ():
        key = (g.what, g.account, g.resource)
        if key in seen:
            continue
        seen.add(key)
        cmds = (
            [g.how_to_collect]
            if g.how_to_collect
            else list(
                fixes.collect_commands(g.what, account=g.account, region=f.key_region or f.region, resource=g.resource)
            )
        )
        out.append({"what": g.what, "account": g.account, "resource": g.resource, "reason": g.reason, "collect": cmds})
    for layer in case.result.unknown if case.result else ():
        what = str(layer)
        if any(x["what"] == what for x in out):
            continue
        account = (
            f.caller_account if what in {"identity", "permission_boundary", "scp", "session_policy"} else f.key_account
        )
        resource = f.key_arn if what in {"key_policy", "grants"} else (f.bucket if what == "bucket_policy" else None)
        out.append(
            {
                "what": what,
                "account": account,
                "resource": resource,
                "reason": "not collected",
                "collect": list(
                    fixes.collect_commands(what, account=account, region=f.key_region or f.region, resource=resource)
                ),
            }
        )
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
        f = case.facts
        gaps = gap_list(case)
        reasons = list(case.notes)
        if case.result is None:
            if not f.key_arn and not f.is_s3:
                reasons.append(
                    "the key is not known: the event names no key ARN and the key ID or alias could not be resolved"
                )
                gaps.append(
                    {
                        "what": "key",
                        "account": f.key_account or f.caller_account,
                        "resource": f.key_id_given,
                        "reason": "no key ARN",
                        "collect": list(
                            fixes.collect_commands(
                                "key",
                                account=f.key_account or f.caller_account,
                                region=f.region,
                                resource=f.key_id_given,
                            )
                        ),
                    }
                )
            elif case.inforce is None:
                reasons.append("no policy snapshot covers this call")
        elif case.result.decision == Decision.ALLOWED:
            reasons.append(_allowed_yet_refused(case))
        if case.inforce is not None:
            reasons.extend(case.inforce.uncertain)
        if not gaps and not reasons:
            reasons.append("no rule could name the cause from the traces")
        claimed = case.claimed
        if claimed is None and f.error_message:
            from diag.errortext import parse_error

            claimed = parse_error(f.error_message)
        hint = None
        if claimed is not None and claimed.claim:
            hint = f"AWS's message says: {claimed.claim} (a hint only: for cross-account calls it can name the wrong layer)"
        commands = [c for g in gaps for c in g["collect"]]
        if not commands:
            acct = {f.caller_account, f.key_account} - {None}
            commands = [
                f"# collect both accounts ({', '.join(sorted(a for a in acct if a))}), then explain again",
                "kmsdiag collect",
            ]
        return [
            self.finding(
                "evidence",
                None,
                "not enough evidence to name the cause: "
                + "; ".join(reasons + [f"{g['what']} of account {g['account']} not collected" for g in gaps]),
                {"missing": gaps, "reasons": reasons, "aws_message_claims": hint},
                Fix(
                    summary="collect the missing evidence, then run `kmsdiag explain` again",
                    commands=tuple(dict.fromkeys(commands)),
                ),
            )
        ]


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
