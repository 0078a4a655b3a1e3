"""KEY_STATE_OTHER: the key was in a state other than disabled or pending deletion (PendingImport, ...)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from diag.diagnosis.case import Case
from diag.diagnosis.honesty import is_custom_key_store_error, other_key_state
from diag.diagnosis.model import Finding, Fix
from diag.rules._helpers import key_account
from diag.rules._keystate import key_state, state_evidence
from diag.rules._nonauth import describe_key_command
from diag.rules.base import Rule

_OTHER = {"PendingImport", "Unavailable", "Creating", "Updating", "PendingReplicaDeletion"}
_WHAT = {
    "PendingImport": "the key has no key material yet (import it, or re-import expired material)",
    "Unavailable": "the key's custom key store is disconnected",
    "Creating": "the key is still being created",
    "Updating": "the key is being updated (e.g. a multi-Region primary change)",
    "PendingReplicaDeletion": "the multi-Region key waits for its replicas to be deleted",
}


class KeyStateOther(Rule):
    code = "KEY_STATE_OTHER"
    title = "The key's state refused the call"
    description = (
        "The key was in a state in which KMS refuses the operation, other than disabled or pending deletion"
        " (`KMSInvalidStateException`: PendingImport, Unavailable, Creating, Updating, PendingReplicaDeletion)."
    )
    fix_template = "Bring the key to Enabled (import key material, reconnect its key store, wait), then retry."
    supersedes = ("KEY_DISABLED", "UNKNOWN")

    def check(self, case: Case, prior: Sequence[Finding]) -> Iterable[Finding]:
        f = case.facts
        if f.error_code != "KMSInvalidStateException" or is_custom_key_store_error(f.error_code, f.error_message):
            return []
        state = other_key_state(f.error_message) or (key_state(case) if key_state(case) in _OTHER else None)
        if state is None:
            return []
        source = "AWS's message" if other_key_state(f.error_message) else "the collected key state"
        return [
            self.finding(
                "key_state",
                key_account(case),
                f"the key `{f.key_arn or f.key_id_given or 'KEY'}` was {state} when {f.event_name} was called"
                f" ({source}): {_WHAT[state]}",
                {**state_evidence(case), "state": state, "state_from": source},
                Fix(summary=f"the key must be Enabled: {_WHAT[state]}", commands=(describe_key_command(case),)),
            )
        ]
