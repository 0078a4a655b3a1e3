"""The caller's identity as of a time: its role or user (``Identity``), inline and managed policies, its
groups' policies (a user) and its permissions boundary, from the snapshot plus IAM change events.

The caller ARN is decoded by the engine's ``parse_caller`` (the one caller type of kmsdiag); an assumed-role
session is its role, whose policies apply.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import TYPE_CHECKING, Any

from diag import arn as arns
from diag.collect import commands
from diag.collect.asof.history import Change, History, loads
from diag.collect.asof.snapshots import Snap, gaps_for
from diag.collect.asof.steps import ABSENT, UNKNOWN, AsOf, Step, value_at
from diag.collect.model import Gap, PrincipalInfo
from diag.policy.match import Caller
from diag.policy.match import parse_caller as parse_principal
from diag.policy.model import NamedPolicy

if TYPE_CHECKING:
    import duckdb

# the engine's caller kinds -> the IAM principal whose policies apply (an assumed-role session: its role)
_IAM_KIND = {"role": "role", "assumed-role": "role", "user": "user", "root": "root", "federated-user": "federated"}

Built = tuple[PrincipalInfo | None, tuple[NamedPolicy, ...] | None, NamedPolicy | None, bool]


def parse_caller(arn: str | None, account: str | None = None) -> Caller:
    """The caller behind an ARN (``account`` when the ARN has none); anything that is not an ARN (None, an
    account ID, a service name) is an unknown caller of ``account``, whose identity policies are unknown."""
    if arns.parse(arn) is None:
        return Caller(arn or "", "unknown", account)
    caller = parse_principal(str(arn))
    return caller if caller.account else dataclasses.replace(caller, account=account)


def iam_kind(caller: Caller) -> str:
    """``role`` (a role or a session of it), ``user``, ``root``, ``federated`` or ``unknown``."""
    return _IAM_KIND.get(caller.kind, "unknown")


class PrincipalRows:
    """The snapshot's rows ``Identity`` reads for one principal, one small indexed query each (the default:
    one explain reads one caller)."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con

    def principal(self, snapshot_id: int, account: str, kind: str, name: str) -> Any:
        """The ``principals`` row (arn, account, kind, name, unique_id, create_date, permissions_boundary_arn,
        groups, attached_policy_arns) of a role, user or group, or None."""
        return self.con.execute(
            "SELECT arn, account, kind, name, unique_id, create_date, permissions_boundary_arn, groups,"
            " attached_policy_arns FROM principals WHERE snapshot_id = ? AND name = ? AND kind = ? AND account = ?",
            [snapshot_id, name, kind, account],
        ).fetchone()

    def inline(self, snapshot_id: int, holder_arn: str) -> list[Any]:
        """(policy_name, document) of the inline policies of a role, user or group."""
        return self.con.execute(
            "SELECT policy_name, document FROM identity_policies WHERE snapshot_id = ? AND principal_arn = ?",
            [snapshot_id, holder_arn],
        ).fetchall()

    def managed_versions(self, snapshot_id: int, policy_arn: str) -> list[Any]:
        """(version_id, is_default, document, policy_name) of each collected version of a managed policy."""
        return self.con.execute(
            "SELECT version_id, is_default, document, policy_name FROM managed_policies"
            " WHERE snapshot_id = ? AND policy_arn = ?",
            [snapshot_id, policy_arn],
        ).fetchall()


