"""Data model of the policy engine: the request, the policies in force, and the explained decision.

This is the contract between the engine (``diag.policy``) and its readers (rules, explain, check, audit,
simulate). Everything is a plain frozen dataclass so that results can be cached, compared and turned into
the JSON shapes of DESIGN.md section 7 with ``to_dict()``.

Layer names (``Layer``) and results (``LayerResult``) are stable: they appear in `--json` output.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class Decision(StrEnum):
    """The final answer, as AWS's evaluation logic gives it."""

    ALLOWED = "Allowed"
    EXPLICITLY_DENIED = "ExplicitlyDenied"
    IMPLICITLY_DENIED = "ImplicitlyDenied"


class LayerResult(StrEnum):
    """What one layer says on its own.

    ``NOT_APPLICABLE``: the layer is absent and does not restrict (no boundary, no session policy, no SCPs).
    ``UNKNOWN``: the layer should be there but its policy was not collected (a gap): the engine does not
    guess, and the final decision is computed as if the layer allowed, with ``EvaluationResult.unknown``
    listing the gaps so that rules can say what to collect. (Exceptions, see ``diag.policy.engine``:
    unknown grants grant nothing, and an unknown resource policy counts as delegating to the account,
    so identity policies still decide.)
    """

    ALLOWED = "Allowed"
    EXPLICITLY_DENIED = "ExplicitlyDenied"
    IMPLICITLY_DENIED = "ImplicitlyDenied"
    NOT_APPLICABLE = "NotApplicable"
    UNKNOWN = "Unknown"


class Layer(StrEnum):
    """The layers of AWS's evaluation, in the order the engine documents and evaluates them."""

    SCP = "scp"
    RCP = "rcp"
    KEY_POLICY = "key_policy"
    BUCKET_POLICY = "bucket_policy"
    RESOURCE_POLICY = "resource_policy"  # any other resource-based policy (conformance cases, S3 objects...)
    GRANTS = "grants"
    IDENTITY = "identity"
    PERMISSION_BOUNDARY = "permission_boundary"
    SESSION_POLICY = "session_policy"


