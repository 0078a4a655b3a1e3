"""The SCP or RCP levels (root first) that applied to an account at a time, from the organization data of
the nearest snapshot that read it (the management account or a delegated administrator) plus the
AttachPolicy / DetachPolicy / UpdatePolicy events."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from diag.collect import commands
from diag.collect.asof.history import Change, History, loads
from diag.collect.asof.snapshots import Snap, pick_nearest
from diag.collect.asof.steps import ABSENT, UNKNOWN, Step, value_at
from diag.collect.model import Gap
from diag.policy.model import NamedPolicy, OrgLevel

if TYPE_CHECKING:
    import duckdb

SCP = "SERVICE_CONTROL_POLICY"
RCP = "RESOURCE_CONTROL_POLICY"

OrgAnswer = tuple[tuple[OrgLevel, ...] | None, list[Gap], list[str], list[Change], list[Change]]


@dataclass
class _Levels:
    """What the levels were built from and what they found."""

    account: str
    label: str
    collected_at: dt.datetime
    at: dt.datetime | None
    gaps: list[Gap] = field(default_factory=list)
    applied: list[Change] = field(default_factory=list)
    later: list[Change] = field(default_factory=list)

    def after(self, changes: list[Change]) -> list[Change]:
        return [c for c in changes if self.at is not None and c.event_time > self.at]


def org_levels(
    con: duckdb.DuckDBPyConnection,
    hist: History,
    account: str,
    policy_type: str,
    at: dt.datetime | None,
    own: Snap | None,
) -> OrgAnswer:
    """The SCP or RCP levels (root first) that apply to ``account``: (levels, gaps, notes, applied, later).
    ``own``: the account's own nearest snapshot (its describe-organization answer)."""
    label = "SCP" if policy_type == SCP else "RCP"
    if own is not None and own.org_state == "not_in_org":
        return (), [], [], [], []
    if own is not None and own.management_account == account:
        # neither SCPs (its principals) nor RCPs (its resources) affect the management account
        return (), [], [], [], []
    # the org data may come from another account's snapshot (management account or delegated admin)
    rows = con.execute(
        "SELECT DISTINCT p.snapshot_id, s.collected_at, p.account FROM org_paths p JOIN snapshots s USING (snapshot_id)"
        " WHERE p.child_id = ?",
        [account],
    ).fetchall()
    picked = pick_nearest([(0, r[1], r[0], r[2]) for r in rows], at, 1)
    if not picked:
        reason = (
            f"the {label}s of account {account} were not collected"
            " (Organizations is read from the management account or a delegated administrator)"
        )
        how = commands.list_parents(commands.MANAGEMENT_ACCOUNT, account)
        return None, [Gap(label.lower(), account, account, reason, how)], [], [], []
    sid, collected_at, reader = picked[0][2], picked[0][1], picked[0][3]
    notes = [] if at is None or collected_at <= at else [f"{label}s: only a snapshot taken after the time asked about"]
    path = _path_to_root(con, sid, account)
    if not path[-1].startswith("r-"):
        gap = Gap(
            label.lower(),
            account,
            path[-1],
            f"the path of {account} to the organization root is incomplete",
            commands.list_parents(commands.MANAGEMENT_ACCOUNT, path[-1]),
        )
        return None, [gap], notes, [], []
    path.reverse()  # root first
    enabled, refused = _type_enabled(con, sid, reader, policy_type, account, label)
    if refused is not None:
        return None, [refused], notes, [], []
    if not enabled:
        return (), [], notes, [], []  # the policy type is not enabled: no such policies apply
    found = _Levels(account, label, collected_at, at)
    levels = _build_levels(con, hist, sid, policy_type, path, found)
    if found.gaps:
        return None, found.gaps, notes, found.applied, found.later
    return tuple(levels), found.gaps, notes, found.applied, found.later


def _path_to_root(con: duckdb.DuckDBPyConnection, sid: int, account: str) -> list[str]:
    """``account``, its OU(s), the root (when the snapshot has the whole path)."""
    parents = {
        r[0]: (r[1], r[2])
        for r in con.execute(
            # every reader's rows: a row read by two accounts is stored once, under the first reader
            "SELECT child_id, parent_id, parent_type FROM org_paths WHERE snapshot_id = ?",
            [sid],
        ).fetchall()
    }
    path = [account]
    current = account
    for _ in range(10):
        if current not in parents:
            break
        parent, parent_type = parents[current]
        path.append(parent)
        current = parent
        if parent_type == "ROOT" or parent.startswith("r-"):
            break
    return path


