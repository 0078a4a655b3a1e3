"""Request documents (DESIGN.md section 7, and the conformance format) → engine inputs → result dict.

A document::

    {"request": {"principal", "action", "resource", "resource_account", "context": {...}},
     "identity_policies": [policy, ...], "resource_policy": policy | null,
     "scps": [{"org_identifier": "...", "policies": [policy, ...]}], "rcps": [...],
     "permission_boundary": policy | null, "session_policy": policy | null, "grants": [ListGrants entries]}

A policy is a JSON object or JSON text, or ``{"PolicyName": ..., "PolicyDocument": ...}`` (as IAM prints
it). A key that is absent means "none"; ``identity_policies``, ``scps``, ``rcps`` or ``grants`` set to
``null`` mean "not collected" (the layer is then Unknown). Optional: ``"resource_policy_layer"``
(``key_policy``, ``bucket_policy``, ``resource_policy``; by default from the action's service) and
``"resource_policy_known": false``. An ``"id"`` is echoed back in the result.
"""

from __future__ import annotations

from typing import Any

from diag.policy.context import scalar_text
from diag.policy.engine import evaluate
from diag.policy.model import EvaluationResult, Grant, Layer, NamedPolicy, OrgLevel, PolicyInputs, Request
from diag.policy.parse import PolicyError, parse_policy, policy_fingerprint


class RequestDocumentError(ValueError):
    """The request document is malformed (the message names the field)."""


def _policy(
    value: Any, where: str, kind: str, index: int | None = None, fps: dict[int, Any] | None = None
) -> NamedPolicy:
    name = f"{where}[{index}]" if index is not None else where
    doc = value
    if isinstance(value, dict) and "PolicyDocument" in value:
        name = str(value.get("PolicyName") or name)
        doc = value["PolicyDocument"]
    if not isinstance(doc, dict | str):
        raise RequestDocumentError(f"{name}: a policy must be a JSON object or JSON text")
    try:
        fp = policy_fingerprint(doc)
        parse_policy(doc, fp)
    except PolicyError as exc:
        raise RequestDocumentError(f"{name}: {exc}") from exc
    if fps is not None:
        fps[id(doc)] = fp
    return NamedPolicy(document=doc, name=name, kind=kind)


