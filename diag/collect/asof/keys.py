"""One key as of a time: its DescribeKey (with state changes replayed), key policy and grants."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from diag.arn import parse as parse_arn
from diag.collect.asof.history import Change, loads
from diag.collect.asof.snapshots import Snap, gaps_for
from diag.collect.asof.steps import ABSENT, UNKNOWN, AsOf, Step, value_at
from diag.collect.model import KeyInfo
from diag.policy.model import Grant
from diag.times import parse_time, utcnow

if TYPE_CHECKING:
    import duckdb


def key_info(row: Any, aliases: tuple[str, ...]) -> KeyInfo:
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


KEY_COLS = "k.key_arn, k.key_id, k.account, k.region, k.key_state, k.key_manager, k.multi_region, k.deletion_date, k.description"


def aliases_of(con: duckdb.DuckDBPyConnection, snapshot_id: int, key_arn: str) -> tuple[str, ...]:
    parts = parse_arn(key_arn)
    if parts is None:
        return ()
    rows = con.execute(
        "SELECT alias_name FROM aliases WHERE snapshot_id = ? AND account = ? AND region = ? AND target_key_id = ?"
        " ORDER BY alias_name",
        [snapshot_id, parts.account, parts.region, parts.resource.split("/", 1)[-1]],
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


# The key's row in a snapshot. grants_as_of asks whether it exists with the very same query: under a
# diag.collect.principals_batch.BatchReader (an explain) that is answered by key_as_of's read, no round trip.
_KEY_ROW = f"SELECT {KEY_COLS} FROM keys k WHERE k.snapshot_id = ? AND k.key_arn = ?"


def key_as_of(
    con: duckdb.DuckDBPyConnection, key_arn: str, snap: Snap | None, changes: list[Change], at: dt.datetime | None
) -> tuple[KeyInfo | None, AsOf]:
    """The key (with its state) at ``at``: the snapshot's DescribeKey plus state-changing events."""
    parts = parse_arn(key_arn)
    row = None
    if snap is not None:
        row = con.execute(_KEY_ROW, [snap.snapshot_id, key_arn]).fetchone()
    info = key_info(row, aliases_of(con, snap.snapshot_id, key_arn)) if row and snap else None
    in_snapshot = snap is not None and (row is not None or (parts is not None and parts.region in snap.regions))
    state = value_at(
        (info.key_state, None) if info else ABSENT,
        snap.collected_at if snap else None,
        _key_state_steps(changes),
        at,
        in_snapshot=in_snapshot,
    )
    if state.value is UNKNOWN or state.value is ABSENT:
        return (deleted_if_past(info, at) if state.value is UNKNOWN else None), state
    new_state, change = state.value
    if info is None and change is not None and parts is not None:
        created = next((c for c in changes if c.event_name == "CreateKey"), change)
        info = KeyInfo(
            key_arn=key_arn,
            key_id=parts.resource.split("/", 1)[-1],
            account=parts.account,
            region=parts.region,
            key_manager=created.details.get("key_manager"),
            multi_region=created.details.get("multi_region"),
            description=created.details.get("description"),
        )
    if info is not None and new_state != info.key_state:
        deletion = None
        if new_state == "PendingDeletion" and change is not None:
            deletion = parse_time(change.details.get("deletion_date"))
        info = KeyInfo(
            **{
                **info.__dict__,
                "key_state": new_state,
                "deletion_date": deletion or (info.deletion_date if new_state == "PendingDeletion" else None),
            }
        )
    return deleted_if_past(info, at), state


def deleted_if_past(info: KeyInfo | None, at: dt.datetime | None) -> KeyInfo | None:
    """A key pending deletion whose deletion date had passed at ``at`` was gone then: state ``Deleted``."""
    if info is None or info.key_state != "PendingDeletion" or info.deletion_date is None:
        return info
    when = at or utcnow()
    if info.deletion_date > when:
        return info
    return KeyInfo(**{**info.__dict__, "key_state": "Deleted"})


def key_policy_as_of(
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
    snap_value = (loads(row[0]), None) if row else ABSENT
    res = value_at(snap_value, snap.collected_at if snap else None, steps, at, in_snapshot=row is not None)
    if isinstance(res.value, tuple) and isinstance(res.value[0], Change):  # parse only the document in force
        res.value = (res.value[0].document, res.value[1])
    return res


def grants_as_of(
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
                constraints=loads(r[4]),
                name=r[5],
                issuing_account=r[6],
                creation_date=r[7].isoformat() if r[7] else None,
            )
        grants_known = bool(snap_grants) or not gaps_for(con, snap, key_arn, ("grants",))
        if not snap_grants and grants_known:
            # no grant rows: either the key has none, or the key itself was not collected
            grants_known = con.execute(_KEY_ROW, [snap.snapshot_id, key_arn]).fetchone() is not None
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
