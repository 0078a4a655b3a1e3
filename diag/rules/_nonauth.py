"""Shared pieces of the rules for failures that are not authorization refusals (key usage, wrong key,
ciphertext, custom key store, other key states, other services, errors that are not refusals)."""

from __future__ import annotations

import shlex
from typing import Any

from diag.diagnosis.case import Case
from diag.diagnosis.verdict import AUTH_CODES


def record_says(case: Case) -> dict[str, Any]:
    """What the record itself says, for evidence: the call, the caller, AWS's error code and message."""
    f = case.facts
    out: dict[str, Any] = {
        "event_source": f.event_source,
        "event_name": f.event_name,
        "error_code": f.error_code,
        "error_message": f.error_message,
        "caller": f.caller_arn or f.principal_arn,
        "region": f.region,
    }
    return {k: v for k, v in out.items() if v not in (None, "")}


def describe_key_command(case: Case) -> str:
    f = case.facts
    key = f.key_arn or f.key_id_given
    region = f.key_region or f.region
    cmd = f"aws kms describe-key --key-id {shlex.quote(key) if key else 'KEY_ARN'}"
    return cmd + (f" --region {shlex.quote(region)}" if region else "") + " --output json"


def kind(case: Case) -> str | None:
    value = case.extra.get("kind")
    return value if isinstance(value, str) else None


# A non-authorization code replaces every authorization code: AWS authorized the call before refusing it.
SUPERSEDES_AUTH: tuple[str, ...] = AUTH_CODES
