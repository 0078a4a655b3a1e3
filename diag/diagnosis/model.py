"""Data model of a diagnosis: the facts of one failed call, the findings, and the whole answer.

``EventFacts`` is what diagnosis needs to know about one failed call, whatever its origin (a stored
event, a record from a file, an application's error text). ``Finding`` and ``Fix`` are what rules produce;
``Diagnosis.to_dict()`` is exactly the `kmsdiag explain --json` shape of DESIGN.md section 7.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from diag import arn as arns
from diag.shell import comments_on_one_line


@dataclass(frozen=True)
class EventFacts:
    """One failed call: who, what, which key or bucket, where, through which service.

    ``principal_arn`` is the caller as policies name it (the role for a role session, else the user or
    root ARN); ``caller_arn`` the session ARN as CloudTrail logged it. ``origin`` says where the facts came
    from: ``event`` (the database), ``event-file`` or ``error-text``.
    """

    event_id: str | None
    event_time: dt.datetime | None
    event_source: str | None
    event_name: str | None
    action: str | None
    region: str | None
    error_code: str | None = None
    error_message: str | None = None
    caller_arn: str | None = None
    caller_type: str | None = None
    caller_account: str | None = None
    principal_arn: str | None = None
    principal_id: str | None = None
    session_name: str | None = None
    access_key_id: str | None = None
    invoked_by: str | None = None
    via_service: str | None = None
    key_arn: str | None = None
    key_id_given: str | None = None
    key_account: str | None = None
    bucket: str | None = None
    object_key: str | None = None
    encryption_context: dict[str, str] | None = None
    source_ip: str | None = None
    vpc_endpoint_id: str | None = None
    user_agent: str | None = None
    shared_event_id: str | None = None
    request_id: str | None = None
    recipient_account: str | None = None
    origin: str = "event"
    raw: dict[str, Any] | None = None

    @property
    def is_s3(self) -> bool:
        return self.event_source == "s3.amazonaws.com"

    @property
    def key_region(self) -> str | None:
        """The region in the key ARN, when the key is known by ARN."""
        return arns.region_of(self.key_arn)

    @property
    def cross_account(self) -> bool:
        return bool(self.caller_account and self.key_account and self.caller_account != self.key_account)

    def to_event_dict(self) -> dict[str, Any]:
        """The ``event`` object of the explain JSON (DESIGN.md section 7)."""
        return {
            "event_id": self.event_id,
            "event_time": self.event_time,
            "event_name": self.event_name,
            "error_code": self.error_code,
            "caller_arn": self.caller_arn,
            "caller_account": self.caller_account,
            "key_arn": self.key_arn,
            "region": self.region,
            "event_source": self.event_source,
            "error_message": self.error_message,
            "principal_arn": self.principal_arn,
            "invoked_by": self.invoked_by,
            "key_id_given": self.key_id_given,
            "key_account": self.key_account,
            "bucket": self.bucket,
            "shared_event_id": self.shared_event_id,
            "request_id": self.request_id,
            "origin": self.origin,
        }


_ORDER = (
    "Version",
    "Id",
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
    "Statement",
)


def canonical_order(value: Any) -> Any:
    """Policy JSON with its keys in the order people write them (Sid, Effect, Principal, Action, Resource...)."""
    if isinstance(value, list):
        return [canonical_order(v) for v in value]
    if not isinstance(value, dict):
        return value
    rank = {k: i for i, k in enumerate(_ORDER)}
    keys = sorted(value, key=lambda k: (rank.get(k, len(_ORDER)), ""))
    return {
        k: canonical_order(value[k]) if k in ("Statement",) or isinstance(value[k], list) else value[k] for k in keys
    }


@dataclass(frozen=True)
class Fix:
    """What to change: one sentence, the statement or policy to paste, and the CLI commands to apply it."""

    summary: str
    policy: dict[str, Any] | None = None
    commands: tuple[str, ...] = ()
    target: str | None = None  # where the policy goes: "key policy of arn:…", "inline policy of role …"
    # Filled by diag.proof after the rules ran: the engine's re-evaluation with the fix applied, and the
    # access the fix adds beyond the failing call (None: not evaluated / cannot be computed).
    proof: dict[str, Any] | None = None
    blast_radius: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.policy is not None:
            object.__setattr__(self, "policy", canonical_order(self.policy))
        object.__setattr__(self, "commands", comments_on_one_line(self.commands))

    def to_dict(self) -> dict[str, Any]:
        return {
            "summary": self.summary,
            "policy": self.policy,
            "commands": list(self.commands),
            "target": self.target,
            "proof": self.proof,
            "blast_radius": self.blast_radius,
        }


@dataclass(frozen=True)
class Finding:
    """One cause, in one layer of one account, with the evidence a person can check and the fix."""

    code: str
    layer: str
    account: str | None
    summary: str
    evidence: dict[str, Any] = field(default_factory=dict)
    fix: Fix | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "layer": self.layer,
            "account": self.account,
            "summary": self.summary,
            "evidence": self.evidence,
            "fix": self.fix.to_dict() if self.fix else None,
        }


@dataclass(frozen=True)
class Diagnosis:
    """The answer for one failed call: the verdict (the finding to fix first), every finding, the layers."""

    facts: EventFacts
    verdict: str | None  # None for a call that succeeded (outcome "succeeded")
    findings: tuple[Finding, ...]
    layers: tuple[dict[str, Any], ...] = ()
    policies_as_of: dt.datetime | None = None
    decision: str | None = None  # the decision the evidence proves ("Unknown" when a deciding layer was not seen)
    snapshot_id: int | None = None
    gaps: tuple[dict[str, Any], ...] = ()  # evidence not collected, with the commands that collect it
    outcome: str = "failed"  # "failed" or "succeeded" (the record has no errorCode)
    based_on: dict[str, Any] = field(default_factory=dict)  # the record, the layers seen and not seen
    allowed_by: tuple[dict[str, Any], ...] = ()  # a success: the statements that allowed it (policies known)

    @property
    def codes(self) -> list[str]:
        return [f.code for f in self.findings]

    def to_dict(self) -> dict[str, Any]:
        from diag.diagnosis.collect_plan import collect_plan

        return {
            "event": self.facts.to_event_dict(),
            "verdict": self.verdict,
            "findings": [f.to_dict() for f in self.findings],
            "layers": list(self.layers),
            "policies_as_of": self.policies_as_of,
            "decision": self.decision,
            "gaps": list(self.gaps),
            "collect_plan": collect_plan(self.gaps),  # the gaps' commands, each once, with the layers it fills
            "outcome": self.outcome,
            "based_on": self.based_on,
            "allowed_by": list(self.allowed_by),
        }
