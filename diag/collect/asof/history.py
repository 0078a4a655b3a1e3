"""The ``policy_changes`` rows one request may need (``History``), parsed into ``Change``."""

from __future__ import annotations

import datetime as dt
import functools
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from diag.collect.model import PolicyChange

if TYPE_CHECKING:
    import duckdb


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
        return loads(self.document_text)

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


def loads(value: Any) -> Any:
    if value is None or isinstance(value, dict | list):
        return value
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return value


def _changes(rows: list[Any]) -> list[Change]:
    out = []
    for r in rows:
        details = loads(r[10])
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


def load_changes(con: duckdb.DuckDBPyConnection, where: str, params: list[Any]) -> list[Change]:
    sql = f"SELECT {_CHANGE_COLS} FROM policy_changes WHERE {where} ORDER BY event_time, event_id"
    # a batch reader (diag.collect.principals_batch.BatchReader) builds the changes of one query once: every
    # principal of an account replays the same ones (Change is frozen; its parsed document is shared too)
    derived = getattr(con, "derived", None)
    if derived is not None:
        return list(derived(sql, params, _changes))
    return _changes(con.execute(sql, params).fetchall())


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
            return cls(load_changes(con, cond, params))
        capped = (
            f"({cond}) QUALIFY event_time <= ?"
            " OR row_number() OVER (PARTITION BY resource_arn, event_time > ? ORDER BY event_time, event_id) <= ?"
        )
        return cls(load_changes(con, capped, [*params, at, at, later_cap]))

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
