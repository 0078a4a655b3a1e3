"""The policies in force for one request at one time: ``policies_in_force``, ``resolve_key``,
``find_keys_elsewhere`` (the API that diagnosis, check and simulate call).

Each layer is the nearest snapshot of the account that owns it combined with the policy changes from
CloudTrail around it (``diag.collect.asof``). Lookups go through the indexed columns (key ARN, key ID,
alias name, principal name, resource ARN), and only the rows of one request are read, so one call takes
milliseconds on a large database.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from diag.collect import commands
from diag.collect.asof import ABSENT, UNKNOWN, AsOf, Step, value_at
from diag.collect.model import Gap, InForce, KeyInfo, PolicyChange, PrincipalInfo
from diag.policy.model import Grant, NamedPolicy, OrgLevel

if TYPE_CHECKING:
    import duckdb

SCP = "SERVICE_CONTROL_POLICY"
RCP = "RESOURCE_CONTROL_POLICY"


# ------------------------------------------------------------------------------------------- small parts


@dataclass(frozen=True)
class Snap:
    snapshot_id: int
    collected_at: dt.datetime
    before: bool  # taken at or before the time asked about
    regions: tuple[str, ...] = ()
    org_state: str | None = None
    management_account: str | None = None


@dataclass(frozen=True)
class Caller:
    """The principal behind a caller ARN: an IAM role (for an assumed-role session), a user, or root."""

    account: str | None
    kind: str  # role, user, root, federated, service, unknown
    name: str | None
    session: str | None = None


def parse_caller(arn: str | None, account: str | None = None) -> Caller:
    """``arn:aws:sts::A:assumed-role/R/S`` → role R; ``arn:aws:iam::A:role/path/R`` → role R; users alike."""
    if not arn:
        return Caller(account, "unknown", None)
    parts = arn.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn":
        return Caller(account, "unknown", None)
    acct = parts[4] or account
    resource = parts[5]
    if parts[2] == "sts" and resource.startswith("assumed-role/"):
        bits = resource.split("/")
        return Caller(acct, "role", bits[1] if len(bits) > 1 else None, "/".join(bits[2:]) or None)
    if parts[2] == "sts" and resource.startswith("federated-user/"):
        return Caller(acct, "federated", resource.split("/", 1)[1])
    if parts[2] == "iam" and resource == "root":
        return Caller(acct, "root", None)
    if parts[2] == "iam" and resource.startswith(("role/", "user/")):
        kind = resource.split("/", 1)[0]
        return Caller(acct, kind, resource.rsplit("/", 1)[-1])
    return Caller(acct, "unknown", None)


@dataclass(frozen=True)
class Change:
    """A ``policy_changes`` row, parsed."""

    event_id: str
    event_time: dt.datetime
    event_name: str
    account: str | None
    region: str | None
    resource_type: str | None
    resource_arn: str | None
    resource_name: str | None
    policy_name: str | None
    document_text: Any  # parsed on first use: a key may have thousands of PutKeyPolicy events
    details: dict[str, Any]
    actor_arn: str | None
    invoked_by: str | None
    user_agent: str | None
    summary: str

    @functools.cached_property
    def document(self) -> Any:
        return _loads(self.document_text)

    def public(self) -> PolicyChange:
        return PolicyChange(
            event_id=self.event_id,
            event_time=self.event_time,
            event_name=self.event_name,
            account=self.account,
            resource_arn=self.resource_arn,
            actor_arn=self.actor_arn,
            invoked_by=self.invoked_by,
            user_agent=self.user_agent,
            summary=self.summary,
        )


_CHANGE_COLS = (
    "event_id, event_time, event_name, account, region, resource_type, resource_arn, resource_name, policy_name,"
    " document, details, actor_arn, invoked_by, user_agent, summary"
)


def _loads(value: Any) -> Any:
    if value is None or isinstance(value, dict | list):
        return value
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return value


def _changes(con: duckdb.DuckDBPyConnection, where: str, params: list[Any]) -> list[Change]:
    rows = con.execute(f"SELECT {_CHANGE_COLS} FROM policy_changes WHERE {where} ORDER BY event_time, event_id", params)
    out = []
    for r in rows.fetchall():
        details = _loads(r[10])
        out.append(
            Change(
                event_id=r[0],
                event_time=r[1],
                event_name=r[2],
                account=r[3],
                region=r[4],
                resource_type=r[5],
                resource_arn=r[6],
                resource_name=r[7],
                policy_name=r[8],
                document_text=r[9],
                details=details if isinstance(details, dict) else {},
                actor_arn=r[11],
                invoked_by=r[12],
                user_agent=r[13],
                summary=r[14] or "",
            )
        )
    return out


LATER_CAP = 50


class History:
    """The policy changes one request may need, read in one query and filtered in memory."""

    def __init__(self, rows: list[Change]) -> None:
        self.rows = rows

    @classmethod
    def load(
        cls,
        con: duckdb.DuckDBPyConnection,
        *,
        key_arn: str | None,
        key_since: dt.datetime | None,
        bucket_arn: str | None,
        account: str | None,
        account_since: dt.datetime | None,
        at: dt.datetime | None,
        later_cap: int = LATER_CAP,
    ) -> History:
        """Changes of the key (after its snapshot, when that is before ``at``), the bucket, the caller
        account's IAM (likewise) and the organization's policies; at most ``later_cap`` per resource after
        ``at``, which is plenty for RESOLVED_SINCE and KEY_POLICY_OVERWRITTEN."""
        where = ["resource_type = 'org_policy'"]
        params: list[Any] = []
        for arn, since in ((key_arn, key_since), (bucket_arn, None)):
            if arn:
                where.append("(resource_arn = ?" + (" AND event_time > ?)" if since else ")"))
                params.extend([arn, since] if since else [arn])
        if account:
            where.append(
                "(account = ? AND resource_type IN ('iam_role', 'iam_user', 'iam_group', 'iam_policy')"
                + (" AND event_time > ?)" if account_since else ")")
            )
            params.extend([account, account_since] if account_since else [account])
        cond = " OR ".join(where)
        if at is None:
            return cls(_changes(con, cond, params))
        capped = (
            f"({cond}) QUALIFY event_time <= ?"
            " OR row_number() OVER (PARTITION BY resource_arn, event_time > ? ORDER BY event_time, event_id) <= ?"
        )
        return cls(_changes(con, capped, [*params, at, at, later_cap]))

    def arn(self, arn: str, rtype: str | None = None) -> list[Change]:
        return [c for c in self.rows if c.resource_arn == arn and (rtype is None or c.resource_type == rtype)]

    def iam(self, account: str | None, kind: str, name: str) -> list[Change]:
        rtype = f"iam_{kind}"
        return [c for c in self.rows if c.resource_name == name and c.resource_type == rtype and c.account == account]

    def org_target(self, target: str) -> list[Change]:
        return [c for c in self.rows if c.resource_type == "org_policy" and c.policy_name == target]

    def org_content(self, policy_id: str) -> list[Change]:
        return [
            c
            for c in self.rows
            if c.resource_type == "org_policy"
            and c.resource_arn == policy_id
            and c.event_name in ("CreatePolicy", "UpdatePolicy")
        ]


_SNAP_COLS = "snapshot_id, collected_at, regions, org_state, management_account"


class SnapshotIndex:
    """Each account's snapshots, read once per account (one indexed query) and searched in memory.

    One diagnosis asks for the nearest snapshot of the same two accounts at several times (the event, now,
    before each key-policy change); with an index that is one query per account instead of one or two per
    call. Hold one only while the snapshots do not change (one explain, one ``diagnose`` run).
    """

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self._rows: dict[str, list[Any]] = {}

    def preload(self, accounts: list[str | None]) -> None:
        """Read the snapshots of every account not read yet, in one query (the key's and the caller's)."""
        todo = sorted({a for a in accounts if a and a not in self._rows})
        if len(todo) < 2:
            return  # one account: ``rows`` reads it with the indexed equality lookup
        marks = ", ".join("?" * len(todo))
        found: dict[str, list[Any]] = {a: [] for a in todo}
        for r in self.con.execute(
            f"SELECT account, {_SNAP_COLS} FROM snapshot_accounts WHERE account IN ({marks})"
            " ORDER BY account, collected_at, snapshot_id",
            todo,
        ).fetchall():
            found[r[0]].append(r[1:])
        self._rows.update(found)

    def rows(self, account: str) -> list[Any]:
        """The account's snapshot rows, oldest first (by ``collected_at``, then ``snapshot_id``)."""
        if account not in self._rows:
            self._rows[account] = self.con.execute(
                f"SELECT {_SNAP_COLS} FROM snapshot_accounts WHERE account = ? ORDER BY collected_at, snapshot_id",
                [account],
            ).fetchall()
        return self._rows[account]

    def nearest(self, account: str | None, at: dt.datetime | None) -> Snap | None:
        """Same answer as ``nearest_snapshot`` (``at`` naive UTC, as ``policies_in_force`` passes it)."""
        if not account:
            return None
        rows = self.rows(account)
        if not rows:
            return None
        if at is None:
            row, before = rows[-1], True
        else:
            earlier = [r for r in rows if r[1] <= at]
            if earlier:
                row, before = earlier[-1], True
            else:
                row, before = rows[0], False  # every snapshot is after ``at``: the earliest one
        return Snap(int(row[0]), row[1], before, tuple(row[2] or ()), row[3], row[4])


