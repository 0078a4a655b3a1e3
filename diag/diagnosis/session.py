"""The session policy of one call: none possible, found (with or without a policy), or unknown.

A session policy is passed to the STS call that issues a role or federated session (``AssumeRole``,
``AssumeRoleWithSAML``, ``AssumeRoleWithWebIdentity``, ``GetFederationToken``) and can only narrow what
the role or user may do. kmsdiag reads it from that STS call's CloudTrail record, found by the temporary
access key ID (``ASIA…``) it returned. Three answers, never confused:

- no session policy is possible (an IAM user's long-term key, the root user, an AWS service principal):
  the layer does not apply;
- the STS record was found: the inline policy it passed (the layer decides), or none (does not apply); a
  managed session policy (``policyArns``) is not read, so with one the layer is unknown;
- the STS record was not ingested: the layer is **unknown** (never "no session policy"). The engine then
  treats it as a restriction it cannot see: an allow becomes Unknown, a deny from another layer stays.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from diag.arn import account_of as arn_account
from diag.collect.model import Gap
from diag.policy.model import NamedPolicy
from diag.shell import comment, q
from diag.times import cloudtrail_time, parse_iso

if TYPE_CHECKING:
    from diag.diagnosis.model import EventFacts

# The STS calls that issue a session and accept a session policy.
STS_SESSION_EVENTS = ("AssumeRole", "AssumeRoleWithSAML", "AssumeRoleWithWebIdentity", "GetFederationToken")
_SESSION_TYPES = frozenset({"AssumedRole", "FederatedUser"})
_ROLE_SESSION_MAX = dt.timedelta(hours=12)


@dataclass(frozen=True)
class SessionLookup:
    """What kmsdiag knows of the session policy of one call.

    ``known``: the layer is known (``policy`` None then means "there is none"); False: it may exist but was
    not seen, ``gap`` says what to collect. ``event``: the STS record that issued the session."""

    known: bool
    policy: NamedPolicy | None = None
    event: dict[str, Any] | None = None
    gap: Gap | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


def may_have_session_policy(facts: EventFacts) -> bool:
    """A role or federated-user session (the only callers a session policy can narrow)."""
    if facts.caller_type == "AWSService":
        return False
    arn = facts.caller_arn or ""
    return facts.caller_type in _SESSION_TYPES or ":assumed-role/" in arn or ":federated-user/" in arn


def session_from_record(
    event_id: str, event_time: dt.datetime | None, event_name: str, caller: str | None, raw: Any
) -> SessionLookup:
    """The session policy the STS record passed: inline (known), none (known: does not apply), or managed
    policies by ARN / an unreadable document (unknown: kmsdiag cannot read them)."""
    import orjson

    record = orjson.loads(raw) if isinstance(raw, str | bytes) else (raw or {})
    params = record.get("requestParameters") or {}
    arns = [str(p["arn"]) for p in params.get("policyArns") or [] if isinstance(p, dict) and p.get("arn")]
    info = {
        "event_id": event_id,
        "event_time": event_time,
        "event_name": event_name,
        "caller_arn": caller,
        "role_arn": params.get("roleArn"),
        "policy_arns": arns,
    }
    raw_policy = params.get("policy")
    doc: Any = None
    if raw_policy:
        try:
            doc = orjson.loads(raw_policy) if isinstance(raw_policy, str) else raw_policy
        except orjson.JSONDecodeError:
            doc = None
    account = arn_account(params.get("roleArn"))
    if arns:
        return SessionLookup(
            known=False,
            event=info,
            gap=Gap(
                what="session_policy",
                account=account,
                resource=", ".join(arns),
                reason=(
                    f"{event_name} event {event_id} passed managed session policies ({', '.join(arns)}), which"
                    " kmsdiag does not evaluate: the session policy layer stays Unknown"
                ),
                how_to_collect=comment(
                    "no command can collect it for kmsdiag: read each policy's default version (aws iam get-policy,"
                    " then aws iam get-policy-version), then decide with kmsdiag simulate (a request document with"
                    ' that "session_policy")'
                ),
            ),
        )
    if raw_policy and not isinstance(doc, dict):
        return SessionLookup(known=False, event=info, gap=unreadable_session_policy(info, raw_policy, account))
    if not isinstance(doc, dict):
        return SessionLookup(known=True, event=info)  # found, and no session policy was passed
    policy = NamedPolicy(document=doc, name="session policy", kind="session", attached_to=params.get("roleArn"))
    return SessionLookup(known=True, policy=policy, event=info)


def unreadable_session_policy(info: dict[str, Any], raw_policy: Any, account: str | None) -> Gap:
    """The gap of an inline session policy that the STS record holds but not as a policy document. STS
    refuses a policy that is not valid JSON (MalformedPolicyDocument), so the text was changed after AWS
    accepted it; the ingested record is the only copy kmsdiag has (an eventID is stored once: ingesting
    another copy does not replace it). Nothing can be collected: the layer stays Unknown, and the gap says
    where the policy can still be found (whoever issued the session) and how to decide with it."""
    name, event_id = info["event_name"], info["event_id"]
    when = info["event_time"]
    at = f" at {when:%Y-%m-%d %H:%M:%S} UTC" if isinstance(when, dt.datetime) else ""
    by = f" by {info['caller_arn']}" if info.get("caller_arn") else ""
    what = (
        f"{len(raw_policy)} characters that do not parse as JSON"
        if isinstance(raw_policy, str)
        else f"a JSON {type(raw_policy).__name__} where a policy object belongs"
    )
    owner = info.get("caller_arn") or f"whoever called {name}"
    role = f" for {info['role_arn']}" if info.get("role_arn") else ""
    return Gap(
        what="session_policy",
        account=account,
        resource=event_id,
        reason=(
            f"the inline session policy that {name} event {event_id}{at} passed (called{by}{role}) is in the ingested"
            f" record but is not a policy document ({what}); STS accepts only valid JSON, so the text was cut or"
            " altered after AWS accepted it. kmsdiag cannot recover it (ingesting another copy of the record does"
            " not replace the stored one): the session policy layer stays Unknown"
        ),
        how_to_collect=comment(
            f"no command can collect it: get the session policy that {owner} passes to {name}{role} from its code"
            ' or configuration, then decide with kmsdiag simulate (a request document with that "session_policy")'
        ),
    )


def session_not_found(facts: EventFacts) -> SessionLookup:
    """The STS record that issued this session was not ingested: the layer is unknown, with what to ingest."""
    who = facts.caller_arn or facts.principal_arn or "the caller"
    key = facts.access_key_id
    if key and key.startswith("ASIA"):
        reason = (
            f"the STS record (AssumeRole or similar) that issued the credentials {key} of {who} was not ingested:"
            " a session policy it passed could restrict this call"
        )
    else:
        reason = (
            f"{who} is a session, and the record names no temporary access key to find the STS record that issued"
            " it: a session policy passed then could restrict this call"
        )
    return SessionLookup(
        known=False,
        gap=Gap(
            what="session_policy",
            account=facts.caller_account,
            resource=key or who,
            reason=reason,
            how_to_collect=_ingest_command(facts),
        ),
    )


def _ingest_command(facts: EventFacts) -> str:
    """``kmsdiag ingest --lookup`` over the time the session was created, in the caller's account."""
    created = _session_created(facts)
    end = facts.event_time
    if created is not None and (end is None or created <= end):  # a creation time after the call is not one
        start, end = created - dt.timedelta(minutes=5), created + dt.timedelta(minutes=5)
    elif end is not None:
        start = end - _ROLE_SESSION_MAX
    else:
        start = None
    parts = ["kmsdiag ingest --lookup"]
    if facts.caller_account:
        parts.append(f"--account {q(facts.caller_account)}")
    # STS logs the call in the region of the endpoint used: us-east-1 for the global endpoint
    for region in dict.fromkeys(r for r in ("us-east-1", facts.region) if r):
        parts.append(f"--region {q(region)}")
    if start is not None and end is not None:
        parts.append(f"--since {q(cloudtrail_time(start))} --until {q(cloudtrail_time(end))}")
    return " ".join(parts)


def _session_created(facts: EventFacts) -> dt.datetime | None:
    attrs = (((facts.raw or {}).get("userIdentity") or {}).get("sessionContext") or {}).get("attributes") or {}
    text = attrs.get("creationDate")
    return parse_iso(text) if isinstance(text, str) else None
