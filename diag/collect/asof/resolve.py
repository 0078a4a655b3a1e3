"""Which key a reference (key ARN, key ID, alias name or alias ARN) named at a time: ``resolve_key``, and
the same key ID or alias elsewhere (``find_keys_elsewhere``, the evidence for WRONG_REGION)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from diag import arn
from diag.arn import parse as parse_arn
from diag.collect.asof.history import load_changes
from diag.collect.asof.keys import KEY_COLS, aliases_of, key_as_of, key_info
from diag.collect.asof.snapshots import nearest_snapshot, pick_nearest
from diag.collect.asof.steps import ABSENT, UNKNOWN, Step, value_at
from diag.collect.model import KeyInfo

if TYPE_CHECKING:
    import duckdb


def _key_arn_from_ref(ref: str) -> tuple[str | None, str | None, str | None, str | None, str | None]:
    """(key_arn, key_id, alias_name, region, account) from a key ARN, key ID, alias name or alias ARN."""
    if ref.startswith("arn:"):
        parts = parse_arn(ref)
        if parts is None:
            return None, None, None, None, None
        region, account, res = parts.region, parts.account, parts.resource
        if res.startswith("key/"):
            return ref, res[4:], None, region, account
        if res.startswith("alias/"):
            return None, None, res, region, account
        return None, None, None, region, account
    if ref.startswith("alias/"):
        return None, None, ref, None, None
    return None, ref, None, None, None


def _keys_by(con: duckdb.DuckDBPyConnection, column: str, value: str) -> list[Any]:
    assert column in ("key_arn", "key_id")
    return con.execute(
        f"SELECT {KEY_COLS}, s.collected_at, k.snapshot_id FROM keys k JOIN snapshots s USING (snapshot_id) WHERE k.{column} = ?",
        [value],
    ).fetchall()


def _info_as_of(con: duckdb.DuckDBPyConnection, row: Any, at: dt.datetime | None) -> KeyInfo | None:
    key_arn = row[0]
    snap = nearest_snapshot(con, row[2], at)
    changes = load_changes(con, "resource_arn = ?", [key_arn])
    if snap is None:
        return key_info(row, aliases_of(con, row[10], key_arn))
    info, _ = key_as_of(con, key_arn, snap, changes, at)
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
            picked = pick_nearest(rows, at, 1)
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
        return _info_as_of(con, pick_nearest(rows, at, 9)[0], at)
    if key_id is None:
        return None
    rows = [
        r
        for r in _keys_by(con, "key_id", key_id)
        if (not region or r[3] == region) and (not account or r[2] == account)
    ]
    picked = pick_nearest(rows, at, 9)
    if len(picked) != 1:
        if not picked and region and account:
            return _from_events(con, arn.key_arn(key_id, region, account), at)
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
    changes = load_changes(con, "resource_arn = ?", [arn.alias_arn(alias, region, account)])
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
    parts = parse_arn(key_arn)
    if parts is None:
        return None
    changes = load_changes(con, "resource_arn = ?", [key_arn])
    if not changes:
        return None
    info, _ = key_as_of(con, key_arn, nearest_snapshot(con, parts.account, at), changes, at)
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
        for (target,) in arns:
            rows.extend(_keys_by(con, "key_arn", target))
    else:
        kid = key_id or (key_arn.rsplit("/", 1)[-1] if key_arn else None)
        if kid:
            rows = _keys_by(con, "key_id", kid)
    out = []
    for r in pick_nearest(rows, at, 9):
        if (region is None or r[3] == region) and (account is None or r[2] == account):
            continue
        info = _info_as_of(con, r, at) or key_info(r, aliases_of(con, r[10], r[0]))
        out.append(info)
    return sorted(out, key=lambda k: (k.account, k.region, k.key_arn))
