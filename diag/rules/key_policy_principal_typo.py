"""KEY_POLICY_PRINCIPAL_TYPO: a key-policy principal is a near miss of the caller's ARN."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from diag import arn as arns
from diag import fixes
from diag.diagnosis.case import Case
from diag.diagnosis.model import Finding, Fix
from diag.policy.model import Layer, LayerResult
from diag.rules._helpers import (
    allow_statements,
    caller_role,
    describe_difference,
    element_ok,
    key_account,
    label,
    levenshtein,
    stmt_ref,
    the_action,
    values,
)
from diag.rules.base import Rule


def account_typo(value: str, caller_account: str | None) -> tuple[str, int] | None:
    """An account principal (root ARN or bare ID) whose account is a near miss of the caller's account."""
    if not caller_account or not arns.is_account_principal(value):
        return None
    acct = value if value.isdigit() else (fixes.arn_account(value) or "")
    if acct == caller_account:
        return None
    d = levenshtein(acct, caller_account, 2)
    if d > 2:
        return None
    swapped = d == 2 and sorted(acct) == sorted(caller_account)
    how = "two digits swapped" if swapped else f"{d} digit(s) differ"
    return f"names account {acct} where the caller's account is {caller_account} ({how})", d


class KeyPolicyPrincipalTypo(Rule):
    code = "KEY_POLICY_PRINCIPAL_TYPO"
    title = "A key-policy principal is a typo of the caller"
    description = "A key-policy principal is a near miss of the caller (edit distance, a wrong digit in the account, letter case)."
    fix_template = "Correct the principal ARN in that statement; keep everything else."
    supersedes = ("KEY_POLICY_NO_PRINCIPAL",)

    def check(self, case: Case, prior: Sequence[Finding]) -> Iterable[Finding]:
        if case.facts.is_s3 or case.layer_result(Layer.KEY_POLICY) != LayerResult.IMPLICITLY_DENIED:
            return []
        role = caller_role(case)
        if not role:
            return []
        key = case.facts.key_arn or "KEY_ARN"
        out = []
        for s in allow_statements(case, Layer.KEY_POLICY):
            if element_ok(s, "Principal") or not element_ok(s, "Action"):
                continue
            engine_misses = {n.policy_value: n for n in s.near_misses if n.kind in {"principal", "account"}}
            candidates: list[tuple[str, str, int | None]] = []
            for v in [*engine_misses, *values(s, "Principal")]:
                diff = describe_difference(v, role) or account_typo(v, case.facts.caller_account)
                if diff:
                    candidates.append((v, diff[0], diff[1]))
                elif v in engine_misses:
                    candidates.append((v, engine_misses[v].detail, engine_misses[v].distance))
            for value, detail, distance in candidates[:1]:
                detail = detail or "is a near miss of the caller"
                right = role
                if arns.is_account_principal(value) and case.facts.caller_account:
                    right = value.replace(fixes.arn_account(value) or value, case.facts.caller_account)
                corrected = fixes.replace_in_statement(s.statement, "Principal", value, right) if s.statement else None
                out.append(
                    self.finding(
                        str(Layer.KEY_POLICY),
                        key_account(case),
                        f"principal `{value}` in {label(s)} {detail}: the caller is `{role}`",
                        {
                            "policy_value": value,
                            "caller": role,
                            "distance": distance,
                            "detail": detail,
                            "action": the_action(case),
                            "statement": stmt_ref(s, f"Principal `{value}` does not match `{role}`"),
                        },
                        Fix(
                            summary=f"in {label(s)}, replace `{value}` with `{right}`",
                            policy=corrected,
                            commands=fixes.key_policy_commands(key, account=key_account(case)),
                            target=f"key policy of {key}",
                        ),
                    )
                )
        return out
