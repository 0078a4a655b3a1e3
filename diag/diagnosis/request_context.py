"""The request context as of the event time: the condition keys a CloudTrail record alone cannot give.

``fill_context(request, inputs, facts, con)`` completes the engine's request with the keys that the
policies of ``inputs`` read (only those: nothing is looked up for a key no policy reads):

- ``aws:PrincipalTag/<k>``: the role's or user's tags from the nearest snapshot, moved to the event time
  with the TagRole/UntagRole/TagUser/UntagUser records; for a role session, the session tags passed to the
  AssumeRole that issued the credentials override them, and transitive tags of a role chain are inherited
  (IAM User Guide, "Passing session tags in AWS STS"). An AWS service principal has no tags.
- ``aws:PrincipalOrgID`` / ``aws:PrincipalOrgPaths``: the caller account's organization and OU path from
  the collected organization, moved to the event time by MoveAccount records. Not in an organization:
  absent.
- ``kms:ResourceAliases``: the aliases of the key in the nearest snapshot that collected them.
- ``aws:SourceArn``, ``aws:SourceAccount``, ``aws:SourceOrgID``, ``aws:SourceOrgPaths`` (an AWS service
  acting for one of its resources): CloudTrail does not record them.
- ``aws:SourceVpc`` and ``aws:VpcSourceIp`` (a request through a VPC endpoint): CloudTrail records only the
  endpoint ID.
- ``aws:ResourceTag/<k>`` of a KMS key: the key's tags from the nearest snapshot (ListResourceTags), moved
  to the event time with the TagResource/UntagResource records and the CreateKey ``tags``
  (``diag.collect.key_tags``). For an S3 request, a general purpose bucket's tags count only when ABAC is
  enabled on the bucket (Amazon S3 User Guide, "Enabling ABAC in general purpose buckets"); kmsdiag
  collects neither, so the key is undetermined there.
- ``aws:CalledVia``, ``aws:CalledViaFirst``, ``aws:CalledViaLast``: made exact (see ``called_via``).

A key that can be determined gets its value, or stays absent when it is known to be absent (e.g. no such
tag, not in an organization). A key that cannot be determined gets ``diag.policy.context.UNDETERMINED``
(never "absent"): a condition on it is then unknown, and ``collect_hint`` says what to collect to decide.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from typing import TYPE_CHECKING, Any

from diag import arn as arns
from diag.collect.asof.snapshots import nearest_row
from diag.diagnosis.called_via import CALLED_VIA_KEYS as _CALLED_VIA_KEYS
from diag.diagnosis.called_via import exact_called_via as _exact_called_via
from diag.diagnosis.model import EventFacts
from diag.jsonout import stored_json
from diag.policy.context import UNDETERMINED
from diag.policy.model import PolicyInputs, Request
from diag.shell import q

if TYPE_CHECKING:
    import duckdb

_SESSION_MAX = dt.timedelta(hours=36)  # the longest role session (12 h) with room for role chaining
_SERVICE_SOURCE_KEYS = ("aws:sourcearn", "aws:sourceaccount", "aws:sourceorgid", "aws:sourceorgpaths")
_VPC_KEYS = ("aws:sourcevpc", "aws:vpcsourceip")
_UNSET = object()


def collect_hint(key: str, facts: EventFacts) -> str:
    """What to collect (or compare) to decide a condition on ``key`` for this call; one sentence."""
    k = key.lower()
    who = facts.principal_arn or facts.caller_arn or "the caller"
    if k.startswith("aws:principaltag/"):
        return (
            f"the tags of {who} at {facts.event_time or 'the event time'} (collect its account again, e.g."
            " `kmsdiag collect`, which lists role and user tags) and, for a role session, the AssumeRole record"
            " that issued its credentials (ingest the trail of the role's account): session tags override role tags"
        )
    if k in ("aws:principalorgid", "aws:principalorgpaths"):
        return (
            f"the organization of account {facts.caller_account or '?'}: collect it with"
            " `aws organizations describe-organization` and `aws organizations list-parents` (from the"
            " management account) and ingest its MoveAccount records"
        )
    if k == "kms:resourcealiases":
        return f"the aliases of {facts.key_arn or 'the key'}: `aws kms list-aliases --key-id KEY`"
    if k.startswith("aws:resourcetag/") and facts.is_s3:
        bucket = q(facts.bucket or "BUCKET")
        return (
            f"whether ABAC is enabled on bucket {facts.bucket or '?'} and its tags at the event time"
            f" (`aws s3api get-bucket-abac --bucket {bucket}`; with ABAC disabled its tags are not in the request"
            f" context; `aws s3api get-bucket-tagging --bucket {bucket}`)"
        )
    if k.startswith("aws:resourcetag/"):
        return (
            f"the tags of {facts.key_arn or 'the key'} at {facts.event_time or 'the event time'}"
            f" (`aws kms list-resource-tags --key-id {q(facts.key_arn or 'KEY')}`, kept by `kmsdiag collect`;"
            " and the trail's TagResource/UntagResource records since)"
        )
    if k in _CALLED_VIA_KEYS:
        return (
            f"the chain of services that called on the principal's behalf before {facts.invoked_by or 'the service'}"
            " (CloudTrail records only the last one)"
        )
    if k in _SERVICE_SOURCE_KEYS:
        return (
            f"the resource for which {facts.invoked_by or 'the service'} made the call (CloudTrail does not record"
            " it): compare the condition's value with the ARN and account of the rule, topic, alarm or trail"
            " that uses this key, from its own create/update records"
        )
    if k in _VPC_KEYS:
        return (
            f"the VPC of endpoint {facts.vpc_endpoint_id or '?'}: `aws ec2 describe-vpc-endpoints"
            f" --vpc-endpoint-ids {facts.vpc_endpoint_id or 'VPCE_ID'}` (CloudTrail records only the endpoint)"
        )
    return f"the value of {key} for this request"


def _present(ctx: dict[str, Any]) -> set[str]:
    return {k.lower() for k in ctx}


def fill_context(
    request: Request, inputs: PolicyInputs, facts: EventFacts, con: duckdb.DuckDBPyConnection | None
) -> Request:
    """``request`` with the keys the policies read and the record could not give (see module docstring)."""
    from diag.policy.engine import context_keys_read

    read = context_keys_read(inputs)
    wanted = [k for k in read if k not in _present(request.context)]
    exact = any(k in _CALLED_VIA_KEYS for k in read)
    if not wanted and not exact:
        return request
    ctx: dict[str, str | list[str]] = dict(request.context)
    filler = _Filler(facts, con)
    for key in wanted:
        value = filler.value(key)
        if value is not None:
            ctx[key] = value
    if exact:
        _exact_called_via(ctx, facts)
    return dataclasses.replace(request, context=ctx)


class _Filler:
    """Looks each family of keys up once per request."""

    def __init__(self, facts: EventFacts, con: duckdb.DuckDBPyConnection | None) -> None:
        self.facts = facts
        self.con = con
        self._tags: Any = _UNSET
        self._org: Any = _UNSET
        self._aliases: Any = _UNSET
        self._key_tags: Any = _UNSET

    @property
    def service_caller(self) -> bool:
        return self.facts.caller_type == "AWSService"

    def value(self, key: str) -> str | list[str] | None:
        """The key's value, UNDETERMINED, or None (known absent, or not a key this module fills)."""
        if key.startswith("aws:principaltag/"):
            if self.service_caller:
                return None
            if self._tags is _UNSET:
                self._tags = principal_tags(self.con, self.facts) if self.con is not None else None
            if self._tags is None:
                return UNDETERMINED
            return self._tags.value(key.split("/", 1)[1])
        if key in ("aws:principalorgid", "aws:principalorgpaths"):
            if self.service_caller:
                return None
            if self._org is _UNSET:
                self._org = org_of(self.con, self.facts.caller_account, self.facts.event_time) if self.con else None
            if self._org is None:
                return UNDETERMINED
            org_id, path = self._org
            if key == "aws:principalorgid":
                return org_id or None
            if org_id is None:
                return None
            return [path] if path else UNDETERMINED
        if key == "kms:resourcealiases":
            if self._aliases is _UNSET:
                self._aliases = key_aliases(self.con, self.facts.key_arn) if self.con is not None else None
            if self._aliases is None:
                return UNDETERMINED
            return list(self._aliases) or None
        if key.startswith("aws:resourcetag/"):
            return self.resource_tag(key.split("/", 1)[1])
        if key in _SERVICE_SOURCE_KEYS:
            return UNDETERMINED if self.service_caller else None
        if key in _VPC_KEYS:
            return UNDETERMINED if self.facts.vpc_endpoint_id else None
        return None

    def resource_tag(self, name: str) -> str | None:
        """``aws:ResourceTag/<name>`` of the request's resource: the KMS key's tag at the event time."""
        if self.facts.is_s3 or not self.facts.key_arn or self.con is None:
            return UNDETERMINED
        if self._key_tags is _UNSET:
            from diag.collect.key_tags import key_tags_at

            found = key_tags_at(self.con, self.facts.key_arn, self.facts.event_time)
            self._key_tags = None if found is None else PrincipalTags(found.known, found.unknown, found.complete)
        if self._key_tags is None:
            return UNDETERMINED
        return self._key_tags.value(name)