def nearest_snapshot(
    con: duckdb.DuckDBPyConnection,
    account: str | None,
    at: dt.datetime | None,
    snapshots: SnapshotIndex | None = None,
) -> Snap | None:
    """The account's snapshot nearest at or before ``at`` (latest when ``at`` is None), else the earliest after.
    ``snapshots``: an index of the accounts' snapshots to search instead of querying."""
    if not account:
        return None
    if snapshots is not None:
        return snapshots.nearest(account, at)
    cols = _SNAP_COLS
    if at is None:
        row = con.execute(
            f"SELECT {cols} FROM snapshot_accounts WHERE account = ? ORDER BY collected_at DESC, snapshot_id DESC LIMIT 1",
            [account],
        ).fetchone()
        before = True
    else:
        row = con.execute(
            f"SELECT {cols} FROM snapshot_accounts WHERE account = ? AND collected_at <= ?"
            " ORDER BY collected_at DESC, snapshot_id DESC LIMIT 1",
            [account, at],
        ).fetchone()
        before = row is not None
        if row is None:
            row = con.execute(
                f"SELECT {cols} FROM snapshot_accounts WHERE account = ? AND collected_at > ?"
                " ORDER BY collected_at, snapshot_id LIMIT 1",
                [account, at],
            ).fetchone()
    if row is None:
        return None
    return Snap(int(row[0]), row[1], before, tuple(row[2] or ()), row[3], row[4])


def _arn_parts(arn: str) -> tuple[str, str, str, str, str] | None:
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        return None
    return parts[1], parts[2], parts[3], parts[4], parts[5]


def _gaps_for(con: duckdb.DuckDBPyConnection, snap: Snap | None, resource: str, whats: tuple[str, ...]) -> list[Gap]:
    """Recorded collection gaps (refused calls, missing files) for one resource in one snapshot."""
    if snap is None:
        return []
    marks = ", ".join("?" * len(whats))
    rows = con.execute(
        f"SELECT what, account, resource, error, message, how_to_collect FROM collection_gaps"
        f" WHERE snapshot_id = ? AND resource = ? AND what IN ({marks})",
        [snap.snapshot_id, resource, *whats],
    ).fetchall()
    return [
        Gap(
            what=r[0],
            account=r[1],
            resource=r[2],
            reason=f"{r[3]}: {r[4]}" if r[4] else str(r[3]),
            how_to_collect=r[5] or "",
        )
        for r in rows
    ]


# -------------------------------------------------------------------------------------------------- keys


def _key_info(row: Any, aliases: tuple[str, ...]) -> KeyInfo:
    return KeyInfo(
        key_arn=row[0],
        key_id=row[1],
        account=row[2],
        region=row[3],
        key_state=row[4],
        key_manager=row[5],
        multi_region=row[6],
        deletion_date=row[7],
        aliases=aliases,
        description=row[8],
    )


_KEY_COLS = "k.key_arn, k.key_id, k.account, k.region, k.key_state, k.key_manager, k.multi_region, k.deletion_date, k.description"


def _aliases_of(con: duckdb.DuckDBPyConnection, snapshot_id: int, key_arn: str) -> tuple[str, ...]:
    parts = _arn_parts(key_arn)
    if parts is None:
        return ()
    rows = con.execute(
        "SELECT alias_name FROM aliases WHERE snapshot_id = ? AND account = ? AND region = ? AND target_key_id = ?"
        " ORDER BY alias_name",
        [snapshot_id, parts[3], parts[2], parts[4].split("/", 1)[-1]],
    ).fetchall()
    return tuple(r[0] for r in rows)


def _key_state_steps(changes: list[Change]) -> list[Step]:
    steps = []
    before = {
        "DisableKey": "Enabled",
        "EnableKey": "Disabled",
        "CancelKeyDeletion": "PendingDeletion",
        "CreateKey": ABSENT,
    }
    for c in changes:
        if c.event_name in ("CreateKey", "DisableKey", "EnableKey", "ScheduleKeyDeletion", "CancelKeyDeletion"):
            state = c.details.get("key_state") or {"EnableKey": "Enabled"}.get(c.event_name)
            steps.append(Step(c.event_time, (state, c), before.get(c.event_name, UNKNOWN), c))
    return steps


