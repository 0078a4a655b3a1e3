"""What diagnosis needs from collection: the policies in force for one request at one time.

Produced by ``diag.collect.inforce.policies_in_force(con, ...)`` from the snapshot tables and the
policy history (``policy_changes``). A ``None`` policy with its name in ``gaps`` means "not collected":
never an empty policy.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from diag.policy.model import Grant, NamedPolicy, OrgLevel


@dataclass(frozen=True)
class KeyInfo:
    """A KMS key as DescribeKey saw it (plus its aliases)."""

    key_arn: str
    key_id: str
    account: str
    region: str
    key_state: str | None = None  # Enabled, Disabled, PendingDeletion, PendingImport, Unavailable, ...
    key_manager: str | None = None  # CUSTOMER or AWS
    multi_region: bool | None = None
    deletion_date: dt.datetime | None = None
    aliases: tuple[str, ...] = ()
    description: str | None = None


@dataclass(frozen=True)
class PrincipalInfo:
    """An IAM role or user (from get-account-authorization-details)."""

    arn: str
    account: str
    kind: str  # role, user
    name: str
    unique_id: str | None = None
    create_date: dt.datetime | None = None
    permissions_boundary_arn: str | None = None
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class PolicyChange:
    """One policy-changing CloudTrail event applied on top of a snapshot (who changed what, when)."""

    event_id: str
    event_time: dt.datetime
    event_name: str
    account: str | None
    resource_arn: str | None
    actor_arn: str | None
    invoked_by: str | None = None
    user_agent: str | None = None
    summary: str = ""


@dataclass(frozen=True)
class Gap:
    """Something that should have been collected but was not (refused call, missing file, no snapshot)."""

    what: str  # key_policy, identity, scp, rcp, bucket_policy, key, grants, principal ...
    account: str | None
    resource: str | None
    reason: str
    how_to_collect: str = ""  # e.g. the aws CLI command that fills the gap


@dataclass(frozen=True)
class InForce:
    """The policies in force for one (caller, key/bucket) at one time, with provenance."""

    at: dt.datetime | None
    key: KeyInfo | None = None
    key_policy: NamedPolicy | None = None
    grants: tuple[Grant, ...] | None = None
    principal: PrincipalInfo | None = None
    identity_policies: tuple[NamedPolicy, ...] | None = None
    permission_boundary: NamedPolicy | None = None
    scps: tuple[OrgLevel, ...] | None = None  # caller account's path, root first
    rcps: tuple[OrgLevel, ...] | None = None  # resource account's path, root first
    bucket_policy: NamedPolicy | None = None
    bucket_encryption: dict[str, Any] | None = None
    snapshot_id: int | None = None
    collected_at: dt.datetime | None = None
    changes_applied: tuple[PolicyChange, ...] = ()  # history events between the snapshot and `at`
    later_changes: tuple[PolicyChange, ...] = ()  # history events after `at` (for RESOLVED_SINCE, OVERWRITTEN)
    uncertain: tuple[str, ...] = ()  # why the answer may be wrong (no snapshot before `at` and no change event...)
    gaps: tuple[Gap, ...] = field(default_factory=tuple)
    snapshot_ids: tuple[int, ...] = ()  # every snapshot used (key account's first, then the caller's)