# ------------------------------------------------------------------------------------------ principal tags


def _nearest_snapshot_row(
    con: duckdb.DuckDBPyConnection, sql: str, params: list[Any], at: dt.datetime | None
) -> tuple[Any, ...] | None:
    """Of the rows ``sql`` selects, ``(collected_at, ...)`` oldest first: the last at or before ``at``, else the
    first after (``nearest_row``, as for the snapshot in force); None when it selects none."""
    found = nearest_row(con.execute(sql, params).fetchall(), at, 0)
    return found[0] if found is not None else None


def _tag_events(
    con: duckdb.DuckDBPyConnection, kind: str, name: str, account: str | None
) -> list[tuple[dt.datetime, str, dict[str, Any]]]:
    names = ("TagRole", "UntagRole") if kind == "role" else ("TagUser", "UntagUser")
    field = "roleName" if kind == "role" else "userName"
    rows = con.execute(
        "SELECT event_time, event_name, raw FROM events WHERE event_source = 'iam.amazonaws.com'"
        " AND event_name IN (?, ?) AND error_code IS NULL"
        " AND json_extract_string(raw, '$.requestParameters." + field + "') = ?"
        " AND (? IS NULL OR recipient_account = ? OR caller_account = ?)"
        " ORDER BY event_time",
        [names[0], names[1], name, account, account, account],
    ).fetchall()
    out = []
    for when, event, raw in rows:
        record = stored_json(raw) or {}
        out.append((when, event, record.get("requestParameters") or {}))
    return out


