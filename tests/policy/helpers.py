"""Builders for engine tests: policies, statements and the guide's walk-through accounts."""

from __future__ import annotations

from typing import Any

from diag.policy.engine import evaluate
from diag.policy.model import EvaluationResult, Grant, Layer, NamedPolicy, OrgLevel, PolicyInputs, Request

KEY_ACCOUNT = "111111111111"
CALLER_ACCOUNT = "222222222222"
KEY_ARN = f"arn:aws:kms:us-east-1:{KEY_ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ROLE_ARN = f"arn:aws:iam::{CALLER_ACCOUNT}:role/DataProcessingRole"
SESSION_ARN = f"arn:aws:sts::{CALLER_ACCOUNT}:assumed-role/DataProcessingRole/etl-job"
VIA_S3 = {"kms:ViaService": "s3.us-east-1.amazonaws.com"}


def stmt(effect: str = "Allow", action: Any = "kms:Decrypt", resource: Any = "*", **extra: Any) -> dict[str, Any]:
    s: dict[str, Any] = {"Effect": effect}
    if action is not None:
        s["Action"] = action
    if resource is not None:
        s["Resource"] = resource
    s.update(extra)
    return s


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def named(doc: dict[str, Any], name: str = "p", kind: str = "inline") -> NamedPolicy:
    return NamedPolicy(document=doc, name=name, kind=kind)


def key_policy(*statements: dict[str, Any]) -> NamedPolicy:
    return NamedPolicy(
        document=policy(*statements), name="default", kind="key-policy", account=KEY_ACCOUNT, arn=KEY_ARN
    )


def root_statement(account: str = KEY_ACCOUNT) -> dict[str, Any]:
    return stmt(action="kms:*", Principal={"AWS": f"arn:aws:iam::{account}:root"}, Sid="EnableIAMUserPermissions")


def run(
    principal: str = SESSION_ARN,
    action: str = "kms:Decrypt",
    resource: str = KEY_ARN,
    context: dict[str, Any] | None = None,
    *,
    identity: list[dict[str, Any]] | str | None = "none",
    key: NamedPolicy | None = None,
    scps: tuple[OrgLevel, ...] | None = (),
    rcps: tuple[OrgLevel, ...] | None = (),
    boundary: dict[str, Any] | None = None,
    session: dict[str, Any] | None = None,
    grants: tuple[Grant, ...] | None = (),
    resource_account: str | None = None,
    layer: Layer = Layer.KEY_POLICY,
    **inputs_extra: Any,
) -> EvaluationResult:
    ident: tuple[NamedPolicy, ...] | None
    if identity == "none":
        ident = ()
    elif identity is None:
        ident = None
    else:
        assert isinstance(identity, list)
        ident = tuple(named(d, f"id{i}") for i, d in enumerate(identity))
    inputs = PolicyInputs(
        identity_policies=ident,
        resource_policy=key,
        resource_policy_layer=layer,
        scps=scps,
        rcps=rcps,
        permission_boundary=None if boundary is None else named(boundary, "boundary", "boundary"),
        session_policy=None if session is None else named(session, "session", "session"),
        grants=grants,
        **inputs_extra,
    )
    return evaluate(Request(principal, action, resource, resource_account, dict(context or {})), inputs)
