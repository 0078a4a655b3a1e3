"""Who the policies were set up for: the principals that used a key successfully (from the trail), and the
principals whose own identity policies name the key (from the collected IAM policies).

``key_users(con, key_arn, event_name)`` lists the callers (the role for a role session, else the user)
whose calls of this operation on this key succeeded, with how many and the last time.

``identity_intended(con, key_arn, action, at)`` lists the roles and users, in any collected account, whose
identity policies as of ``at`` (inline, attached managed policies' default versions, their groups'
policies) allow ``action`` on a Resource that names this key itself (its key ID or ARN, not ``*``): those
policies were written for this key. The rules compare both with the principals that the key policy and
the grants name (``diag.rules._intent``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from diag.jsonout import stored_json
from diag.policy.match import action_matches, resource_matches

if TYPE_CHECKING:
    import duckdb

_LIMIT = 50

# The snapshot of each account nearest the event: the newest at or before it, else the first after it.
_PICK = (
    "WITH pick AS (SELECT account, coalesce(max(CASE WHEN ? IS NULL OR collected_at <= ? THEN snapshot_id END),"
    " min(snapshot_id)) AS snapshot_id FROM snapshot_accounts GROUP BY account) "
)


def key_users(
    con: duckdb.DuckDBPyConnection | None, key_arn: str | None, event_name: str | None
) -> tuple[tuple[str, int, dt.datetime], ...]:
    """(principal ARN, successful calls, last call) of every caller that used ``key_arn`` for ``event_name``."""
    if con is None or not key_arn or not event_name:
        return ()
    from diag.store.key_usage import key_usage_rows

    # the summary kept at ingest (one indexed lookup); the key's events when it is missing or out of date
    rows = key_usage_rows(con, key_arn, event_name, _LIMIT)
    if rows is not None:
        return tuple((str(r[0]), int(r[1]), r[2]) for r in rows)
    rows = con.execute(
        "SELECT coalesce(caller_role_arn, caller_arn) AS who, count(*), max(event_time) FROM events"
        " WHERE key_arn = ? AND event_name = ? AND error_code IS NULL AND event_source = 'kms.amazonaws.com'"
        " AND coalesce(caller_role_arn, caller_arn) IS NOT NULL GROUP BY who ORDER BY 2 DESC, 1 LIMIT ?",
        [key_arn, event_name, _LIMIT],
    ).fetchall()
    return tuple((str(r[0]), int(r[1]), r[2]) for r in rows)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value] if value is not None else []


def names_key(document: Any, key_arn: str, action: str) -> str | None:
    """The Sid (or ``#n``) of the first Allow statement of ``document`` that allows ``action`` on a Resource
    naming ``key_arn`` itself (its key ID appears in the pattern, and the pattern matches the ARN)."""
    key_id = key_arn.rsplit("/", 1)[-1]
    doc = stored_json(document)
    if not isinstance(doc, dict):
        return None
    for i, st in enumerate(_as_list(doc.get("Statement"))):
        if not isinstance(st, dict) or st.get("Effect") != "Allow" or "NotResource" in st:
            continue
        actions = [a for a in _as_list(st.get("Action")) if isinstance(a, str)]
        resources = [r for r in _as_list(st.get("Resource")) if isinstance(r, str)]
        if any(action_matches(a, action) for a in actions) and any(
            key_id in r and resource_matches(r, key_arn) for r in resources
        ):
            return str(st.get("Sid") or f"#{i}")
    return None


def _add(out: dict[str, str], arn: str, kind: str, where: str) -> None:
    if kind in ("role", "user") and arn and len(out) < _LIMIT:
        out.setdefault(arn, where)


def identity_intended(
    con: duckdb.DuckDBPyConnection | None,
    key_arn: str | None,
    action: str | None,
    at: dt.datetime | None,
    among: Sequence[str] | None = None,
) -> dict[str, str]:
    """Role or user ARN → which of its identity policies allows ``action`` on ``key_arn`` by name (see the
    module docstring); {} when no collected identity policy does. ``among``: only these roles and users
    (e.g. those that used the key); None: every collected one."""
    if con is None or not key_arn or not action or (among is not None and not among):
        return {}
    like = "%" + key_arn.rsplit("/", 1)[-1] + "%"
    out: dict[str, str] = {}
    groups: dict[tuple[int, str, str], str] = {}  # (snapshot, account, group name) -> where
    inline = con.execute(
        _PICK + "SELECT p.snapshot_id, p.account, p.principal_arn, p.principal_kind, p.policy_name, p.document"
        " FROM identity_policies p JOIN pick USING (snapshot_id, account) WHERE CAST(p.document AS VARCHAR) LIKE ?"
        " AND (? OR p.principal_kind = 'group' OR list_contains(?, p.principal_arn))"
        " ORDER BY p.principal_arn, p.policy_name",
        [at, at, like, among is None, list(among or ())],
    ).fetchall()
    for snap, account, arn, kind, name, doc in inline:
        sid = names_key(doc, key_arn, action)
        if sid is None:
            continue
        where = f"statement {sid} of inline policy {name} of {arn}"
        if kind == "group":
            groups[(snap, account, str(arn).rsplit("/", 1)[-1])] = where
        _add(out, str(arn), str(kind), where)
    managed = con.execute(
        _PICK + "SELECT DISTINCT m.policy_arn, m.document FROM managed_policies m"
        " WHERE m.is_default AND m.snapshot_id IN (SELECT snapshot_id FROM pick)"
        " AND CAST(m.document AS VARCHAR) LIKE ? ORDER BY m.policy_arn",
        [at, at, like],
    ).fetchall()
    for policy_arn, doc in managed:
        sid = names_key(doc, key_arn, action)
        if sid is None:
            continue
        attached = con.execute(
            _PICK + "SELECT p.snapshot_id, p.account, p.arn, p.kind, p.name FROM principals p"
            " JOIN pick USING (snapshot_id, account) WHERE list_contains(p.attached_policy_arns, ?)"
            " AND (? OR p.kind = 'group' OR list_contains(?, p.arn)) ORDER BY p.arn",
            [at, at, policy_arn, among is None, list(among or ())],
        ).fetchall()
        for snap, account, arn, kind, name in attached:
            where = f"statement {sid} of managed policy {policy_arn} attached to {arn}"
            if kind == "group":
                groups[(snap, account, str(name))] = where
            _add(out, str(arn), str(kind), where)
    for (snap, account, group), where in groups.items():
        members = con.execute(
            "SELECT arn FROM principals WHERE snapshot_id = ? AND account = ? AND kind = 'user'"
            " AND list_contains(groups, ?) ORDER BY arn",
            [snap, account, group],
        ).fetchall()
        for (arn,) in members:
            if among is None or arn in among:
                _add(out, str(arn), "user", f"{where} (group {group})")
    return out
