"""The rule base class and registry: one rule per diagnosis code, registered when its class is defined.

A rule is a small class with ``code``, ``title``, ``description`` and ``fix_template`` class attributes
and a ``check(case, prior)`` method returning findings. Defining a second rule with the same code raises
``DuplicateRuleError`` at import. ``supersedes`` names codes that this rule's finding makes redundant
(a typo'd principal explains "no statement names the caller"); ``runs_last`` rules see the others'
findings in ``prior`` (``UNKNOWN`` only speaks when nothing else could).
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

from diag.diagnosis.case import Case
from diag.diagnosis.model import Finding, Fix


class DuplicateRuleError(RuntimeError):
    """Two rule classes claim the same diagnosis code."""


_REGISTRY: dict[str, type[Rule]] = {}


class Rule(abc.ABC):
    """Base class of every diagnosis rule."""

    code: ClassVar[str] = ""
    title: ClassVar[str] = ""
    description: ClassVar[str] = ""
    fix_template: ClassVar[str] = ""
    supersedes: ClassVar[tuple[str, ...]] = ()
    runs_last: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        code = cls.__dict__.get("code")
        if not code:
            return
        for attr in ("title", "description", "fix_template"):
            if not cls.__dict__.get(attr):
                raise TypeError(f"rule {cls.__name__} ({code}) has no {attr}")
        existing = _REGISTRY.get(code)
        if existing is not None and (existing.__module__, existing.__qualname__) != (cls.__module__, cls.__qualname__):
            raise DuplicateRuleError(
                f"diagnosis code {code} is claimed by both {existing.__module__}.{existing.__qualname__}"
                f" and {cls.__module__}.{cls.__qualname__}"
            )
        _REGISTRY[code] = cls

    @abc.abstractmethod
    def check(self, case: Case, prior: Sequence[Finding]) -> Iterable[Finding]:
        """Findings for this rule (every rule overrides this)."""

    def finding(
        self,
        layer: str,
        account: str | None,
        summary: str,
        evidence: dict[str, Any] | None = None,
        fix: Fix | None = None,
    ) -> Finding:
        return Finding(code=self.code, layer=layer, account=account, summary=summary, evidence=evidence or {}, fix=fix)


def registered() -> dict[str, type[Rule]]:
    """Every registered rule class by code (after ``diag.rules.load_rules()``)."""
    return dict(_REGISTRY)