def _key_as_of(
    con: duckdb.DuckDBPyConnection, key_arn: str, snap: Snap | None, changes: list[Change], at: dt.datetime | None
) -> tuple[KeyInfo | None, AsOf]:
    """The key (with its state) at ``at``: the snapshot's DescribeKey plus state-changing events."""
    parts = _arn_parts(key_arn)
    row = None
    if snap is not None:
        row = con.execute(
            f"SELECT {_KEY_COLS} FROM keys k WHERE k.snapshot_id = ? AND k.key_arn = ?", [snap.snapshot_id, key_arn]
        ).fetchone()
    info = _key_info(row, _aliases_of(con, snap.snapshot_id, key_arn)) if row and snap else None
    in_snapshot = snap is not None and (row is not None or (parts is not None and parts[2] in snap.regions))
    state = value_at(
        (info.key_state, None) if info else ABSENT,
        snap.collected_at if snap else None,
        _key_state_steps(changes),
        at,
        in_snapshot=in_snapshot,
    )
    if state.value is UNKNOWN or state.value is ABSENT:
        return (_deleted_if_past(info, at) if state.value is UNKNOWN else None), state
    new_state, change = state.value
    if info is None and change is not None and parts is not None:
        created = next((c for c in changes if c.event_name == "CreateKey"), change)
        info = KeyInfo(
            key_arn=key_arn,
            key_id=parts[4].split("/", 1)[-1],
            account=parts[3],
            region=parts[2],
            key_manager=created.details.get("key_manager"),
            multi_region=created.details.get("multi_region"),
            description=created.details.get("description"),
        )
    if info is not None and new_state != info.key_state:
        deletion = None
        if new_state == "PendingDeletion" and change is not None:
            from diag.collect.awsjson import parse_time

            deletion = parse_time(change.details.get("deletion_date"))
        info = KeyInfo(
            **{
                **info.__dict__,
                "key_state": new_state,
                "deletion_date": deletion or (info.deletion_date if new_state == "PendingDeletion" else None),
            }
        )
    return _deleted_if_past(info, at), state


def _deleted_if_past(info: KeyInfo | None, at: dt.datetime | None) -> KeyInfo | None:
    """A key pending deletion whose deletion date had passed at ``at`` was gone then: state ``Deleted``."""
    if info is None or info.key_state != "PendingDeletion" or info.deletion_date is None:
        return info
    when = at or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    if info.deletion_date > when:
        return info
    return KeyInfo(**{**info.__dict__, "key_state": "Deleted"})


def _key_policy(
    con: duckdb.DuckDBPyConnection,
    key_arn: str,
    key_account: str,
    snap: Snap | None,
    changes: list[Change],
    at: dt.datetime | None,
) -> AsOf:
    row = None
    if snap is not None:
        row = con.execute(
            "SELECT policy FROM key_policies WHERE snapshot_id = ? AND key_arn = ? AND policy_name = 'default'",
            [snap.snapshot_id, key_arn],
        ).fetchone()
    steps = []
    for c in changes:
        if c.event_name == "PutKeyPolicy" and c.document_text is not None:
            steps.append(Step(c.event_time, (c, c), UNKNOWN, c))
        elif c.event_name == "CreateKey" and c.document_text is not None:
            steps.append(Step(c.event_time, (c, c), ABSENT, c))
    snap_value = (_loads(row[0]), None) if row else ABSENT
    res = value_at(snap_value, snap.collected_at if snap else None, steps, at, in_snapshot=row is not None)
    if isinstance(res.value, tuple) and isinstance(res.value[0], Change):  # parse only the document in force
        res.value = (res.value[0].document, res.value[1])
    return res


def _grants(
    con: duckdb.DuckDBPyConnection, key_arn: str, snap: Snap | None, changes: list[Change], at: dt.datetime | None
) -> tuple[tuple[Grant, ...] | None, list[Change], list[str]]:
    """Grants in force: each grant ID is a facet (present with its fields, or absent)."""
    snap_grants: dict[str, Grant] = {}
    grants_known = False
    if snap is not None:
        for r in con.execute(
            "SELECT grant_id, grantee_principal, operations, retiring_principal, constraints, name, issuing_account,"
            " creation_date FROM grants WHERE snapshot_id = ? AND key_arn = ?",
            [snap.snapshot_id, key_arn],
        ).fetchall():
            snap_grants[r[0]] = Grant(
                grant_id=r[0],
                key_arn=key_arn,
                grantee_principal=r[1] or "",
                operations=tuple(r[2] or ()),
                retiring_principal=r[3],
                constraints=_loads(r[4]),
                name=r[5],
                issuing_account=r[6],
                creation_date=r[7].isoformat() if r[7] else None,
            )
        grants_known = bool(snap_grants) or not _gaps_for(con, snap, key_arn, ("grants",))
        if not snap_grants and grants_known:
            # no grant rows: either the key has none, or the key itself was not collected
            grants_known = (
                con.execute(
                    "SELECT 1 FROM keys WHERE snapshot_id = ? AND key_arn = ?", [snap.snapshot_id, key_arn]
                ).fetchone()
                is not None
            )
    steps: dict[str, list[Step]] = {}
    for c in changes:
        gid = c.policy_name or c.details.get("grant_id")
        if not gid:
            continue
        if c.event_name == "CreateGrant":
            d = c.details
            grant = Grant(
                grant_id=gid,
                key_arn=key_arn,
                grantee_principal=str(d.get("grantee_principal") or ""),
                operations=tuple(d.get("operations") or ()),
                retiring_principal=d.get("retiring_principal"),
                constraints=d.get("constraints"),
                name=d.get("name"),
                issuing_account=c.account,
                creation_date=c.event_time.isoformat(),
            )
            steps.setdefault(gid, []).append(Step(c.event_time, grant, ABSENT, c))
        elif c.event_name in ("RetireGrant", "RevokeGrant"):
            steps.setdefault(gid, []).append(Step(c.event_time, ABSENT, UNKNOWN, c))
    if not grants_known and not steps:
        return None, [], []
    out: list[Grant] = []
    applied: list[Change] = []
    notes: list[str] = []
    snap_time = snap.collected_at if snap else None
    for gid in sorted(set(snap_grants) | set(steps)):
        res = value_at(snap_grants.get(gid, ABSENT), snap_time, steps.get(gid, []), at, in_snapshot=grants_known)
        applied.extend(res.applied)
        if res.value is UNKNOWN:
            notes.append(f"grant {gid}: {res.note}")
        elif res.value is not ABSENT:
            out.append(res.value)
    if not grants_known:
        notes.append("the key's grants were not collected; only grants seen in CreateGrant events are listed")
        return None, applied, notes
    return tuple(out), applied, notes


# ---------------------------------------------------------------------------------------- resolve keys


