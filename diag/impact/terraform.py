"""Proposed changes from a Terraform plan (``terraform show -json PLAN``).

Read from ``resource_changes[]`` (each with ``type``, ``address`` and ``change.actions`` / ``before`` /
``after``, as the Terraform JSON output format documents): ``aws_kms_key`` (``policy``),
``aws_kms_key_policy`` (``key_id``, ``policy``), ``aws_iam_role_policy`` (``role``, ``name``, ``policy``),
``aws_iam_user_policy`` (``user``, ``name``, ``policy``), ``aws_iam_policy`` (``arn``, ``name``,
``policy``), ``aws_iam_role_policy_attachment`` / ``aws_iam_user_policy_attachment`` (``role``/``user``,
``policy_arn``), ``aws_kms_grant`` (``key_id``, ``grantee_principal``, ``operations``, ``grant_id``) and
``aws_organizations_policy`` (``id``, ``type``, ``content``). A value Terraform knows only after apply
(``after_unknown``), a principal or key that was not collected, a managed policy whose document is not in
the plan: not replayed, each listed (``NotReplayed``). A deleted ``aws_kms_key`` is a ``KeyDeletion``: every
observed call on it breaks.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from diag import arn as arns
from diag.errors import BadInputError
from diag.impact.outcome import KeyDeletion, NotReplayed, Translation
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


def _unknown_after(rc: dict[str, Any], name: str) -> bool:
    """Whether Terraform knows the attribute ``name`` only after apply (``after_unknown``)."""
    unknown = (rc.get("change") or {}).get("after_unknown") or {}
    return isinstance(unknown, dict) and bool(unknown.get(name))


def _skip(t: Translation, rc: dict[str, Any], reason: str) -> list[Change]:
    t.not_replayed.append(NotReplayed(str(rc.get("address", "?")), str(rc.get("type") or ""), reason))
    return []


def _no_holder(t: Translation, rc: dict[str, Any], holder: Any, new: frozenset[str]) -> list[Change]:
    """A role or user policy whose holder is not collected: a principal the plan creates has no observed
    calls (a note); any other is not replayed."""
    if str(holder or "") in new:
        t.notes.append(f"{rc.get('address', '?')}: {holder} is created by this plan (no observed calls)")
        return []
    return _skip(t, rc, f"{holder} is not a collected role or user")


def _key_changes(rc: dict[str, Any], resolve: Resolve, t: Translation) -> list[Change]:
    kind, addr = rc.get("type"), str(rc.get("address", "?"))
    actions, before, after = _state(rc)
    deleting = actions == ["delete"]
    cur = before if deleting else after
    ref = cur.get("arn") or cur.get("key_id") or before.get("arn") or before.get("key_id")
    key = resolve("key", str(ref)) if ref else None
    if key is None:
        if "create" in actions and not before:
            t.notes.append(f"{addr}: the key is not known yet (a new key has no observed calls)")
            return []
        return _skip(t, rc, f"the key {ref or '(known after apply)'} is not a collected key")
    if deleting and kind == "aws_kms_key_policy":
        t.notes.append(f"{addr}: deleting aws_kms_key_policy leaves the key policy as it was; nothing to replay")
        return []
    if kind == "aws_kms_key" and "delete" in actions:  # deleted, or replaced by a new key
        t.deleted_keys.append(KeyDeletion(key, addr))
        t.notes.append(f"{addr}: the key {key} is scheduled for deletion: every observed call on it breaks")
        return []
    if _unknown_after(rc, "policy"):
        return _skip(t, rc, "the policy is known only after apply")
    doc = _doc(after.get("policy"), addr)
    return [Change("key_policy", "set_document", target=key, document=doc)] if doc else []


def _policy_changes(rc: dict[str, Any], resolve: Resolve, t: Translation, new: frozenset[str]) -> list[Change]:
    kind, addr = rc.get("type"), rc.get("address", "?")
    actions, before, after = _state(rc)
    deleting = actions == ["delete"]
    cur = before if deleting else after
    if kind in ("aws_kms_key", "aws_kms_key_policy"):
        return _key_changes(rc, resolve, t)
    if kind in ("aws_iam_role_policy", "aws_iam_user_policy"):
        holder = cur.get("role") if kind == "aws_iam_role_policy" else cur.get("user")
        who = resolve("role" if kind == "aws_iam_role_policy" else "user", str(holder or ""))
        if who is None:
            return _no_holder(t, rc, holder, new)
        if not deleting and _unknown_after(rc, "policy"):
            return _skip(t, rc, "the policy is known only after apply")
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
        if _unknown_after(rc, "policy"):
            return _skip(t, rc, "the policy is known only after apply")
        return [Change("identity", "set_document", name=name, document=_doc(after.get("policy"), addr))]
    return []


def _other_changes(
    rc: dict[str, Any],
    resolve: Resolve,
    managed: dict[str, tuple[str, dict[str, Any]]],
    t: Translation,
    new: frozenset[str],
) -> list[Change]:
    kind, addr = rc.get("type"), rc.get("address", "?")
    actions, before, after = _state(rc)
    deleting = actions == ["delete"]
    cur = before if deleting else after
    if kind in ("aws_iam_role_policy_attachment", "aws_iam_user_policy_attachment"):
        holder = cur.get("role") if kind.startswith("aws_iam_role") else cur.get("user")
        who = resolve("role" if kind.startswith("aws_iam_role") else "user", str(holder or ""))
        arn = str(cur.get("policy_arn") or "")
        name = arns.name_of(arn) or arn
        if who is None:
            return _no_holder(t, rc, holder, new)
        if deleting:
            return [Change("identity", "remove_document", target=who, name=name)]
        if arn in managed:
            return [Change("identity", "set_document", target=who, name=managed[arn][0], document=managed[arn][1])]
        return _skip(
            t, rc, f"the document of {arn or '(known after apply)'} is not in the plan; its attachment is not replayed"
        )
    if kind == "aws_kms_grant":
        key = resolve("key", str(cur.get("key_id") or ""))
        if key is None:
            if "create" in actions and not before and _unknown_after(rc, "key_id"):
                t.notes.append(f"{addr}: a grant on a key the plan creates (no observed calls)")
                return []
            return _skip(t, rc, f"the grant's key {cur.get('key_id') or '(known after apply)'} is not a collected key")
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
                t.notes.append(f"{addr}: a new organization policy applies nowhere until attached")
            return []
        if deleting:
            return [Change(layer, "remove_document", name=str(pid))]
        if _unknown_after(rc, "content"):
            return _skip(t, rc, "the policy is known only after apply")
        return [Change(layer, "set_document", name=str(pid), document=_doc(after.get("content"), addr))]
    return []


def plan_changes(plan: Any, resolve: Resolve) -> tuple[list[Change], list[str]]:
    """The changes of a ``terraform show -json`` plan, and notes (with what could not be replayed)."""
    t = plan_translation(plan, resolve)
    return t.changes, t.all_notes()


def _created_holders(plan: dict[str, Any]) -> frozenset[str]:
    """Names of the roles and users the plan creates."""
    out: set[str] = set()
    for rc in plan["resource_changes"]:
        if isinstance(rc, dict) and rc.get("type") in ("aws_iam_role", "aws_iam_user"):
            actions, _, after = _state(rc)
            if "create" in actions and after.get("name"):
                out.add(str(after["name"]))
    return frozenset(out)


def plan_translation(plan: Any, resolve: Resolve) -> Translation:
    """The changes of a ``terraform show -json`` plan, the keys it deletes, what it could not replay, notes."""
    if not isinstance(plan, dict) or not isinstance(plan.get("resource_changes"), list):
        raise BadInputError("not a Terraform plan: expected the JSON of `terraform show -json PLAN` (resource_changes)")
    t = Translation()
    new = _created_holders(plan)
    managed: dict[str, tuple[str, dict[str, Any]]] = {}
    for rc in plan["resource_changes"]:
        if isinstance(rc, dict) and rc.get("type") == "aws_iam_policy":
            _, before, after = _state(rc)
            arn, doc = after.get("arn") or before.get("arn"), after.get("policy")
            if arn and doc:
                managed[str(arn)] = (str(after.get("name") or ""), _doc(doc, str(rc.get("address"))) or {})
    for rc in plan["resource_changes"]:
        if not isinstance(rc, dict):
            continue
        actions, _, _ = _state(rc)
        if actions in (["no-op"], ["read"], []):
            continue
        t.changes += _policy_changes(rc, resolve, t, new) + _other_changes(rc, resolve, managed, t, new)
    return t