def _type_enabled(
    con: duckdb.DuckDBPyConnection, sid: int, reader: str, policy_type: str, account: str, label: str
) -> tuple[bool, Gap | None]:
    """(whether policies of the type apply, the gap when that is not known).

    Evidence, in order: the root's policy types (ListRoots: a type not enabled there applies nowhere); the
    policies of the type the snapshot holds (an enabled type always has its AWS-managed FullAWSAccess /
    RCPFullAWSAccess policy); a refused ListPolicies. With none of them the layer is not known: policies
    merely missing from the bundle never mean "not in use"."""
    any_type = con.execute(
        "SELECT 1 FROM org_policies WHERE snapshot_id = ? AND policy_type = ? LIMIT 1", [sid, policy_type]
    ).fetchone()
    status = _root_status(con, sid, policy_type)
    if status is not None and status != "ENABLED":
        if status:  # PENDING_ENABLE / PENDING_DISABLE: changing while the snapshot was taken
            reason = f"the organization's {label}s were being switched on or off ({status}) when they were read"
            return False, Gap(label.lower(), account, policy_type, reason, commands.list_roots(reader))
        return False, None  # the root was listed and the type is not enabled: no such policies apply
    if any_type:
        return True, None
    refused = con.execute(
        "SELECT how_to_collect FROM collection_gaps WHERE snapshot_id = ? AND account = ? AND what = 'org'"
        " AND call = 'organizations list-policies' AND resource = ?",
        [sid, reader, policy_type],
    ).fetchall()
    if refused:
        reason = f"the organization's {label}s could not be listed"
        return False, Gap(label.lower(), account, policy_type, reason, refused[0][0] or "")
    if status == "ENABLED":
        reason = f"{label}s are enabled in the organization, but none of them was collected"
        return False, Gap(label.lower(), account, policy_type, reason, commands.policies_of_type(reader, policy_type))
    reason = (
        f"whether the organization uses {label}s was not collected (no list-roots.json and no {label} in the bundle)"
    )
    return False, Gap(label.lower(), account, policy_type, reason, commands.list_roots(reader))


def _root_status(con: duckdb.DuckDBPyConnection, sid: int, policy_type: str) -> str | None:
    """The type's status on the organization's root ("" when the root was listed without it), or None when
    the snapshot did not list the roots."""
    row = con.execute(
        "SELECT json_extract_string(policy_types, ?) FROM org_roots WHERE snapshot_id = ? ORDER BY root_id LIMIT 1",
        ["$." + policy_type, sid],
    ).fetchone()
    if row is None:
        return None
    return str(row[0] or "")


def _build_levels(
    con: duckdb.DuckDBPyConnection, hist: History, sid: int, policy_type: str, path: list[str], found: _Levels
) -> list[OrgLevel]:
    by_target: dict[str, list[Any]] = {}
    for r in con.execute(
        "SELECT t.target_id, p.policy_id, p.name, p.arn, p.document FROM org_policy_targets t JOIN org_policies p"
        " ON p.snapshot_id = t.snapshot_id AND p.policy_id = t.policy_id"
        f" WHERE t.snapshot_id = ? AND p.policy_type = ? AND t.target_id IN ({', '.join('?' * len(path))})"
        " ORDER BY p.policy_id",
        [sid, policy_type, *path],
    ).fetchall():
        by_target.setdefault(r[0], []).append(r[1:])
    levels: list[OrgLevel] = []
    for i, target in enumerate(path):
        policies = _level_policies(hist, target, {r[0]: r for r in by_target.get(target, [])}, found)
        levels.append(OrgLevel(org_identifier="/".join(path[: i + 1]), policies=tuple(policies)))
    return levels


def _level_policies(hist: History, target: str, attached: dict[str, Any], found: _Levels) -> list[NamedPolicy]:
    """The policies attached to one target (root, OU or account) at ``at``, with their content then."""
    t_changes = hist.org_target(target)
    steps: dict[str, list[Step]] = {}
    for c in t_changes:
        if c.resource_arn and c.event_name in ("AttachPolicy", "DetachPolicy"):
            steps.setdefault(c.resource_arn, []).append(
                Step(c.event_time, c.event_name == "AttachPolicy", c.event_name != "AttachPolicy", c)
            )
    policies = []
    for pid in sorted(set(attached) | set(steps)):
        res = value_at(pid in attached, found.collected_at, steps.get(pid, []), found.at)
        found.applied.extend(res.applied)
        found.later.extend(found.after([c for c in t_changes if c.resource_arn == pid]))
        if res.value is not True:
            continue
        policy = _policy_content(hist, pid, target, attached.get(pid), found)
        if policy is not None:
            policies.append(policy)
    return policies


def _policy_content(hist: History, pid: str, target: str, base: Any, found: _Levels) -> NamedPolicy | None:
    content_changes = hist.org_content(pid)
    found.later.extend(found.after(content_changes))
    c_steps = [
        Step(c.event_time, c.document, ABSENT if c.event_name == "CreatePolicy" else UNKNOWN, c)
        for c in content_changes
    ]
    doc = value_at(
        loads(base[3]) if base and base[3] else ABSENT,
        found.collected_at,
        c_steps,
        found.at,
        in_snapshot=bool(base and base[3]),
    )
    found.applied.extend(doc.applied)
    label = found.label
    if doc.value is UNKNOWN or doc.value is ABSENT:
        found.gaps.append(
            Gap(
                label.lower(),
                found.account,
                pid,
                f"the content of {label} {pid} is not known",
                commands.describe_policy(commands.MANAGEMENT_ACCOUNT, pid),
            )
        )
        return None
    return NamedPolicy(
        document=doc.value,
        name=(base[1] if base else pid) or pid,
        kind=label.lower(),
        account=found.account,
        arn=base[2] if base else None,
        attached_to=target,
    )