def _key_arn_from_ref(ref: str) -> tuple[str | None, str | None, str | None, str | None, str | None]:
    """(key_arn, key_id, alias_name, region, account) from a key ARN, key ID, alias name or alias ARN."""
    if ref.startswith("arn:"):
        parts = _arn_parts(ref)
        if parts is None:
            return None, None, None, None, None
        _, _, region, account, res = parts
        if res.startswith("key/"):
            return ref, res[4:], None, region, account
        if res.startswith("alias/"):
            return None, None, res, region, account
        return None, None, None, region, account
    if ref.startswith("alias/"):
        return None, None, ref, None, None
    return None, ref, None, None, None


def _pick(rows: list[Any], at: dt.datetime | None, time_index: int) -> list[Any]:
    """Per key ARN (column 0), the row of the snapshot nearest at or before ``at``, else the earliest after."""
    best: dict[str, Any] = {}
    for r in rows:
        t = r[time_index]
        cur = best.get(r[0])
        if cur is None:
            best[r[0]] = r
            continue
        ct = cur[time_index]
        if at is None:
            better = t > ct
        else:
            b_new, b_cur = t <= at, ct <= at
            better = (b_new and not b_cur) or (b_new and b_cur and t > ct) or (not b_new and not b_cur and t < ct)
        if better:
            best[r[0]] = r
    return list(best.values())


def _keys_by(con: duckdb.DuckDBPyConnection, column: str, value: str) -> list[Any]:
    assert column in ("key_arn", "key_id")
    return con.execute(
        f"SELECT {_KEY_COLS}, s.collected_at, k.snapshot_id FROM keys k JOIN snapshots s USING (snapshot_id) WHERE k.{column} = ?",
        [value],
    ).fetchall()


def _info_as_of(con: duckdb.DuckDBPyConnection, row: Any, at: dt.datetime | None) -> KeyInfo | None:
    key_arn = row[0]
    snap = nearest_snapshot(con, row[2], at)
    changes = _changes(con, "resource_arn = ?", [key_arn])
    if snap is None:
        return _key_info(row, _aliases_of(con, row[10], key_arn))
    info, _ = _key_as_of(con, key_arn, snap, changes, at)
    if info is None and snap.snapshot_id != row[10]:
        # the nearest snapshot of the account does not have this key: report it as last seen, not as found now
        return None
    return info


def resolve_key(
    con: duckdb.DuckDBPyConnection,
    key_ref: str,
    *,
    region: str | None,
    account: str | None,
    at: dt.datetime | None = None,
) -> KeyInfo | None:
    """The key that ``key_ref`` (key ARN, key ID, alias name, alias ARN) named in ``region``/``account`` at
    ``at`` (an ARN's own region/account win). None when no collected snapshot or CreateKey event knows it."""
    key_arn, key_id, alias, r_region, r_account = _key_arn_from_ref(key_ref.strip())
    region = r_region or region
    account = r_account or account
    if alias is not None:
        params: list[Any] = [alias]
        where = "a.alias_name = ?"
        if region:
            where += " AND a.region = ?"
            params.append(region)
        if account:
            where += " AND a.account = ?"
            params.append(account)
        key_arn = _alias_target(con, alias, region, account, at) if region and account else None
        if key_arn is None:
            rows = con.execute(
                "SELECT a.target_key_arn, s.collected_at FROM aliases a JOIN snapshots s USING (snapshot_id)"
                f" WHERE {where} AND a.target_key_arn IS NOT NULL",
                params,
            ).fetchall()
            picked = _pick(rows, at, 1)
            if len({r[0] for r in picked}) != 1:
                return None
            key_arn = picked[0][0]
        elif key_arn == "":
            return None
    if key_arn is not None:
        rows = _keys_by(con, "key_arn", key_arn)
        if not rows:
            info = _from_events(con, key_arn, at)
            return info
        return _info_as_of(con, _pick(rows, at, 9)[0], at)
    if key_id is None:
        return None
    rows = [
        r
        for r in _keys_by(con, "key_id", key_id)
        if (not region or r[3] == region) and (not account or r[2] == account)
    ]
    picked = _pick(rows, at, 9)
    if len(picked) != 1:
        if not picked and region and account:
            return _from_events(con, f"arn:aws:kms:{region}:{account}:key/{key_id}", at)
        return None
    return _info_as_of(con, picked[0], at)


def _alias_target(
    con: duckdb.DuckDBPyConnection, alias: str, region: str, account: str, at: dt.datetime | None
) -> str | None:
    """The key ARN an alias pointed at, at ``at``: the account's nearest snapshot plus CreateAlias /
    UpdateAlias / DeleteAlias events. "" when the alias did not exist then; None when it is not known."""
    snap = nearest_snapshot(con, account, at)
    row = None
    if snap is not None:
        row = con.execute(
            "SELECT target_key_arn FROM aliases WHERE snapshot_id = ? AND account = ? AND region = ? AND alias_name = ?",
            [snap.snapshot_id, account, region, alias],
        ).fetchone()
    changes = _changes(con, "resource_arn = ?", [f"arn:aws:kms:{region}:{account}:{alias}"])
    steps = []
    for c in changes:
        target = c.details.get("target_key_arn")
        if c.event_name == "CreateAlias":
            steps.append(Step(c.event_time, target or UNKNOWN, ABSENT, c))
        elif c.event_name == "UpdateAlias":
            steps.append(Step(c.event_time, target or UNKNOWN, UNKNOWN, c))
        elif c.event_name == "DeleteAlias":
            steps.append(Step(c.event_time, ABSENT, UNKNOWN, c))
    in_snapshot = snap is not None and (row is not None or region in snap.regions)
    res = value_at(row[0] if row else ABSENT, snap.collected_at if snap else None, steps, at, in_snapshot=in_snapshot)
    if res.value is UNKNOWN or (res.value is ABSENT and not res.certain):
        return None
    return "" if res.value is ABSENT else str(res.value)


def _from_events(con: duckdb.DuckDBPyConnection, key_arn: str, at: dt.datetime | None) -> KeyInfo | None:
    parts = _arn_parts(key_arn)
    if parts is None:
        return None
    changes = _changes(con, "resource_arn = ?", [key_arn])
    if not changes:
        return None
    info, _ = _key_as_of(con, key_arn, nearest_snapshot(con, parts[3], at), changes, at)
    return info


def find_keys_elsewhere(
    con: duckdb.DuckDBPyConnection,
    key_id_or_alias: str,
    *,
    region: str | None = None,
    account: str | None = None,
    at: dt.datetime | None = None,
) -> list[KeyInfo]:
    """Keys with the same key ID or alias name in another region or account than (``region``, ``account``):
    the evidence for WRONG_REGION (and a wrong-account call). Each as of its nearest snapshot."""
    key_arn, key_id, alias, r_region, r_account = _key_arn_from_ref(key_id_or_alias.strip())
    region = region or r_region
    account = account or r_account
    rows: list[Any] = []
    if alias is not None:
        arns = con.execute(
            "SELECT DISTINCT target_key_arn FROM aliases WHERE alias_name = ? AND target_key_arn IS NOT NULL", [alias]
        ).fetchall()
        for (arn,) in arns:
            rows.extend(_keys_by(con, "key_arn", arn))
    else:
        kid = key_id or (key_arn.rsplit("/", 1)[-1] if key_arn else None)
        if kid:
            rows = _keys_by(con, "key_id", kid)
    out = []
    for r in _pick(rows, at, 9):
        if (region is None or r[3] == region) and (account is None or r[2] == account):
            continue
        info = _info_as_of(con, r, at) or _key_info(r, _aliases_of(con, r[10], r[0]))
        out.append(info)
    return sorted(out, key=lambda k: (k.account, k.region, k.key_arn))