# ---------------------------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class Request:
    """One request to authorize.

    ``principal`` is the caller's ARN exactly as AWS sees it (for a role session the
    ``assumed-role`` STS ARN). ``context`` maps condition keys (case as given; matching is
    case-insensitive on keys) to a string or a list of strings. The engine takes the context as given;
    ``diag.policy.context`` builds it from a CloudTrail event.
    """

    principal: str
    action: str
    resource: str
    resource_account: str | None = None
    context: dict[str, str | list[str]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class NamedPolicy:
    """A policy document with where it came from (for evidence: name, kind, account, attached to)."""

    document: dict[str, Any] | str
    name: str = ""
    kind: str = ""  # inline, managed, group-inline, group-managed, key-policy, bucket-policy, scp, rcp, ...
    account: str | None = None
    arn: str | None = None  # managed policy ARN, key ARN, bucket ARN...
    attached_to: str | None = None  # role/user/group ARN


@dataclass(frozen=True)
class OrgLevel:
    """SCPs or RCPs attached at one organization level (root, OU, account). Every level must allow."""

    org_identifier: str
    policies: tuple[NamedPolicy, ...]


@dataclass(frozen=True)
class Grant:
    """A KMS grant, as ListGrants returns it (field names normalized to snake_case)."""

    grant_id: str
    key_arn: str
    grantee_principal: str
    operations: tuple[str, ...]
    retiring_principal: str | None = None
    constraints: dict[str, Any] | None = (
        None  # {"EncryptionContextEquals": {...}} or {"EncryptionContextSubset": {...}}
    )
    name: str | None = None
    issuing_account: str | None = None
    creation_date: str | None = None


@dataclass(frozen=True)
class PolicyInputs:
    """Every policy that applies to one request. ``None`` for a layer means "not collected" (a gap),
    an empty tuple means "collected, and there is none"."""

    identity_policies: tuple[NamedPolicy, ...] | None = ()
    resource_policy: NamedPolicy | None = None
    resource_policy_layer: Layer = Layer.RESOURCE_POLICY
    resource_policy_known: bool = True  # False: the resource policy was not collected (gap)
    scps: tuple[OrgLevel, ...] | None = ()
    rcps: tuple[OrgLevel, ...] | None = ()
    permission_boundary: NamedPolicy | None = None
    session_policy: NamedPolicy | None = None
    grants: tuple[Grant, ...] | None = ()
    # Added by the engine (compatible extensions): False means "the boundary / session policy may exist
    # but was not collected" (a gap, layer UNKNOWN); with True, None means "there is none".
    permission_boundary_known: bool = True
    session_policy_known: bool = True


# ---------------------------------------------------------------------------------------------- traces


@dataclass(frozen=True)
class NearMiss:
    """A value in a policy that almost matched the request: the raw material of typo diagnoses.

    ``kind``: principal, resource, action, region, account, condition.
    ``policy_value`` is what the statement says, ``request_value`` what the request had.
    ``distance`` is the edit distance where it applies; ``detail`` one sentence for people
    (e.g. "Resource is in us-west-2, the key in us-east-1").
    """

    kind: str
    policy_value: str
    request_value: str
    distance: int | None = None
    detail: str = ""


@dataclass(frozen=True)
class MatchTrace:
    """Whether one element (Action/NotAction, Resource/NotResource, Principal/NotPrincipal) matched."""

    element: str  # "Action", "NotAction", "Resource", ...
    matched: bool
    policy_values: tuple[str, ...] = ()
    request_value: str = ""
    matched_value: str | None = None  # the policy value that matched
    reason: str = ""
    # Principal elements only: how the caller matched (diag.policy.match.PrincipalMatch value: exact, role,
    # account, wildcard, service, unique_id; "" when not a principal or no match).
    match_kind: str = ""


@dataclass(frozen=True)
class ConditionTrace:
    """One (operator, key) pair of a Condition block: the values compared and the outcome."""

    operator: str
    key: str
    matched: bool
    policy_values: tuple[str, ...] = ()
    request_values: tuple[str, ...] | None = None  # None: the key is absent from the request context
    reason: str = ""
    unknown_operator: bool = False
    # True: kmsdiag could not determine the key (diag.policy.context.UNDETERMINED); ``matched`` is then the
    # value assumed by the evaluation mode (see diag.policy.undetermined), not a fact.
    undetermined: bool = False


@dataclass(frozen=True)
class StatementTrace:
    """How one statement fared. ``applies`` is true when every element and condition matched."""

    layer: Layer
    index: int
    effect: str
    applies: bool
    sid: str | None = None
    policy_name: str = ""
    policy_kind: str = ""
    account: str | None = None
    action: MatchTrace | None = None
    resource: MatchTrace | None = None
    principal: MatchTrace | None = None
    conditions: tuple[ConditionTrace, ...] = ()
    near_misses: tuple[NearMiss, ...] = ()
    statement: dict[str, Any] | None = None  # the statement as written, for evidence

    def failed_elements(self) -> list[str]:
        """Names of the elements that did not match (Action, Resource, Principal, Condition)."""
        out = [t.element for t in (self.action, self.resource, self.principal) if t is not None and not t.matched]
        if any(not c.matched for c in self.conditions):
            out.append("Condition")
        return out

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["layer"] = str(self.layer)
        return d


@dataclass(frozen=True)
class GrantTrace:
    """How one KMS grant fared against the request."""

    grant_id: str
    applies: bool
    grantee_matched: bool
    operation_matched: bool
    constraints_matched: bool
    reason: str = ""
    grant: Grant | None = None


@dataclass(frozen=True)
class LayerTrace:
    """One layer's verdict with every statement's trace. ``reason`` is one sentence for people."""

    layer: Layer
    result: LayerResult
    account: str | None = None
    reason: str = ""
    statements: tuple[StatementTrace, ...] = ()
    grants: tuple[GrantTrace, ...] = ()
    org_identifier: str | None = None  # SCP/RCP level

    def allowing(self) -> list[StatementTrace]:
        return [s for s in self.statements if s.applies and s.effect == "Allow"]

    def denying(self) -> list[StatementTrace]:
        return [s for s in self.statements if s.applies and s.effect == "Deny"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "layer": str(self.layer),
            "account": self.account,
            "result": str(self.result),
            "reason": self.reason,
            "org_identifier": self.org_identifier,
            "statements": [s.to_dict() for s in self.statements],
            "grants": [asdict(g) for g in self.grants],
        }


@dataclass(frozen=True)
class EvaluationResult:
    """The engine's answer: the decision, every layer's trace, and the gaps it could not see."""

    decision: Decision
    layers: tuple[LayerTrace, ...]
    request: Request
    reason: str = ""
    unknown: tuple[Layer, ...] = ()  # layers whose policies were not collected
    # The layers that decided: for a denial, the layer(s) that denied or failed to allow (fix these);
    # for an allow, the layer(s) that granted. Compatible extension, see diag.policy.engine.
    deciding_layers: tuple[Layer, ...] = ()
    cross_account: bool = False
    # Condition keys kmsdiag could not determine and on which the decision depends (diag.policy.undetermined):
    # non-empty means the decision is Unknown until they are collected.
    undetermined: tuple[str, ...] = ()
    # With ``undetermined``: True when the policies would allow if every condition on those keys held (then a
    # refusal by AWS means that at least one of them did not hold: an inference, never a fact).
    allowed_if_undetermined_hold: bool = False

    def layer(self, name: Layer | str) -> list[LayerTrace]:
        return [lt for lt in self.layers if lt.layer == name]

    def to_dict(self) -> dict[str, Any]:
        return {
            "decision": str(self.decision),
            "reason": self.reason,
            "unknown": [str(u) for u in self.unknown],
            "deciding_layers": [str(u) for u in self.deciding_layers],
            "cross_account": self.cross_account,
            "undetermined": list(self.undetermined),
            "layers": [lt.to_dict() for lt in self.layers],
        }
