"""Where the explain pipeline gets policies and history: a thin adapter over collection and the events table.

``PolicySource`` is the interface the pipeline needs; ``DbPolicySource`` implements it over one database
with ``diag.collect.inforce`` (policies in force, key resolution) and indexed queries of ``events``
(PutKeyPolicy and grant history, the AssumeRole that passed a session policy). Tests pass their own source.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, Protocol

from diag.collect import inforce as _inforce
from diag.collect.model import InForce, KeyInfo, PolicyChange
from diag.diagnosis.case import GrantChange
from diag.diagnosis.model import EventFacts
from diag.diagnosis.session import (
    STS_SESSION_EVENTS,
    SessionLookup,
    may_have_session_policy,
    session_from_record,
    session_not_found,
)
from diag.policy.model import NamedPolicy

if TYPE_CHECKING:
    import duckdb

_SESSION_MAX = dt.timedelta(hours=36)  # the longest session (GetFederationToken; a role session: 12 hours)


class PolicySource(Protocol):
    def in_force(
        self,
        *,
        caller_arn: str | None,
        caller_account: str | None,
        key_arn: str | None,
        bucket: str | None,
        at: dt.datetime | None,
    ) -> InForce: ...

    def resolve_key(
        self, key_ref: str, *, region: str | None, account: str | None, at: dt.datetime | None
    ) -> KeyInfo | None: ...

    def keys_elsewhere(self, key_ref: str, *, region: str | None, account: str | None) -> list[KeyInfo]: ...

    def key_policy_changes(self, key_arn: str, before: dt.datetime | None) -> list[PolicyChange]: ...

    def grant_changes(self, key_arn: str, before: dt.datetime | None) -> list[GrantChange]: ...

    def session_policy(
        self, access_key_id: str | None, at: dt.datetime | None
    ) -> tuple[NamedPolicy, dict[str, Any]] | None: ...

    def known_accounts(self) -> frozenset[str]: ...

    def latest_snapshot_time(self) -> dt.datetime | None: ...

    def s3_kms_event(self, facts: EventFacts) -> EventFacts | None: ...


def _change(row: tuple[Any, ...]) -> PolicyChange:
    event_id, event_time, event_name, account, key_arn, actor, invoked_by, user_agent = row
    return PolicyChange(
        event_id=event_id,
        event_time=event_time,
        event_name=event_name,
        account=account,
        resource_arn=key_arn,
        actor_arn=actor,
        invoked_by=invoked_by,
        user_agent=user_agent,
        summary=f"{event_name} by {actor or 'unknown'}" + (f" via {invoked_by}" if invoked_by else ""),
    )


class DbPolicySource:
    """The policies and history of one kmsdiag database.

    With ``memo=True`` (``kmsdiag diagnose``: one process over a database that does not change meanwhile)
    answers are cached: the policies per (caller, key, bucket, policy epoch), an epoch being the interval
    between two consecutive policy changes or snapshots, during which nothing kmsdiag knows of changed;
    the key resolution, the key's history and the latest snapshot time likewise.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, *, memo: bool = False, one_explain: bool = False) -> None:
        self.con = con
        self.memo = memo
        # ``one_explain``: the policies in force are read through one BatchReader (diag.collect.principals_batch)
        # that the fixes' blast radius reads through too (diag.proof.blast): the key's half, its history and
        # the caller's account are queried once for both. Only while the database does not change.
        self.reader: Any = None
        if one_explain:
            from diag.collect.principals_batch import BatchReader

            self.reader = BatchReader(con)
        self._accounts: frozenset[str] | None = None
        self._cache: dict[Any, Any] = {}
        self._bounds: list[dt.datetime] | None = None
        self.snapshots: Any = None  # diag.collect.inforce.SnapshotIndex, made on first use
        self._snapshot_accounts: frozenset[str] | None = None  # read with the latest snapshot time

    def _epoch(self, at: dt.datetime | None) -> int | None:
        if at is None:
            return None
        if self._bounds is None:
            from diag.diagnosis.epochs import change_times

            self._bounds = change_times(self.con)
        import bisect

        return bisect.bisect_right(self._bounds, at)

    def _cached(self, key: tuple[Any, ...], compute: Any) -> Any:
        if not self.memo:
            return compute()
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    def in_force(
        self,
        *,
        caller_arn: str | None,
        caller_account: str | None,
        key_arn: str | None,
        bucket: str | None,
        at: dt.datetime | None,
    ) -> InForce:
        key = ("in_force", caller_arn, caller_account, key_arn, bucket, self._epoch(at) if self.memo else at)
        if self.snapshots is None:
            self.snapshots = _inforce.SnapshotIndex(self.con)
        return self._cached(
            key,
            lambda: _inforce.policies_in_force(
                self.reader or self.con,
                caller_arn=caller_arn,
                caller_account=caller_account,
                key_arn=key_arn,
                bucket=bucket,
                at=at,
                snapshots=self.snapshots,
            ),
        )

    def resolve_key(
        self, key_ref: str, *, region: str | None, account: str | None, at: dt.datetime | None
    ) -> KeyInfo | None:
        key = ("resolve", key_ref, region, account, self._epoch(at) if self.memo else at)
        return self._cached(key, lambda: _inforce.resolve_key(self.con, key_ref, region=region, account=account, at=at))

    def keys_elsewhere(self, key_ref: str, *, region: str | None, account: str | None) -> list[KeyInfo]:
        return list(
            self._cached(
                ("elsewhere", key_ref, region, account),
                lambda: list(_inforce.find_keys_elsewhere(self.con, key_ref, region=region, account=account)),
            )
        )

    _KMS_CHANGE_NAMES = ("PutKeyPolicy",)

    def _kms_changes(self, names: tuple[str, ...], key_arn: str, before: dt.datetime | None) -> list[PolicyChange]:
        """Successful key-policy and grant changes of ``key_arn`` (one query per key; cached with ``memo``)."""

        def query() -> list[PolicyChange]:
            marks = ",".join("?" for _ in self._KMS_CHANGE_NAMES)
            sql = (
                "SELECT event_id, event_time, event_name, recipient_account, key_arn,"
                " coalesce(caller_role_arn, caller_arn), invoked_by, user_agent FROM events WHERE key_arn = ?"
                f" AND event_source = 'kms.amazonaws.com' AND event_name IN ({marks}) AND error_code IS NULL"
                " ORDER BY event_time, event_id"
            )
            return [_change(r) for r in self.con.execute(sql, [key_arn, *self._KMS_CHANGE_NAMES]).fetchall()]

        changes: list[PolicyChange] = self._cached(("kms_changes", key_arn), query)
        return [c for c in changes if c.event_name in names and (before is None or c.event_time <= before)]

    def key_policy_changes(self, key_arn: str, before: dt.datetime | None) -> list[PolicyChange]:
        return self._kms_changes(("PutKeyPolicy",), key_arn, before)

    def grant_changes(self, key_arn: str, before: dt.datetime | None) -> list[GrantChange]:
        """Grants created, retired or revoked on ``key_arn`` (collection's policy history), each with its grantee
        from the CreateGrant event or any snapshot that listed the grant."""

        def query() -> list[GrantChange]:
            rows = self.con.execute(
                "SELECT pc.event_id, pc.event_time, pc.event_name, pc.account, pc.resource_arn, pc.actor_arn,"
                " pc.invoked_by, pc.user_agent, pc.summary, pc.policy_name,"
                " coalesce(json_extract_string(pc.details, '$.grantee_principal'),"
                "  (SELECT any_value(g.grantee_principal) FROM grants g WHERE g.key_arn = pc.resource_arn"
                "   AND g.grant_id = pc.policy_name),"
                "  (SELECT any_value(json_extract_string(c.details, '$.grantee_principal')) FROM policy_changes c"
                "   WHERE c.event_name = 'CreateGrant' AND c.policy_name = pc.policy_name))"
                " FROM policy_changes pc WHERE pc.resource_arn = ?"
                " AND pc.event_name IN ('CreateGrant', 'RetireGrant', 'RevokeGrant') ORDER BY pc.event_time, pc.event_id",
                [key_arn],
            ).fetchall()
            return [
                GrantChange(
                    change=PolicyChange(
                        event_id=r[0],
                        event_time=r[1],
                        event_name=r[2],
                        account=r[3],
                        resource_arn=r[4],
                        actor_arn=r[5],
                        invoked_by=r[6],
                        user_agent=r[7],
                        summary=r[8] or "",
                    ),
                    grant_id=r[9],
                    grantee=r[10],
                )
                for r in rows
            ]

        found: list[GrantChange] = self._cached(("grant_changes", key_arn), query)
        return [g for g in found if before is None or g.change.event_time <= before]

    def s3_kms_event(self, facts: EventFacts) -> EventFacts | None:
        """The failed KMS call that S3 made for the S3 request ``facts`` (same caller, within 10 seconds)."""
        if facts.event_time is None or not facts.caller_arn:
            return None
        from diag.diagnosis.facts import facts_from_row
        from diag.diagnosis.find import COLUMNS

        window = dt.timedelta(seconds=10)
        row = self.con.execute(
            "SELECT " + ", ".join(COLUMNS) + " FROM events WHERE event_time BETWEEN ? AND ?"
            " AND event_source = 'kms.amazonaws.com' AND invoked_by = 's3.amazonaws.com' AND caller_arn = ?"
            " AND error_code IS NOT NULL ORDER BY abs(epoch(event_time) - epoch(?::TIMESTAMP)) LIMIT 1",
            [facts.event_time - window, facts.event_time + window, facts.caller_arn, facts.event_time],
        ).fetchone()
        return facts_from_row(dict(zip(COLUMNS, row, strict=True))) if row else None

    def key_used_after(self, key_arn: str, after: dt.datetime) -> dict[str, Any] | None:
        """The first successful KMS call on the key after ``after`` (it shows the key was usable then), or a
        CancelKeyDeletion; None when there is none."""
        row = self.con.execute(
            "SELECT event_id, event_time, event_name FROM events WHERE key_arn = ? AND event_time > ?"
            " AND event_source = 'kms.amazonaws.com' AND (error_code IS NULL OR error_code = '')"
            " AND caller_type IS DISTINCT FROM 'AWSAccount'"
            " AND event_name NOT IN ('ScheduleKeyDeletion', 'DescribeKey', 'ListAliases', 'ListGrants', 'GetKeyPolicy',"
            " 'ListResourceTags', 'GetKeyRotationStatus', 'DisableKey')"
            " ORDER BY event_time, event_id LIMIT 1",
            [key_arn, after],
        ).fetchone()
        if row is None:
            return None
        return {"event_id": row[0], "event_time": row[1], "event_name": row[2]}

    def latest_snapshot_time(self) -> dt.datetime | None:
        """When the newest snapshot was collected (None: no snapshot)."""

        def query() -> dt.datetime | None:
            # the accounts with a snapshot come along (tiny table): known_accounts() then needs no query
            row = self.con.execute(
                "SELECT (SELECT max(collected_at) FROM snapshots), (SELECT list(DISTINCT account) FROM snapshot_accounts)"
            ).fetchone()
            if row is None:
                return None
            self._snapshot_accounts = frozenset(row[1] or ())
            return row[0]

        return self._cached(("latest_snapshot",), query)

    def session_policy(
        self, access_key_id: str | None, at: dt.datetime | None
    ) -> tuple[NamedPolicy, dict[str, Any]] | None:
        """The inline session policy passed by the STS call that issued ``access_key_id`` (None: no such
        record, or none passed; :meth:`session_lookup` tells the two apart)."""
        found = self.session_lookup_by_key(access_key_id, at)
        if found is None or found.policy is None or found.event is None:
            return None
        return found.policy, found.event

    def session_lookup_by_key(self, access_key_id: str | None, at: dt.datetime | None) -> SessionLookup | None:
        """What the STS record that issued ``access_key_id`` passed as session policy; None: no such record."""
        if not access_key_id or not access_key_id.startswith("ASIA"):
            return None
        marks = ",".join("?" for _ in STS_SESSION_EVENTS)
        sql = (
            "SELECT event_id, event_time, event_name, coalesce(caller_role_arn, caller_arn), raw FROM events"
            f" WHERE event_source = 'sts.amazonaws.com' AND event_name IN ({marks}) AND error_code IS NULL"
            " AND json_extract_string(raw, '$.responseElements.credentials.accessKeyId') = ?"
        )
        params: list[Any] = [*STS_SESSION_EVENTS, access_key_id]
        if at is not None:
            sql += " AND event_time BETWEEN ? AND ?"
            params += [at - _SESSION_MAX, at]
        row = self.con.execute(sql + " ORDER BY event_time DESC LIMIT 1", params).fetchone()
        return session_from_record(*row) if row else None

    def session_lookup(self, facts: EventFacts, at: dt.datetime | None) -> SessionLookup:
        """Whether the session policy of this call is known: none possible (not a role or federated session),
        found (the STS record that issued the credentials), or unknown (that record was not ingested)."""
        if not may_have_session_policy(facts):
            return SessionLookup(known=True)
        found = self._cached(
            ("session", facts.access_key_id, self._epoch(at) if self.memo else at),
            lambda: self.session_lookup_by_key(facts.access_key_id, at),
        )
        return found if found is not None else session_not_found(facts)

    def known_accounts(self) -> frozenset[str]:
        """The accounts with a snapshot (a tiny table, not a scan of every event's recipient account)."""
        if self._accounts is None:
            if self._snapshot_accounts is None:
                rows = self.con.execute("SELECT DISTINCT account FROM snapshot_accounts").fetchall()
                self._snapshot_accounts = frozenset(r[0] for r in rows)
            self._accounts = self._snapshot_accounts
        return self._accounts