# ------------------------------------------------------------------------------------------- principals


def _principal_row(con: duckdb.DuckDBPyConnection, snap: Snap, caller: Caller, kind: str, name: str) -> Any:
    return con.execute(
        "SELECT arn, account, kind, name, unique_id, create_date, permissions_boundary_arn, groups, attached_policy_arns"
        " FROM principals WHERE snapshot_id = ? AND name = ? AND kind = ? AND account = ?",
        [snap.snapshot_id, name, kind, caller.account],
    ).fetchone()


class _Identity:
    """Builds the caller's identity policies, boundary and principal as of ``at``."""

    def __init__(
        self, con: duckdb.DuckDBPyConnection, hist: History, caller: Caller, snap: Snap | None, at: dt.datetime | None
    ) -> None:
        self.con = con
        self.hist = hist
        self.caller = caller
        self.snap = snap
        self.at = at
        self.applied: list[Change] = []
        self.changes: list[Change] = []
        self.notes: list[str] = []
        self.gaps: list[Gap] = []
        self.unknown = False

    def _managed_doc(self, policy_arn: str, attached_to: str, kind: str) -> NamedPolicy | None:
        """The default version of a managed policy at ``at`` (snapshot versions + version events)."""
        con, snap = self.con, self.snap
        versions: dict[str, Any] = {}
        default = None
        if snap is not None:
            for vid, is_default, doc, _name in con.execute(
                "SELECT version_id, is_default, document, policy_name FROM managed_policies"
                " WHERE snapshot_id = ? AND policy_arn = ?",
                [snap.snapshot_id, policy_arn],
            ).fetchall():
                versions[vid] = _loads(doc)
                if is_default:
                    default = (versions[vid], None)
        changes = self.hist.arn(policy_arn, "iam_policy")
        self.changes.extend(changes)
        steps = []
        for c in changes:
            vid = c.details.get("version_id")
            if c.document is not None and vid:
                versions.setdefault(vid, c.document)
            if c.event_name == "CreatePolicy":
                steps.append(Step(c.event_time, (c.document, c), ABSENT, c))
            elif c.event_name == "CreatePolicyVersion" and c.details.get("set_as_default"):
                steps.append(Step(c.event_time, (c.document, c), UNKNOWN, c))
            elif c.event_name == "SetDefaultPolicyVersion":
                steps.append(Step(c.event_time, (versions.get(vid, UNKNOWN), c), UNKNOWN, c))
            elif c.event_name == "DeletePolicy":
                steps.append(Step(c.event_time, ABSENT, UNKNOWN, c))
        res = value_at(
            default if default else ABSENT,
            snap.collected_at if snap else None,
            steps,
            self.at,
            in_snapshot=default is not None,
        )
        self._note(res, f"managed policy {policy_arn}")
        if res.value is UNKNOWN or res.value is ABSENT or res.value[0] is UNKNOWN:
            self.unknown = True
            self.gaps.append(
                Gap(
                    what="identity",
                    account=self.caller.account,
                    resource=policy_arn,
                    reason=f"the default version of {policy_arn} in force then is not known ({res.note or 'not collected'})",
                    how_to_collect=commands.authorization_details(self.caller.account or "ACCOUNT"),
                )
            )
            return None
        return NamedPolicy(
            document=res.value[0],
            name=policy_arn.rsplit("/", 1)[-1],
            kind=kind,
            account=self.caller.account,
            arn=policy_arn,
            attached_to=attached_to,
        )

    def _note(self, res: AsOf, what: str) -> None:
        self.applied.extend(res.applied)
        if not res.certain and res.note:
            self.notes.append(f"{what}: {res.note}")

    def _attached(
        self,
        holder_arn: str | None,
        kind: str,
        name: str,
        snap_inline: dict[str, Any],
        snap_attached: set[str],
        reset_at: dt.datetime | None,
    ) -> tuple[dict[str, Any], set[str]]:
        """Inline policies and attached managed-policy ARNs of one role/user/group at ``at``."""
        changes = [
            c for c in self.hist.iam(self.caller.account, kind, name) if reset_at is None or c.event_time > reset_at
        ]
        self.changes.extend(changes)
        snap_time = self.snap.collected_at if self.snap else None
        if reset_at is not None:  # the principal was (re)created after the snapshot: it started with nothing
            snap_time, snap_inline, snap_attached = reset_at, {}, set()
        inline_steps: dict[str, list[Step]] = {}
        attach_steps: dict[str, list[Step]] = {}
        for c in changes:
            if not c.policy_name:
                continue
            if c.event_name.startswith("Put") and c.event_name.endswith("Policy") and "Boundary" not in c.event_name:
                inline_steps.setdefault(c.policy_name, []).append(Step(c.event_time, (c.document, c), UNKNOWN, c))
            elif (
                c.event_name.startswith("Delete") and c.event_name.endswith("Policy") and "Boundary" not in c.event_name
            ):
                inline_steps.setdefault(c.policy_name, []).append(Step(c.event_time, ABSENT, UNKNOWN, c))
            elif c.event_name.startswith("Attach"):
                attach_steps.setdefault(c.policy_name, []).append(Step(c.event_time, True, False, c))
            elif c.event_name.startswith("Detach"):
                attach_steps.setdefault(c.policy_name, []).append(Step(c.event_time, False, True, c))
        inline: dict[str, Any] = {}
        in_snap = holder_arn is not None or reset_at is not None
        for pname in sorted(set(snap_inline) | set(inline_steps)):
            snap_val = (snap_inline[pname], None) if pname in snap_inline else ABSENT
            res = value_at(snap_val, snap_time, inline_steps.get(pname, []), self.at, in_snapshot=in_snap)
            self._note(res, f"inline policy {pname} of {kind} {name}")
            if res.value is UNKNOWN:
                self.unknown = True
                self.gaps.append(
                    Gap(
                        "identity",
                        self.caller.account,
                        f"{kind}/{name}/{pname}",
                        f"inline policy {pname}: {res.note}",
                        commands.authorization_details(self.caller.account or "ACCOUNT"),
                    )
                )
            elif res.value is not ABSENT:
                inline[pname] = res.value[0]
        attached: set[str] = set()
        for arn in sorted(snap_attached | set(attach_steps)):
            res = value_at(arn in snap_attached, snap_time, attach_steps.get(arn, []), self.at, in_snapshot=in_snap)
            self._note(res, f"attachment of {arn} to {kind} {name}")
            if res.value is True:
                attached.add(arn)
            elif res.value is UNKNOWN:
                self.unknown = True
        return inline, attached

    def build(self) -> tuple[PrincipalInfo | None, tuple[NamedPolicy, ...] | None, NamedPolicy | None, bool]:
        """(principal, identity policies, boundary, boundary_known)."""
        caller, snap = self.caller, self.snap
        if caller.kind not in ("role", "user") or not caller.name or not caller.account:
            if caller.kind == "root":  # identity policies do not restrict the root user
                return None, (), None, True
            what = {
                "federated": "a federated user: its policies are those of the IAM user that called GetFederationToken plus the session policy"
            }
            self.notes.append(
                what.get(caller.kind, "the caller is not an IAM role or user; identity policies are unknown")
            )
            self.gaps.append(Gap("identity", caller.account, None, "caller's role or user not identified", ""))
            return None, None, None, False
        row = _principal_row(self.con, snap, caller, caller.kind, caller.name) if snap else None
        identity_gap = snap is not None and bool(
            self.con.execute(
                "SELECT 1 FROM collection_gaps WHERE snapshot_id = ? AND what = 'identity' AND account = ? LIMIT 1",
                [snap.snapshot_id, caller.account],
            ).fetchone()
        )
        # the principal's own existence: CreateRole / DeleteRole after the snapshot reset it
        life = [
            c
            for c in self.hist.iam(caller.account, caller.kind, caller.name)
            if c.event_name in ("CreateRole", "DeleteRole")
        ]
        steps = [
            Step(c.event_time, (c.event_name, c), ABSENT if c.event_name == "CreateRole" else UNKNOWN, c) for c in life
        ]
        exist = value_at(
            ("snapshot", None) if row else ABSENT,
            snap.collected_at if snap else None,
            steps,
            self.at,
            in_snapshot=row is not None or (snap is not None and not identity_gap),
        )
        self._note(exist, f"{caller.kind} {caller.name}")
        reset_at: dt.datetime | None = None
        create: Change | None = None
        if exist.value is not UNKNOWN and exist.value is not ABSENT and exist.value[0] == "CreateRole":
            create = exist.value[1]
            reset_at = create.event_time if create else None
        if exist.value is UNKNOWN or (exist.value is ABSENT and identity_gap):
            how = commands.authorization_details(caller.account)
            found = _gaps_for(self.con, snap, caller.account, ("identity",))
            self.gaps.extend(
                found
                or [
                    Gap(
                        "identity",
                        caller.account,
                        caller.account,
                        f"IAM of account {caller.account} was not collected"
                        + (f" ({exist.note})" if exist.note else ""),
                        how,
                    )
                ]
            )
            return None, None, None, False
        if exist.value is ABSENT or (exist.value[0] == "DeleteRole"):
            self.notes.append(f"{caller.kind} {caller.name} does not exist in account {caller.account} at that time")
            return None, (), None, True
        if create is not None:
            arn = f"arn:aws:iam::{caller.account}:role{create.details.get('path') or '/'}{caller.name}"
            principal = PrincipalInfo(
                arn=arn,
                account=caller.account,
                kind=caller.kind,
                name=caller.name,
                unique_id=create.details.get("unique_id"),
            )
            snap_inline: dict[str, Any] = {}
            snap_attached: set[str] = set()
            boundary_arn = create.details.get("permissions_boundary_arn")
            groups: tuple[str, ...] = ()
        else:
            assert row is not None  # the value came from the snapshot
            principal = PrincipalInfo(
                arn=row[0],
                account=row[1],
                kind=row[2],
                name=row[3],
                unique_id=row[4],
                create_date=row[5],
                permissions_boundary_arn=row[6],
                groups=tuple(row[7] or ()),
            )
            snap_inline = self._inline_rows(row[0])
            snap_attached = set(row[8] or ())
            boundary_arn = row[6]
            groups = tuple(row[7] or ())
        inline, attached = self._attached(
            row[0] if row else None, caller.kind, caller.name, snap_inline, snap_attached, reset_at
        )
        policies: list[NamedPolicy] = [
            NamedPolicy(
                document=doc, name=n, kind="inline", account=caller.account, arn=None, attached_to=principal.arn
            )
            for n, doc in inline.items()
        ]
        for arn in sorted(attached):
            mp = self._managed_doc(arn, principal.arn, "managed")
            if mp:
                policies.append(mp)
        if caller.kind == "user" and snap is not None:
            for gname in groups:
                grow = _principal_row(self.con, snap, caller, "group", gname)
                g_inline, g_attached = self._attached(
                    grow[0] if grow else None,
                    "group",
                    gname,
                    self._inline_rows(grow[0]) if grow else {},
                    set(grow[8] or ()) if grow else set(),
                    None,
                )
                garn = grow[0] if grow else f"arn:aws:iam::{caller.account}:group/{gname}"
                policies.extend(
                    NamedPolicy(document=doc, name=n, kind="group-inline", account=caller.account, attached_to=garn)
                    for n, doc in g_inline.items()
                )
                for arn in sorted(g_attached):
                    mp = self._managed_doc(arn, garn, "group-managed")
                    if mp:
                        policies.append(mp)
        # permissions boundary
        b_changes = [
            c
            for c in self.hist.iam(caller.account, caller.kind, caller.name)
            if c.event_name.endswith("PermissionsBoundary") and (reset_at is None or c.event_time > reset_at)
        ]
        b_steps = [
            Step(c.event_time, (c.policy_name if c.event_name.startswith("Put") else None, c), UNKNOWN, c)
            for c in b_changes
        ]
        b_res = value_at((boundary_arn, None), reset_at or (snap.collected_at if snap else None), b_steps, self.at)
        self._note(b_res, f"permissions boundary of {caller.name}")
        boundary: NamedPolicy | None = None
        boundary_known = True
        if b_res.value is UNKNOWN:
            boundary_known = False
        elif b_res.value[0]:
            principal = PrincipalInfo(**{**principal.__dict__, "permissions_boundary_arn": b_res.value[0]})
            boundary = self._managed_doc(b_res.value[0], principal.arn, "permissions-boundary")
            boundary_known = boundary is not None
        return principal, (None if self.unknown else tuple(policies)), boundary, boundary_known

    def _inline_rows(self, holder_arn: str) -> dict[str, Any]:
        assert self.snap is not None
        rows = self.con.execute(
            "SELECT policy_name, document FROM identity_policies WHERE snapshot_id = ? AND principal_arn = ?",
            [self.snap.snapshot_id, holder_arn],
        ).fetchall()
        return {r[0]: _loads(r[1]) for r in rows}