def _apply_tag_event(tags: dict[str, str], event: str, params: dict[str, Any]) -> set[str]:
    """Apply one Tag*/Untag* request to ``tags``; return the keys it touched."""
    touched: set[str] = set()
    if event.startswith("Tag"):
        for t in params.get("tags") or []:
            if isinstance(t, dict) and isinstance(t.get("key"), str):
                tags[t["key"]] = str(t.get("value") or "")
                touched.add(t["key"])
    else:
        for k in params.get("tagKeys") or []:
            if isinstance(k, str):
                tags.pop(k, None)
                touched.add(k)
    return touched


def identity_tags(
    con: duckdb.DuckDBPyConnection, arn: str, at: dt.datetime | None
) -> tuple[dict[str, str], set[str]] | None:
    """The tags of role or user ``arn`` at ``at`` and the keys whose value there is unknown (changed between
    ``at`` and a later snapshot); None when no snapshot listed its tags."""
    row = _nearest_snapshot_row(
        con,
        "SELECT s.collected_at, t.tags, p.kind, p.name, p.account FROM principal_tags t"
        " JOIN principals p USING (snapshot_id, arn) JOIN snapshots s USING (snapshot_id)"
        " WHERE t.arn = ? ORDER BY s.collected_at",
        [arn],
        at,
    )
    if row is None:
        return None
    snap_at, raw, kind, name, account = row
    tags = {str(k): str(v) for k, v in (stored_json(raw) or {}).items()}
    unknown: set[str] = set()
    for when, event, params in _tag_events(con, kind, name, account):
        if at is None or (snap_at < when <= at):
            _apply_tag_event(tags, event, params)
        elif at < when <= snap_at:  # changed after the event, before the snapshot: its value then is unknown
            unknown |= _apply_tag_event({}, event, params)
    for k in unknown:
        tags.pop(k, None)
    return tags, unknown


def _assume_role_record(con: duckdb.DuckDBPyConnection, access_key_id: str, at: dt.datetime | None) -> Any:
    sql = (
        "SELECT event_name, raw FROM events WHERE event_source = 'sts.amazonaws.com' AND error_code IS NULL"
        " AND json_extract_string(raw, '$.responseElements.credentials.accessKeyId') = ?"
    )
    params: list[Any] = [access_key_id]
    if at is not None:
        sql += " AND event_time BETWEEN ? AND ?"
        params += [at - _SESSION_MAX, at]
    row = con.execute(sql + " ORDER BY event_time DESC LIMIT 1", params).fetchone()
    return None if row is None else (row[0], stored_json(row[1]) or {})


