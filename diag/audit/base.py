"""The audit rule base class, the registry, and the finding model.

An audit rule is a small class with ``code`` (stable, kebab-case), ``severity``, ``title``,
``description`` and ``fix_template`` class attributes and a ``run(ctx)`` method yielding
``AuditFinding``s. Defining a class registers it; ``diag.audit.rules`` modules are imported by
``load_rules()`` (auto-discovery), so adding a finding is adding one module.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from diag.shell import comments_on_one_line

if TYPE_CHECKING:
    from diag.audit.context import AuditContext, KeyRecord
    from diag.policy.parse import StatementSpec

SEVERITIES = ("high", "medium", "low", "info")


class DuplicateAuditCodeError(RuntimeError):
    """Two audit rule classes claim the same code."""


_REGISTRY: dict[str, type[AuditRule]] = {}


@dataclass(frozen=True)
class AuditFix:
    """What to change: one sentence, the statement or policy to paste, and the commands that apply it."""

    summary: str
    policy: dict[str, Any] | None = None
    commands: tuple[str, ...] = ()
    proof: dict[str, Any] | None = None  # the fix replayed against observed calls (diag.impact.audit_proof)

    def __post_init__(self) -> None:
        object.__setattr__(self, "commands", comments_on_one_line(self.commands))

    def to_dict(self) -> dict[str, Any]:
        out = {"summary": self.summary, "policy": self.policy, "commands": list(self.commands)}
        return out if self.proof is None else {**out, "proof": self.proof}


@dataclass(frozen=True)
class AuditFinding:
    """One best-practice finding: where (account, resource, policy, statement), why, and the fix."""

    code: str
    severity: str
    title: str
    account: str | None
    resource: str | None  # key ARN, principal ARN, policy ARN
    summary: str
    policy: str | None = None  # "key policy", "inline policy kms of role/R", "managed policy arn:…"
    sid: str | None = None
    statement_index: int | None = None
    evidence: dict[str, Any] = field(default_factory=dict)
    fix: AuditFix | None = None
    snapshot_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity,
            "title": self.title,
            "account": self.account,
            "resource": self.resource,
            "policy": self.policy,
            "sid": self.sid,
            "statement_index": self.statement_index,
            "summary": self.summary,
            "evidence": self.evidence,
            "fix": self.fix.to_dict() if self.fix else None,
            "snapshot_id": self.snapshot_id,
        }


class AuditRule(abc.ABC):
    """Base class of every audit rule (see the module docstring)."""

    code: ClassVar[str] = ""
    severity: ClassVar[str] = ""
    title: ClassVar[str] = ""
    description: ClassVar[str] = ""
    fix_template: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        code = cls.__dict__.get("code")
        if not code:
            return
        for attr in ("severity", "title", "description", "fix_template"):
            if not cls.__dict__.get(attr):
                raise TypeError(f"audit rule {cls.__name__} ({code}) has no {attr}")
        if cls.severity not in SEVERITIES:
            raise TypeError(f"audit rule {cls.__name__}: severity {cls.severity!r} is not one of {SEVERITIES}")
        existing = _REGISTRY.get(code)
        if existing is not None and (existing.__module__, existing.__qualname__) != (cls.__module__, cls.__qualname__):
            raise DuplicateAuditCodeError(
                f"audit code {code} is claimed by {existing.__module__}.{existing.__qualname__}"
                f" and {cls.__module__}.{cls.__qualname__}"
            )
        _REGISTRY[code] = cls

    @abc.abstractmethod
    def run(self, ctx: AuditContext) -> Iterable[AuditFinding]:
        """Findings for this rule (every rule overrides this)."""

    def finding(
        self,
        *,
        account: str | None,
        resource: str | None,
        summary: str,
        policy: str | None = None,
        sid: str | None = None,
        statement_index: int | None = None,
        evidence: dict[str, Any] | None = None,
        fix: AuditFix | None = None,
        snapshot_id: int | None = None,
        severity: str | None = None,
    ) -> AuditFinding:
        return AuditFinding(
            code=self.code,
            severity=severity or self.severity,
            title=self.title,
            account=account,
            resource=resource,
            summary=summary,
            policy=policy,
            sid=sid,
            statement_index=statement_index,
            evidence=evidence or {},
            fix=fix,
            snapshot_id=snapshot_id,
        )

    def key_statement_finding(
        self,
        key: KeyRecord,
        st: StatementSpec,
        *,
        summary: str,
        evidence: dict[str, Any] | None = None,
        fix: AuditFix | None = None,
        severity: str | None = None,
    ) -> AuditFinding:
        """A finding about statement ``st`` of the key policy of ``key`` (where, which snapshot)."""
        return self.finding(
            account=key.account,
            resource=key.key_arn,
            policy="key policy",
            sid=st.sid,
            statement_index=st.index,
            snapshot_id=key.snapshot_id,
            summary=summary,
            evidence=evidence,
            fix=fix,
            severity=severity,
        )


def registered() -> dict[str, type[AuditRule]]:
    """Every registered audit rule class by code (after ``load_rules()``)."""
    return dict(_REGISTRY)