class SnapshotRows(PrincipalRows):
    """The same rows for many principals (the audit matrix, a fix's blast radius): each table of a snapshot
    is read with ONE query, the first time any principal of that snapshot asks, and every lookup is answered
    from it. The snapshot is the one ``policies_in_force`` chose for the time asked, as with
    :class:`PrincipalRows`, so the answers are the same. Hold one only while the database does not change."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        super().__init__(con)
        self.queries = 0  # whole-snapshot reads sent to the database
        self._principals: dict[int, dict[tuple[str, str, str], Any]] = {}
        self._inline: dict[int, dict[str, list[Any]]] = {}
        self._managed: dict[int, dict[str, list[Any]]] = {}

    def _read(self, sql: str, snapshot_id: int) -> list[Any]:
        self.queries += 1
        return self.con.execute(sql, [snapshot_id]).fetchall()

    def principal(self, snapshot_id: int, account: str, kind: str, name: str) -> Any:
        table = self._principals.get(snapshot_id)
        if table is None:
            table = {}
            for r in self._read(
                "SELECT arn, account, kind, name, unique_id, create_date, permissions_boundary_arn, groups,"
                " attached_policy_arns FROM principals WHERE snapshot_id = ?",
                snapshot_id,
            ):
                table.setdefault((r[3], r[2], r[1]), r)  # the first row, as fetchone() answers
            self._principals[snapshot_id] = table
        return table.get((name, kind, account))

    def inline(self, snapshot_id: int, holder_arn: str) -> list[Any]:
        table = self._inline.get(snapshot_id)
        if table is None:
            table = {}
            sql = "SELECT policy_name, document, principal_arn FROM identity_policies WHERE snapshot_id = ?"
            for name, doc, arn in self._read(sql, snapshot_id):
                table.setdefault(arn, []).append((name, doc))
            self._inline[snapshot_id] = table
        return list(table.get(holder_arn, ()))

    def managed_versions(self, snapshot_id: int, policy_arn: str) -> list[Any]:
        table = self._managed.get(snapshot_id)
        if table is None:
            table = {}
            sql = (
                "SELECT version_id, is_default, document, policy_name, policy_arn FROM managed_policies"
                " WHERE snapshot_id = ?"
            )
            for *row, arn in self._read(sql, snapshot_id):
                table.setdefault(arn, []).append(tuple(row))
            self._managed[snapshot_id] = table
        return list(table.get(policy_arn, ()))


def principal_rows(con: Any) -> PrincipalRows:
    """The rows reader of ``con``: a batch reader standing in for the connection
    (``diag.collect.principals_batch.BatchReader``) carries a :class:`SnapshotRows`; a connection gets
    per-principal queries."""
    rows = getattr(con, "principal_rows", None)
    return rows if isinstance(rows, PrincipalRows) else PrincipalRows(con)


@dataclasses.dataclass
class _Holder:
    """The principal as the snapshot (or its CreateRole event) has it, before the changes after it."""

    principal: PrincipalInfo
    row_arn: str | None
    inline: dict[str, Any]
    attached: set[str]
    boundary_arn: str | None
    groups: tuple[str, ...]


class Identity:
    """Builds the caller's identity policies, boundary and principal as of ``at``."""

    def __init__(
        self, con: duckdb.DuckDBPyConnection, hist: History, caller: Caller, snap: Snap | None, at: dt.datetime | None
    ) -> None:
        self.con = con
        self.rows = principal_rows(con)
        self.hist = hist
        self.caller = caller
        self.account = caller.account
        self.kind = iam_kind(caller)
        self.name = caller.name or None
        self.snap = snap
        self.at = at
        self.applied: list[Change] = []
        self.changes: list[Change] = []
        self.notes: list[str] = []
        self.gaps: list[Gap] = []
        self.unknown = False

    def _managed_doc(self, policy_arn: str, attached_to: str, kind: str) -> NamedPolicy | None:
        """The default version of a managed policy at ``at`` (snapshot versions + version events)."""
        snap = self.snap
        versions: dict[str, Any] = {}
        default = None
        if snap is not None:
            for vid, is_default, doc, _name in self.rows.managed_versions(snap.snapshot_id, policy_arn):
                versions[vid] = loads(doc)
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
                    account=self.account,
                    resource=policy_arn,
                    reason=f"the default version of {policy_arn} in force then is not known ({res.note or 'not collected'})",
                    how_to_collect=commands.authorization_details(self.account or "ACCOUNT"),
                )
            )
            return None
        return NamedPolicy(
            document=res.value[0],
            name=policy_arn.rsplit("/", 1)[-1],
            kind=kind,
            account=self.account,
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
        changes = [c for c in self.hist.iam(self.account, kind, name) if reset_at is None or c.event_time > reset_at]
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
                        self.account,
                        f"{kind}/{name}/{pname}",
                        f"inline policy {pname}: {res.note}",
                        commands.authorization_details(self.account or "ACCOUNT"),
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

    def build(self) -> Built:
        """(principal, identity policies, boundary, boundary_known)."""
        account, kind, name = self.account, self.kind, self.name
        if kind not in ("role", "user") or not name or not account:
            return self._not_iam(kind, account)
        row = self.rows.principal(self.snap.snapshot_id, account, kind, name) if self.snap else None
        identity_gap = self._identity_gap(account)
        exist = self._existence(account, kind, name, row, identity_gap)
        create: Change | None = None
        if exist.value is not UNKNOWN and exist.value is not ABSENT and exist.value[0] == "CreateRole":
            create = exist.value[1]
        reset_at = create.event_time if create else None
        if exist.value is UNKNOWN or (exist.value is ABSENT and identity_gap):
            self._iam_not_collected(account, exist.note)
            return None, None, None, False
        if exist.value is ABSENT or (exist.value[0] == "DeleteRole"):
            self.notes.append(f"{kind} {name} does not exist in account {account} at that time")
            return None, (), None, True
        if create is not None:
            holder = self._created(create, account, kind, name)
        else:
            assert row is not None  # the value came from the snapshot
            holder = self._from_row(row)
        inline, attached = self._attached(holder.row_arn, kind, name, holder.inline, holder.attached, reset_at)
        principal = holder.principal
        policies: list[NamedPolicy] = [
            NamedPolicy(document=doc, name=n, kind="inline", account=account, arn=None, attached_to=principal.arn)
            for n, doc in inline.items()
        ]
        policies.extend(self._managed(attached, principal.arn, "managed"))
        if kind == "user" and self.snap is not None:
            for gname in holder.groups:
                policies.extend(self._group_policies(self.snap, account, gname))
        principal, boundary, boundary_known = self._boundary(principal, holder.boundary_arn, reset_at)
        return principal, (None if self.unknown else tuple(policies)), boundary, boundary_known

    def _not_iam(self, kind: str, account: str | None) -> Built:
        if kind == "root":  # identity policies do not restrict the root user
            return None, (), None, True
        what = {
            "federated": "a federated user: its policies are those of the IAM user that called GetFederationToken plus the session policy"
        }
        self.notes.append(what.get(kind, "the caller is not an IAM role or user; identity policies are unknown"))
        self.gaps.append(Gap("identity", account, None, "caller's role or user not identified", ""))
        return None, None, None, False

    def _identity_gap(self, account: str) -> bool:
        """Whether the snapshot recorded that the account's IAM could not be read."""
        snap = self.snap
        return snap is not None and bool(
            self.con.execute(
                "SELECT 1 FROM collection_gaps WHERE snapshot_id = ? AND what = 'identity' AND account = ? LIMIT 1",
                [snap.snapshot_id, account],
            ).fetchone()
        )

    def _existence(self, account: str, kind: str, name: str, row: Any, identity_gap: bool) -> AsOf:
        """The principal's own existence: CreateRole / DeleteRole after the snapshot reset it."""
        snap = self.snap
        life = [c for c in self.hist.iam(account, kind, name) if c.event_name in ("CreateRole", "DeleteRole")]
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
        self._note(exist, f"{kind} {name}")
        return exist

    def _iam_not_collected(self, account: str, note: str | None) -> None:
        found = gaps_for(self.con, self.snap, account, ("identity",))
        self.gaps.extend(
            found
            or [
                Gap(
                    "identity",
                    account,
                    account,
                    f"IAM of account {account} was not collected" + (f" ({note})" if note else ""),
                    commands.authorization_details(account),
                )
            ]
        )

    def _created(self, create: Change, account: str, kind: str, name: str) -> _Holder:
        """A role (re)created after the snapshot: it started with no policies."""
        principal = PrincipalInfo(
            arn=arns.role_arn(account, name, create.details.get("path") or "/", self.caller.partition),
            account=account,
            kind=kind,
            name=name,
            unique_id=create.details.get("unique_id"),
        )
        return _Holder(principal, None, {}, set(), create.details.get("permissions_boundary_arn"), ())

    def _from_row(self, row: Any) -> _Holder:
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
        return _Holder(principal, row[0], self._inline_rows(row[0]), set(row[8] or ()), row[6], tuple(row[7] or ()))

    def _managed(self, attached: set[str], holder_arn: str, kind: str) -> list[NamedPolicy]:
        return [mp for arn in sorted(attached) if (mp := self._managed_doc(arn, holder_arn, kind))]

    def _group_policies(self, snap: Snap, account: str, gname: str) -> list[NamedPolicy]:
        grow = self.rows.principal(snap.snapshot_id, account, "group", gname)
        g_inline, g_attached = self._attached(
            grow[0] if grow else None,
            "group",
            gname,
            self._inline_rows(grow[0]) if grow else {},
            set(grow[8] or ()) if grow else set(),
            None,
        )
        garn = grow[0] if grow else arns.iam_arn(account, f"group/{gname}", self.caller.partition)
        policies = [
            NamedPolicy(document=doc, name=n, kind="group-inline", account=account, attached_to=garn)
            for n, doc in g_inline.items()
        ]
        return policies + self._managed(g_attached, garn, "group-managed")

    def _boundary(
        self, principal: PrincipalInfo, boundary_arn: str | None, reset_at: dt.datetime | None
    ) -> tuple[PrincipalInfo, NamedPolicy | None, bool]:
        """The permissions boundary in force: (principal with its boundary ARN, boundary, boundary_known)."""
        b_changes = [
            c
            for c in self.hist.iam(self.account, self.kind, self.name or "")
            if c.event_name.endswith("PermissionsBoundary") and (reset_at is None or c.event_time > reset_at)
        ]
        b_steps = [
            Step(c.event_time, (c.policy_name if c.event_name.startswith("Put") else None, c), UNKNOWN, c)
            for c in b_changes
        ]
        snap_time = reset_at or (self.snap.collected_at if self.snap else None)
        b_res = value_at((boundary_arn, None), snap_time, b_steps, self.at)
        self._note(b_res, f"permissions boundary of {self.name}")
        if b_res.value is UNKNOWN:
            return principal, None, False
        if not b_res.value[0]:
            return principal, None, True
        principal = PrincipalInfo(**{**principal.__dict__, "permissions_boundary_arn": b_res.value[0]})
        boundary = self._managed_doc(b_res.value[0], principal.arn, "permissions-boundary")
        return principal, boundary, boundary is not None

    def _inline_rows(self, holder_arn: str) -> dict[str, Any]:
        assert self.snap is not None
        return {r[0]: loads(r[1]) for r in self.rows.inline(self.snap.snapshot_id, holder_arn)}