# ------------------------------------------------------------------------------------------ organizations


def _org_levels(
    con: duckdb.DuckDBPyConnection,
    hist: History,
    account: str,
    policy_type: str,
    at: dt.datetime | None,
    own: Snap | None,
) -> tuple[tuple[OrgLevel, ...] | None, list[Gap], list[str], list[Change], list[Change]]:
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
    picked = _pick([(0, r[1], r[0], r[2]) for r in rows], at, 1)
    how = commands.list_parents("MANAGEMENT_ACCOUNT", account)
    if not picked:
        return (
            None,
            [
                Gap(
                    label.lower(),
                    account,
                    account,
                    f"the {label}s of account {account} were not collected (Organizations is read from the management account or a delegated administrator)",
                    how,
                )
            ],
            [],
            [],
            [],
        )
    sid, collected_at, reader = picked[0][2], picked[0][1], picked[0][3]
    notes = [] if at is None or collected_at <= at else [f"{label}s: only a snapshot taken after the time asked about"]
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
    if not path[-1].startswith("r-"):
        return (
            None,
            [
                Gap(
                    label.lower(),
                    account,
                    path[-1],
                    f"the path of {account} to the organization root is incomplete",
                    commands.list_parents("MANAGEMENT_ACCOUNT", path[-1]),
                )
            ],
            notes,
            [],
            [],
        )
    path.reverse()  # root first
    any_type = con.execute(
        "SELECT 1 FROM org_policies WHERE snapshot_id = ? AND policy_type = ? LIMIT 1", [sid, policy_type]
    ).fetchone()
    refused = con.execute(
        "SELECT how_to_collect FROM collection_gaps WHERE snapshot_id = ? AND account = ? AND what = 'org'"
        " AND call = 'organizations list-policies' AND resource = ?",
        [sid, reader, policy_type],
    ).fetchall()
    if not any_type:
        if refused:
            return (
                None,
                [
                    Gap(
                        label.lower(),
                        account,
                        policy_type,
                        f"the organization's {label}s could not be listed",
                        refused[0][0] or "",
                    )
                ],
                notes,
                [],
                [],
            )
        return (), [], notes, [], []  # the policy type is not enabled: no such policies apply
    ids = "/".join(path)
    levels: list[OrgLevel] = []
    gaps: list[Gap] = []
    applied: list[Change] = []
    later: list[Change] = []
    by_target: dict[str, list[Any]] = {}
    for r in con.execute(
        "SELECT t.target_id, p.policy_id, p.name, p.arn, p.document FROM org_policy_targets t JOIN org_policies p"
        " ON p.snapshot_id = t.snapshot_id AND p.policy_id = t.policy_id"
        f" WHERE t.snapshot_id = ? AND p.policy_type = ? AND t.target_id IN ({', '.join('?' * len(path))})"
        " ORDER BY p.policy_id",
        [sid, policy_type, *path],
    ).fetchall():
        by_target.setdefault(r[0], []).append(r[1:])
    for i, target in enumerate(path):
        rows = by_target.get(target, [])
        attached = {r[0]: r for r in rows}
        t_changes = hist.org_target(target)
        steps: dict[str, list[Step]] = {}
        for c in t_changes:
            if c.resource_arn and c.event_name in ("AttachPolicy", "DetachPolicy"):
                steps.setdefault(c.resource_arn, []).append(
                    Step(c.event_time, c.event_name == "AttachPolicy", c.event_name != "AttachPolicy", c)
                )
        policies = []
        for pid in sorted(set(attached) | set(steps)):
            res = value_at(pid in attached, collected_at, steps.get(pid, []), at)
            applied.extend(res.applied)
            later.extend(c for c in t_changes if c.resource_arn == pid and at is not None and c.event_time > at)
            if res.value is not True:
                continue
            content_changes = hist.org_content(pid)
            later.extend(c for c in content_changes if at is not None and c.event_time > at)
            base = attached.get(pid)
            c_steps = [
                Step(c.event_time, c.document, ABSENT if c.event_name == "CreatePolicy" else UNKNOWN, c)
                for c in content_changes
            ]
            doc = value_at(
                _loads(base[3]) if base and base[3] else ABSENT,
                collected_at,
                c_steps,
                at,
                in_snapshot=bool(base and base[3]),
            )
            applied.extend(doc.applied)
            if doc.value is UNKNOWN or doc.value is ABSENT:
                gaps.append(
                    Gap(
                        label.lower(),
                        account,
                        pid,
                        f"the content of {label} {pid} is not known",
                        commands.describe_policy("MANAGEMENT_ACCOUNT", pid),
                    )
                )
                continue
            policies.append(
                NamedPolicy(
                    document=doc.value,
                    name=(base[1] if base else pid) or pid,
                    kind=label.lower(),
                    account=account,
                    arn=base[2] if base else None,
                    attached_to=target,
                )
            )
        levels.append(OrgLevel(org_identifier="/".join(path[: i + 1]) if ids else target, policies=tuple(policies)))
    if gaps:
        return None, gaps, notes, applied, later
    return tuple(levels), gaps, notes, applied, later


