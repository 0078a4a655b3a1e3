"""Hand-made engine traces, facts and cases for rule tests (the engine itself is tested elsewhere)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from diag.collect.model import InForce, KeyInfo, PrincipalInfo
from diag.diagnosis.case import Case
from diag.diagnosis.model import EventFacts
from diag.policy.model import (
    ConditionTrace,
    Decision,
    EvaluationResult,
    Layer,
    LayerResult,
    LayerTrace,
    MatchTrace,
    NamedPolicy,
    NearMiss,
    Request,
    StatementTrace,
)

KEY_ACCT = "111111111111"
CALLER_ACCT = "222222222222"
KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
KEY_ARN = f"arn:aws:kms:us-east-1:{KEY_ACCT}:key/{KEY_ID}"
ROLE = f"arn:aws:iam::{CALLER_ACCT}:role/DataProcessingRole"
SESSION = f"arn:aws:sts::{CALLER_ACCT}:assumed-role/DataProcessingRole/etl"
T0 = dt.datetime(2026, 11, 28, 10, 0, 0)


def facts(**kw: Any) -> EventFacts:
    base: dict[str, Any] = dict(
        event_id="ev-1",
        event_time=T0,
        event_source="kms.amazonaws.com",
        event_name="Decrypt",
        action="kms:Decrypt",
        region="us-east-1",
        error_code="AccessDenied",
        caller_arn=SESSION,
        caller_type="AssumedRole",
        caller_account=CALLER_ACCT,
        principal_arn=ROLE,
        principal_id="AROAEXAMPLEEXAMPLE01:etl",
        key_arn=KEY_ARN,
        key_account=KEY_ACCT,
    )
    base.update(kw)
    return EventFacts(**base)


def mt(element: str, ok: bool, values: tuple[str, ...] = (), matched: str | None = None) -> MatchTrace:
    return MatchTrace(element=element, matched=ok, policy_values=values, matched_value=matched if ok else None)


def stmt(
    layer: Layer,
    index: int = 0,
    *,
    effect: str = "Allow",
    sid: str | None = None,
    action: bool | None = True,
    resource: bool | None = True,
    principal: bool | None = None,
    principal_values: tuple[str, ...] = (),
    principal_matched: str | None = None,
    action_values: tuple[str, ...] = ("kms:Decrypt",),
    resource_values: tuple[str, ...] = ("*",),
    conditions: tuple[ConditionTrace, ...] = (),
    near: tuple[NearMiss, ...] = (),
    statement: dict[str, Any] | None = None,
    policy_name: str = "",
    policy_kind: str = "",
    account: str | None = None,
) -> StatementTrace:
    if principal is None:
        principal = None if layer != Layer.KEY_POLICY else True
    applies = all(x is not False for x in (action, resource, principal)) and all(c.matched for c in conditions)
    if statement is None:
        statement = {"Effect": effect, "Action": list(action_values), "Resource": list(resource_values)}
        if principal_values:
            statement["Principal"] = {"AWS": list(principal_values)}
        if sid:
            statement["Sid"] = sid
    return StatementTrace(
        layer=layer,
        index=index,
        effect=effect,
        applies=applies,
        sid=sid,
        policy_name=policy_name or ("default" if layer == Layer.KEY_POLICY else "inline"),
        policy_kind=policy_kind or ("key-policy" if layer == Layer.KEY_POLICY else "inline"),
        account=account or (KEY_ACCT if layer == Layer.KEY_POLICY else CALLER_ACCT),
        action=None if action is None else mt("Action", action, action_values),
        resource=None if resource is None else mt("Resource", resource, resource_values),
        principal=None
        if principal is None or (layer != Layer.KEY_POLICY and not principal_values)
        else mt(
            "Principal",
            principal,
            principal_values,
            principal_matched or (principal_values[0] if principal_values else None),
        ),
        conditions=conditions,
        near_misses=near,
        statement=statement,
    )


def layer(
    lyr: Layer, result: LayerResult, *stmts: StatementTrace, account: str | None = None, org: str | None = None
) -> LayerTrace:
    acct = account or (KEY_ACCT if lyr in (Layer.KEY_POLICY, Layer.RCP, Layer.GRANTS) else CALLER_ACCT)
    return LayerTrace(layer=lyr, result=result, account=acct, statements=stmts, org_identifier=org, reason="hand-made")


def result(
    *layers: LayerTrace, decision: Decision | None = None, action: str = "kms:Decrypt", resource: str = KEY_ARN
) -> EvaluationResult:
    if decision is None:
        results = [lt.result for lt in layers]
        if LayerResult.EXPLICITLY_DENIED in results:
            decision = Decision.EXPLICITLY_DENIED
        elif LayerResult.IMPLICITLY_DENIED in results:
            decision = Decision.IMPLICITLY_DENIED
        else:
            decision = Decision.ALLOWED
    req = Request(principal=SESSION, action=action, resource=resource, resource_account=KEY_ACCT)
    return EvaluationResult(decision=decision, layers=tuple(layers), request=req)


def key_info(**kw: Any) -> KeyInfo:
    base: dict[str, Any] = dict(
        key_arn=KEY_ARN,
        key_id=KEY_ID,
        account=KEY_ACCT,
        region="us-east-1",
        key_state="Enabled",
        key_manager="CUSTOMER",
    )
    base.update(kw)
    return KeyInfo(**base)


def inforce(**kw: Any) -> InForce:
    base: dict[str, Any] = dict(
        at=T0,
        key=key_info(),
        key_policy=NamedPolicy(
            document={"Version": "2012-10-17", "Statement": []}, name="default", kind="key-policy", account=KEY_ACCT
        ),
        identity_policies=(),
        principal=PrincipalInfo(
            arn=ROLE, account=CALLER_ACCT, kind="role", name="DataProcessingRole", unique_id="AROAEXAMPLEEXAMPLE01"
        ),
        grants=(),
        scps=(),
        rcps=(),
    )
    base.update(kw)
    return InForce(**base)


def case(res: EvaluationResult | None, f: EventFacts | None = None, **kw: Any) -> Case:
    kw.setdefault("inforce", inforce())
    return Case(facts=f or facts(), result=res, **kw)


KEY_ADMIN = stmt(
    Layer.KEY_POLICY,
    0,
    sid="KeyAdmins",
    action=False,
    principal=False,
    principal_values=(f"arn:aws:iam::{KEY_ACCT}:role/Admin",),
    action_values=("kms:Create*", "kms:Put*"),
)
KEY_ROOT_OWN = stmt(
    Layer.KEY_POLICY,
    1,
    sid="EnableIAM",
    action=True,
    principal=False,
    principal_values=(f"arn:aws:iam::{KEY_ACCT}:root",),
    action_values=("kms:*",),
)
IDENTITY_OK = stmt(Layer.IDENTITY, 0, sid="UseKey", resource_values=(KEY_ARN,), policy_name="kms-use")
