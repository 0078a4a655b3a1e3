"""Diagnosis rules: one module per code of DESIGN.md section 6, discovered and registered on first use.

``run_rules(case)`` runs every rule; a rule that raises becomes a ``RULE_ERROR`` finding (layer
``rule-error``) and the others go on. Superseded findings are dropped, and the rest are ordered by the
verdict order (``diag.diagnosis.verdict``).
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from pathlib import Path

from diag.diagnosis.case import Case
from diag.diagnosis.model import Finding
from diag.rules.base import DuplicateRuleError, Rule, registered

__all__ = ["RULE_ERROR", "DuplicateRuleError", "Rule", "all_rules", "load_rules", "run_rules"]

RULE_ERROR = "RULE_ERROR"
_SKIP = {"base"}


@cache
def load_rules() -> tuple[type[Rule], ...]:
    """Import every rule module of this package (each registers its class); return the classes by code."""
    here = Path(__file__).resolve().parent
    for mod in sorted(pkgutil.iter_modules([str(here)]), key=lambda m: m.name):
        if mod.name.startswith("_") or mod.name in _SKIP:
            continue
        importlib.import_module(f"diag.rules.{mod.name}")
    return tuple(cls for _, cls in sorted(registered().items()))


def all_rules() -> list[Rule]:
    return [cls() for cls in load_rules()]


def _rule_error(rule: Rule, exc: BaseException) -> Finding:
    return Finding(
        code=RULE_ERROR,
        layer="rule-error",
        account=None,
        summary=f"the rule {rule.code} failed ({type(exc).__name__}: {exc}); the other rules still ran",
        evidence={"rule": rule.code, "error": f"{type(exc).__name__}: {exc}"},
    )


def run_rules(case: Case, rules: list[Rule] | None = None) -> list[Finding]:
    """Every finding for ``case``: rules run in isolation, superseded codes dropped, verdict order."""
    from diag.diagnosis.verdict import sort_findings

    rules = all_rules() if rules is None else rules
    findings: list[Finding] = []
    for phase in (False, True):
        for rule in rules:
            if rule.runs_last is not phase:
                continue
            try:
                findings.extend(rule.check(case, tuple(findings)))
            except Exception as exc:  # a broken rule must not hide the others' findings
                findings.append(_rule_error(rule, exc))
    present = {f.code for f in findings}
    dropped: set[str] = set()
    for rule in rules:
        if rule.code in present:
            dropped.update(c for c in rule.supersedes if c != rule.code)
    kept = [f for f in findings if f.code not in dropped]
    return sort_findings(kept)