# ------------------------------------------------------------------------------------------------ bucket


def _bucket(
    con: duckdb.DuckDBPyConnection, hist: History, bucket: str, at: dt.datetime | None
) -> tuple[NamedPolicy | None, dict[str, Any] | None, bool, list[Gap], list[str], list[Change], list[Change]]:
    rows = con.execute(
        "SELECT b.account, s.collected_at, b.snapshot_id, b.policy_known, b.policy, b.encryption_known, b.encryption"
        " FROM bucket_policies b JOIN snapshots s USING (snapshot_id) WHERE b.bucket = ?",
        [bucket],
    ).fetchall()
    picked = _pick([(0, r[1], *r) for r in rows], at, 1)
    row = picked[0][2:] if picked else None
    arn = f"arn:aws:s3:::{bucket}"
    changes = hist.arn(arn)
    steps = [
        Step(c.event_time, (c.document if c.event_name == "PutBucketPolicy" else None, c), UNKNOWN, c) for c in changes
    ]
    snap_time = row[1] if row else None
    res = value_at(
        (_loads(row[4]), None) if row and row[3] else ABSENT, snap_time, steps, at, in_snapshot=bool(row and row[3])
    )
    later = [c for c in changes if at is not None and c.event_time > at]
    notes = [f"bucket policy of {bucket}: {res.note}"] if not res.certain and res.note else []
    account = row[0] if row else next((c.account for c in changes if c.account), None)
    encryption = _loads(row[6]) if row and row[5] else None
    if res.value is UNKNOWN:
        gap = Gap(
            "bucket_policy",
            account,
            bucket,
            f"the bucket policy of {bucket} was not collected ({res.note})",
            commands.bucket_call(account or "ACCOUNT", bucket, "get-bucket-policy"),
        )
        return None, encryption, False, [gap], notes, res.applied, later
    doc = res.value[0] if res.value is not ABSENT else None
    policy = (
        NamedPolicy(document=doc, name=bucket, kind="bucket-policy", account=account, arn=arn)
        if doc is not None
        else None
    )
    return policy, encryption, True, [], notes, res.applied, later


