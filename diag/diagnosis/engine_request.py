"""The one place that turns "the policies in force + a request" into the engine's inputs.

``explain`` (every diagnosis), ``check`` (a synthetic call), ``impact`` (a replayed call) and the audit
matrix build what they ask the engine (``diag.policy``) here, so that all of them ask the same question
of the same call:

- ``request_from_record(record, resource=…, resource_account=…, context=…)``: the engine's context
  builder (``diag.policy.context.request_from_event``) on a CloudTrail record (delivered or synthetic),
  with the resolved resource, and ``context``: keys the caller states for a request a record cannot carry
  (``kmsdiag check --via-service / --condition``), which replace the record's.
- ``request_for(facts, resource, resource_account, context=…)``: the same from ``EventFacts``; a
  minimal context from the facts when there is no record (an error text).
- ``inputs_from_inforce(inforce, s3=…, session_policy=…, facts=…)``: the engine's inputs from the
  policies in force; a layer not collected stays None (a gap, never an empty policy); with ``facts`` the
  caller's kind applies (an AWS service principal has no identity-side layers: ``for_caller``).
- ``complete(request, inputs, facts, con)``: the request with the condition keys the policies read that
  the record cannot give, as of the event (``diag.diagnosis.request_context.fill_context``).

The decision key under which answers may be shared is ``diag.audit.decision_key`` (the engine-level
key that the audit matrix and ``impact`` use).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from diag.diagnosis.callers import for_caller
from diag.diagnosis.model import EventFacts
from diag.policy.model import Layer, NamedPolicy, PolicyInputs, Request

if TYPE_CHECKING:
    import duckdb

    from diag.collect.model import InForce

ContextValues = Mapping[str, str | list[str]]


def _with_context(request: Request, context: ContextValues | None) -> Request:
    """``request`` whose context has ``context``'s keys, replacing the same keys in any letter case."""
    if not context:
        return request
    given = {k.lower() for k in context}
    ctx: dict[str, str | list[str]] = {k: v for k, v in request.context.items() if k.lower() not in given}
    ctx.update(context)
    return dataclasses.replace(request, context=ctx)


def request_from_record(
    record: dict[str, Any],
    *,
    resource: str | None = None,
    resource_account: str | None = None,
    action: str | None = None,
    context: ContextValues | None = None,
) -> Request:
    """The engine's request for a CloudTrail record; ``resource``/``action`` replace the record's when given."""
    from diag.policy.context import request_from_event

    req = _with_context(request_from_event(record), context)
    changes: dict[str, Any] = {}
    if action:
        changes["action"] = action
    if resource is not None:
        changes["resource"] = resource
        changes["resource_account"] = resource_account
    return dataclasses.replace(req, **changes) if changes else req


def request_for(
    facts: EventFacts, resource: str, resource_account: str | None, *, context: ContextValues | None = None
) -> Request:
    """The engine's request for these facts: the context builder on the record, with the resolved resource;
    a minimal context from the facts when there is no record."""
    if facts.raw:
        return request_from_record(
            facts.raw, resource=resource, resource_account=resource_account, action=facts.action, context=context
        )
    ctx: dict[str, str | list[str]] = {}
    if facts.principal_arn:
        ctx["aws:PrincipalArn"] = facts.principal_arn
    if facts.caller_account:
        ctx["aws:PrincipalAccount"] = facts.caller_account
        ctx["kms:CallerAccount"] = facts.caller_account
    if facts.via_service:
        ctx["kms:ViaService"] = facts.via_service
    for k, v in (facts.encryption_context or {}).items():
        ctx[f"kms:EncryptionContext:{k}"] = str(v)
    if facts.encryption_context:
        ctx["kms:EncryptionContextKeys"] = list(facts.encryption_context)
    req = Request(
        principal=facts.caller_arn or facts.principal_arn or "",
        action=facts.action or "",
        resource=resource,
        resource_account=resource_account,
        context=ctx,
    )
    return _with_context(req, context)


def inputs_from_inforce(
    inf: InForce,
    *,
    s3: bool = False,
    session_policy: NamedPolicy | None = None,
    session_policy_known: bool = True,
    facts: EventFacts | None = None,
) -> PolicyInputs:
    """The engine's inputs from the policies in force (None stays None: a gap, never an empty policy).
    ``s3``: the bucket policy is the resource policy (else the key policy); ``facts``: the caller's kind
    applies (``diag.diagnosis.callers.for_caller``); ``session_policy_known=False``: the session's STS record was
    not found, so its session policy is unknown (never "none")."""
    if s3:
        known = not any(g.what == "bucket_policy" for g in inf.gaps)
        resource, layer = inf.bucket_policy, Layer.BUCKET_POLICY
    else:
        known = inf.key_policy is not None
        resource, layer = inf.key_policy, Layer.KEY_POLICY
    inputs = PolicyInputs(
        identity_policies=inf.identity_policies,
        resource_policy=resource,
        resource_policy_layer=layer,
        resource_policy_known=known,
        scps=inf.scps,
        rcps=inf.rcps,
        permission_boundary=inf.permission_boundary,
        # the caller's IAM not collected: its permission boundary is not known either (never "no boundary")
        permission_boundary_known=inf.identity_policies is not None,
        session_policy=session_policy,
        session_policy_known=session_policy_known,
        grants=inf.grants,
    )
    return inputs if facts is None else for_caller(inputs, facts)


def complete(
    request: Request, inputs: PolicyInputs, facts: EventFacts, con: duckdb.DuckDBPyConnection | None
) -> Request:
    """``request`` with the condition keys ``inputs`` read that the record could not give, as of the event
    (a key that cannot be determined is UNDETERMINED, never absent)."""
    from diag.diagnosis.request_context import fill_context

    return fill_context(request, inputs, facts, con)
