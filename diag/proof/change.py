"""A policy change, applied to a copy of the engine's inputs for one request.

Both proven fixes (``diag.proof.prove``) and change impact (``diag.impact``) describe what they change as
``Change`` values and evaluate the request again with the engine on ``apply(inputs, changes, ...)``. The
inputs given are never modified: every layer is rebuilt with ``dataclasses.replace``.

A change only touches the request when its target is the request's: a key-policy change applies to calls
on that key, an identity change to calls by that principal (the role behind a session), an SCP to callers
in the accounts it reaches, an RCP to keys in them, a grant to calls on its key.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from diag import arn as arns
from diag.policy.model import Grant, Layer, NamedPolicy, OrgLevel, PolicyInputs, Request

KINDS = ("key_policy", "bucket_policy", "identity", "permission_boundary", "session_policy", "scp", "rcp", "grants")
OPS = (
    "add_statement",
    "replace_statement",
    "remove_statement",
    "set_document",
    "remove_document",
    "add_grant",
    "revoke_grant",
)


@dataclass(frozen=True)
class Change:
    """One edit of one layer.

    ``kind``: the layer (``KINDS``); ``op``: what happens (``OPS``); ``target``: whose policy (key ARN,
    bucket name, principal ARN, org identifier or account; None: the request's own); ``name``: the policy's
    name (identity inline/managed name, SCP id); ``statement``/``old``: the statement added, or the one
    replaced or removed; ``document``: a whole new policy; ``grant``: the grant added or revoked;
    ``members``: for an IAM group's policy, the users in the group (the principals it reaches).
    """

    kind: str
    op: str
    target: str | None = None
    name: str | None = None
    statement: dict[str, Any] | None = None
    old: dict[str, Any] | None = None
    document: dict[str, Any] | None = None
    grant: Grant | None = None
    members: tuple[str, ...] = ()

    def label(self) -> str:
        what = {"key_policy": "key policy", "bucket_policy": "bucket policy", "grants": "grants"}.get(
            self.kind, self.kind.replace("_", " ")
        )
        where = f" of {self.target}" if self.target else ""
        name = f" {self.name}" if self.name else ""
        return f"{self.op.replace('_', ' ')} in {what}{name}{where}"


def _doc(policy: NamedPolicy | None) -> dict[str, Any]:
    if policy is None:
        return {"Version": "2012-10-17", "Statement": []}
    doc = policy.document
    if isinstance(doc, str):
        try:
            doc = json.loads(doc)
        except ValueError:
            return {"Version": "2012-10-17", "Statement": []}
    return copy.deepcopy(doc) if isinstance(doc, dict) else {"Version": "2012-10-17", "Statement": []}


def _statements(doc: dict[str, Any]) -> list[Any]:
    st = doc.get("Statement", [])
    return [st] if isinstance(st, dict) else list(st)


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def edit_document(doc: dict[str, Any], change: Change) -> dict[str, Any] | None:
    """The document after ``change`` (a copy); None when the change removes the whole document."""
    if change.op == "set_document":
        return copy.deepcopy(change.document) if change.document is not None else None
    if change.op == "remove_document":
        return None
    out = copy.deepcopy(doc)
    sts = _statements(out)
    if change.op == "add_statement" and change.statement is not None:
        if change.statement.get("Statement") is not None:
            sts += _statements(change.statement)
        else:
            sts.append(copy.deepcopy(change.statement))
    elif change.op in ("replace_statement", "remove_statement") and change.old is not None:
        hit = [i for i, s in enumerate(sts) if _same(s, change.old)]
        for i in reversed(hit):
            if change.op == "remove_statement":
                del sts[i]
            else:
                sts[i] = copy.deepcopy(change.statement)
        if not hit and change.op == "replace_statement" and change.statement is not None:
            sts.append(copy.deepcopy(change.statement))
    out["Statement"] = sts
    return out


def statement_present(doc: dict[str, Any], statement: dict[str, Any]) -> bool:
    return any(_same(s, statement) for s in _statements(doc))


def _named(policy: NamedPolicy | None, doc: dict[str, Any] | None, **defaults: Any) -> NamedPolicy | None:
    if doc is None:
        return None
    if policy is None:
        return NamedPolicy(document=doc, **defaults)
    return dataclasses.replace(policy, document=doc)


def _principal_of(request: Request, principal_arn: str | None) -> str:
    return principal_arn or str(request.context.get("aws:PrincipalArn") or request.principal)


def _matches_principal(target: str | None, request: Request, principal_arn: str | None) -> bool:
    if target is None:
        return True
    who = {request.principal, _principal_of(request, principal_arn)}
    if target in who:
        return True
    # a role named by ARN with a path: compare kind and name
    tail = target.rsplit("/", 1)[-1]
    return any(
        arns.account_of(w) == arns.account_of(target) and w.rsplit("/", 1)[-1] == tail
        for w in who
        if ":role/" in w and ":role/" in target
    )


def _is_group(target: str | None) -> bool:
    return bool(target) and ":group/" in str(target)


def _in_group(inputs: PolicyInputs, change: Change, request: Request, principal_arn: str | None) -> bool:
    """Whether the caller is a member of the change's group: listed in ``members``, or holding one of the
    group's policies already."""
    who = {request.principal, _principal_of(request, principal_arn)}
    return bool(who & set(change.members)) or any(
        p.attached_to == change.target for p in inputs.identity_policies or ()
    )


def _identity(inputs: PolicyInputs, change: Change, request: Request, principal_arn: str | None) -> PolicyInputs:
    group = _is_group(change.target)
    if not (
        _in_group(inputs, change, request, principal_arn)
        if group
        else _matches_principal(change.target, request, principal_arn)
    ):
        return inputs
    policies = list(inputs.identity_policies or ())
    name = change.name or "kmsdiag-fix"
    idx = [i for i, p in enumerate(policies) if p.name == name and (not group or p.attached_to == change.target)]
    if change.op == "add_statement" and change.statement is not None and change.statement.get("Statement") is not None:
        idx = []  # a whole new inline policy
    if change.op == "replace_statement" and change.name is None:
        idx = [i for i, p in enumerate(policies) if change.old is not None and statement_present(_doc(p), change.old)]
    if idx:
        for i in reversed(idx):
            new = edit_document(_doc(policies[i]), change)
            if new is None:
                del policies[i]
            else:
                policies[i] = dataclasses.replace(policies[i], document=new)
    elif change.target is not None:
        new = edit_document(_doc(None), change)
        if new is not None:
            kind = "group-inline" if group else "inline"
            policies.append(NamedPolicy(document=new, name=name, kind=kind, attached_to=change.target))
    known = inputs.identity_policies is not None or change.op == "set_document"
    return dataclasses.replace(inputs, identity_policies=tuple(policies) if known else None)


def _org_named(policy: NamedPolicy, name: str) -> bool:
    return name in (policy.name, policy.arn) or bool(policy.arn and policy.arn.endswith("/" + name))


def _org(levels: tuple[OrgLevel, ...] | None, change: Change) -> tuple[OrgLevel, ...] | None:
    if levels is None:
        return None
    out = []
    for lv in levels:
        ident = lv.org_identifier.rstrip("/").rsplit("/", 1)[-1]
        if change.target is not None and change.target not in (lv.org_identifier, ident):
            out.append(lv)
            continue
        pols = list(lv.policies)
        hit = [i for i, p in enumerate(pols) if change.name and _org_named(p, change.name)]
        if change.target is None and not hit:
            out.append(lv)
            continue
        if change.op == "add_statement" and not hit:
            pols.append(
                NamedPolicy(
                    document=edit_document(_doc(None), change) or {},
                    name=change.name or "kmsdiag-fix",
                    kind=change.kind,
                )
            )
        elif change.op == "set_document" and not hit:
            pols.append(
                NamedPolicy(document=copy.deepcopy(change.document or {}), name=change.name or "", kind=change.kind)
            )
        for i in reversed(hit):
            new = edit_document(_doc(pols[i]), change)
            if new is None:
                del pols[i]
            else:
                pols[i] = dataclasses.replace(pols[i], document=new)
        out.append(dataclasses.replace(lv, policies=tuple(pols)))
    return tuple(out)


def _grants(inputs: PolicyInputs, change: Change, request: Request) -> PolicyInputs:
    if change.grant is None or change.grant.key_arn not in ("", request.resource):
        return inputs
    grants = list(inputs.grants or ())
    if change.op == "revoke_grant":
        grants = [g for g in grants if g.grant_id != change.grant.grant_id]
    else:
        grants.append(change.grant)
    return dataclasses.replace(
        inputs, grants=tuple(grants) if inputs.grants is not None or change.op == "add_grant" else None
    )


def _resource(inputs: PolicyInputs, change: Change, request: Request) -> PolicyInputs:
    layer = Layer.KEY_POLICY if change.kind == "key_policy" else Layer.BUCKET_POLICY
    if inputs.resource_policy_layer != layer:
        return inputs
    if change.target is not None:
        bucket = request.resource.split(":::", 1)[-1].split("/", 1)[0]
        if change.target != (request.resource if layer == Layer.KEY_POLICY else bucket):
            return inputs
    if not inputs.resource_policy_known and change.op != "set_document":
        return inputs  # a statement added to a policy nobody has seen proves nothing
    new = edit_document(_doc(inputs.resource_policy), change)
    kind = "key-policy" if layer == Layer.KEY_POLICY else "bucket-policy"
    pol = _named(
        inputs.resource_policy, new, name="default", kind=kind, account=request.resource_account, arn=request.resource
    )
    return dataclasses.replace(inputs, resource_policy=pol, resource_policy_known=True)


def apply_change(
    inputs: PolicyInputs, change: Change, request: Request, principal_arn: str | None = None
) -> PolicyInputs:
    """The inputs after one change (a copy); unchanged when the change does not concern this request."""
    if change.kind in ("key_policy", "bucket_policy"):
        return _resource(inputs, change, request)
    if change.kind == "identity":
        return _identity(inputs, change, request, principal_arn)
    if change.kind in ("permission_boundary", "session_policy"):
        if not _matches_principal(change.target, request, principal_arn):
            return inputs
        current = inputs.permission_boundary if change.kind == "permission_boundary" else inputs.session_policy
        new = _named(current, edit_document(_doc(current), change), name=change.name or change.kind, kind=change.kind)
        if change.kind == "permission_boundary":
            return dataclasses.replace(inputs, permission_boundary=new, permission_boundary_known=True)
        return dataclasses.replace(inputs, session_policy=new, session_policy_known=True)
    if change.kind == "scp":
        return dataclasses.replace(inputs, scps=_org(inputs.scps, change))
    if change.kind == "rcp":
        return dataclasses.replace(inputs, rcps=_org(inputs.rcps, change))
    if change.kind == "grants":
        return _grants(inputs, change, request)
    raise ValueError(f"unknown change kind {change.kind!r}")


def apply(
    inputs: PolicyInputs, changes: list[Change] | tuple[Change, ...], request: Request, principal_arn: str | None = None
) -> PolicyInputs:
    for ch in changes:
        inputs = apply_change(inputs, ch, request, principal_arn)
    return inputs
