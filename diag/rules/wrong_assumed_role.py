"""WRONG_ASSUMED_ROLE: the caller is not the principal the policies were set up for: the same role name
in another account, or a user (or root) where the key policy names a role of the same account."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from diag import fixes
from diag.diagnosis.case import Case
from diag.diagnosis.model import Finding, Fix
from diag.policy.model import Layer, LayerResult
from diag.rules._helpers import (
    allow_statements,
    caller_role,
    element_ok,
    label,
    levenshtein,
    stmt_ref,
    the_action,
    values,
)
from diag.rules.base import Rule
from diag.shell import q


def _role_parts(arn: str) -> tuple[str | None, str | None, str | None]:
    kind, name = fixes.principal_kind_and_name(arn)
    return fixes.arn_account(arn), kind, name


class WrongAssumedRole(Rule):
    code = "WRONG_ASSUMED_ROLE"
    title = "The call came from another principal than the one the policies allow"
    description = (
        "The caller is not the principal that the policies were set up for (the same role name in the wrong"
        " account, a user instead of the role)."
    )
    fix_template = "Make the application assume the allowed role (profile, role_arn, instance/task role)."
    supersedes = (
        "KEY_POLICY_NO_PRINCIPAL",
        "KEY_POLICY_PRINCIPAL_TYPO",
        "KEY_POLICY_ROOT_DELEGATION_MISSING",
        "IAM_POLICY_MISSING",
    )

    def check(self, case: Case, prior: Sequence[Finding]) -> Iterable[Finding]:
        f = case.facts
        if f.is_s3 or case.layer_result(Layer.KEY_POLICY) != LayerResult.IMPLICITLY_DENIED:
            from diag.rules._intent import intent_finding

            return intent_finding(self, case)
        caller = caller_role(case)
        if not caller:
            return []
        c_acct, c_kind, c_name = _role_parts(caller)
        for s in allow_statements(case, Layer.KEY_POLICY):
            if element_ok(s, "Principal") or not element_ok(s, "Action"):
                continue
            for v in values(s, "Principal"):
                p_acct, p_kind, p_name = _role_parts(v)
                if p_kind != "role" or not p_name:
                    continue
                why = None
                if c_kind == "role" and p_name == c_name and p_acct != c_acct and p_acct and c_acct:
                    close = levenshtein(p_acct, c_acct, 2) <= 2
                    if p_acct in case.known_accounts or not close:
                        why = f"the key policy allows role {p_name} of account {p_acct}; the call used the role of the same name in account {c_acct}"
                elif c_kind in {"user", "root"} and p_acct == c_acct:
                    who = "the account root" if c_kind == "root" else f"user {c_name}"
                    why = f"the key policy allows role `{v}`; the call was made by {who}, without assuming that role"
                if why:
                    return [self._finding(case, s, v, caller, why)]
        from diag.rules._intent import intent_finding

        return intent_finding(self, case)

    def _finding(self, case: Case, s, allowed: str, caller: str, why: str) -> Finding:  # type: ignore[no-untyped-def]
        action = the_action(case)
        return self.finding(
            "caller",
            case.facts.caller_account,
            f"{why} ({label(s)})",
            {"caller": caller, "allowed_principal": allowed, "action": action, "statement": stmt_ref(s)},
            Fix(
                summary=f"make the application call {action} as `{allowed}`, the role the policies allow",
                policy=None,
                commands=(
                    f"# check that the caller may assume {allowed} (its trust policy), then use it:",
                    f"aws sts assume-role --role-arn {q(allowed)} --role-session-name kmsdiag-check",
                    f"# or in ~/.aws/config: [profile app] role_arn = {allowed}",
                ),
                target=allowed,
            ),
        )