@dataclasses.dataclass(frozen=True)
class PrincipalTags:
    """The caller's tags (or the key's: ``_Filler.resource_tag``) at the event time. ``known``: tag key →
    value for the keys kmsdiag knows; ``unknown``: keys whose value is not known; ``complete``: False when
    any other key may carry a value kmsdiag cannot see (no AssumeRole record of the session, a role chain
    whose transitive tags are unknown, key tags known only from tag records)."""

    known: dict[str, str]
    unknown: frozenset[str] = frozenset()
    complete: bool = True

    def value(self, name: str) -> str | None:
        """The tag's value, UNDETERMINED, or None (known absent); ``name`` lower-cased (keys are
        case-insensitive in conditions)."""
        match = {k.lower(): v for k, v in self.known.items()}.get(name)
        if match is not None:
            return match
        if not self.complete or name in {k.lower() for k in self.unknown}:
            return UNDETERMINED
        return None


def _tag_list(params: dict[str, Any]) -> dict[str, str]:
    """Session tags of an STS request as CloudTrail logs them: ``tags`` [{key, value}] (AssumeRole) or
    ``principalTags`` {key: value} (AssumeRoleWithSAML / AssumeRoleWithWebIdentity)."""
    out: dict[str, str] = {}
    for t in params.get("tags") or []:
        if isinstance(t, dict) and isinstance(t.get("key"), str):
            out[t["key"]] = str(t.get("value") or "")
    principal_tags = params.get("principalTags")
    if isinstance(principal_tags, dict):
        out.update({str(k): str(v) for k, v in principal_tags.items()})
    return out


def session_tags(
    con: duckdb.DuckDBPyConnection, access_key_id: str | None, at: dt.datetime | None, depth: int = 0
) -> tuple[dict[str, str], frozenset[str], bool] | None:
    """(session tags, transitive keys, complete) of the session that ``access_key_id`` belongs to, from the
    STS record that issued it and, in a role chain, the transitive tags of the calling session (which a
    chained AssumeRole cannot override). ``complete`` False: the calling session's transitive tags are
    unknown. None: no STS record of these credentials."""
    if not access_key_id or not access_key_id.startswith("ASIA") or depth > 5:
        return None
    found = _assume_role_record(con, access_key_id, at)
    if found is None:
        return None
    params = found[1].get("requestParameters") or {}
    own = _tag_list(params)
    transitive = frozenset(k for k in params.get("transitiveTagKeys") or [] if isinstance(k, str))
    parent = found[1].get("userIdentity") or {}
    if found[0] != "AssumeRole" or parent.get("type") != "AssumedRole":
        return own, transitive, True
    inherited = session_tags(con, parent.get("accessKeyId"), at, depth + 1)
    if inherited is None:
        return own, transitive, False
    tags = {k: v for k, v in inherited[0].items() if k in inherited[1]}
    tags.update(own)
    return tags, transitive | inherited[1], inherited[2]


def principal_tags(con: duckdb.DuckDBPyConnection, facts: EventFacts) -> PrincipalTags | None:
    """The caller's tags at the event time (role or user tags, overridden by session tags); None when
    nothing is known."""
    arn = facts.principal_arn
    if not arn:
        return None
    base = identity_tags(con, arn, facts.event_time)
    if facts.caller_type != "AssumedRole":
        return None if base is None else PrincipalTags(base[0], frozenset(base[1]))
    session = session_tags(con, facts.access_key_id, facts.event_time)
    if session is None:
        return None  # session tags may override any key: nothing is known
    own, _transitive, complete = session
    known = dict(base[0]) if base is not None else {}
    known.update(own)
    unknown = frozenset(base[1] - set(own)) if base is not None else frozenset()
    return PrincipalTags(known, unknown, complete and base is not None)


# ------------------------------------------------------------------------------------------ organization


