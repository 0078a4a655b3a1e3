"""Proposed changes from a Terraform plan (``terraform show -json PLAN``).

Read from ``resource_changes[]`` (each with ``type``, ``address`` and ``change.actions`` / ``before`` /
``after``, as the Terraform JSON output format documents): ``aws_kms_key`` (``policy``),
``aws_kms_key_policy`` (``key_id``, ``policy``), ``aws_iam_role_policy`` (``role``, ``name``, ``policy``),
``aws_iam_user_policy`` (``user``, ``name``, ``policy``), ``aws_iam_policy`` (``arn``, ``name``,
``policy``), ``aws_iam_role_policy_attachment`` / ``aws_iam_user_policy_attachment`` (``role``/``user``,
``policy_arn``), ``aws_kms_grant`` (``key_id``, ``grantee_principal``, ``operations``, ``grant_id``) and
``aws_organizations_policy`` (``id``, ``type``, ``content``). A value Terraform knows only after apply
(``after_unknown``) cannot be replayed: it is listed in ``notes``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from diag.errors import BadInputError
from diag.policy.model import Grant
from diag.proof.change import Change

Resolve = Callable[[str, str], str | None]  # (kind, name or ID) → ARN


def _doc(value: Any, where: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if isinstance(value, dict):
        return value
    try:
        doc = json.loads(value)
    except (TypeError, ValueError) as exc:
        raise BadInputError(f"{where}: the policy is not JSON ({exc})") from exc
    if not isinstance(doc, dict):
        raise BadInputError(f"{where}: the policy is not a JSON object")
    return doc


def _state(rc: dict[str, Any]) -> tuple[list[str], dict[str, Any], dict[str, Any]]:
    ch = rc.get("change") or {}
    return list(ch.get("actions") or []), ch.get("before") or {}, ch.get("after") or {}


def _policy_changes(rc: dict[str, Any], resolve: Resolve, notes: list[str]) -> list[Change]:
    kind, addr = rc.get("type"), rc.get("address", "?")
    actions, before, after = _state(rc)
    deleting = actions == ["delete"]
    cur = before if deleting else after
    if kind in ("aws_kms_key", "aws_kms_key_policy"):
        ref = cur.get("arn") or cur.get("key_id") or before.get("arn") or before.get("key_id")
        key = resolve("key", str(ref)) if ref else None
        if key is None:
            notes.append(f"{addr}: the key is not known yet (a new key has no observed calls)")
            return []
        if deleting and kind == "aws_kms_key_policy":
            notes.append(f"{addr}: deleting aws_kms_key_policy leaves the key policy as it was; nothing to replay")
            return []
        if deleting:
            notes.append(f"{addr}: the key is deleted: every call on it breaks")
            return [
                Change("key_policy", "set_document", target=key, document={"Version": "2012-10-17", "Statement": []})
            ]
        doc = _doc(after.get("policy"), addr)
        return [Change("key_policy", "set_document", target=key, document=doc)] if doc else []
    if kind in ("aws_iam_role_policy", "aws_iam_user_policy"):
        holder = cur.get("role") if kind == "aws_iam_role_policy" else cur.get("user")
        who = resolve("role" if kind == "aws_iam_role_policy" else "user", str(holder or ""))
        if who is None:
            notes.append(f"{addr}: {holder} is not a collected role or user")
            return []
        if deleting:
            return [Change("identity", "remove_document", target=who, name=before.get("name"))]
        return [
            Change(
                "identity", "set_document", target=who, name=after.get("name"), document=_doc(after.get("policy"), addr)
            )
        ]
    if kind == "aws_iam_policy":
        if actions == ["create"]:
            return []  # a new managed policy grants nothing until attached (attachments below)
        name = before.get("name") or after.get("name")
        if deleting:
            return [Change("identity", "remove_document", name=name)]
        return [Change("identity", "set_document", name=name, document=_doc(after.get("policy"), addr))]
    return []


def _other_changes(
    rc: dict[str, Any], resolve: Resolve, managed: dict[str, tuple[str, dict[str, Any]]], notes: list[str]
) -> list[Change]:
    kind, addr = rc.get("type"), rc.get("address", "?")
    actions, before, after = _state(rc)
    deleting = actions == ["delete"]
    cur = before if deleting else after
    if kind in ("aws_iam_role_policy_attachment", "aws_iam_user_policy_attachment"):
        holder = cur.get("role") if kind.startswith("aws_iam_role") else cur.get("user")
        who = resolve("role" if kind.startswith("aws_iam_role") else "user", str(holder or ""))
        arn = str(cur.get("policy_arn") or "")
        name = arn.rsplit("/", 1)[-1]
        if who is None:
            notes.append(f"{addr}: {holder} is not a collected role or user")
            return []
        if deleting:
            return [Change("identity", "remove_document", target=who, name=name)]
        if arn in managed:
            return [Change("identity", "set_document", target=who, name=managed[arn][0], document=managed[arn][1])]
        notes.append(f"{addr}: the document of {arn} is not in the plan; its attachment is not replayed")
        return []
    if kind == "aws_kms_grant":
        key = resolve("key", str(cur.get("key_id") or ""))
        if key is None:
            notes.append(f"{addr}: the grant's key is not a collected key")
            return []
        grant = Grant(
            grant_id=str(before.get("grant_id") or "proposed-grant"),
            key_arn=key,
            grantee_principal=str(cur.get("grantee_principal") or ""),
            operations=tuple(cur.get("operations") or ()),
        )
        return [Change("grants", "revoke_grant" if deleting else "add_grant", grant=grant)]
    if kind == "aws_organizations_policy":
        ptype = str(cur.get("type") or "SERVICE_CONTROL_POLICY")
        layer = "rcp" if ptype == "RESOURCE_CONTROL_POLICY" else "scp" if ptype == "SERVICE_CONTROL_POLICY" else None
        pid = before.get("id") or after.get("id")
        if layer is None or not pid:
            if layer is not None:
                notes.append(f"{addr}: a new organization policy applies nowhere until attached")
            return []
        if deleting:
            return [Change(layer, "remove_document", name=str(pid))]
        return [Change(layer, "set_document", name=str(pid), document=_doc(after.get("content"), addr))]
    return []


def plan_changes(plan: Any, resolve: Resolve) -> tuple[list[Change], list[str]]:
    """The changes of a ``terraform show -json`` plan, and notes on what could not be replayed."""
    if not isinstance(plan, dict) or not isinstance(plan.get("resource_changes"), list):
        raise BadInputError("not a Terraform plan: expected the JSON of `terraform show -json PLAN` (resource_changes)")
    notes: list[str] = []
    managed: dict[str, tuple[str, dict[str, Any]]] = {}
    for rc in plan["resource_changes"]:
        if isinstance(rc, dict) and rc.get("type") == "aws_iam_policy":
            _, before, after = _state(rc)
            arn, doc = after.get("arn") or before.get("arn"), after.get("policy")
            if arn and doc:
                managed[str(arn)] = (str(after.get("name") or ""), _doc(doc, str(rc.get("address"))) or {})
    out: list[Change] = []
    for rc in plan["resource_changes"]:
        if not isinstance(rc, dict):
            continue
        actions, _, _ = _state(rc)
        if actions in (["no-op"], ["read"], []):
            continue
        out += _policy_changes(rc, resolve, notes) + _other_changes(rc, resolve, managed, notes)
    return out, notes
