"""CONDITION_ENCRYPTION_CONTEXT: an encryption-context condition or grant constraint did not hold, or the
context given to Decrypt did not match the one the ciphertext was made with."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from diag.diagnosis.case import Case
from diag.diagnosis.model import Finding, Fix
from diag.policy.model import Layer
from diag.rules._conditions import condition_findings
from diag.rules._helpers import key_account
from diag.rules.base import Rule


class ConditionEncryptionContext(Rule):
    code = "CONDITION_ENCRYPTION_CONTEXT"
    title = "The encryption context did not match"
    description = (
        "An encryption-context condition (`kms:EncryptionContext:…`, `kms:EncryptionContextKeys`) or grant"
        " constraint did not hold, or the context did not match the ciphertext."
    )
    fix_template = "Pass the encryption context the policy (or the ciphertext) expects, exactly, in the call."

    def check(self, case: Case, prior: Sequence[Finding]) -> Iterable[Finding]:
        ctx = case.facts.encryption_context
        out = condition_findings(
            self,
            case,
            "encryption_context",
            f"pass the encryption context this statement requires (the call passed {ctx or 'none'})",
        )
        for t in case.traces(Layer.GRANTS):
            for g in t.grants:
                if g.grantee_matched and g.operation_matched and not g.constraints_matched:
                    cons = g.grant.constraints if g.grant else None
                    out.append(
                        self.finding(
                            str(Layer.GRANTS),
                            key_account(case),
                            f"grant {g.grant_id} covers the caller and the operation, but its constraint {cons} does not"
                            f" match the request's encryption context {ctx or '{}'}",
                            {
                                "grant_id": g.grant_id,
                                "constraints": cons,
                                "encryption_context": ctx,
                                "reason": g.reason,
                            },
                            Fix(summary=f"pass the encryption context {cons} when calling, as the grant requires"),
                        )
                    )
        if case.facts.error_code == "InvalidCiphertextException" and not out and ctx:
            out.append(
                self.finding(
                    "ciphertext",
                    key_account(case),
                    "KMS refused the ciphertext (InvalidCiphertextException): the encryption context given to"
                    f" {case.facts.event_name} ({ctx or 'none'}) is not the one used at encryption, or the ciphertext"
                    " was altered",
                    {
                        "error_code": case.facts.error_code,
                        "encryption_context": ctx,
                        "error_message": case.facts.error_message,
                    },
                    Fix(
                        summary="decrypt with exactly the encryption context used by Encrypt/GenerateDataKey"
                        " (same keys, same values, case-sensitive); find it in the Encrypt event of the same key",
                    ),
                )
            )
        return out
