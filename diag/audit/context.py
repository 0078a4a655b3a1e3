"""What the audit rules read: the collected policies of one snapshot per account, loaded once.

``AuditContext.load(con, snapshot_id=None)`` picks, for every collected account, its latest snapshot
(or only the accounts of ``snapshot_id``) and reads keys, key policies, grants, aliases, principals and
identity policies of those snapshots. Events and policy changes stay in the database; rules query them
through ``ctx.con`` with parameters. Rules are pure readers: nothing here writes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from diag import arn as arns
from diag import times
from diag.audit.access import AccessMatrix, KeyAccess
from diag.audit.compute import compute_matrix
from diag.audit.records import GrantRow, IdentityPolicyRecord, KeyRecord, PrincipalRecord, _loads
from diag.errors import NotFoundError
from diag.policy.parse import StatementSpec

if TYPE_CHECKING:
    import duckdb

__all__ = ["AuditContext", "GrantRow", "IdentityPolicyRecord", "KeyRecord", "PrincipalRecord", "_loads"]


@dataclass
class AuditContext:
    """The collected policies the rules audit, with parameters (``now``, grant age, in-use window)."""

    con: duckdb.DuckDBPyConnection
    snapshots: dict[str, int]  # account → snapshot_id
    collected_at: dict[int, dt.datetime]
    iam_collected: frozenset[str]  # accounts whose IAM (principals) was collected without a gap
    keys: list[KeyRecord]
    principals: list[PrincipalRecord]
    identity_policies: list[IdentityPolicyRecord]
    now: dt.datetime
    grant_max_age_days: int = 90
    in_use_days: int = 30
    pinned: bool = False  # a --snapshot was given (the matrix uses its time, not the latest)
    _matrix: AccessMatrix | None = field(default=None, repr=False)
    _key_access: dict[str, KeyAccess] = field(default_factory=dict, repr=False)

    @property
    def accounts(self) -> list[str]:
        return sorted(self.snapshots)

    @cached_property
    def principal_arns(self) -> frozenset[str]:
        return frozenset(p.arn.lower() for p in self.principals)

    @cached_property
    def principal_names(self) -> dict[tuple[str, str, str], PrincipalRecord]:
        """(account, kind, name) → principal: ARNs are matched by name, as paths may differ in policies."""
        return {(p.account, p.kind, p.name): p for p in self.principals}

    @cached_property
    def unique_ids(self) -> frozenset[str]:
        return frozenset(p.unique_id for p in self.principals if p.unique_id)

    def key_statements(self, key: KeyRecord) -> list[StatementSpec]:
        parsed = key.parsed()
        return list(parsed.statements) if parsed else []

    def customer_key_statements(self, *, allow_only: bool = False) -> Iterator[tuple[KeyRecord, StatementSpec]]:
        """Every (key, statement) of the key policies of customer managed keys (AWS managed keys' policies
        are AWS's to write), only the Allow statements with ``allow_only``."""
        for key in self.keys:
            if key.aws_managed:
                continue
            for st in self.key_statements(key):
                if not allow_only or st.effect == "Allow":
                    yield key, st

    def matrix(self) -> AccessMatrix:
        """The "who can use this key" matrix, computed once with the engine (shared by rules and the report)."""
        if self._matrix is None:
            self._matrix = compute_matrix(self)
            self._key_access.update({k.key_arn: k for k in self._matrix.keys})
        return self._matrix

    def principals_allowed(self, key_arn: str, account: str | None = None) -> list[str]:
        """The principals (of ``account``) that the engine allows at least one common action on the key;
        computed for this key only, unless the whole matrix is already there."""
        ka = self._key_access.get(key_arn)
        if ka is None:
            for k in compute_matrix(self, keys=[key_arn]).keys:
                self._key_access[k.key_arn] = k
            ka = self._key_access.get(key_arn)
        if ka is None:
            return []
        return [p.principal for p in ka.principals if account is None or p.account == account]

    # ------------------------------------------------------------------------------------------- loading

    @classmethod
    def load(
        cls,
        con: duckdb.DuckDBPyConnection,
        *,
        snapshot_id: int | None = None,
        now: dt.datetime | None = None,
        grant_max_age_days: int = 90,
        in_use_days: int = 30,
    ) -> AuditContext:
        if snapshot_id is not None:
            rows = con.execute(
                "SELECT account, snapshot_id, collected_at FROM snapshot_accounts WHERE snapshot_id = ?", [snapshot_id]
            ).fetchall()
            if not rows:
                raise NotFoundError(f"no snapshot {snapshot_id}", hint="kmsdiag status lists the snapshots")
        else:
            rows = con.execute(
                "SELECT account, snapshot_id, collected_at FROM ("
                " SELECT *, row_number() OVER (PARTITION BY account ORDER BY collected_at DESC, snapshot_id DESC) AS rn"
                " FROM snapshot_accounts) WHERE rn = 1 ORDER BY account"
            ).fetchall()
        snapshots = {r[0]: int(r[1]) for r in rows}
        collected = {int(r[1]): r[2] for r in rows}
        pairs = [(a, s) for a, s in snapshots.items()]
        keys = _load_keys(con, pairs)
        if snapshot_id is None:  # the latest: replay the key-policy and key-state changes logged since
            keys = _replay_changes(con, keys, {int(r[1]): r[2] for r in rows})
        principals = _load_principals(con, pairs)
        iam = frozenset(
            a
            for a, s in pairs
            if any(p.account == a for p in principals)
            and not con.execute(
                "SELECT 1 FROM collection_gaps WHERE snapshot_id = ? AND account = ? AND what = 'identity' LIMIT 1",
                [s, a],
            ).fetchone()
        )
        return cls(
            con=con,
            snapshots=snapshots,
            collected_at=collected,
            iam_collected=iam,
            keys=keys,
            principals=principals,
            identity_policies=_load_identity(con, pairs),
            now=now or times.utcnow(),
            grant_max_age_days=grant_max_age_days,
            in_use_days=in_use_days,
            pinned=snapshot_id is not None,
        )


def _load_keys(con: duckdb.DuckDBPyConnection, pairs: list[tuple[str, int]]) -> list[KeyRecord]:
    out: list[KeyRecord] = []
    for account, sid in pairs:
        aliases: dict[str, list[str]] = {}
        for name, target_arn, region, target_id in con.execute(
            "SELECT alias_name, target_key_arn, region, target_key_id FROM aliases WHERE snapshot_id = ? AND account = ?",
            [sid, account],
        ).fetchall():
            arn = target_arn or (arns.key_arn(target_id, region, account) if target_id else None)
            if arn:
                aliases.setdefault(arn, []).append(name)
        policies = {
            r[0]: _loads(r[1])
            for r in con.execute(
                "SELECT key_arn, policy FROM key_policies WHERE snapshot_id = ? AND account = ? AND policy_name = 'default'",
                [sid, account],
            ).fetchall()
        }
        grants: dict[str, list[GrantRow]] = {}
        for r in con.execute(
            "SELECT key_arn, grant_id, grantee_principal, retiring_principal, operations, constraints, creation_date, name"
            " FROM grants WHERE snapshot_id = ? AND account = ? ORDER BY key_arn, grant_id",
            [sid, account],
        ).fetchall():
            c = _loads(r[5])
            grants.setdefault(r[0], []).append(
                GrantRow(r[1], r[0], r[2], r[3], tuple(r[4] or ()), c if isinstance(c, dict) else None, r[6], r[7])
            )
        refused_grants = {
            r[0]
            for r in con.execute(
                "SELECT resource FROM collection_gaps WHERE snapshot_id = ? AND account = ? AND what = 'grants'",
                [sid, account],
            ).fetchall()
        }
        for r in con.execute(
            "SELECT key_arn, key_id, region, key_state, key_manager, deletion_date FROM keys"
            " WHERE snapshot_id = ? AND account = ? ORDER BY key_arn",
            [sid, account],
        ).fetchall():
            arn = r[0]
            pol = policies.get(arn)
            out.append(
                KeyRecord(
                    snapshot_id=sid,
                    key_arn=arn,
                    key_id=r[1],
                    account=account,
                    region=r[2],
                    key_state=r[3],
                    key_manager=r[4],
                    deletion_date=r[5],
                    aliases=tuple(sorted(aliases.get(arn, []))),
                    policy=pol if isinstance(pol, dict) else None,
                    grants=None if arn in refused_grants else tuple(grants.get(arn, [])),
                    snapshot_policy=pol if isinstance(pol, dict) else None,
                )
            )
    return out


_STATE_EVENTS = ("DisableKey", "EnableKey", "ScheduleKeyDeletion", "CancelKeyDeletion")


def _replay_changes(
    con: duckdb.DuckDBPyConnection, keys: list[KeyRecord], collected: dict[int, dt.datetime]
) -> list[KeyRecord]:
    """Each key with the key policy and state that CloudTrail says were set after its snapshot."""
    import dataclasses

    out = []
    for key in keys:
        since = collected.get(key.snapshot_id)
        if since is None:
            out.append(key)
            continue
        rows = con.execute(
            "SELECT event_time, event_name, document, details FROM policy_changes WHERE resource_arn = ?"
            " AND event_time > ? AND (event_name = 'PutKeyPolicy' OR event_name IN (SELECT unnest(?::VARCHAR[])))"
            " ORDER BY event_time, event_id",
            [key.key_arn, since, list(_STATE_EVENTS)],
        ).fetchall()
        for when, name, doc, details in rows:
            if name == "PutKeyPolicy":
                d = _loads(doc)
                if isinstance(d, dict):
                    key = dataclasses.replace(key, policy=d, policy_changed_at=when)
                continue
            det = _loads(details)
            state = det.get("key_state") if isinstance(det, dict) else None
            if isinstance(state, str):
                from diag.times import parse_time

                deletion = parse_time(det.get("deletion_date")) if state == "PendingDeletion" else None
                key = dataclasses.replace(key, key_state=state, deletion_date=deletion, state_changed_at=when)
        out.append(key)
    return out


def _load_principals(con: duckdb.DuckDBPyConnection, pairs: list[tuple[str, int]]) -> list[PrincipalRecord]:
    out = []
    for account, sid in pairs:
        for r in con.execute(
            "SELECT arn, kind, name, unique_id FROM principals WHERE snapshot_id = ? AND account = ? ORDER BY arn",
            [sid, account],
        ).fetchall():
            out.append(PrincipalRecord(sid, r[0], account, r[1], r[2], r[3]))
    return out


def _load_identity(con: duckdb.DuckDBPyConnection, pairs: list[tuple[str, int]]) -> list[IdentityPolicyRecord]:
    out: list[IdentityPolicyRecord] = []
    for account, sid in pairs:
        for holder, name, doc in con.execute(
            "SELECT principal_arn, policy_name, document FROM identity_policies WHERE snapshot_id = ? AND account = ?"
            " ORDER BY principal_arn, policy_name",
            [sid, account],
        ).fetchall():
            d = _loads(doc)
            if isinstance(d, dict):
                out.append(IdentityPolicyRecord(sid, account, "inline", name, None, (holder,), d))
        holders: dict[str, list[str]] = {}
        for arn, attached in con.execute(
            "SELECT arn, attached_policy_arns FROM principals WHERE snapshot_id = ? AND account = ?", [sid, account]
        ).fetchall():
            for p in attached or ():
                holders.setdefault(p, []).append(arn)
        for parn, pname, doc in con.execute(
            "SELECT policy_arn, policy_name, document FROM managed_policies"
            " WHERE snapshot_id = ? AND account = ? AND is_default ORDER BY policy_arn",
            [sid, account],
        ).fetchall():
            if arns.account_of(parn) == "aws":
                continue  # AWS-managed policies are not the account's to fix (see README)
            d = _loads(doc)
            if isinstance(d, dict):
                out.append(
                    IdentityPolicyRecord(
                        sid, account, "managed", pname or parn, parn, tuple(sorted(holders.get(parn, []))), d
                    )
                )
    return out
