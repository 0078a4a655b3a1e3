"""Shared facts about the key's state at event time (for KEY_DISABLED, KEY_PENDING_DELETION)."""

from __future__ import annotations

from diag.diagnosis.case import Case


def key_state(case: Case) -> str | None:
    key = case.inforce.key if case.inforce else None
    return key.key_state if key else None


def state_evidence(case: Case) -> dict[str, object]:
    key = case.inforce.key if case.inforce else None
    return {
        "key_arn": case.facts.key_arn or (key.key_arn if key else None),
        "key_state_at_event_time": key.key_state if key else None,
        "deletion_date": key.deletion_date if key else None,
        "error_code": case.facts.error_code,
        "error_message": case.facts.error_message,
        "policies_as_of": case.inforce.at if case.inforce else None,
    }
