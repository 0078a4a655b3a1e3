"""KEY_PENDING_DELETION: the key was scheduled for deletion; its state refused the call."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from diag.diagnosis.case import Case
from diag.diagnosis.honesty import proven_allowed
from diag.diagnosis.model import Finding, Fix
from diag.rules._helpers import key_account
from diag.rules._keystate import key_state, state_evidence
from diag.rules.base import Rule
from diag.shell import q


class KeyPendingDeletion(Rule):
    code = "KEY_PENDING_DELETION"
    title = "The key is pending deletion"
    description = "The key was scheduled for deletion: its state refused the call (`KMSInvalidStateException`)."
    fix_template = "Cancel the deletion, then enable the key, before the deletion date."
    supersedes = ("KEY_DISABLED",)

    def check(self, case: Case, prior: Sequence[Finding]) -> Iterable[Finding]:
        f = case.facts
        state = key_state(case)
        msg = (f.error_message or "").lower()
        by_error = f.error_code == "KMSInvalidStateException" and (
            "pending deletion" in msg or state == "PendingDeletion"
        )
        allowed_by_policies = proven_allowed(case.result)
        if not (
            by_error or (state == "PendingDeletion" and allowed_by_policies and f.error_code != "NotFoundException")
        ):
            return []
        if not by_error and case.extra.get("later_success"):
            return []  # the key was used successfully later: the history's pending deletion is contradicted
        key = f.key_arn or "KEY_ARN"
        region = f.key_region or f.region or "REGION"
        key_q = q(key)
        return [
            self.finding(
                "key_state",
                key_account(case),
                f"the key `{key}` was pending deletion when {f.event_name} was called",
                state_evidence(case),
                Fix(
                    summary="cancel the key's deletion and enable it again (only possible before the deletion date)",
                    commands=(
                        f"# with credentials of account {key_account(case)}",
                        f"aws kms cancel-key-deletion --key-id {key_q} --region {q(region)}",
                        f"aws kms enable-key --key-id {key_q} --region {q(region)}",
                    ),
                    target=key,
                ),
            )
        ]