def _levels(value: Any, where: str, kind: str, fps: dict[int, Any] | None) -> tuple[OrgLevel, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise RequestDocumentError(f"{where}: expected a list of {{org_identifier, policies}}")
    out = []
    for i, lv in enumerate(value):
        if not isinstance(lv, dict) or not isinstance(lv.get("policies", []), list):
            raise RequestDocumentError(f'{where}[{i}]: expected {{"org_identifier": ..., "policies": [...]}}')
        ident = str(lv.get("org_identifier") or f"level-{i}")
        pols = tuple(_policy(p, f"{where}[{i}].policies", kind, j, fps) for j, p in enumerate(lv.get("policies", [])))
        out.append(OrgLevel(ident, pols))
    return tuple(out)


def _grant(value: Any, i: int, resource: str) -> Grant:
    if not isinstance(value, dict):
        raise RequestDocumentError(f"grants[{i}]: expected a ListGrants entry object")
    ops = value.get("Operations") or []
    if not isinstance(ops, list) or not all(isinstance(o, str) for o in ops):
        raise RequestDocumentError(f"grants[{i}].Operations: expected a list of strings")
    constraints = value.get("Constraints")
    if constraints is not None and not isinstance(constraints, dict):
        raise RequestDocumentError(f"grants[{i}].Constraints: expected an object")
    key = value.get("KeyId") or ""
    return Grant(
        grant_id=str(value.get("GrantId") or f"grant-{i}"),
        key_arn=str(key),
        grantee_principal=str(value.get("GranteePrincipal") or ""),
        operations=tuple(ops),
        retiring_principal=value.get("RetiringPrincipal") if isinstance(value.get("RetiringPrincipal"), str) else None,
        constraints=constraints,
        name=value.get("Name") if isinstance(value.get("Name"), str) else None,
        issuing_account=value.get("IssuingAccount") if isinstance(value.get("IssuingAccount"), str) else None,
        creation_date=str(value["CreationDate"]) if value.get("CreationDate") is not None else None,
    )


def _default_layer(action: str) -> Layer:
    service = action.partition(":")[0].lower()
    return {"kms": Layer.KEY_POLICY, "s3": Layer.BUCKET_POLICY}.get(service, Layer.RESOURCE_POLICY)


def document_to_inputs(doc: Any, fingerprints: dict[int, Any] | None = None) -> tuple[Request, PolicyInputs]:
    """Validate a request document and build the engine's ``Request`` and ``PolicyInputs``.

    ``fingerprints``, when given, receives ``id(document) → fingerprint`` of every policy (computed for
    the validation anyway): ``Engine.evaluate(..., fingerprints=...)`` then does not compute them again.
    """
    fps = fingerprints
    if not isinstance(doc, dict):
        raise RequestDocumentError("a request document must be a JSON object")
    req = doc.get("request")
    if not isinstance(req, dict):
        raise RequestDocumentError("request: missing or not an object")
    for f in ("principal", "action"):
        if not isinstance(req.get(f), str) or not req.get(f):
            raise RequestDocumentError(f"request.{f}: a non-empty string is required")
    resource = req.get("resource", "*")
    if not isinstance(resource, str):
        raise RequestDocumentError("request.resource: expected a string")
    ra = req.get("resource_account")
    if ra is not None and not isinstance(ra, str):
        raise RequestDocumentError("request.resource_account: expected a string or null")
    ctx = req.get("context") or {}
    if not isinstance(ctx, dict):
        raise RequestDocumentError("request.context: expected an object of key → string or list of strings")
    context: dict[str, str | list[str]] = {}
    for k, v in ctx.items():
        if isinstance(v, list):
            if not all(isinstance(x, str | bool | int | float) for x in v):
                raise RequestDocumentError(f"request.context.{k}: list values must be strings")
            context[k] = [t for t in map(scalar_text, v) if t is not None]  # every one is a scalar
        elif (text := scalar_text(v)) is not None:
            context[k] = text
        else:
            raise RequestDocumentError(f"request.context.{k}: expected a string or a list of strings")
    request = Request(req["principal"], req["action"], resource, ra, context)

    ident_raw = doc.get("identity_policies", [])
    if ident_raw is not None and not isinstance(ident_raw, list):
        raise RequestDocumentError("identity_policies: expected a list of policies or null")
    identity = (
        None
        if ident_raw is None
        else tuple(_policy(p, "identity_policies", "identity", i, fps) for i, p in enumerate(ident_raw))
    )
    layer_name = doc.get("resource_policy_layer")
    try:
        layer = Layer(layer_name) if layer_name else _default_layer(request.action)
    except ValueError as exc:
        raise RequestDocumentError(f"resource_policy_layer: unknown layer {layer_name!r}") from exc
    rp_raw = doc.get("resource_policy")
    rp = None if rp_raw is None else _policy(rp_raw, layer.value, layer.value, None, fps)
    pb_raw = doc.get("permission_boundary")
    sp_raw = doc.get("session_policy")
    grants_raw = doc.get("grants", [])
    if grants_raw is not None and not isinstance(grants_raw, list):
        raise RequestDocumentError("grants: expected a list of ListGrants entries or null")
    inputs = PolicyInputs(
        identity_policies=identity,
        resource_policy=rp,
        resource_policy_layer=layer,
        resource_policy_known=doc.get("resource_policy_known", True) is not False,
        scps=_levels(doc.get("scps", []), "scps", "scp", fps),
        rcps=_levels(doc.get("rcps", []), "rcps", "rcp", fps),
        permission_boundary=None
        if pb_raw is None
        else _policy(pb_raw, "permission_boundary", "permission-boundary", None, fps),
        session_policy=None if sp_raw is None else _policy(sp_raw, "session_policy", "session-policy", None, fps),
        grants=None if grants_raw is None else tuple(_grant(g, i, resource) for i, g in enumerate(grants_raw)),
    )
    return request, inputs


def result_to_dict(result: EvaluationResult, doc_id: Any = None) -> dict[str, Any]:
    """The section 7 output shape: decision and layers first, then reason, gaps and deciding layers."""
    out = result.to_dict()
    if doc_id is not None:
        out = {"id": doc_id, **out}
    return out


def simulate_document(doc: dict[str, Any]) -> dict[str, Any]:
    """Evaluate one request document; return ``{"decision", "layers", "reason", ...}``.

    Raises ``RequestDocumentError`` when the document or one of its policies is invalid.
    """
    request, inputs = document_to_inputs(doc)
    return result_to_dict(evaluate(request, inputs), doc.get("id") if isinstance(doc, dict) else None)


def simulate_request(doc: dict[str, Any]) -> EvaluationResult:
    """Like ``simulate_document`` but return the ``EvaluationResult`` (for rendering)."""
    request, inputs = document_to_inputs(doc)
    return evaluate(request, inputs)