# --------------------------------------------------------------------------------------------- the API


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
    if caller.account is None:
        caller = Caller(caller_account, caller.kind, caller.name, caller.session)
    gaps: list[Gap] = []
    notes: list[str] = []
    applied: list[Change] = []
    later: list[Change] = []
    snapshot_ids: list[int] = []

    def after(changes: list[Change]) -> list[Change]:
        return [c for c in changes if at is not None and c.event_time > at]

    # --- the key
    key: KeyInfo | None = None
    key_policy: NamedPolicy | None = None
    grants: tuple[Grant, ...] | None = None
    key_snap: Snap | None = None
    key_account: str | None = None
    if key_arn and not key_arn.startswith("arn:"):
        resolved = resolve_key(con, key_arn, region=None, account=caller.account, at=at)
        key_arn = resolved.key_arn if resolved else key_arn
    parts = _arn_parts(key_arn) if key_arn else None
    if snapshots is not None:
        snapshots.preload([parts[3] if key_arn and parts is not None else None, caller.account])
    if key_arn and parts is not None:
        key_account = parts[3]
        key_snap = nearest_snapshot(con, key_account, at, snapshots)
    caller_snap = (
        key_snap if key_snap and caller.account == key_account else nearest_snapshot(con, caller.account, at, snapshots)
    )
    hist = History.load(
        con,
        key_arn=key_arn if parts else None,
        key_since=key_snap.collected_at if key_snap and key_snap.before else None,
        bucket_arn=f"arn:aws:s3:::{bucket}" if bucket else None,
        account=caller.account,
        account_since=caller_snap.collected_at if caller_snap and caller_snap.before else None,
        at=at,
    )
    if key_arn and parts is not None:
        key_account = parts[3]
        region = parts[2]
        key_id = parts[4].split("/", 1)[-1]
        if key_snap:
            snapshot_ids.append(key_snap.snapshot_id)
        k_changes = hist.arn(key_arn)
        later.extend(after(k_changes))
        key, state = _key_as_of(con, key_arn, key_snap, k_changes, at)
        applied.extend(state.applied)
        if not state.certain and state.note:
            notes.append(f"key {key_arn}: {state.note}")
        if state.value is UNKNOWN:
            recorded = _gaps_for(con, key_snap, key_arn, ("key",)) or _gaps_for(con, key_snap, region, ("keys",))
            gaps.extend(
                recorded
                or [
                    Gap(
                        "key",
                        key_account,
                        key_arn,
                        f"the key was not collected ({state.note})",
                        commands.describe_key(key_account, region, key_id),
                    )
                ]
            )
        pol = _key_policy(con, key_arn, key_account, key_snap, k_changes, at)
        applied.extend(pol.applied)
        if not pol.certain and pol.note:
            notes.append(f"key policy of {key_arn}: {pol.note}")
        key_absent = key is None and state.value is not UNKNOWN  # known not to exist then: no policy to miss
        if (pol.value is UNKNOWN and not key_absent) or (pol.value is ABSENT and key is not None):
            recorded = _gaps_for(con, key_snap, key_arn, ("key_policy",))
            gaps.extend(
                recorded
                or [
                    Gap(
                        "key_policy",
                        key_account,
                        key_arn,
                        f"the key policy was not collected ({pol.note or 'no snapshot of it'})",
                        commands.get_key_policy(key_account, region, key_id),
                    )
                ]
            )
        elif pol.value is not ABSENT and pol.value is not UNKNOWN:
            key_policy = NamedPolicy(
                document=pol.value[0], name="default", kind="key-policy", account=key_account, arn=key_arn
            )
        grants, g_applied, g_notes = _grants(con, key_arn, key_snap, k_changes, at)
        applied.extend(g_applied)
        notes.extend(g_notes)
        if grants is None and key is not None:
            recorded = _gaps_for(con, key_snap, key_arn, ("grants",))
            gaps.extend(
                recorded
                or [
                    Gap(
                        "grants",
                        key_account,
                        key_arn,
                        "the key's grants were not collected",
                        commands.list_grants(key_account, region, key_id),
                    )
                ]
            )

    # --- the caller
    if caller_snap and caller_snap.snapshot_id not in snapshot_ids:
        snapshot_ids.append(caller_snap.snapshot_id)
    ident = _Identity(con, hist, caller, caller_snap, at)
    principal, identity_policies, boundary, boundary_known = ident.build()
    applied.extend(ident.applied)
    later.extend(after(ident.changes))
    notes.extend(ident.notes)
    gaps.extend(ident.gaps)
    if not boundary_known and principal is not None:
        gaps.append(
            Gap(
                "permission_boundary",
                caller.account,
                principal.arn,
                "the permissions boundary in force is not known",
                commands.authorization_details(caller.account or "ACCOUNT"),
            )
        )

    # --- organizations
    scps: tuple[OrgLevel, ...] | None = None
    if caller.account:
        scps, s_gaps, s_notes, s_applied, s_later = _org_levels(con, hist, caller.account, SCP, at, caller_snap)
        gaps.extend(s_gaps)
        notes.extend(s_notes)
        applied.extend(s_applied)
        later.extend(s_later)
    rcps: tuple[OrgLevel, ...] | None = None
    if key_account:
        rcps, r_gaps, r_notes, r_applied, r_later = _org_levels(con, hist, key_account, RCP, at, key_snap)
        gaps.extend(r_gaps)
        notes.extend(r_notes)
        applied.extend(r_applied)
        later.extend(r_later)

    # --- the bucket
    bucket_policy: NamedPolicy | None = None
    bucket_encryption: dict[str, Any] | None = None
    if bucket:
        bucket_policy, bucket_encryption, _known, b_gaps, b_notes, b_applied, b_later = _bucket(con, hist, bucket, at)
        gaps.extend(b_gaps)
        notes.extend(b_notes)
        applied.extend(b_applied)
        later.extend(b_later)

    primary = key_snap or caller_snap
    if primary is None and not applied:
        notes.insert(0, "no snapshot and no policy-change event: run `kmsdiag collect` (or load a bundle)")
    elif primary is not None and not primary.before and not applied:
        notes.insert(0, f"no snapshot at or before {at}; the policies come from the snapshot of {primary.collected_at}")
    return InForce(
        at=at,
        key=key,
        key_policy=key_policy,
        grants=grants,
        principal=principal,
        identity_policies=identity_policies,
        permission_boundary=boundary,
        scps=scps,
        rcps=rcps,
        bucket_policy=bucket_policy,
        bucket_encryption=bucket_encryption,
        snapshot_id=primary.snapshot_id if primary else None,
        collected_at=primary.collected_at if primary else None,
        changes_applied=_unique(applied),
        later_changes=_unique(later),
        uncertain=tuple(dict.fromkeys(notes)),
        gaps=tuple(dict.fromkeys(gaps)),
        snapshot_ids=tuple(snapshot_ids),
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
