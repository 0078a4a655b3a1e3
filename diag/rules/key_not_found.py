"""KEY_NOT_FOUND: the key (or alias) does not exist where the call looked for it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from diag import fixes
from diag.diagnosis.case import Case
from diag.diagnosis.model import Finding, Fix
from diag.rules.base import Rule
from diag.shell import q


class KeyNotFound(Rule):
    code = "KEY_NOT_FOUND"
    title = "The key does not exist"
    description = (
        "The key or alias does not exist in the account and region of the call (`NotFoundException`): deleted, a"
        " wrong ID, or an alias of another account (aliases never resolve across accounts)."
    )
    fix_template = "Use the key ARN of an existing key (full ARN for another account's key)."
    supersedes = ("KEY_PENDING_DELETION", "KEY_DISABLED")

    def check(self, case: Case, prior: Sequence[Finding]) -> Iterable[Finding]:
        f = case.facts
        key = case.inforce.key if case.inforce else None
        if f.error_code != "NotFoundException" and not (key is not None and key.key_state == "Deleted"):
            return []
        if f.error_code != "NotFoundException" and case.extra.get("later_success"):
            return []  # the key was used successfully after the event: the history's deletion is contradicted
        if f.error_code in ("KMSInvalidStateException", "DisabledException"):
            return []  # AWS answered about the key's state: the key existed, whatever the history says
        given = f.key_id_given or f.key_arn or "the key"
        detail = "the key does not exist in that account and region"
        cross_alias = "alias/" in given and (
            (fixes.arn_account(given) and fixes.arn_account(given) != f.caller_account)
            or (f.key_account and f.key_account != f.caller_account)
        )
        if cross_alias or ("alias/" in given and not given.startswith("arn:") and f.cross_account):
            detail = (
                "an alias only resolves in the caller's own account: another account's key must be named by its key ARN"
            )
        elif key is not None and key.key_state == "Deleted":
            detail = "the key was deleted" + (
                f" (its deletion date, {key.deletion_date:%Y-%m-%d %H:%M:%S} UTC, had passed)"
                if key.deletion_date
                else ""
            )
        region = f.region or "REGION"
        return [
            self.finding(
                "key_state",
                f.key_account or f.caller_account,
                f"{f.event_name or 'the call'} asked for `{given}` in {region}: {detail}",
                {
                    "key_given": given,
                    "called_region": region,
                    "error_code": f.error_code,
                    "error_message": f.error_message,
                },
                Fix(
                    summary="name an existing key by its full key ARN (check the ID and the region)",
                    commands=(
                        f"aws kms list-aliases --region {q(region)} --query 'Aliases[].[AliasName,TargetKeyId]' --output text",
                        f"aws kms describe-key --key-id {q(given)} --region {q(region)}",
                    ),
                ),
            )
        ]
