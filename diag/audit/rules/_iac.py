"""Shared by the drift and overwrite rules: the key-policy writes of one key, and who made them."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from diag.audit.context import AuditContext, _loads

IAC_AGENTS = ("cloudformation", "terraform", "pulumi")


@dataclass(frozen=True)
class PolicyWrite:
    event_id: str
    event_time: dt.datetime
    event_name: str
    document: dict[str, Any]
    actor_arn: str | None
    invoked_by: str | None
    user_agent: str | None

    @property
    def tool(self) -> str | None:
        """The infrastructure-as-code tool that made the write, or None for a hand edit."""
        if (self.invoked_by or "").lower() == "cloudformation.amazonaws.com":
            return "CloudFormation"
        agent = (self.user_agent or "").lower()
        for name in IAC_AGENTS:
            if name in agent:
                return {"cloudformation": "CloudFormation", "terraform": "Terraform", "pulumi": "Pulumi"}[name]
        return None

    def who(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "event_time": self.event_time,
            "event_name": self.event_name,
            "actor": self.actor_arn,
            "invoked_by": self.invoked_by,
            "user_agent": self.user_agent,
            "tool": self.tool or "manual",
        }


def policy_writes(ctx: AuditContext, key_arn: str) -> list[PolicyWrite]:
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
            out.append(PolicyWrite(r[0], r[1], r[2], doc, r[4], r[5], r[6]))
    return out


def statements(doc: dict[str, Any]) -> list[dict[str, Any]]:
    st = doc.get("Statement")
    if isinstance(st, dict):
        return [st]
    return [s for s in st or [] if isinstance(s, dict)] if isinstance(st, list) else []


def canon(st: dict[str, Any]) -> str:
    return json.dumps(st, sort_keys=True, separators=(",", ":"))


def removed(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    """Statements of ``before`` that ``after`` no longer has (exactly, by canonical JSON)."""
    now = {canon(s) for s in statements(after)}
    return [s for s in statements(before) if canon(s) not in now]


def ref(st: dict[str, Any], doc: dict[str, Any]) -> dict[str, Any]:
    all_st = statements(doc)
    idx = next((i for i, s in enumerate(all_st) if canon(s) == canon(st)), None)
    return {"sid": st.get("Sid"), "index": idx, "statement": st}
