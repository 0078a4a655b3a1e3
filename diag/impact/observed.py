"""The distinct successful KMS calls CloudTrail recorded in a window, one row per distinct call.

A distinct call is what can change the engine's answer for a successful call: the caller (its role or
user; the session too when a policy in force names sessions), the action, the key, the region, the
calling service (``invokedBy``), the encryption context, the VPC endpoint, and the source IP only when a
policy in force mentions one (``diag.impact.replay`` decides, from the policies it reads). Events of one
distinct call are counted together, and the replay shares one evaluation between distinct calls with one
decision key, so it costs one evaluation per decision key, not per event. Grouping is done in SQL with
parameters only.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb


@dataclass(frozen=True)
class ObservedCall:
    principal: str  # the role or user ARN (what policies name)
    caller_arn: str  # one session ARN as logged (the representative event's)
    caller_account: str | None
    action: str  # kms:Decrypt
    key_arn: str
    key_account: str | None
    region: str | None
    via: str | None  # invokedBy
    count: int
    first_seen: dt.datetime | None
    last_seen: dt.datetime | None
    raw: dict[str, Any]  # the representative record

    def to_dict(self) -> dict[str, Any]:
        return {
            "principal": self.principal,
            "caller_arn": self.caller_arn,
            "caller_account": self.caller_account,
            "action": self.action,
            "key_arn": self.key_arn,
            "region": self.region,
            "invoked_by": self.via,
            "count": self.count,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
        }


def window_end(con: duckdb.DuckDBPyConnection) -> dt.datetime | None:
    """The newest successful KMS event ingested: the window ends there, so a copy of the database gives
    the same answer tomorrow."""
    row = con.execute(
        "SELECT max(event_time) FROM events WHERE event_source = 'kms.amazonaws.com' AND error_code IS NULL"
    ).fetchone()
    return row[0] if row else None


def observed_calls(
    con: duckdb.DuckDBPyConnection,
    *,
    since: dt.datetime,
    until: dt.datetime,
    keys: list[str] | None = None,
    principals: list[str] | None = None,
    accounts: list[str] | None = None,
    sessions: bool = False,
    source_ips: bool = False,
) -> tuple[list[ObservedCall], int, int]:
    """Distinct successful calls in [since, until], narrowed to ``keys`` / ``principals`` / caller or key
    ``accounts`` when given; also the number of events they stand for and of successful events whose caller
    is not named (the key owner's copy of a cross-account call: counted, not replayable). ``sessions`` /
    ``source_ips``: calls are distinct per session / source IP (when a policy in force names them)."""
    session_col = "caller_arn" if sessions else "NULL"
    ip_col = "source_ip" if source_ips else "NULL"
    where = [
        "event_source = 'kms.amazonaws.com'",
        "error_code IS NULL",
        "key_arn IS NOT NULL",
        "event_time BETWEEN ? AND ?",
    ]
    params: list[Any] = [since, until]
    if keys is not None:
        where.append("key_arn IN (SELECT unnest(?::VARCHAR[]))")
        params.append(keys)
    if principals is not None:
        where.append("coalesce(caller_role_arn, caller_arn) IN (SELECT unnest(?::VARCHAR[]))")
        params.append(principals)
    if accounts is not None:
        where.append(
            "(caller_account IN (SELECT unnest(?::VARCHAR[])) OR key_account IN (SELECT unnest(?::VARCHAR[])))"
        )
        params += [accounts, accounts]
    cond = " AND ".join(where)
    unnamed_row = con.execute(
        f"SELECT count(*) FROM events e WHERE {cond} AND caller_arn IS NULL AND NOT EXISTS (SELECT 1 FROM events n"
        " WHERE n.shared_event_id = e.shared_event_id AND n.caller_arn IS NOT NULL)",
        params,
    ).fetchone()  # the key owner's copy of a call whose caller's copy is stored is already counted
    sql = f"""
        SELECT coalesce(caller_role_arn, caller_arn) AS principal, any_value(caller_arn), any_value(caller_account),
               event_name, key_arn, any_value(key_account), aws_region, invoked_by,
               count(DISTINCT coalesce(shared_event_id, event_id)), min(event_time), max(event_time),
               arg_max(raw, event_time)
        FROM events
        WHERE {cond} AND caller_arn IS NOT NULL
        GROUP BY principal, event_name, key_arn, aws_region, invoked_by, CAST(encryption_context AS VARCHAR),
                 vpc_endpoint_id, {session_col}, {ip_col}
        ORDER BY principal, event_name, key_arn
    """  # only column names are formatted in; every value is a parameter
    rows = con.execute(sql, params).fetchall()
    calls = [
        ObservedCall(
            principal=r[0],
            caller_arn=r[1],
            caller_account=r[2],
            action=f"kms:{r[3]}",
            key_arn=r[4],
            key_account=r[5],
            region=r[6],
            via=r[7],
            count=int(r[8]),
            first_seen=r[9],
            last_seen=r[10],
            raw=json.loads(r[11]) if isinstance(r[11], str) else dict(r[11] or {}),
        )
        for r in rows
    ]
    return calls, sum(c.count for c in calls), int(unnamed_row[0]) if unnamed_row else 0
