"""INVALID_CIPHERTEXT: KMS could not decrypt the ciphertext with the encryption context given."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from diag.diagnosis.case import Case
from diag.diagnosis.model import Finding, Fix
from diag.rules._helpers import key_account
from diag.rules._nonauth import SUPERSEDES_AUTH, record_says
from diag.rules.base import Rule


class InvalidCiphertext(Rule):
    code = "INVALID_CIPHERTEXT"
    title = "The ciphertext is not valid"
    description = (
        "Not an access refusal: KMS could not decrypt the ciphertext (`InvalidCiphertextException`): it was made"
        " with an encryption context that was not passed, it was altered or truncated, or it is not KMS"
        " ciphertext (e.g. still base64 text)."
    )
    fix_template = "Pass the exact ciphertext bytes and the encryption context used at encryption."
    supersedes = SUPERSEDES_AUTH

    def check(self, case: Case, prior: Sequence[Finding]) -> Iterable[Finding]:
        f = case.facts
        if f.error_code != "InvalidCiphertextException" or f.event_source != "kms.amazonaws.com":
            return []
        if f.encryption_context or any(p.code == "CONDITION_ENCRYPTION_CONTEXT" for p in prior):
            return []  # a context was passed: CONDITION_ENCRYPTION_CONTEXT names the mismatch
        return [
            self.finding(
                "ciphertext",
                key_account(case) or f.recipient_account or f.caller_account,
                f"KMS could not decrypt the ciphertext given to {f.event_name} (InvalidCiphertextException), and the"
                " call passed no encryption context: the data was encrypted with a context that must be passed"
                " again, or the ciphertext was altered, truncated or not decoded (base64): the caller was not"
                " refused access",
                record_says(case),
                Fix(
                    summary="pass the ciphertext bytes exactly as Encrypt/GenerateDataKey returned them, with the"
                    " same encryption context (find it in that call's CloudTrail event)",
                ),
            )
        ]
