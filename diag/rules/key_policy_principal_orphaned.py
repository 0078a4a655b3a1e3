"""KEY_POLICY_PRINCIPAL_ORPHANED: a key-policy principal is a unique ID (AROA…/AIDA…): the role or user it
named was deleted (and perhaps recreated with the same name, which does not match)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from diag import fixes
from diag.diagnosis.case import Case
from diag.diagnosis.model import Finding, Fix
from diag.policy.model import Layer, LayerResult
from diag.rules._helpers import (
    UNIQUE_ID_RE,
    allow_statements,
    caller_role,
    element_ok,
    key_account,
    label,
    stmt_ref,
    values,
)
from diag.rules.base import Rule


class KeyPolicyPrincipalOrphaned(Rule):
    code = "KEY_POLICY_PRINCIPAL_ORPHANED"
    title = "A key-policy principal is the unique ID of a deleted role or user"
    description = (
        "The key policy holds a unique ID (AROA…/AIDA…) where an ARN was: the role or user was deleted and"
        " recreated, and the new one has another unique ID."
    )
    fix_template = "Replace the unique ID with the role's ARN again (the recreated role)."
    supersedes = ("KEY_POLICY_NO_PRINCIPAL", "KEY_POLICY_PRINCIPAL_TYPO")

    def check(self, case: Case, prior: Sequence[Finding]) -> Iterable[Finding]:
        if case.facts.is_s3 or case.layer_result(Layer.KEY_POLICY) != LayerResult.IMPLICITLY_DENIED:
            return []
        role = caller_role(case) or "CALLER_ARN"
        current_id = None
        if case.inforce is not None and case.inforce.principal is not None:
            current_id = case.inforce.principal.unique_id
        if not current_id and case.facts.principal_id:
            current_id = case.facts.principal_id.split(":", 1)[0]
        key = case.facts.key_arn or "KEY_ARN"
        out = []
        for s in allow_statements(case, Layer.KEY_POLICY):
            if element_ok(s, "Principal") or not element_ok(s, "Action"):
                continue
            ids = [v for v in values(s, "Principal") if UNIQUE_ID_RE.match(v) and v != current_id]
            if not ids:
                continue
            orphan = ids[0]
            corrected = fixes.replace_in_statement(s.statement, "Principal", orphan, role) if s.statement else None
            out.append(
                self.finding(
                    str(Layer.KEY_POLICY),
                    key_account(case),
                    f"{label(s)} names `{orphan}`, the unique ID of a deleted principal (AWS replaces the ARN of a"
                    f" deleted role by its ID); the caller `{role}` has unique ID {current_id or 'unknown'}",
                    {"orphaned_id": orphan, "caller": role, "caller_unique_id": current_id, "statement": stmt_ref(s)},
                    Fix(
                        summary=f"in {label(s)}, replace `{orphan}` with `{role}`",
                        policy=corrected,
                        commands=fixes.key_policy_commands(key, account=key_account(case)),
                        target=f"key policy of {key}",
                    ),
                )
            )
        return out
