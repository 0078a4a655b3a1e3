"""The policies in force for one request at one time (``policies_in_force``): each layer is the nearest
snapshot of the account that owns it combined with the policy changes from CloudTrail around it."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import TYPE_CHECKING, Any

from diag import arn as arns
from diag.collect import commands
from diag.collect.asof.bucket import bucket_as_of
from diag.collect.asof.history import Change, History
from diag.collect.asof.keys import grants_as_of, key_as_of, key_policy_as_of
from diag.collect.asof.organizations import RCP, SCP, OrgAnswer, org_levels
from diag.collect.asof.principals import Identity, parse_caller
from diag.collect.asof.resolve import resolve_key
from diag.collect.asof.snapshots import Snap, SnapshotIndex, gaps_for, nearest_snapshot
from diag.collect.asof.steps import ABSENT, UNKNOWN
from diag.collect.model import Gap, InForce, KeyInfo, PolicyChange, PrincipalInfo
from diag.policy.match import Caller
from diag.policy.model import Grant, NamedPolicy, OrgLevel

if TYPE_CHECKING:
    import duckdb


@dataclasses.dataclass
class _Found:
    """What the layers found, gathered as they are read."""

    at: dt.datetime | None
    gaps: list[Gap] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)
    applied: list[Change] = dataclasses.field(default_factory=list)
    later: list[Change] = dataclasses.field(default_factory=list)

    def after(self, changes: list[Change]) -> list[Change]:
        return [c for c in changes if self.at is not None and c.event_time > self.at]

    def add(self, gaps: list[Gap], notes: list[str], applied: list[Change], later: list[Change]) -> None:
        self.gaps.extend(gaps)
        self.notes.extend(notes)
        self.applied.extend(applied)
        self.later.extend(later)

    def org(self, answer: OrgAnswer) -> tuple[OrgLevel, ...] | None:
        levels, gaps, notes, applied, later = answer
        self.add(gaps, notes, applied, later)
        return levels


@dataclasses.dataclass
class _Key:
    key: KeyInfo | None = None
    key_policy: NamedPolicy | None = None
    grants: tuple[Grant, ...] | None = None


def policies_in_force(
    con: duckdb.DuckDBPyConnection,
    *,
    caller_arn: str | None,
    caller_account: str | None,
    key_arn: str | None = None,
    bucket: str | None = None,
    at: dt.datetime | None = None,
    snapshots: SnapshotIndex | None = None,
) -> InForce:
    """Every policy that applied to ``caller_arn`` using ``key_arn`` (and ``bucket``) at ``at`` (None = now).

    A layer that was not collected is None with a ``Gap`` saying how to collect it; ``changes_applied`` are
    the CloudTrail changes replayed on top of the snapshot, ``later_changes`` those after ``at``.
    ``snapshots``: a ``SnapshotIndex`` shared by the calls of one diagnosis (saves a query per call).
    """
    if at is not None and at.tzinfo is not None:
        at = at.astimezone(dt.UTC).replace(tzinfo=None)
    caller = parse_caller(caller_arn, caller_account)
    found = _Found(at)
    if key_arn and not key_arn.startswith("arn:"):
        resolved = resolve_key(con, key_arn, region=None, account=caller.account, at=at)
        key_arn = resolved.key_arn if resolved else key_arn
    parts = arns.parse(key_arn)
    key_account = parts.account if parts is not None else None
    partition = parts.partition if parts is not None else caller.partition  # of the bucket too
    key_snap, caller_snap = _snapshots(con, key_account, caller.account, at, snapshots)
    hist = History.load(
        con,
        key_arn=key_arn if parts else None,
        key_since=key_snap.collected_at if key_snap and key_snap.before else None,
        bucket_arn=arns.bucket_arn(bucket, partition) if bucket else None,
        account=caller.account,
        account_since=caller_snap.collected_at if caller_snap and caller_snap.before else None,
        at=at,
    )
    key = _key_layers(con, hist, key_arn, parts, key_snap, found) if key_arn and parts is not None else _Key()
    principal, identity_policies, boundary = _caller_layers(con, hist, caller, caller_snap, found)
    # organizations
    scps = found.org(org_levels(con, hist, caller.account, SCP, at, caller_snap)) if caller.account else None
    rcps = found.org(org_levels(con, hist, key_account, RCP, at, key_snap)) if key_account else None
    bucket_policy, bucket_encryption = _bucket_layer(con, hist, bucket, partition, found) if bucket else (None, None)
    primary = key_snap or caller_snap
    _note_snapshot(found, primary, at)
    return InForce(
        at=at,
        key=key.key,
        key_policy=key.key_policy,
        grants=key.grants,
        principal=principal,
        identity_policies=identity_policies,
        permission_boundary=boundary,
        scps=scps,
        rcps=rcps,
        bucket_policy=bucket_policy,
        bucket_encryption=bucket_encryption,
        snapshot_id=primary.snapshot_id if primary else None,
        collected_at=primary.collected_at if primary else None,
        changes_applied=_unique(found.applied),
        later_changes=_unique(found.later),
        uncertain=tuple(dict.fromkeys(found.notes)),
        gaps=tuple(dict.fromkeys(found.gaps)),
        snapshot_ids=tuple(dict.fromkeys(s.snapshot_id for s in (key_snap, caller_snap) if s)),
    )


def _snapshots(
    con: duckdb.DuckDBPyConnection,
    key_account: str | None,
    caller_account: str | None,
    at: dt.datetime | None,
    snapshots: SnapshotIndex | None,
) -> tuple[Snap | None, Snap | None]:
    """The nearest snapshots of the key's account and of the caller's (the same one when they are one account)."""
    if snapshots is not None:
        snapshots.preload([key_account, caller_account])
    key_snap = nearest_snapshot(con, key_account, at, snapshots) if key_account is not None else None
    if key_snap and caller_account == key_account:
        return key_snap, key_snap
    return key_snap, nearest_snapshot(con, caller_account, at, snapshots)


def _key_layers(
    con: duckdb.DuckDBPyConnection, hist: History, key_arn: str, parts: arns.Arn, key_snap: Snap | None, found: _Found
) -> _Key:
    """The key, its policy and its grants at ``found.at``, with the gaps of what was not collected."""
    at = found.at
    key_account, region = parts.account, parts.region
    k_changes = hist.arn(key_arn)
    found.later.extend(found.after(k_changes))
    out = _Key()
    out.key, state = key_as_of(con, key_arn, key_snap, k_changes, at)
    found.applied.extend(state.applied)
    if not state.certain and state.note:
        found.notes.append(f"key {key_arn}: {state.note}")
    if state.value is UNKNOWN:
        recorded = gaps_for(con, key_snap, key_arn, ("key",)) or gaps_for(con, key_snap, region, ("keys",))
        reason = f"the key was not collected ({state.note})"
        how = commands.key_file_command("key", key_account, region, key_arn)
        found.gaps.extend(recorded or [Gap("key", key_account, key_arn, reason, how)])
    pol = key_policy_as_of(con, key_arn, key_account, key_snap, k_changes, at)
    found.applied.extend(pol.applied)
    if not pol.certain and pol.note:
        found.notes.append(f"key policy of {key_arn}: {pol.note}")
    key_absent = out.key is None and state.value is not UNKNOWN  # known not to exist then: no policy to miss
    if (pol.value is UNKNOWN and not key_absent) or (pol.value is ABSENT and out.key is not None):
        recorded = gaps_for(con, key_snap, key_arn, ("key_policy",))
        reason = f"the key policy was not collected ({pol.note or 'no snapshot of it'})"
        how = commands.key_file_command("key_policy", key_account, region, key_arn)
        found.gaps.extend(recorded or [Gap("key_policy", key_account, key_arn, reason, how)])
    elif pol.value is not ABSENT and pol.value is not UNKNOWN:
        out.key_policy = NamedPolicy(
            document=pol.value[0], name="default", kind="key-policy", account=key_account, arn=key_arn
        )
    out.grants, g_applied, g_notes = grants_as_of(con, key_arn, key_snap, k_changes, at)
    found.applied.extend(g_applied)
    found.notes.extend(g_notes)
    if out.grants is None and out.key is not None:
        recorded = gaps_for(con, key_snap, key_arn, ("grants",))
        how = commands.key_file_command("grants", key_account, region, key_arn)
        found.gaps.extend(recorded or [Gap("grants", key_account, key_arn, "the key's grants were not collected", how)])
    return out


def _caller_layers(
    con: duckdb.DuckDBPyConnection, hist: History, caller: Caller, caller_snap: Snap | None, found: _Found
) -> tuple[PrincipalInfo | None, tuple[NamedPolicy, ...] | None, NamedPolicy | None]:
    """(principal, identity policies, permissions boundary) of the caller at ``found.at``."""
    ident = Identity(con, hist, caller, caller_snap, found.at)
    principal, identity_policies, boundary, boundary_known = ident.build()
    found.add(ident.gaps, ident.notes, ident.applied, found.after(ident.changes))
    if not boundary_known and principal is not None:
        found.gaps.append(_boundary_gap(caller.account, principal))
    return principal, identity_policies, boundary


def _bucket_layer(
    con: duckdb.DuckDBPyConnection, hist: History, bucket: str, partition: str, found: _Found
) -> tuple[NamedPolicy | None, dict[str, Any] | None]:
    """The bucket policy and default encryption at ``found.at``."""
    policy, encryption, _known, gaps, notes, applied, later = bucket_as_of(con, hist, bucket, found.at, partition)
    found.add(gaps, notes, applied, later)
    return policy, encryption


def _boundary_gap(account: str | None, principal: PrincipalInfo) -> Gap:
    return Gap(
        "permission_boundary",
        account,
        principal.arn,
        "the permissions boundary in force is not known",
        commands.authorization_details(account or "ACCOUNT"),
    )


def _note_snapshot(found: _Found, primary: Snap | None, at: dt.datetime | None) -> None:
    if primary is None and not found.applied:
        found.notes.insert(0, "no snapshot and no policy-change event: run `kmsdiag collect` (or load a bundle)")
    elif primary is not None and not primary.before and not found.applied:
        found.notes.insert(
            0, f"no snapshot at or before {at}; the policies come from the snapshot of {primary.collected_at}"
        )


def _unique(changes: list[Change]) -> tuple[PolicyChange, ...]:
    seen: dict[str, Change] = {}
    for c in changes:
        if c is not None:
            seen.setdefault(c.event_id, c)
    return tuple(c.public() for c in sorted(seen.values(), key=lambda c: (c.event_time, c.event_id)))


def collected_regions(
    con: duckdb.DuckDBPyConnection, account: str, at: dt.datetime | None = None
) -> tuple[str, ...] | None:
    """The KMS regions collected for ``account`` in its nearest snapshot (None: no snapshot of it). A key
    missing from a collected region did not exist there; from another region, it is simply unknown."""
    snap = nearest_snapshot(con, account, at)
    return snap.regions if snap else None
