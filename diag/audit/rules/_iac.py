"""Shared by the drift and overwrite rules: the versions of one key policy over time, and who wrote them.

Versions come from CloudTrail (``policy_changes``: CreateKey with a policy, PutKeyPolicy) and from the
snapshot (the policy as collected, author unknown), in time order. A snapshot identical to the version
just before it adds nothing and is dropped. The writer of an event version is infrastructure-as-code when
``invokedBy`` is ``cloudformation.amazonaws.com`` or the user agent names CloudFormation, Terraform or
Pulumi; otherwise it was made by hand.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from diag.audit.context import AuditContext, KeyRecord, _loads

IAC_AGENTS = {"cloudformation": "CloudFormation", "terraform": "Terraform", "pulumi": "Pulumi"}


@dataclass(frozen=True)
class PolicyVersion:
    time: dt.datetime
    document: dict[str, Any]
    source: str  # event, snapshot
    event_id: str | None = None
    event_name: str | None = None
    actor_arn: str | None = None
    invoked_by: str | None = None
    user_agent: str | None = None

    @property
    def tool(self) -> str | None:
        """The infrastructure-as-code tool that wrote this version, or None (by hand, or unknown)."""
        if self.source != "event":
            return None
        if (self.invoked_by or "").lower() == "cloudformation.amazonaws.com":
            return "CloudFormation"
        agent = (self.user_agent or "").lower()
        return next((name for key, name in IAC_AGENTS.items() if key in agent), None)

    def who(self) -> dict[str, Any]:
        if self.source == "snapshot":
            return {"source": "snapshot", "collected_at": self.time, "tool": "unknown (not in CloudTrail)"}
        return {
            "source": "event",
            "event_id": self.event_id,
            "event_time": self.time,
            "event_name": self.event_name,
            "actor": self.actor_arn,
            "invoked_by": self.invoked_by,
            "user_agent": self.user_agent,
            "tool": self.tool or "manual",
        }


def statements(doc: dict[str, Any]) -> list[dict[str, Any]]:
    st = doc.get("Statement")
    if isinstance(st, dict):
        return [st]
    return [s for s in st if isinstance(s, dict)] if isinstance(st, list) else []


def canon(st: dict[str, Any]) -> str:
    return json.dumps(st, sort_keys=True, separators=(",", ":"))


def same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return {canon(s) for s in statements(a)} == {canon(s) for s in statements(b)}


def removed(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    """Statements of ``before`` that ``after`` no longer has (exactly, by canonical JSON)."""
    now = {canon(s) for s in statements(after)}
    return [s for s in statements(before) if canon(s) not in now]


def ref(st: dict[str, Any], doc: dict[str, Any]) -> dict[str, Any]:
    idx = next((i for i, s in enumerate(statements(doc)) if canon(s) == canon(st)), None)
    return {"sid": st.get("Sid"), "index": idx, "statement": st}


def policy_writes(ctx: AuditContext, key_arn: str) -> list[PolicyVersion]:
    """The key-policy writes CloudTrail logged for the key, oldest first."""
    rows = ctx.con.execute(
        "SELECT event_id, event_time, event_name, document, actor_arn, invoked_by, user_agent FROM policy_changes"
        " WHERE resource_arn = ? AND event_name IN ('CreateKey', 'PutKeyPolicy') AND document IS NOT NULL"
        " ORDER BY event_time, event_id",
        [key_arn],
    ).fetchall()
    out = []
    for r in rows:
        doc = _loads(r[3])
        if isinstance(doc, dict):
            out.append(PolicyVersion(r[1], doc, "event", r[0], r[2], r[4], r[5], r[6]))
    return out


def versions(ctx: AuditContext, key: KeyRecord) -> list[PolicyVersion]:
    """Every known version of the key policy, oldest first: CloudTrail writes and the snapshot."""
    out = policy_writes(ctx, key.key_arn)
    collected = ctx.collected_at.get(key.snapshot_id)
    snap = key.snapshot_policy
    if snap is not None and collected is not None:
        earlier = [v for v in out if v.time <= collected]
        if not earlier or not same(earlier[-1].document, snap):
            out.append(PolicyVersion(collected, snap, "snapshot"))
            out.sort(key=lambda v: (v.time, v.source != "snapshot"))
    return out
