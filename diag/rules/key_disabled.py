"""KEY_DISABLED: the key was disabled; its state, not a policy, refused the call."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from diag.diagnosis.case import Case
from diag.diagnosis.honesty import proven_allowed
from diag.diagnosis.model import Finding, Fix
from diag.rules._helpers import key_account
from diag.rules._keystate import key_state, state_evidence
from diag.rules.base import Rule
from diag.shell import q


class KeyDisabled(Rule):
    code = "KEY_DISABLED"
    title = "The key is disabled"
    description = "The key was disabled: its state, not a policy, refused the call (`DisabledException`)."
    fix_template = "Enable the key (aws kms enable-key), after checking why it was disabled."

    def check(self, case: Case, prior: Sequence[Finding]) -> Iterable[Finding]:
        f = case.facts
        state = key_state(case)
        allowed_by_policies = proven_allowed(case.result)
        if not (f.error_code == "DisabledException" or (state == "Disabled" and allowed_by_policies)):
            return []
        key = f.key_arn or "KEY_ARN"
        region = f.key_region or f.region or "REGION"
        return [
            self.finding(
                "key_state",
                key_account(case),
                f"the key `{key}` was disabled when {f.event_name} was called"
                + (f" (KMS answered {f.error_code})" if f.error_code == "DisabledException" else ""),
                state_evidence(case),
                Fix(
                    summary="enable the key, if it was disabled by mistake (CloudTrail DisableKey names who disabled it)",
                    commands=(
                        f"# with credentials of account {key_account(case)}",
                        f"aws kms enable-key --key-id {q(key)} --region {q(region)}",
                    ),
                    target=key,
                ),
            )
        ]
