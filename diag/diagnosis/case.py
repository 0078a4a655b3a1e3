"""The material rules read: the facts of one failed call, the policies in force, the engine's traces.

The explain pipeline (``diag.explain``) gathers everything first, so that rules are pure functions of a
``Case``: they never call AWS or the database. Helper methods answer the questions most rules ask
("which traces are there for the key policy?", "did the key policy allow the caller directly or only
through its account?").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from diag import arn as arns
from diag.diagnosis.model import EventFacts
from diag.policy.model import Decision, EvaluationResult, Layer, LayerResult, LayerTrace, StatementTrace

if TYPE_CHECKING:
    from diag.collect.model import InForce, KeyInfo, PolicyChange
    from diag.errortext import ParsedError


@dataclass(frozen=True)
class PriorPolicy:
    """The key policy as it was just before one PutKeyPolicy, and how the request fared against it."""

    change: PolicyChange
    result: EvaluationResult | None


@dataclass(frozen=True)
class GrantChange:
    """A grant created, retired or revoked on the key, with the grantee when the history or a snapshot knows it."""

    change: PolicyChange
    grant_id: str | None = None
    grantee: str | None = None


@dataclass(frozen=True)
class Case:
    """Everything known about one failed call, gathered before the rules run."""

    facts: EventFacts
    inforce: InForce | None = None  # policies in force at event time (both accounts)
    result: EvaluationResult | None = None  # the engine at event time
    now_inforce: InForce | None = None  # the latest policies
    now_result: EvaluationResult | None = None  # the engine with the latest policies
    keys_elsewhere: tuple[KeyInfo, ...] = ()  # the key (by ID or alias) found in other regions/accounts
    claimed: ParsedError | None = None  # what AWS's error message claims (a hint, never evidence alone)
    prior_key_policies: tuple[PriorPolicy, ...] = ()  # versions replaced by PutKeyPolicy before the event
    session_policy_event: dict[str, Any] | None = None  # the AssumeRole that passed a session policy
    grant_changes: tuple[GrantChange, ...] = ()  # CreateGrant/RetireGrant/RevokeGrant on the key before the event
    known_accounts: frozenset[str] = frozenset()  # accounts with collected data
    notes: tuple[str, ...] = ()  # what the pipeline could not do (an API missing, a lookup that failed)
    extra: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ engine helpers

    @property
    def denied(self) -> bool:
        return self.result is not None and self.result.decision != Decision.ALLOWED

    def traces(self, layer: Layer | str) -> list[LayerTrace]:
        return self.result.layer(layer) if self.result is not None else []

    def layer_result(self, layer: Layer | str) -> LayerResult | None:
        """The combined result of a layer (several traces for SCP/RCP levels): the worst one wins."""
        traces = self.traces(layer)
        if not traces:
            return None
        order = [
            LayerResult.EXPLICITLY_DENIED,
            LayerResult.IMPLICITLY_DENIED,
            LayerResult.UNKNOWN,
            LayerResult.ALLOWED,
            LayerResult.NOT_APPLICABLE,
        ]
        return min((t.result for t in traces), key=order.index)

    def resource_layer(self) -> Layer:
        return Layer.BUCKET_POLICY if self.facts.is_s3 else Layer.KEY_POLICY

    def key_statements(self) -> list[StatementTrace]:
        return [s for t in self.traces(Layer.KEY_POLICY) for s in t.statements]

    def identity_statements(self) -> list[StatementTrace]:
        return [s for t in self.traces(Layer.IDENTITY) for s in t.statements]

    def key_allows_directly(self) -> bool:
        """A key-policy statement allows the caller by its own ARN (not only through its account)."""
        account = self.facts.caller_account
        return any(
            not is_account_principal(s.principal.matched_value if s.principal else None, account)
            for t in self.traces(Layer.KEY_POLICY)
            for s in t.allowing()
        )

    def key_allows_via_account(self) -> bool:
        account = self.facts.caller_account
        return any(
            is_account_principal(s.principal.matched_value if s.principal else None, account)
            for t in self.traces(Layer.KEY_POLICY)
            for s in t.allowing()
        )

    def identity_needed(self) -> bool:
        """Whether the caller's identity policies decide: cross-account always; same account only when the
        key policy allows through the account (root delegation), not the caller directly."""
        if self.facts.is_s3:
            return True
        if self.facts.cross_account:
            return True
        return self.layer_result(Layer.KEY_POLICY) == LayerResult.ALLOWED and not self.key_allows_directly()


def is_account_principal(value: str | None, account: str | None) -> bool:
    """True for ``arn:aws:iam::ACCOUNT:root`` or a bare account ID (the account, not one principal)."""
    if not value:
        return False
    if value.isdigit() and len(value) == 12:
        return account is None or value == account
    parsed = arns.parse(value)
    return parsed is not None and parsed.resource == "root" and (account is None or parsed.account == account)
