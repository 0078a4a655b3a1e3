"""Callers that are not IAM roles or users: AWS service principals (``userIdentity.type`` ``AWSService``).

A service principal (``events.amazonaws.com``, ``sns.amazonaws.com``, ``cloudtrail.amazonaws.com``…) that
calls KMS for one of its resources has no identity policies, no permissions boundary, no session policy,
and SCPs do not apply to it (SCPs restrict IAM principals of member accounts; IAM User Guide, "Service
control policies"): the key policy and the grants decide alone. Its record is in the key owner's trail.
"""

from __future__ import annotations

import dataclasses

from diag.diagnosis.model import EventFacts
from diag.policy.model import PolicyInputs


def is_service_caller(facts: EventFacts) -> bool:
    return facts.caller_type == "AWSService"


def service_principal(facts: EventFacts) -> str | None:
    """The service principal of an ``AWSService`` record (``invokedBy``), else None."""
    if not is_service_caller(facts):
        return None
    inv = facts.invoked_by or ""
    return inv if inv.endswith(".amazonaws.com") and " " not in inv else None


def for_caller(inputs: PolicyInputs, facts: EventFacts) -> PolicyInputs:
    """``inputs`` for this caller: for a service principal, the identity-side layers do not apply (known
    empty, never a gap); for anyone else, unchanged."""
    if not is_service_caller(facts):
        return inputs
    return dataclasses.replace(
        inputs,
        identity_policies=(),
        permission_boundary=None,
        permission_boundary_known=True,
        session_policy=None,
        session_policy_known=True,
        scps=(),
    )
