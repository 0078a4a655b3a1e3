"""The collected records the audit reads: keys (with policy and grants), principals, identity policies.

Plain frozen dataclasses, loaded by ``diag.audit.context`` and read by the rules and the access matrix.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from diag.policy.parse import ParsedPolicy, PolicyError, parse_policy


def _loads(value: Any) -> Any:
    if value is None or isinstance(value, dict | list):
        return value
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class GrantRow:
    grant_id: str
    key_arn: str
    grantee_principal: str | None
    retiring_principal: str | None
    operations: tuple[str, ...]
    constraints: dict[str, Any] | None
    creation_date: dt.datetime | None
    name: str | None


@dataclass(frozen=True)
class KeyRecord:
    """One collected key with its policy (None: not collected) and grants (None: not collected)."""

    snapshot_id: int
    key_arn: str
    key_id: str
    account: str
    region: str
    key_state: str | None
    key_manager: str | None
    deletion_date: dt.datetime | None
    aliases: tuple[str, ...]
    policy: dict[str, Any] | None  # in force: the snapshot's, or a later PutKeyPolicy from CloudTrail
    grants: tuple[GrantRow, ...] | None
    snapshot_policy: dict[str, Any] | None = None  # exactly as collected
    policy_changed_at: dt.datetime | None = None  # the PutKeyPolicy after the snapshot that set ``policy``
    state_changed_at: dt.datetime | None = None  # the key-state event after the snapshot that set ``key_state``

    @property
    def aws_managed(self) -> bool:
        return self.key_manager == "AWS" or any(a.startswith("alias/aws/") for a in self.aliases)

    @property
    def label(self) -> str:
        return f"{self.key_arn}" + (f" ({', '.join(self.aliases)})" if self.aliases else "")

    def parsed(self) -> ParsedPolicy | None:
        if self.policy is None:
            return None
        try:
            return parse_policy(self.policy)
        except PolicyError:
            return None


@dataclass(frozen=True)
class PrincipalRecord:
    snapshot_id: int
    arn: str
    account: str
    kind: str  # role, user, group
    name: str
    unique_id: str | None


@dataclass(frozen=True)
class IdentityPolicyRecord:
    """An identity policy in force in an account: inline (one holder) or customer-managed (its holders)."""

    snapshot_id: int
    account: str
    kind: str  # inline, managed
    name: str
    arn: str | None  # managed policy ARN
    holders: tuple[str, ...]  # role/user/group ARNs it is attached to
    document: dict[str, Any]

    @property
    def label(self) -> str:
        if self.kind == "managed":
            return f"managed policy {self.arn}"
        return f"inline policy {self.name} of {self.holders[0] if self.holders else '?'}"