def _parent_at(
    con: duckdb.DuckDBPyConnection, account: str, parent: str | None, snap_at: dt.datetime, at: dt.datetime | None
) -> str | None:
    """The account's parent at ``at``, from the snapshot's parent and the MoveAccount records."""
    if at is None:
        return parent
    rows = con.execute(
        "SELECT event_time, json_extract_string(raw, '$.requestParameters.sourceParentId'),"
        " json_extract_string(raw, '$.requestParameters.destinationParentId') FROM events"
        " WHERE event_source = 'organizations.amazonaws.com' AND event_name = 'MoveAccount' AND error_code IS NULL"
        " AND json_extract_string(raw, '$.requestParameters.accountId') = ? ORDER BY event_time",
        [account],
    ).fetchall()
    if snap_at <= at:
        for when, _src, dst in rows:
            if snap_at < when <= at and dst:
                parent = dst
        return parent
    for when, src, _dst in rows:
        if at < when <= snap_at and src:
            return src  # the first move after the event says where the account was
    return parent


# compiled on first use (re caches it): most explains never read an organization ARN
_ORG_ID = r"^arn:aws[a-z-]*:organizations::\d{12}:[a-z_]+/(o-[a-z0-9]{10,32})/"


def _org_id_from_arns(con: duckdb.DuckDBPyConnection, targets: list[str]) -> str | None:
    """The organization ID in the ARNs that Organizations gave for the account or its OUs and root (policy
    targets, ``arn:aws:organizations::<management>:ou/o-…/ou-…``) when describe-organization was not kept."""
    marks = ",".join("?" for _ in targets)
    rows = con.execute(
        f"SELECT DISTINCT target_arn FROM org_policy_targets WHERE target_id IN ({marks}) AND target_arn IS NOT NULL",
        targets,
    ).fetchall()
    found = {m.group(1) for (arn,) in rows if (m := re.match(_ORG_ID, str(arn)))}
    return found.pop() if len(found) == 1 else None


def org_of(
    con: duckdb.DuckDBPyConnection | None, account: str | None, at: dt.datetime | None
) -> tuple[str | None, str | None] | None:
    """(organization ID, OU path ``o-…/r-…/ou-…/``) of ``account`` at ``at``; (None, None) when it is known
    not to be in an organization; None when unknown."""
    if con is None or not account:
        return None
    row = _nearest_snapshot_row(
        con,
        "SELECT a.collected_at, a.org_state, o.org_id FROM snapshot_accounts a"
        " LEFT JOIN org_ids o USING (snapshot_id, account) WHERE a.account = ? ORDER BY a.collected_at",
        [account],
        at,
    )
    if row is None:
        return None
    snap_at, state, org_id = row
    if state == "not_in_org":
        return None, None
    if state != "in_org":
        return None
    near = _nearest_snapshot_row(
        con,
        "SELECT DISTINCT s.collected_at, s.snapshot_id FROM org_paths p JOIN snapshots s USING (snapshot_id)"
        " WHERE p.child_id = ? ORDER BY s.collected_at, s.snapshot_id",
        [account],
        at,
    )
    parents: dict[str, str] = {}
    if near is not None:
        snap_at = near[0]
        parents = dict(
            con.execute("SELECT child_id, parent_id FROM org_paths WHERE snapshot_id = ?", [near[1]]).fetchall()
        )
    chain: list[str] = []
    node: str | None = _parent_at(con, account, parents.get(account), snap_at, at)
    while node and node not in chain and len(chain) < 10:
        chain.append(node)
        node = parents.get(node)
    org_id = org_id or _org_id_from_arns(con, [account, *chain])
    if not org_id:
        return None
    if not chain or not chain[-1].startswith("r-"):
        return org_id, None  # the path to the root was not collected
    return org_id, "/".join([org_id, *reversed(chain)]) + "/"


# ------------------------------------------------------------------------------------------ key aliases


def key_aliases(con: duckdb.DuckDBPyConnection | None, key_arn: str | None) -> tuple[str, ...] | None:
    """The aliases (``alias/…``) of the key in the newest snapshot that listed its region's aliases."""
    if con is None or not key_arn:
        return None
    parts = arns.parse(key_arn)
    if parts is None:
        return None
    region, account = parts.region, parts.account
    row = con.execute(
        "SELECT max(a.snapshot_id) FROM aliases a WHERE a.account = ? AND a.region = ?", [account, region]
    ).fetchone()
    if row is None or row[0] is None:
        return None
    names = con.execute(
        "SELECT alias_name FROM aliases WHERE snapshot_id = ? AND target_key_arn = ? ORDER BY alias_name",
        [row[0], key_arn],
    ).fetchall()
    return tuple(str(n[0]) for n in names)
